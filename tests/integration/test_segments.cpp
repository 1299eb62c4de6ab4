// Segmented downloads against a real nginx: a server that caps each connection gets more of
// them, a link that is already full does not, and a kill -9 resumes every segment where the
// store says it stopped. nginx's access log (its connection serial numbers and Range headers)
// proves what was asked for.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
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

// A segmenting daemon that reads its boot id from `boot_id` (OPENDO_TEST_BOOT_ID_FILE), so that
// a test can "reboot" between two runs by writing another one there.
daemon_options booting(const fs::path& boot_id) {
  write_file(boot_id, "11111111-1111-1111-1111-111111111111\n");
  daemon_options options = segmenting();
  options.env.push_back("OPENDO_TEST_BOOT_ID_FILE=" + boot_id.string());
  return options;
}

// The job's temporary file in `dir` (the only .part file there).
fs::path temp_file(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".part") return entry.path();
  }
  ADD_FAILURE() << "no temporary file in " << dir;
  return dir / "missing.part";
}

void write_at(const fs::path& path, std::uint64_t offset, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  EXPECT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

// A segmented download of `size` bytes, run until the store knows at least three segments with
// recorded bytes in each, then killed; returns the job's id and its segments as recorded.
std::pair<std::string, std::vector<jobs::segment>> kill_amid_segments(daemon_process& daemon,
                                                                      const std::string& url,
                                                                      const fs::path& local) {
  std::string id;
  {
    client c = connect(daemon);
    job j = c.create_job("segmented crash");
    id = j.id();
    j.add_file(url, local.string());
    j.resume();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto segments = jobs::decode_segments(recorded_segments(daemon.state_dir(), id));
      if (segments && segments->size() >= 3 && (*segments)[2].done > 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(j.info().state, job_state::transferring) << daemon.log();
  }
  daemon.kill9();
  auto segments = jobs::decode_segments(recorded_segments(daemon.state_dir(), id));
  EXPECT_TRUE(segments && segments->size() >= 3) << daemon.log();
  return {id, segments.value_or(std::vector<jobs::segment>{})};
}

// The job runs to TRANSFERRED on the (restarted) daemon, and Complete delivers `local` with the
// right bytes.
void expect_delivered(const daemon_process& daemon, const std::string& id, const fs::path& local,
                      const std::string& digest) {
  client c = connect(daemon);
  job j = c.open_job(id);
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(local), digest);
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

// The last megabytes of a file are shared too: a connection that finished its segment takes
// the second half of what the slowest one has left while each half keeps 1 MiB
// (segment_policy::min_split_size), though the file was split under the default 4 MiB minimum.
// Only the file's first request (the one without Range) is slow here, 1 MiB/s; the ranged ones
// are not. The fast connection so takes half of the slow one's rest again and again, and the
// slow one ends less than 2 MiB after where it was at the first cut. With the 4 MiB floor it
// kept 4 to 8 MiB of its own: 4 to 8 s more at 1 MiB/s, while the other connection sat idle.
TEST(Segments, AConnectionThatFinishesTakesHalfOfTheSlowestOnesLastMegabytes) {
  nginx_options slow_first;
  slow_first.http_config = {"map $http_range $opendo_rate { \"\" 1m; default 0; }"};
  slow_first.extra_config = {"limit_rate $opendo_rate;"};
  nginx_server origin(slow_first);
  daemon_options options;
  options.max_connections_per_file = 2;
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 40 * MiB;
  const std::string digest = origin.make_random_file("tail.bin", kSize, 64);
  client c = connect(daemon);
  job j = c.create_job("shared tail");
  j.add_file(origin.url("tail.bin"), (out / "tail.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "tail.bin"), digest);

  // nginx logs the slow request when it sees the hang-up after its cut: wait for it.
  std::vector<access_log_entry> requests;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    requests = requests_for(origin, "/tail.bin");
    const bool slow_logged = std::any_of(requests.begin(), requests.end(),
                                         [](const auto& r) { return r.range.empty(); });
    if (slow_logged || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::vector<std::uint64_t> starts;  // of the ranged requests, "bytes=FIRST-..."
  for (const auto& r : requests) {
    if (r.range.empty()) continue;
    ASSERT_EQ(r.range.rfind("bytes=", 0), 0U) << r.range;
    starts.push_back(std::stoull(r.range.substr(6)));
  }
  ASSERT_GE(starts.size(), 2U) << daemon.log();
  // The first cut halved what was left after the slow request's position p (cut = p + (size -
  // p) / 2), and it is the highest start: every later range is a piece of the slow one's rest.
  // The lowest start is where the slow one's segment ended.
  const std::uint64_t cut = *std::max_element(starts.begin(), starts.end());
  const std::uint64_t slow_end = *std::min_element(starts.begin(), starts.end());
  ASSERT_LE(kSize, 2 * cut);
  const std::uint64_t at_cut = 2 * cut - kSize;
  std::cout << "the slow request was at " << at_cut << " at the first cut and ended at " << slow_end
            << " after " << starts.size() - 1 << " more cuts" << std::endl;
  // Under 2 MiB, with up to 1 MiB for what the slow one fetched while the pieces went.
  EXPECT_LT(slow_end - at_cut, 3 * MiB) << daemon.log();
  EXPECT_EQ(j.info().files.at(0).sources.bytes_from_origin, kSize);
}

// A server that caps each connection at 8 MiB/s (nginx sends 2 MiB, then waits 250 ms):
// connections are added in doubling tries (2, 4, 8, 16), each judged on one window of a few of
// those pauses, so the file goes beyond 8 connections within four windows instead of eight.
// One connection would take 20 s for the 160 MiB; one more connection per window would reach
namespace {

// The process's peak resident memory (VmHWM), in KiB.
std::uint64_t peak_memory_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

}  // namespace

// 6 or 7 before the end.
TEST(Segments, APerConnectionCapGetsManyConnectionsQuickly) {
  nginx_server origin(capped_per_connection(8 * MiB));
  daemon_options options = segmenting({"--max-connections-per-host", "16"});
  options.max_connections_per_file = 16;
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 160 * MiB;
  const std::string digest = origin.make_random_file("many.bin", kSize, 63);
  client c = connect(daemon);
  job j = c.create_job("many connections");
  j.add_file(origin.url("many.bin"), (out / "many.bin").string());
  const std::uint64_t peak_before = peak_memory_kib(daemon.pid());
  const auto started = std::chrono::steady_clock::now();
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "many.bin"), digest);
  std::cout << "per-connection cap: " << kSize / MiB << " MiB at 8 MiB/s per connection in "
            << seconds << " s" << std::endl;
  const std::string log = daemon.log();
  // Every try paid in full: the file went beyond 8 connections (one per window would have
  // taken more than 10 s to get there), and none was given back.
  EXPECT_NE(log.find("now uses 9 connections"), std::string::npos) << log;
  EXPECT_EQ(log.find("goes back to"), std::string::npos) << log;
  EXPECT_LT(seconds, 10.0) << log;
  const auto requests = requests_for(origin, "/many.bin");
  std::uint64_t sent = 0;
  for (const auto& r : requests) sent += r.body_bytes_sent;
  EXPECT_LT(sent, kSize + kSize / 5);
  EXPECT_EQ(j.info().files.at(0).sources.bytes_from_origin, kSize);
  // The file's transfers share its write buffers (8 MiB, at least 512 KiB each): 16 of 4 MiB,
  // each with a second one while a buffer goes to the disk, could hold 128 MiB for one file.
  EXPECT_NE(log.find("; 4096 KiB write buffer)"), std::string::npos) << log;  // the probe's
  EXPECT_NE(log.find("; 512 KiB write buffer)"), std::string::npos) << log;   // the 16's
  const std::uint64_t grew_mib = (peak_memory_kib(daemon.pid()) - peak_before) / 1024;
  std::cout << "the daemon's peak memory grew by " << grew_mib << " MiB" << std::endl;
  EXPECT_LT(grew_mib, 64U);
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

  // The next file from that host remembers that more did not pay: one connection, no probe.
  const std::string second_digest = origin.make_random_file("second.bin", 8 * MiB, 65);
  job second = c.create_job("full link again");
  second.add_file(origin.url("second.bin"), (out / "second.bin").string());
  second.resume();
  ASSERT_EQ(second.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(second.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "second.bin"), second_digest);
  origin.wait_for_requests(requests.size() + 1);
  const auto again = requests_for(origin, "/second.bin");
  EXPECT_EQ(again.size(), 1U) << daemon.log();
  EXPECT_NE(daemon.log().find("job " + second.id() + ": file 0 starts with 1 connection(s)"),
            std::string::npos)
      << daemon.log();
}

// A second file from a server that caps each connection starts with the connections the first
// one found paid, at once, instead of ramping up from one again.
TEST(Segments, TheNextFileFromAHostStartsWithWhatPaidForTheLast) {
  nginx_server origin(capped_per_connection(8 * MiB));
  daemon_options options = segmenting({"--max-connections-per-host", "16"});
  options.max_connections_per_file = 16;
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 64 * MiB;
  const std::string first_digest = origin.make_random_file("first.bin", kSize, 66);
  const std::string second_digest = origin.make_random_file("second.bin", kSize, 67);
  client c = connect(daemon);
  job first = c.create_job("first");
  first.add_file(origin.url("first.bin"), (out / "first.bin").string());
  first.resume();
  ASSERT_EQ(first.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(first.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "first.bin"), first_digest);
  // The first file got past the probe: it asked for 8 (and perhaps 16).
  EXPECT_NE(daemon.log().find("job " + first.id() + ": file 0 now uses 8 connections"),
            std::string::npos)
      << daemon.log();

  job second = c.create_job("second");
  second.add_file(origin.url("second.bin"), (out / "second.bin").string());
  second.resume();
  ASSERT_EQ(second.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(second.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "second.bin"), second_digest);
  const std::string log = daemon.log();
  const std::string starts = "job " + second.id() + ": file 0 starts with ";
  const auto at = log.find(starts);
  ASSERT_NE(at, std::string::npos) << log;
  EXPECT_GE(std::stoul(log.substr(at + starts.size())), 8U) << log;
  EXPECT_EQ(log.find("goes back to"), std::string::npos) << log;
  origin.wait_for_requests(2);
  EXPECT_GE(connections_of(requests_for(origin, "/second.bin")).size(), 8U) << log;
  EXPECT_EQ(second.info().files.at(0).sources.bytes_from_origin, kSize);
}

// kill -9 while several segments run: the store holds each segment's recorded bytes, and after
// the restart each unfinished segment is asked for from exactly there. The restart comes in a
// new boot (the machine crashed), where only recorded bytes count; in the same boot a segment
// also keeps what it wrote after its record (the next test).
TEST(Segments, KillNineResumesEachSegmentWhereTheStoreSays) {
  nginx_server origin(capped_per_connection(2 * MiB));
  temp_dir boot("opendo-boot");
  daemon_process daemon(booting(boot.path() / "boot_id"));
  temp_dir out("opendo-out");
  // Up to 6 connections at 2 MiB/s run at the kill, and what they received since the last
  // checkpoint (once a second) is fetched again: large enough that this stays within a quarter.
  constexpr std::uint64_t kSize = 80 * MiB;
  const std::string digest = origin.make_random_file("crash.bin", kSize, 63);
  const auto [id, recorded] =
      kill_amid_segments(daemon, origin.url("crash.bin"), out.path() / "crash.bin");
  ASSERT_GE(recorded.size(), 3U);
  const std::size_t before = requests_for(origin, "/crash.bin").size();

  write_file(boot.path() / "boot_id", "22222222-2222-2222-2222-222222222222\n");
  daemon.restart();
  expect_delivered(daemon, id, out / "crash.bin", digest);

  // Every unfinished segment was asked for again from its recorded byte.
  std::set<std::string> asked;
  const auto after = requests_for(origin, "/crash.bin");
  for (std::size_t i = before; i < after.size(); ++i) asked.insert(after[i].range);
  for (const auto& s : recorded) {
    if (s.complete()) continue;
    const std::string range = "bytes=" + std::to_string(s.next()) + "-" + std::to_string(s.end - 1);
    EXPECT_EQ(asked.count(range), 1U) << range << " was not asked for; the log:\n" << daemon.log();
  }
  std::uint64_t sent = 0;
  for (const auto& r : after) sent += r.body_bytes_sent;
  std::cout << "segmented crash: " << recorded.size() << " segments at the kill, "
            << after.size() - before << " requests after it, " << sent << " body bytes sent for "
            << kSize << std::endl;
  EXPECT_LT(sent, kSize + kSize / 4);  // what was in flight or in memory at the kill, no more
}

// What each segment wrote after its last record is still in the page cache after a kill -9 (the
// same boot): the restarted daemon keeps it and asks each segment for the rest only. The test
// writes the next MiB of each unfinished segment into the temporary file itself, as the killed
// daemon's writes would have left it, so that every segment has bytes to keep; each is then
// asked for from the end of them at the latest (less the block they end in, which the file
// system cannot tell from a partly written one).
TEST(Segments, KillNineKeepsWhatEachSegmentWroteAfterItsLastRecord) {
  nginx_server origin(capped_per_connection(2 * MiB));
  daemon_process daemon(segmenting());
  temp_dir out("opendo-out");
  // Large enough that, when the kill comes, at least two segments have more than 2 MiB left
  // (with 6 connections at 2 MiB/s each from 18 MiB or so on).
  constexpr std::uint64_t kSize = 80 * MiB;
  constexpr std::uint64_t kSeed = 64;
  constexpr std::uint64_t kBlock = 4096;
  const std::string digest = origin.make_random_file("kept.bin", kSize, kSeed);
  const auto [id, segments] =
      kill_amid_segments(daemon, origin.url("kept.bin"), out.path() / "kept.bin");
  ASSERT_GE(segments.size(), 3U);
  std::map<std::uint64_t, std::uint64_t> written_to;  // a segment's end -> bytes written up to
  for (const auto& s : segments) {
    if (s.remaining() < 2 * MiB) continue;
    write_at(temp_file(out.path()), s.next(), random_bytes(kSeed, s.next(), MiB));
    written_to[s.end] = s.next() + MiB;
  }
  ASSERT_GE(written_to.size(), 2U) << "the segments were too near their ends";

  daemon.restart();
  expect_delivered(daemon, id, out.path() / "kept.bin", digest);
  EXPECT_NE(daemon.log().find("bytes its segments wrote before the daemon stopped are kept"),
            std::string::npos)
      << daemon.log();
  // A segment's last request (its range ends where the segment does; nginx logs the killed
  // daemon's requests when it notices them, after the kill) starts where it was resumed.
  std::map<std::uint64_t, std::uint64_t> resumed_at;  // a segment's end -> the last first byte
  for (const auto& r : requests_for(origin, "/kept.bin")) {
    const auto dash = r.range.find('-');
    if (r.range.rfind("bytes=", 0) != 0 || dash == std::string::npos) continue;  // the whole file
    const std::uint64_t first = std::stoull(r.range.substr(6, dash - 6));
    const std::uint64_t end = std::stoull(r.range.substr(dash + 1)) + 1;
    resumed_at[end] = std::max(resumed_at[end], first);
  }
  for (const auto& [end, written] : written_to) {
    EXPECT_GE(resumed_at[end], written - kBlock)
        << "the segment ending at " << end << " fetched bytes written before the kill again\n"
        << daemon.log();
  }
}

// A power loss can leave anything in the parts of a temporary file that were not synced: stale
// blocks, zeros. The daemon after the reboot must never adopt them, even after a later kill -9 in
// the new boot (when bytes written but not recorded are adopted again): each time the file starts
// it punches out what no segment recorded. The test fills every unfinished segment's rest with
// junk, "reboots" (another boot id), lets the segments run a moment, kills the daemon, and
// restarts it in the same boot: the file must still arrive bit for bit.
TEST(Segments, JunkLeftByAPowerLossIsNeverAdopted) {
  nginx_server origin(capped_per_connection(2 * MiB));
  temp_dir boot("opendo-boot");
  const fs::path boot_id = boot.path() / "boot_id";
  daemon_process daemon(booting(boot_id));
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 48 * MiB;
  const std::string digest = origin.make_random_file("junk.bin", kSize, 65);
  const auto [id, segments] =
      kill_amid_segments(daemon, origin.url("junk.bin"), out.path() / "junk.bin");
  ASSERT_GE(segments.size(), 3U);
  for (const auto& s : segments) {
    if (!s.complete()) write_at(temp_file(out.path()), s.next(), std::string(s.remaining(), 'J'));
  }

  write_file(boot_id, "22222222-2222-2222-2222-222222222222\n");
  daemon.restart();
  {
    client c = connect(daemon);
    job j = c.open_job(id);
    const std::uint64_t recorded = j.info().bytes_transferred;
    wait_until(j, [&](const job_info& i) { return i.bytes_transferred > recorded; });
  }
  daemon.kill9();
  daemon.restart();
  expect_delivered(daemon, id, out.path() / "junk.bin", digest);
}

// The same junk in a file that does not start in the boot after the power loss before the daemon
// is killed (a job of higher priority holds the only slot): no start punched it out, so the next
// start in that boot must not adopt it either. Fails without the tail-cut marks, which let a file
// adopt only once a start in the current boot cut it back (docs/durability.md).
TEST(Segments, JunkInAFileThatDidNotStartSinceThePowerLossIsNeverAdopted) {
  nginx_server origin(capped_per_connection(2 * MiB));
  nginx_server elsewhere(capped_per_connection(1 * MiB));
  temp_dir boot("opendo-boot");
  const fs::path boot_id = boot.path() / "boot_id";
  const fs::path settings = boot.path() / "opendod.conf";
  write_file(settings, "[daemon]\nmax_active_jobs = 2\n");
  daemon_options options = booting(boot_id);
  options.extra_args.insert(options.extra_args.end(), {"--config", settings.string()});
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  temp_dir slot_out("opendo-out");
  constexpr std::uint64_t kSize = 48 * MiB;
  const std::string digest = origin.make_random_file("junk.bin", kSize, 66);
  elsewhere.make_random_file("slot.bin", 64 * MiB, 67);
  std::string slot_id;
  {
    client c = connect(daemon);
    job slot = c.create_job("holds the slot");
    slot_id = slot.id();
    slot.set_priority(job_priority::high);
    slot.add_file(elsewhere.url("slot.bin"), (slot_out.path() / "slot.bin").string());
    slot.resume();
  }
  const auto [id, segments] =
      kill_amid_segments(daemon, origin.url("junk.bin"), out.path() / "junk.bin");
  ASSERT_GE(segments.size(), 3U);
  for (const auto& s : segments) {
    if (!s.complete()) write_at(temp_file(out.path()), s.next(), std::string(s.remaining(), 'J'));
  }

  write_file(settings, "[daemon]\nmax_active_jobs = 1\n");
  write_file(boot_id, "22222222-2222-2222-2222-222222222222\n");
  daemon.restart();
  {
    client c = connect(daemon);
    job slot = c.open_job(slot_id);
    ASSERT_EQ(wait_for_state(slot, job_state::transferring).state, job_state::transferring)
        << daemon.log();
    ASSERT_EQ(c.open_job(id).info().state, job_state::queued) << daemon.log();
  }
  daemon.kill9();
  daemon.restart();  // the same boot
  EXPECT_EQ(connect(daemon).open_job(slot_id).cancel(), hr::ok);
  expect_delivered(daemon, id, out.path() / "junk.bin", digest);
  std::istringstream log(daemon.log());
  for (std::string line; std::getline(log, line);) {
    EXPECT_FALSE(line.find(id) != std::string::npos &&
                 line.find("before the daemon stopped are kept") != std::string::npos)
        << line;
  }
}
