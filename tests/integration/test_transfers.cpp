// End to end against a real nginx and a real opendod: files of every size arrive bit for bit,
// jobs with many files and several jobs at once complete, and HTTP failures end as BITS says.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

namespace {

class Transfers : public ::testing::Test {
 protected:
  // Adds `count` files of `size` random bytes, named prefix0, prefix1 ..., to `j`.
  void add_small_files(job& j, const std::string& prefix, int count, std::uint64_t size) {
    for (int i = 0; i < count; ++i) {
      const std::string name = prefix + std::to_string(i);
      origin.make_random_file(name, size, static_cast<std::uint64_t>(i));
      j.add_file(origin.url(name), (out / name).string());
    }
  }

  nginx_server origin;
  daemon_process daemon;
  temp_dir out{"opendo-out"};
};

// Files whose names start with the temp prefix, left in a directory.
std::vector<std::string> temporary_files_in(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind(".opendo-", 0) == 0) {
      found.push_back(entry.path().filename().string());
    }
  }
  return found;
}

}  // namespace

TEST_F(Transfers, FilesOfEverySizeArriveIntact) {
  const std::vector<std::uint64_t> sizes = {0, 1, 16383, 16384, 1048583, 64ULL << 20};
  client c = connect(daemon);
  job j = c.create_job("sizes");
  std::vector<std::string> digests;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string name = "f" + std::to_string(i) + ".bin";
    digests.push_back(origin.make_random_file(name, sizes[i], i + 1));
    j.add_file(origin.url(name), (out / name).string());
  }
  j.resume();
  const job_info done = wait_for_state(j, job_state::transferred, std::chrono::seconds(120));
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(done.files_transferred, sizes.size());
  EXPECT_EQ(j.complete(), hr::ok);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const fs::path file = out / ("f" + std::to_string(i) + ".bin");
    EXPECT_EQ(fs::file_size(file), sizes[i]);
    EXPECT_EQ(sha256_file(file), digests[i]) << file;
  }
  EXPECT_TRUE(temporary_files_in(out.path()).empty());
  EXPECT_EQ(j.info().state, job_state::acknowledged);
}

TEST_F(Transfers, OneGibibyteFileArrivesIntact) {
  const std::string digest = origin.make_random_file("big.bin", 1ULL << 30, 99);
  client c = connect(daemon);
  job j = c.create_job("big");
  j.add_file(origin.url("big.bin"), (out / "big.bin").string());
  j.resume();
  const job_info done = wait_for_state(j, job_state::transferred, std::chrono::seconds(600));
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(done.bytes_total, 1ULL << 30);
  EXPECT_EQ(done.files[0].sources.bytes_from_origin, 1ULL << 30);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "big.bin"), digest);
  origin.wait_for_requests(1);
  EXPECT_EQ(origin.total_body_bytes_sent("big.bin"), 1ULL << 30);
}

TEST_F(Transfers, ManyFilesInOneJobTransferInOrder) {
  client c = connect(daemon);
  job j = c.create_job("many");
  std::vector<std::string> digests;
  constexpr int kFiles = 100;
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = "m" + std::to_string(i);
    digests.push_back(origin.make_random_file(name, 1000 + i * 37, i));
    j.add_file(origin.url(name), (out / name).string());
  }
  j.resume();
  ASSERT_EQ(wait_for_state(j, job_state::transferred).state, job_state::transferred)
      << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  for (int i = 0; i < kFiles; ++i) {
    EXPECT_EQ(sha256_file(out / ("m" + std::to_string(i))), digests[i]);
  }
  // Files of a job are fetched one after another, in the order they were added.
  const auto log = origin.wait_for_requests(kFiles);
  ASSERT_EQ(log.size(), static_cast<std::size_t>(kFiles));
  for (int i = 0; i < kFiles; ++i) EXPECT_EQ(log[i].path, "/m" + std::to_string(i));
  // One connection serves them all: it is kept open and reused from file to file.
  std::set<std::uint64_t> connections;
  for (const auto& entry : log) connections.insert(entry.connection);
  EXPECT_EQ(connections.size(), 1U);
}

// A job of many small files makes a progress event per file. A watcher is told of each when it
// asks for every one (interval 0), and of at most one in a minute when it asks for that: the
// daemon coalesces before it builds the event, for each watcher on its own.
TEST_F(Transfers, EachWatcherOfAJobIsToldOfProgressAsOftenAsItAsked) {
  client c = connect(daemon);
  job j = c.create_job("watched many");
  constexpr int kFiles = 40;
  add_small_files(j, "w", kFiles, 2000);
  const auto watch_counting = [&](std::chrono::milliseconds interval, std::atomic<int>& progress,
                                  std::atomic<bool>& watching) {
    return std::thread([&, interval, id = j.id()] {
      client own = connect(daemon);
      own.open_job(id).watch(
          [&](const job_event& e) {
            if (e.kind == job_event_kind::snapshot) watching = true;
            if (e.kind == job_event_kind::progress) ++progress;
            return e.job.state != job_state::transferred;
          },
          interval);
    });
  };
  std::atomic<int> every{0};
  std::atomic<int> per_minute{0};
  std::atomic<bool> watching_every{false};
  std::atomic<bool> watching_per_minute{false};
  std::thread all = watch_counting(std::chrono::milliseconds(0), every, watching_every);
  std::thread few = watch_counting(std::chrono::minutes(1), per_minute, watching_per_minute);
  for (int i = 0; i < 1000 && !(watching_every && watching_per_minute); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(watching_every && watching_per_minute);
  j.resume();
  all.join();
  few.join();
  EXPECT_EQ(j.info().state, job_state::transferred) << daemon.log();
  EXPECT_GE(every.load(), kFiles - 1);  // each file but the last ends with a progress event
  EXPECT_LE(per_minute.load(), 1);
}

// A watcher of the totals of a job of many files (watched_files::none) is sent no file records,
// while its counts still count every file; a full watcher of the same job gets them all, and
// wait(), which watches without them, still returns the job with its files.
TEST_F(Transfers, AWatcherOfTheTotalsIsSentNoFilesAndWaitStillReturnsThem) {
  client c = connect(daemon);
  job j = c.create_job("watched totals");
  constexpr int kFiles = 30;
  add_small_files(j, "t", kFiles, 3000);
  struct seen {
    std::atomic<int> events{0};
    std::atomic<std::size_t> most_files{0};
    std::atomic<std::uint32_t> files_total{0};
    std::atomic<std::uint32_t> files_transferred{0};
    std::atomic<std::uint64_t> bytes_transferred{0};
    std::atomic<bool> watching{false};
  };
  const auto watch = [&](watched_files which, seen& s) {
    return std::thread([&, which, id = j.id()] {
      client own = connect(daemon);
      own.open_job(id).watch(
          [&](const job_event& e) {
            s.watching = true;
            ++s.events;
            s.most_files = std::max(s.most_files.load(), e.job.files.size());
            s.files_total = e.job.files_total;
            s.files_transferred = e.job.files_transferred;
            s.bytes_transferred = e.job.bytes_transferred;
            return e.job.state != job_state::transferred;
          },
          std::chrono::milliseconds(0), which);
    });
  };
  seen totals;
  seen full;
  std::thread totals_watcher = watch(watched_files::none, totals);
  std::thread full_watcher = watch(watched_files::all, full);
  for (int i = 0; i < 1000 && !(totals.watching && full.watching); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(totals.watching && full.watching);
  j.resume();
  const job_info waited = j.wait();
  totals_watcher.join();
  full_watcher.join();
  ASSERT_EQ(waited.state, job_state::transferred) << daemon.log();
  ASSERT_EQ(waited.files.size(), static_cast<std::size_t>(kFiles));
  for (const auto& file : waited.files) EXPECT_TRUE(file.progress.completed) << file.local_name;
  EXPECT_GE(totals.events.load(), kFiles / 2);  // each file's end: a progress event, unthrottled
  EXPECT_EQ(totals.most_files.load(), 0U);
  EXPECT_EQ(totals.files_total.load(), static_cast<std::uint32_t>(kFiles));
  EXPECT_EQ(totals.files_transferred.load(), static_cast<std::uint32_t>(kFiles));
  EXPECT_EQ(totals.bytes_transferred.load(), std::uint64_t{kFiles} * 3000);
  EXPECT_EQ(full.most_files.load(), static_cast<std::size_t>(kFiles));
  EXPECT_EQ(j.complete(), hr::ok);
}

TEST_F(Transfers, ConnectionsAreReusedAcrossJobs) {
  client c = connect(daemon);
  for (int i = 0; i < 5; ++i) {
    const std::string name = "r" + std::to_string(i);
    origin.make_random_file(name, 5000, i);
    job j = c.create_job(name);
    j.add_file(origin.url(name), (out / name).string());
    j.resume();
    ASSERT_EQ(j.wait().state, job_state::transferred);
    j.complete();
  }
  std::set<std::uint64_t> connections;
  for (const auto& entry : origin.wait_for_requests(5)) connections.insert(entry.connection);
  EXPECT_EQ(connections.size(), 1U);
}

// An https server that speaks HTTP/2: jobs that run at the same time share one connection, their
// requests multiplexed on it, and every file arrives intact.
TEST(TransfersOverHttp2, JobsAtOnceShareOneMultiplexedConnection) {
  nginx_options h2;
  h2.tls = true;
  h2.http2 = true;
  nginx_server origin(h2);
  daemon_options options;
  options.extra_args = {"--ca-file", origin.ca_file().string()};
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  client c = connect(daemon);
  std::vector<job> jobs;
  std::vector<std::string> digests;
  for (int i = 0; i < 4; ++i) {
    jobs.push_back(c.create_job("h2 " + std::to_string(i)));
    for (int f = 0; f < 5; ++f) {
      const std::string name = "h2-" + std::to_string(i) + "-" + std::to_string(f);
      digests.push_back(origin.make_random_file(name, 64 << 10, 200 + i * 10 + f));
      jobs.back().add_file(origin.url(name), (out / name).string());
    }
  }
  for (auto& j : jobs) j.resume();
  for (auto& j : jobs) {
    ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
    EXPECT_EQ(j.complete(), hr::ok);
  }
  for (int i = 0; i < 4; ++i) {
    for (int f = 0; f < 5; ++f) {
      const std::string name = "h2-" + std::to_string(i) + "-" + std::to_string(f);
      EXPECT_EQ(sha256_file(out / name), digests[static_cast<std::size_t>(i * 5 + f)]) << name;
    }
  }
  std::set<std::uint64_t> connections;
  for (const auto& entry : origin.wait_for_requests(20)) {
    EXPECT_NE(entry.request.find("HTTP/2.0"), std::string::npos) << entry.request;
    connections.insert(entry.connection);
  }
  EXPECT_EQ(connections.size(), 1U);
}

namespace {

// CPU time (user + system) a process has used, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
  std::vector<std::string> f((std::istream_iterator<std::string>(fields)),
                             std::istream_iterator<std::string>());
  // Fields 14 and 15 of the line are utime and stime; f[0] is field 3.
  return (std::stod(f.at(11)) + std::stod(f.at(12))) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

// A daemon that waits for a slow server sleeps in poll(). The loop's timeout once overflowed on
// the 90-day maximum download time of every running job, and opendod spun at 100% of a core
// for as long as any job transferred.
TEST(TransfersIdle, ADaemonWaitingForASlowServerUsesLittleCpu) {
  nginx_options slow;
  slow.limit_rate = 1 << 20;
  nginx_server origin(slow);
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("slow.bin", 4 << 20, 5);
  client c = connect(daemon);
  job j = c.create_job("slow");
  j.add_file(origin.url("slow.bin"), (out / "slow.bin").string());
  const double cpu_before = cpu_seconds(daemon.pid());
  const auto started = std::chrono::steady_clock::now();
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double cpu = cpu_seconds(daemon.pid()) - cpu_before;
  std::cout << "daemon CPU " << cpu << " s over " << wall << " s of a 1 MiB/s download"
            << std::endl;
  EXPECT_GT(wall, 1.5);  // it really waited for the server
  EXPECT_LT(cpu, 0.25 * wall);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "slow.bin"), digest);
}

TEST_F(Transfers, UnknownSizeFromAChunkedResponseArrivesIntact) {
  // sub_filter drops Content-Length: nginx answers with chunked encoding and no size.
  nginx_options chunked;
  chunked.extra_config = {"sub_filter_types *;", "sub_filter 'no-such-text' 'x';"};
  nginx_server dynamic(chunked);
  const std::string digest = dynamic.make_random_file("dynamic.bin", 3 << 20, 11);
  client c = connect(daemon);
  job j = c.create_job("chunked");
  j.add_file(dynamic.url("dynamic.bin"), (out / "dynamic.bin").string());
  j.resume();
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(done.files[0].progress.bytes_total, 3U << 20);  // known once the body ended
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "dynamic.bin"), digest);
}

TEST(TransfersAtOnce, SeveralJobsTransferSideBySide) {
  nginx_options slow;
  slow.limit_rate = 4 << 20;  // 4 MiB/s per connection: each job takes a few seconds
  nginx_server origin(slow);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  std::vector<job> jobs;
  std::vector<std::string> digests;
  for (int i = 0; i < 4; ++i) {
    const std::string name = "j" + std::to_string(i);
    digests.push_back(origin.make_random_file(name, 12 << 20, 100 + i));
    jobs.push_back(c.create_job(name));
    jobs.back().add_file(origin.url(name), (out / name).string());
  }
  for (auto& j : jobs) j.resume();
  // Every job is transferring at the same moment, not one after another.
  bool all_at_once = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!all_at_once && std::chrono::steady_clock::now() < deadline) {
    int transferring = 0;
    for (auto& j : jobs) transferring += j.info().state == job_state::transferring ? 1 : 0;
    all_at_once = transferring == 4;
  }
  EXPECT_TRUE(all_at_once);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    ASSERT_EQ(jobs[i].wait().state, job_state::transferred) << daemon.log();
    EXPECT_EQ(jobs[i].complete(), hr::ok);
    EXPECT_EQ(sha256_file(out / ("j" + std::to_string(i))), digests[i]);
  }
}

TEST_F(Transfers, NotFoundEndsInErrorWithHttpStatusHresult) {
  client c = connect(daemon);
  job j = c.create_job("404");
  j.add_file(origin.url("missing.bin"), (out / "missing.bin").string());
  j.resume();
  const job_info info = j.wait();
  ASSERT_EQ(info.state, job_state::error);
  ASSERT_TRUE(info.error.has_value());
  EXPECT_EQ(info.error->code, 0x80190194U);
  EXPECT_EQ(info.error->context, error_context::remote_file);
  EXPECT_EQ(info.error->file_index, 0U);
  EXPECT_NE(info.error->message.find("404"), std::string::npos);
  EXPECT_EQ(info.error_count, 1U);
  // The CLI says the same in words.
  const auto shown = daemon.cli({"info", j.id()});
  EXPECT_EQ(shown.exit_code, 0);
  EXPECT_NE(shown.out.find("0x80190194"), std::string::npos) << shown.out;
}

TEST_F(Transfers, CompleteWithAnUnfinishedFileIsPartial) {
  client c = connect(daemon);
  const std::string digest = origin.make_random_file("good.bin", 100000, 7);
  job j = c.create_job("partial");
  j.add_file(origin.url("good.bin"), (out / "good.bin").string());
  j.add_file(origin.url("missing.bin"), (out / "missing.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::error);
  EXPECT_EQ(j.complete(), hr::bg_s_partial_complete);
  EXPECT_EQ(sha256_file(out / "good.bin"), digest);
  EXPECT_FALSE(fs::exists(out / "missing.bin"));
  EXPECT_TRUE(temporary_files_in(out.path()).empty());
  EXPECT_EQ(j.info().state, job_state::acknowledged);
}

TEST_F(Transfers, LastModifiedBecomesTheFileTime) {
  origin.make_random_file("dated.bin", 5000, 3);
  const auto when = std::chrono::system_clock::from_time_t(1500000000);
  origin.set_mtime("dated.bin", when);
  client c = connect(daemon);
  job j = c.create_job("mtime");
  j.add_file(origin.url("dated.bin"), (out / "dated.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred);
  j.complete();
  struct stat info {};
  ASSERT_EQ(::stat((out / "dated.bin").c_str(), &info), 0);
  EXPECT_EQ(info.st_mtime, 1500000000);
}

TEST_F(Transfers, TemporaryFileIsPrivateAndBesideTheDestination) {
  nginx_options slow;
  slow.limit_rate = 1 << 20;
  nginx_server slow_origin(slow);
  slow_origin.make_random_file("slow.bin", 8 << 20, 5);
  client c = connect(daemon);
  job j = c.create_job("temp");
  j.add_file(slow_origin.url("slow.bin"), (out / "slow.bin").string());
  j.resume();
  wait_until(j, [](const job_info& i) { return i.bytes_transferred > 0; });
  const auto temps = temporary_files_in(out.path());
  ASSERT_EQ(temps.size(), 1U);
  struct stat info {};
  ASSERT_EQ(::lstat((out / temps[0]).c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0600U);
  EXPECT_FALSE(fs::exists(out / "slow.bin"));  // nothing at the final name before Complete
  EXPECT_EQ(j.cancel(), hr::ok);
}
