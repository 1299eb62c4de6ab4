// Segmented downloads against a real nginx: a server that caps each connection gets more of
// them, a link that is already full does not, and a kill -9 resumes every segment where the
// store says it stopped. nginx's access log (its connection serial numbers and Range headers)
// proves what was asked for.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "integration/helpers.hpp"
#include "jobs/segments.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

namespace {

constexpr std::uint64_t MiB = 1 << 20;

nginx_options capped_per_connection(std::uint64_t bytes_per_second) {
  nginx_options options;
  options.limit_rate = bytes_per_second;
  return options;
}

daemon_options segmenting(std::vector<std::string> extra = {}) {
  daemon_options options;
  options.max_connections_per_file = 6;
  options.extra_args = {"--min-segment-size", std::to_string(1 * MiB)};
  options.extra_args.insert(options.extra_args.end(), extra.begin(), extra.end());
  return options;
}

std::vector<access_log_entry> requests_for(const nginx_server& origin, const std::string& path) {
  std::vector<access_log_entry> out;
  for (const auto& entry : origin.access_log()) {
    if (entry.path == path) out.push_back(entry);
  }
  return out;
}

std::set<std::uint64_t> connections_of(const std::vector<access_log_entry>& requests) {
  std::set<std::uint64_t> out;
  for (const auto& r : requests) out.insert(r.connection);
  return out;
}

// The segments of file 0 of a job as the store holds them ("" when none).
std::string recorded_segments(const fs::path& state_dir, const std::string& job_id) {
  sqlite3* db = nullptr;
  const std::string path = (state_dir / "jobs.sqlite").string();
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT segments FROM files WHERE job_id = ?1 AND idx = 0", -1,
                               &stmt, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_bind_text(stmt, 1, job_id.c_str(), -1, SQLITE_TRANSIENT);
  std::string text;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return text;
}

}  // namespace

// nginx sends each connection 2 MiB a second: every connection added pays, so the file ends up
// on several, each asking for its own range, and arrives whole.
TEST(Segments, AServerThatCapsEachConnectionGetsSeveral) {
  nginx_server origin(capped_per_connection(2 * MiB));
  daemon_process daemon(segmenting());
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 40 * MiB;
  const std::string digest = origin.make_random_file("capped.bin", kSize, 61);
  client c = connect(daemon);
  job j = c.create_job("segmented");
  j.add_file(origin.url("capped.bin"), (out / "capped.bin").string());
  const auto started = std::chrono::steady_clock::now();
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "capped.bin"), digest);

  origin.wait_for_requests(3);
  const auto requests = requests_for(origin, "/capped.bin");
  const auto connections = connections_of(requests);
  std::uint64_t sent = 0;
  for (const auto& r : requests) sent += r.body_bytes_sent;
  std::cout << "segmented: " << kSize / MiB << " MiB at 2 MiB/s per connection in " << seconds
            << " s over " << connections.size() << " connections, " << requests.size()
            << " requests, " << sent << " body bytes sent" << std::endl;
  EXPECT_GE(connections.size(), 4U) << daemon.log();
  EXPECT_LE(connections.size(), 6U);
  // One request asks for the whole file (the first; nginx logs requests as they end), every
  // other one for a range of the same file.
  std::size_t whole = 0;
  for (const auto& r : requests) {
    if (r.range.empty()) {
      ++whole;
      continue;
    }
    EXPECT_EQ(r.range.rfind("bytes=", 0), 0U) << r.range;
    EXPECT_FALSE(r.if_range.empty());
    EXPECT_EQ(r.status, 206);
  }
  EXPECT_EQ(whole, 1U);
  // A connection that is cut sends what was in flight past its cut before it sees the hang-up.
  EXPECT_LT(sent, kSize + kSize / 5);
  const job_info info = j.info();
  EXPECT_EQ(info.files.at(0).sources.bytes_from_origin, kSize);
  EXPECT_EQ(info.files.at(0).sources.origin_connections, requests.size());
}

// A link that one connection already fills: the daemon's own cap of 4 MB/s for background jobs
// is shared by all of a file's connections, so the second one brings nothing: it is given back
// and no other is tried. (Its half of the file waits for the first connection to finish its own
// half, and a connection then fetches it: three in the log, never more than two at once.)
TEST(Segments, ALinkThatOneConnectionFillsGetsNoMore) {
  nginx_server origin;
  temp_dir config("opendo-config");
  { std::ofstream(config.path() / "opendod.conf") << "[bandwidth]\nbackground_cap = 4M\n"; }
  daemon_process daemon(segmenting({"--config", (config.path() / "opendod.conf").string()}));
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 24 * MiB;
  const std::string digest = origin.make_random_file("full.bin", kSize, 62);
  client c = connect(daemon);
  job j = c.create_job("full link");
  j.add_file(origin.url("full.bin"), (out / "full.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "full.bin"), digest);
  const auto requests = origin.wait_for_requests(1);
  const auto connections = connections_of(requests_for(origin, "/full.bin"));
  std::cout << "full link: " << connections.size() << " connections" << std::endl;
  EXPECT_LE(connections.size(), 3U) << daemon.log();
  EXPECT_NE(daemon.log().find("goes back to 1 connection(s)"), std::string::npos) << daemon.log();
  EXPECT_EQ(daemon.log().find("now uses 3 connections"), std::string::npos) << daemon.log();
}

// kill -9 while several segments run: the store holds each segment's recorded bytes, and after
// the restart each unfinished segment is asked for from exactly there.
TEST(Segments, KillNineResumesEachSegmentWhereTheStoreSays) {
  nginx_server origin(capped_per_connection(2 * MiB));
  daemon_process daemon(segmenting());
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 48 * MiB;
  const std::string digest = origin.make_random_file("crash.bin", kSize, 63);
  std::string id;
  {
    client c = connect(daemon);
    job j = c.create_job("segmented crash");
    id = j.id();
    j.add_file(origin.url("crash.bin"), (out / "crash.bin").string());
    j.resume();
    // Until the store knows at least three segments and some bytes of each are recorded.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto segments = jobs::decode_segments(recorded_segments(daemon.state_dir(), id));
      if (segments && segments->size() >= 3 && (*segments)[2].done > 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(j.info().state, job_state::transferring) << daemon.log();
  }
  daemon.kill9();
  const auto segments = jobs::decode_segments(recorded_segments(daemon.state_dir(), id));
  ASSERT_TRUE(segments);
  ASSERT_GE(segments->size(), 3U) << daemon.log();
  const std::size_t before = requests_for(origin, "/crash.bin").size();

  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "crash.bin"), digest);

  // Every unfinished segment was asked for again from its recorded byte.
  std::set<std::string> asked;
  const auto after = requests_for(origin, "/crash.bin");
  for (std::size_t i = before; i < after.size(); ++i) asked.insert(after[i].range);
  for (const auto& s : *segments) {
    if (s.complete()) continue;
    const std::string range = "bytes=" + std::to_string(s.next()) + "-" + std::to_string(s.end - 1);
    EXPECT_EQ(asked.count(range), 1U) << range << " was not asked for; the log:\n" << daemon.log();
  }
  std::uint64_t sent = 0;
  for (const auto& r : after) sent += r.body_bytes_sent;
  std::cout << "segmented crash: " << segments->size() << " segments at the kill, "
            << after.size() - before << " requests after it, " << sent << " body bytes sent for "
            << kSize << std::endl;
  EXPECT_LT(sent, kSize + kSize / 4);  // what was in flight or in memory at the kill, no more
}
