// Load: 100 concurrent clients drive one opendod for 60 s with a mixed workload (downloads to
// the end, cancels, listings, info, subscriptions) against a real nginx. Every call must
// succeed, every download must arrive whole, and the daemon's memory must stay bounded. The
// figures (calls, latencies, RSS) go to the test's output and its XML properties.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int kClients = 100;
constexpr auto kDuration = std::chrono::seconds(60);
constexpr std::uint64_t kFileSize = 32 * 1024;

// The daemon's resident set in KiB, from /proc; 0 when it cannot be read.
std::uint64_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      std::uint64_t kib = 0;
      status >> kib;
      return kib;
    }
    status.ignore(4096, '\n');
  }
  return 0;
}

// What every client thread adds up; failures keep their first messages for the report.
struct tally {
  std::mutex mutex;
  std::uint64_t calls = 0;
  std::uint64_t downloads = 0;
  std::vector<std::string> failures;
  std::vector<double> latencies_ms;  // every call's

  void record(std::uint64_t n, std::uint64_t done, std::vector<double>& lat) {
    std::lock_guard lock(mutex);
    calls += n;
    downloads += done;
    latencies_ms.insert(latencies_ms.end(), lat.begin(), lat.end());
  }
  void fail(const std::string& what) {
    std::lock_guard lock(mutex);
    failures.push_back(what);
  }
};

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  return values[index];
}

// One client's loop: the four kinds of work in turn until the deadline.
void run_client(int number, const daemon_process& daemon, const nginx_server& origin,
                const std::string& digest, const fs::path& out, clock_type::time_point deadline,
                tally& total) {
  std::uint64_t calls = 0;
  std::uint64_t downloads = 0;
  std::vector<double> latencies;
  // Times one API call and counts it.
  auto timed = [&](auto&& call) {
    const auto start = clock_type::now();
    auto result = call();
    latencies.push_back(
        std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
    ++calls;
    return result;
  };
  try {
    client c = connect(daemon);
    const fs::path dir = out / std::to_string(number);
    fs::create_directories(dir);
    for (int round = 0; clock_type::now() < deadline; ++round) {
      const std::string name =
          "client " + std::to_string(number) + " round " + std::to_string(round);
      switch (round % 4) {
        case 0: {  // a download to the end, checked
          job j = timed([&] { return c.create_job(name); });
          const fs::path target = dir / ("f" + std::to_string(round) + ".bin");
          timed([&] {
            j.add_file(origin.url("load.bin"), target.string());
            return 0;
          });
          timed([&] {
            j.resume();
            return 0;
          });
          const job_info info = j.wait();
          if (info.state != job_state::transferred) {
            total.fail(name + ": ended in state " + std::string(to_string(info.state)));
            break;
          }
          timed([&] {
            j.complete();
            return 0;
          });
          if (sha256_file(target) != digest) total.fail(name + ": the file differs");
          fs::remove(target);
          ++downloads;
          break;
        }
        case 1: {  // a job added to and cancelled
          job j = timed([&] { return c.create_job(name); });
          timed([&] {
            j.add_file(origin.url("load.bin"), (dir / "cancelled.bin").string());
            return 0;
          });
          timed([&] {
            j.resume();
            return 0;
          });
          timed([&] {
            j.cancel();
            return 0;
          });
          break;
        }
        case 2: {  // reading: the list and a job's info
          const auto jobs = timed([&] { return c.list_jobs(); });
          if (!jobs.empty()) {
            job j = timed([&] { return c.open_job(jobs.front().id); });
            timed([&] { return j.info(); });
          }
          break;
        }
        default: {  // a registration made and ended
          job j = timed([&] { return c.create_job(name); });
          auto sub = timed([&] { return j.subscribe([](const notification&) { return true; }); });
          sub.reset();
          timed([&] {
            j.cancel();
            return 0;
          });
          break;
        }
      }
    }
  } catch (const std::exception& e) {
    total.fail("client " + std::to_string(number) + ": " + e.what());
  }
  total.record(calls, downloads, latencies);
}

}  // namespace

TEST(Load, HundredClientsForSixtySecondsWithoutAFailedCall) {
  nginx_server origin;
  const std::string digest = origin.make_random_file("load.bin", kFileSize, 42);
  daemon_options options;
  options.log_level = "info";  // debug lines for every call of 100 clients would be the test
  // The 100 clients are one user, who may hold 60 jobs by default (BITS's MaxJobsPerUser).
  options.extra_args = {"--max-jobs-per-user", "300"};
  daemon_process daemon(options);
  temp_dir out("opendo-load");

  tally total;
  std::atomic<bool> sampling{true};
  std::vector<std::uint64_t> rss;  // one sample a second
  std::thread sampler([&] {
    while (sampling) {
      rss.push_back(rss_kib(daemon.pid()));
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });

  const auto start = clock_type::now();
  const auto deadline = start + kDuration;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(run_client, i, std::cref(daemon), std::cref(origin), std::cref(digest),
                         out.path(), deadline, std::ref(total));
  }
  for (auto& t : clients) t.join();
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  sampling = false;
  sampler.join();

  ASSERT_TRUE(daemon.running()) << daemon.log();
  for (std::size_t i = 0; i < std::min<std::size_t>(total.failures.size(), 10); ++i) {
    ADD_FAILURE() << total.failures[i];
  }
  EXPECT_EQ(total.failures.size(), 0U);
  EXPECT_GT(total.downloads, static_cast<std::uint64_t>(kClients));  // each client got through

  // Bounded memory: the daemon stays small, and its second half grows little once the final
  // jobs it remembers (1,024 at most) and its caches are warm. ASan's quarantine holds freed
  // memory up to 256 MiB by design, so only the absolute bound applies under it.
  ASSERT_GE(rss.size(), 10U);
  const std::uint64_t peak = *std::max_element(rss.begin(), rss.end());
  const std::uint64_t mid = rss[rss.size() / 2];
  const std::uint64_t end = rss.back();
  EXPECT_LT(peak, 1024U * 1024U) << "the daemon's RSS peaked at " << peak << " KiB";
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(end, mid + mid / 2 + 16 * 1024)
      << "the daemon grew from " << mid << " KiB at half time to " << end << " KiB";
#endif

  const double p50 = percentile(total.latencies_ms, 0.50);
  const double p99 = percentile(total.latencies_ms, 0.99);
  std::printf(
      "load: %d clients, %.1f s, %llu calls (%.0f/s), %llu downloads of %llu bytes, %zu failed; "
      "call latency p50 %.2f ms, p99 %.2f ms; daemon RSS mid %llu KiB, end "
      "%llu KiB, peak %llu KiB\n",
      kClients, seconds, static_cast<unsigned long long>(total.calls),
      static_cast<double>(total.calls) / seconds, static_cast<unsigned long long>(total.downloads),
      static_cast<unsigned long long>(kFileSize), total.failures.size(), p50, p99,
      static_cast<unsigned long long>(mid), static_cast<unsigned long long>(end),
      static_cast<unsigned long long>(peak));
  RecordProperty("calls", static_cast<int>(total.calls));
  RecordProperty("downloads", static_cast<int>(total.downloads));
  RecordProperty("peak_rss_kib", static_cast<int>(peak));
}
