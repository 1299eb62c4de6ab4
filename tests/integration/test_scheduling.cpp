// The scheduler in a real daemon: with one slot and a one-second time slice, jobs of equal
// priority take turns (each resuming with a Range request where it stopped) and a HIGH job
// pre-empts them; with one connection per host, a second job of a busy host waits while jobs of
// another host run, and a FOREGROUND job takes the host's connection at once. Against real nginx
// servers whose limit_rate makes every file take seconds.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"

using namespace opendo;
using namespace opendo::test;

namespace {

constexpr std::uint64_t kRate = 256 << 10;  // bytes per second per connection
// A turn gets about two seconds' worth (nginx sends the first second's at once), so each of
// these needs four turns or so.
constexpr std::uint64_t kNormalSize = 2 << 20;
constexpr std::uint64_t kHighSize = 384 << 10;

daemon_options one_slot_one_second() {
  daemon_options options;
  options.extra_args = {"--max-active-jobs", "1", "--time-slice", "1"};
  return options;
}

nginx_options rate_limited() {
  nginx_options options;
  options.limit_rate = kRate;
  return options;
}

struct download {
  std::string path;  // on the server
  std::string digest;
  job handle;
};

bool is_transferred(job& j) {
  return j.state() == job_state::transferred;
}

// Range starts of the requests for a path, sorted; -1 for a request without a Range header.
// (Sorted because nginx logs an abandoned request when it notices, not when the client left.)
std::vector<long long> range_starts(const nginx_server& origin, const std::string& path) {
  std::vector<long long> starts;
  for (const auto& entry : origin.access_log()) {
    if (entry.path != path) continue;
    const std::string prefix = "bytes=";
    starts.push_back(
        entry.range.rfind(prefix, 0) == 0 ? std::stoll(entry.range.substr(prefix.size())) : -1);
  }
  std::sort(starts.begin(), starts.end());
  return starts;
}

TEST(Scheduling, EqualJobsTakeTurnsAndAHighJobPreemptsThem) {
  nginx_server origin(rate_limited());
  daemon_process daemon(one_slot_one_second());
  temp_dir out("opendo-out");
  client c = connect(daemon);

  std::vector<download> normals;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "normal" + std::to_string(i) + ".bin";
    const std::string digest = origin.make_random_file(name, kNormalSize, 40 + i);
    job j = c.create_job(name);
    j.add_file(origin.url(name), (out / name).string());
    normals.push_back({"/" + name, digest, std::move(j)});
  }
  for (auto& d : normals) d.handle.resume();

  // Every NORMAL job makes progress before any of them is TRANSFERRED. A round reads every
  // job's bytes, then every job's state: when none is TRANSFERRED in the second pass, none was
  // during the first, so the bytes seen there came before any job finished.
  std::vector<bool> progressed(normals.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool all_progressed = false;
  while (!all_progressed && std::chrono::steady_clock::now() < deadline) {
    std::vector<std::uint64_t> bytes;
    for (auto& d : normals) bytes.push_back(d.handle.info().bytes_transferred);
    bool any_transferred = false;
    for (auto& d : normals) any_transferred = any_transferred || is_transferred(d.handle);
    ASSERT_FALSE(any_transferred) << "a job finished before every job had a turn:\n"
                                  << daemon.log();
    all_progressed = true;
    for (std::size_t i = 0; i < normals.size(); ++i) {
      progressed[i] = progressed[i] || bytes[i] > 0;
      all_progressed = all_progressed && progressed[i];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(all_progressed) << daemon.log();

  // A HIGH job added now runs at once and finishes while the NORMAL jobs still have bytes to go.
  const std::string digest = origin.make_random_file("high.bin", kHighSize, 7);
  job high = c.create_job("high");
  high.set_priority(job_priority::high);
  high.add_file(origin.url("high.bin"), (out / "high.bin").string());
  high.resume();
  ASSERT_EQ(wait_for_state(high, job_state::transferred, std::chrono::seconds(30)).state,
            job_state::transferred)
      << daemon.log();
  for (auto& d : normals) {
    const job_info info = d.handle.info();
    EXPECT_NE(info.state, job_state::transferred) << d.path << " finished before the HIGH job";
    EXPECT_LT(info.bytes_transferred, kNormalSize) << d.path;
  }
  EXPECT_EQ(high.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "high.bin"), digest);

  for (auto& d : normals) {
    ASSERT_EQ(wait_for_state(d.handle, job_state::transferred, std::chrono::seconds(60)).state,
              job_state::transferred)
        << d.path << "\n"
        << daemon.log();
    EXPECT_EQ(d.handle.complete(), hr::ok);
    EXPECT_EQ(sha256_file(out / d.path.substr(1)), d.digest) << d.path;
  }

  // Each NORMAL file came in several requests: one from byte 0, every other one a Range from
  // further on (where the one before stopped), so no byte was fetched from 0 again.
  origin.wait_for_requests(normals.size() * 2 + 1);
  for (const auto& d : normals) {
    const auto starts = range_starts(origin, d.path);
    ASSERT_GE(starts.size(), 2U) << d.path << " was not rotated out";
    EXPECT_EQ(starts.front(), -1) << d.path;
    for (std::size_t i = 1; i < starts.size(); ++i) {
      EXPECT_GT(starts[i], starts[i - 1]) << d.path;
      EXPECT_GT(starts[i], 0) << d.path;
    }
  }
}

// Calls `done` every 20 ms until it returns true or the timeout passes; returns whether it did.
bool poll_until(const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(Scheduling, ABusyHostsNextJobWaitsWhileOtherHostsRunAndForegroundTakesItsConnection) {
  nginx_server x(rate_limited());
  nginx_server y(rate_limited());
  daemon_options options;
  options.extra_args = {"--max-connections-per-host", "1"};  // --max-active-jobs stays 4
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  client c = connect(daemon);

  // x1 takes about ten seconds at the rate; the others are small.
  const std::string x1_digest = x.make_random_file("x1.bin", 10 * kRate, 1);
  const std::string x2_digest = x.make_random_file("x2.bin", kRate, 2);
  const std::string fg_digest = x.make_random_file("fg.bin", kRate, 3);
  const std::string y1_digest = y.make_random_file("y1.bin", kRate, 4);
  job x1 = c.create_job("x1");
  x1.add_file(x.url("x1.bin"), (out / "x1.bin").string());
  x1.resume();
  ASSERT_TRUE(poll_until([&] { return x1.info().bytes_transferred > 0; }, std::chrono::seconds(30)))
      << daemon.log();

  job x2 = c.create_job("x2");
  x2.add_file(x.url("x2.bin"), (out / "x2.bin").string());
  job y1 = c.create_job("y1");
  y1.add_file(y.url("y1.bin"), (out / "y1.bin").string());
  x2.resume();
  y1.resume();

  // While x1 runs (read after the others: when it is not TRANSFERRED then, it was not before),
  // x2 has no byte and waits in QUEUED, and y1 makes progress.
  auto x1_running = [&] { return x1.state() != job_state::transferred; };
  bool y1_ran_beside_x1 = false;
  poll_until(
      [&] {
        const job_info waiting = x2.info();
        const job_info other_host = y1.info();
        if (!x1_running()) return true;
        EXPECT_EQ(waiting.bytes_transferred, 0U) << "x2 started while x1 held x's connection";
        EXPECT_EQ(waiting.state, job_state::queued);
        y1_ran_beside_x1 = other_host.bytes_transferred > 0;
        return y1_ran_beside_x1;
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(y1_ran_beside_x1) << "y1 did not start while x1 ran:\n" << daemon.log();

  // A FOREGROUND job of host x runs at once although x is at its cap: it counts, so x1 gives
  // it the connection (it is the lower priority) and resumes later. fg finishes first.
  job fg = c.create_job("fg");
  fg.set_priority(job_priority::foreground);
  fg.add_file(x.url("fg.bin"), (out / "fg.bin").string());
  fg.resume();
  bool fg_finished_first = false;
  poll_until(
      [&] {
        const bool fg_done = fg.state() == job_state::transferred;
        fg_finished_first = fg_done && x1_running();
        return fg_done || !x1_running();
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(fg_finished_first) << "fg did not finish before x1:\n" << daemon.log();

  const std::vector<std::pair<job*, std::pair<std::string, std::string>>> all = {
      {&x1, {"x1.bin", x1_digest}},
      {&x2, {"x2.bin", x2_digest}},
      {&fg, {"fg.bin", fg_digest}},
      {&y1, {"y1.bin", y1_digest}}};
  for (const auto& [j, file] : all) {
    ASSERT_EQ(wait_for_state(*j, job_state::transferred, std::chrono::seconds(60)).state,
              job_state::transferred)
        << file.first << "\n"
        << daemon.log();
    EXPECT_EQ(j->complete(), hr::ok);
    EXPECT_EQ(sha256_file(out / file.first), file.second) << file.first;
  }
  x.wait_for_requests(4);
  const auto x1_starts = range_starts(x, "/x1.bin");
  ASSERT_GE(x1_starts.size(), 2U) << "x1 was not pre-empted by fg";
  EXPECT_EQ(x1_starts.front(), -1);
  for (std::size_t i = 1; i < x1_starts.size(); ++i) EXPECT_GT(x1_starts[i], 0);
}

}  // namespace
