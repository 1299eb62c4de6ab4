// Bandwidth policy end to end: a real opendod configured by its configuration file downloads from
// an unthrottled real nginx, and the rate it reaches, measured from the jobs' recorded progress,
// is the class cap within 10% over 10 s. SIGHUP applies a changed file to running transfers; a
// broken file on SIGHUP changes nothing and the daemon keeps running.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"

using namespace opendo;
using namespace opendo::test;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// The daemon records a running job's progress about once a second, so a reading is taken the
// moment the recorded bytes change (polled every 5 ms): both ends of a window are record
// instants, and the window's length is known to a few milliseconds.
struct reading {
  steady::time_point at;
  std::uint64_t bytes = 0;
};

reading next_record(job& j, std::uint64_t after, steady::time_point deadline) {
  for (;;) {
    const std::uint64_t bytes = j.info().bytes_transferred;
    const auto now = steady::now();
    if (bytes > after) return {now, bytes};
    if (now > deadline) throw std::runtime_error("the job made no progress in time");
    std::this_thread::sleep_for(5ms);
  }
}

// Bytes per second of each job over at least `window`, measured over the same span of time.
std::vector<double> measure_rates(std::vector<job*> jobs, std::chrono::milliseconds window) {
  const auto deadline = steady::now() + window + 30s;
  std::vector<reading> start;
  // Each job's first reading starts its window: a record at or after the moment measuring began.
  for (job* j : jobs) start.push_back(next_record(*j, j->info().bytes_transferred, deadline));
  std::vector<double> rates;
  std::this_thread::sleep_until(start.back().at + window - 1500ms);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    reading end = next_record(*jobs[i], jobs[i]->info().bytes_transferred, deadline);
    while (end.at - start[i].at < window) end = next_record(*jobs[i], end.bytes, deadline);
    const double seconds = std::chrono::duration<double>(end.at - start[i].at).count();
    rates.push_back(static_cast<double>(end.bytes - start[i].bytes) / seconds);
  }
  return rates;
}

class BandwidthPolicy : public ::testing::Test {
 protected:
  // The daemon starts once the test has written its configuration file.
  void start_daemon(const std::string& config_text) {
    write_text(config_path(), config_text);
    daemon_options options;
    options.extra_args = {"--config", config_path().string()};
    options.log_level = "info";
    daemon.emplace(options);
  }
  std::filesystem::path config_path() const { return config_dir / "opendod.conf"; }

  job start_download(client& c, const std::string& name, job_priority priority) {
    job j = c.create_job(name);
    j.set_priority(priority);
    j.add_file(origin.url("big.bin"), (out / (name + ".bin")).string());
    j.resume();
    return j;
  }

  // Sends SIGHUP and waits until the daemon logged the outcome (`marker`) once more.
  void reload(const std::string& marker) {
    const auto count = [&] {
      const std::string log = daemon->log();
      std::size_t n = 0;
      for (auto at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1)) ++n;
      return n;
    };
    const std::size_t before = count();
    ASSERT_EQ(::kill(daemon->pid(), SIGHUP), 0);
    const auto deadline = steady::now() + 10s;
    while (count() == before && steady::now() < deadline) std::this_thread::sleep_for(10ms);
    ASSERT_GT(count(), before) << daemon->log();
  }

  void SetUp() override { origin.make_random_file("big.bin", 64ULL << 20, 7); }

  nginx_server origin;  // no limit_rate: nginx sends as fast as loopback goes
  temp_dir config_dir{"opendo-conf"};
  temp_dir out{"opendo-out"};
  std::optional<daemon_process> daemon;
};

constexpr double kMB = 1e6;

}  // namespace

TEST_F(BandwidthPolicy, BackgroundCapHoldsWithinTenPercentOverTenSeconds) {
  start_daemon("[bandwidth]\nbackground_cap = 2M\n");
  client c = connect(*daemon);
  job j = start_download(c, "bg", job_priority::normal);
  const double rate = measure_rates({&j}, 10s).at(0);
  std::printf("background cap 2 MB/s: measured %.3f MB/s over 10 s\n", rate / kMB);
  EXPECT_NEAR(rate, 2 * kMB, 0.2 * kMB) << daemon->log();
  j.cancel();
}

TEST_F(BandwidthPolicy, ForegroundJobGetsItsOwnCapBesideBackgroundJobsSharingTheirs) {
  start_daemon(
      "# a foreground job is not held to the background cap\n"
      "[bandwidth]\n"
      "foreground_cap = 3M\n"
      "background_cap = 2M\n");
  client c = connect(*daemon);
  job fg = start_download(c, "fg", job_priority::foreground);
  job bg1 = start_download(c, "bg1", job_priority::normal);
  job bg2 = start_download(c, "bg2", job_priority::low);
  const auto rates = measure_rates({&fg, &bg1, &bg2}, 10s);
  std::printf("foreground cap 3 MB/s: %.3f MB/s; background cap 2 MB/s: %.3f + %.3f MB/s\n",
              rates[0] / kMB, rates[1] / kMB, rates[2] / kMB);
  EXPECT_NEAR(rates[0], 3 * kMB, 0.3 * kMB) << daemon->log();
  // The background class's total is the cap, divided equally between its two transfers.
  EXPECT_NEAR(rates[1] + rates[2], 2 * kMB, 0.2 * kMB) << daemon->log();
  EXPECT_NEAR(rates[1], 1 * kMB, 0.2 * kMB);
  EXPECT_NEAR(rates[2], 1 * kMB, 0.2 * kMB);
  for (job* j : {&fg, &bg1, &bg2}) j->cancel();
}

TEST_F(BandwidthPolicy, SighupAppliesTheNewCapAndABrokenFileKeepsTheOldOne) {
  start_daemon("[bandwidth]\nbackground_cap = 4M\n");
  client c = connect(*daemon);
  job j = start_download(c, "bg", job_priority::normal);
  const double before = measure_rates({&j}, 4s).at(0);
  EXPECT_NEAR(before, 4 * kMB, 0.6 * kMB) << daemon->log();

  // A percentage of a stated link capacity: 10% of 10 MB/s.
  write_text(config_path(), "[bandwidth]\nlink_capacity = 10M\nbackground_cap = 10%\n");
  reload("SIGHUP: configuration reloaded");
  const double after = measure_rates({&j}, 6s).at(0);
  EXPECT_NEAR(after, 1 * kMB, 0.15 * kMB) << daemon->log();

  write_text(config_path(), "[bandwidth]\nbackground_cap = fast\n");
  reload("SIGHUP: the configuration was not reloaded");
  EXPECT_NE(daemon->log().find("opendod.conf:2: bad value \"fast\" for background_cap"),
            std::string::npos)
      << daemon->log();
  EXPECT_TRUE(daemon->running());
  const double kept = measure_rates({&j}, 5s).at(0);
  EXPECT_NEAR(kept, 1 * kMB, 0.15 * kMB) << daemon->log();
  j.cancel();
}

TEST_F(BandwidthPolicy, BusinessHoursCapAppliesInsideTheWindow) {
  // A window of every hour of every day is open whatever the test's local time is; which hours
  // fall inside a window is unit-tested with an injected clock (test_bandwidth).
  start_daemon(
      "[bandwidth]\nbackground_cap = 4M\n"
      "[business_hours]\nhours = 0-24\ndays = all\nbackground_cap = 1500k\n");
  client c = connect(*daemon);
  job j = start_download(c, "bg", job_priority::normal);
  const double rate = measure_rates({&j}, 6s).at(0);
  EXPECT_NEAR(rate, 1.5 * kMB, 0.2 * kMB) << daemon->log();
  j.cancel();
}

TEST_F(BandwidthPolicy, BadConfigurationFileStopsTheDaemonAtStartWithFileAndLine) {
  write_text(config_path(), "[bandwidth]\n\nbackground_cap = 2M\nspeed = 3\n");
  const auto opendod_with = [&](const std::filesystem::path& config) {
    return run({(bin_dir() / "opendod").string(), "--config", config.string(), "--socket",
                (config_dir / "s.sock").string(), "--state-dir", (config_dir / "state").string()},
               30s);
  };
  const run_result bad = opendod_with(config_path());
  EXPECT_FALSE(bad.timed_out);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find(config_path().string() + ":4: unknown key \"speed\" in [bandwidth]"),
            std::string::npos)
      << bad.err;
  // Given with --config, a missing file is an error too (a missing default file is not).
  const run_result missing = opendod_with(config_dir / "none.conf");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("none.conf: cannot open the configuration file"), std::string::npos)
      << missing.err;
}

TEST_F(BandwidthPolicy, CommandLineFlagsOverrideTheFile) {
  // The fixture passes --socket and --state-dir: the daemon must serve there, not where the
  // file says, while the file's other settings (the cap) still apply.
  start_daemon("[daemon]\nsocket = " + (config_dir / "from-file.sock").string() +
               "\nstate_dir = " + (config_dir / "from-file-state").string() +
               "\n[bandwidth]\nbackground_cap = 1500k\n");
  EXPECT_FALSE(std::filesystem::exists(config_dir / "from-file.sock"));
  EXPECT_FALSE(std::filesystem::exists(config_dir / "from-file-state"));
  client c = connect(*daemon);
  job j = start_download(c, "bg", job_priority::normal);
  const double rate = measure_rates({&j}, 5s).at(0);
  EXPECT_NEAR(rate, 1.5 * kMB, 0.25 * kMB) << daemon->log();
  j.cancel();
}

// A percentage cap with a measured link capacity. nginx's limit_rate plays a 20 MB/s link: the
// transfer runs uncapped until the daemon has measured a second of it, then is held to 10% of
// the highest rate it saw (which includes nginx's first-second burst, so it is read back from the
// daemon's log rather than assumed).
TEST(BandwidthPolicyMeasured, PercentCapFollowsTheMeasuredLinkCapacity) {
  nginx_options slow;
  slow.limit_rate = 20'000'000;
  nginx_server link(slow);
  link.make_random_file("big.bin", 128ULL << 20, 9);
  temp_dir dir{"opendo-conf"};
  temp_dir out{"opendo-out"};
  write_text(dir / "opendod.conf", "[bandwidth]\nbackground_cap = 10%\n");
  daemon_options options;
  options.extra_args = {"--config", (dir / "opendod.conf").string()};
  options.log_level = "info";
  daemon_process daemon(options);
  client c = connect(daemon);
  job j = c.create_job("measured");
  j.add_file(link.url("big.bin"), (out / "big.bin").string());
  j.resume();

  const std::string marker = "bandwidth caps now: foreground 0, background ";
  std::uint64_t cap = 0;
  const auto deadline = steady::now() + 20s;
  while (cap == 0 && steady::now() < deadline) {
    const std::string log = daemon.log();
    if (const auto at = log.rfind(marker); at != std::string::npos) {
      cap = std::stoull(log.substr(at + marker.size()));
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_GT(cap, 0U) << "no percentage cap was applied: " << daemon.log();
  // 10% of a link that nginx paces at 20 MB/s (up to twice that in its first second).
  EXPECT_GE(cap, 1'500'000U);
  EXPECT_LE(cap, 4'500'000U);
  const double rate = measure_rates({&j}, 8s).at(0);
  std::printf("10%% of the measured link: cap %.3f MB/s, measured %.3f MB/s over 8 s\n",
              static_cast<double>(cap) / kMB, rate / kMB);
  EXPECT_NEAR(rate, static_cast<double>(cap), 0.1 * static_cast<double>(cap)) << daemon.log();
  j.cancel();
}
