// Interruptions: kill -9 of the daemon, Suspend/Resume, Cancel, a file that changes on the
// server, and a server without range support. The access log proves what was fetched twice.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
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

nginx_options rate_limited(std::uint64_t bytes_per_second) {
  nginx_options options;
  options.limit_rate = bytes_per_second;
  return options;
}

// bytes_transferred of file 0 of a job as recorded in the store (read from the real SQLite file
// while the daemon is dead).
std::uint64_t recorded_bytes(const fs::path& state_dir, const std::string& job_id) {
  sqlite3* db = nullptr;
  const std::string path = (state_dir / "jobs.sqlite").string();
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(
      sqlite3_prepare_v2(db, "SELECT bytes_transferred FROM files WHERE job_id = ?1 AND idx = 0",
                         -1, &stmt, nullptr),
      SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_bind_text(stmt, 1, job_id.c_str(), -1, SQLITE_TRANSIENT);
  std::uint64_t bytes = 0;
  if (sqlite3_step(stmt) == SQLITE_ROW)
    bytes = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return bytes;
}

// One integer of the store, by a query with the job id as ?1 (read while no daemon writes).
std::int64_t recorded_integer(const fs::path& state_dir, const std::string& sql,
                              const std::string& job_id) {
  sqlite3* db = nullptr;
  const std::string path = (state_dir / "jobs.sqlite").string();
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_bind_text(stmt, 1, job_id.c_str(), -1, SQLITE_TRANSIENT);
  std::int64_t value = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

// The delivered column of a file; -1 when the store has no such file.
std::int64_t recorded_delivered(const fs::path& state_dir, const std::string& job_id, int index) {
  return recorded_integer(
      state_dir, "SELECT delivered FROM files WHERE job_id = ?1 AND idx = " + std::to_string(index),
      job_id);
}

std::int64_t recorded_job_count(const fs::path& state_dir) {
  return recorded_integer(state_dir, "SELECT count(*) FROM jobs WHERE ?1 = ?1", "");
}

// The job's temporary file in `dir` (the only .part file there).
fs::path temp_file(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".part") return entry.path();
  }
  ADD_FAILURE() << "no temporary file in " << dir;
  return dir / "missing.part";
}

// Makes the store look as if its daemon last ran in another boot.
void set_boot_id(const fs::path& state_dir, const std::string& boot_id) {
  sqlite3* db = nullptr;
  const std::string path = (state_dir / "jobs.sqlite").string();
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const std::string sql = "UPDATE meta SET value = '" + boot_id + "' WHERE key = 'boot_id'";
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  EXPECT_EQ(sqlite3_changes(db), 1);
  sqlite3_close(db);
}

std::vector<access_log_entry> requests_for(const nginx_server& origin, const std::string& path) {
  std::vector<access_log_entry> out;
  for (const auto& entry : origin.access_log()) {
    if (entry.path == path) out.push_back(entry);
  }
  return out;
}

}  // namespace

TEST(Resume, KillNineMidTransferResumesWhereTheStoreSaysAndNothingIsLost) {
  nginx_server origin(rate_limited(8 << 20));
  daemon_process daemon;
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 48ULL << 20;
  const std::string digest = origin.make_random_file("crash.bin", kSize, 42);
  std::string id;
  {
    client c = connect(daemon);
    job j = c.create_job("crash");
    id = j.id();
    j.add_file(origin.url("crash.bin"), (out / "crash.bin").string());
    j.resume();
    // Past the first checkpoints, well before the end.
    const auto info =
        wait_until(j, [](const job_info& i) { return i.bytes_transferred > (20ULL << 20); });
    ASSERT_EQ(info.state, job_state::transferring) << daemon.log();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // at least one more checkpoint
  daemon.kill9();
  const std::uint64_t recorded = recorded_bytes(daemon.state_dir(), id);
  ASSERT_GT(recorded, 0U);
  ASSERT_LT(recorded, kSize);
  // Bytes written but not yet recorded are kept too (same boot): the resume starts at the end of
  // the temporary file.
  const std::uint64_t written = fs::file_size(temp_file(out.path()));
  ASSERT_GE(written, recorded);

  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "crash.bin"), digest);

  // The second request starts exactly where the file ended: nothing written is fetched again.
  origin.wait_for_requests(2);
  const auto requests = requests_for(origin, "/crash.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0].range, "");
  EXPECT_EQ(requests[1].range, "bytes=" + std::to_string(written) + "-");
  EXPECT_FALSE(requests[1].if_range.empty());  // resumed only if the file is still the same
  EXPECT_EQ(requests[1].status, 206);
  EXPECT_EQ(requests[1].body_bytes_sent, kSize - written);
  // What was fetched twice is only what was still in memory or in flight: the engine's 4 MiB
  // write buffer and the socket buffers, not the second since the last record.
  const std::uint64_t fetched = requests[0].body_bytes_sent + requests[1].body_bytes_sent;
  EXPECT_LT(fetched - kSize, 8ULL << 20) << "fetched " << fetched << " for " << kSize;
}

// The page cache keeps what a killed daemon wrote, so a restart in the same boot keeps the
// bytes written after the last record; after a reboot (another boot id in the store) they may
// be lost or zeros, so only the recorded bytes count and the rest is cut off.
TEST(Resume, BytesWrittenAfterTheLastRecordAreKeptInTheSameBootOnly) {
  for (const bool same_boot : {true, false}) {
    SCOPED_TRACE(same_boot ? "same boot" : "after a reboot");
    nginx_server origin(rate_limited(8 << 20));
    daemon_process daemon;
    temp_dir out("opendo-out");
    constexpr std::uint64_t kSize = 48ULL << 20;
    const std::string digest = origin.make_random_file("adopt.bin", kSize, 43);
    std::string id;
    {
      client c = connect(daemon);
      job j = c.create_job("adopt");
      id = j.id();
      j.add_file(origin.url("adopt.bin"), (out / "adopt.bin").string());
      j.resume();
      wait_until(j, [](const job_info& i) { return i.bytes_transferred > (4ULL << 20); });
    }
    // Kill when the file holds at least 1 MiB more than the store has recorded.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline &&
           fs::file_size(temp_file(out.path())) <
               recorded_bytes(daemon.state_dir(), id) + (1 << 20)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    daemon.kill9();
    const std::uint64_t recorded = recorded_bytes(daemon.state_dir(), id);
    const std::uint64_t written = fs::file_size(temp_file(out.path()));
    ASSERT_GE(written, recorded + (1 << 20)) << "no moment with unrecorded bytes was caught";
    ASSERT_LT(written, kSize);
    if (!same_boot) set_boot_id(daemon.state_dir(), "00000000-0000-0000-0000-000000000000");
    daemon.restart();
    client c = connect(daemon);
    job j = c.open_job(id);
    ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
    EXPECT_EQ(j.complete(), hr::ok);
    EXPECT_EQ(sha256_file(out / "adopt.bin"), digest);
    origin.wait_for_requests(2);
    const auto requests = requests_for(origin, "/adopt.bin");
    ASSERT_EQ(requests.size(), 2U);
    const std::uint64_t resumed_at = same_boot ? written : recorded;
    EXPECT_EQ(requests[1].range,
              resumed_at == 0 ? std::string() : "bytes=" + std::to_string(resumed_at) + "-");
    EXPECT_EQ(daemon.log().find("written before the daemon stopped are kept") != std::string::npos,
              same_boot);
  }
}

// A kill after a file's last byte was written but before it was recorded (the engine's last
// write and the record are one loop turn apart): the restarted daemon adopts the whole file and
// delivers it without a request, where asking for the bytes after its end would get a 416 and
// fetch it again. The test writes the rest of the file into the temporary file itself, as the
// page cache would hold it.
TEST(Resume, FileWrittenWholeBeforeAKillIsNotFetchedAgain) {
  nginx_server origin(rate_limited(1 << 20));
  daemon_process daemon;
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 4ULL << 20;
  constexpr std::uint64_t kSeed = 45;
  const std::string digest = origin.make_random_file("whole.bin", kSize, kSeed);
  std::string id;
  {
    client c = connect(daemon);
    job j = c.create_job("whole before the kill");
    id = j.id();
    j.add_file(origin.url("whole.bin"), (out / "whole.bin").string());
    j.resume();
    wait_until(j, [](const job_info& i) { return i.bytes_transferred > (1 << 20); });
  }
  daemon.kill9();
  write_file(temp_file(out.path()), random_bytes(kSeed, 0, kSize));
  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "whole.bin"), digest);
  origin.wait_for_requests(1);
  EXPECT_EQ(requests_for(origin, "/whole.bin").size(), 1U) << "the file was asked for again";
  EXPECT_LT(origin.total_body_bytes_sent("whole.bin"), kSize);
}

// BITS_JOB_PROPERTY_HIGH_PERFORMANCE: no sync and record once a second while the job runs; a
// stop (here Suspend) records the bytes on disk, and after a crash of the machine (another boot
// id) the file continues from that record, not from what was written since.
TEST(Resume, HighPerformanceJobIsRecordedOnlyWhenItsTransferStops) {
  nginx_server origin(rate_limited(4 << 20));  // 64 MiB take 16 s: time to spare
  daemon_process daemon;
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 64ULL << 20;
  const std::string digest = origin.make_random_file("fast.bin", kSize, 44);
  std::string id;
  std::uint64_t suspended_at = 0;
  {
    client c = connect(daemon);
    job j = c.create_job("high performance");
    id = j.id();
    j.set_high_performance(true);
    EXPECT_TRUE(j.info().high_performance);
    j.add_file(origin.url("fast.bin"), (out / "fast.bin").string());
    j.resume();
    wait_until(j, [](const job_info& i) { return i.bytes_transferred > (12ULL << 20); });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past a checkpoint interval
    ASSERT_EQ(j.info().state, job_state::transferring) << daemon.log();
    EXPECT_EQ(recorded_bytes(daemon.state_dir(), id), 0U) << "a periodic record was written";

    j.suspend();
    suspended_at = j.info().bytes_transferred;
    EXPECT_GT(suspended_at, 12ULL << 20);
    EXPECT_EQ(recorded_bytes(daemon.state_dir(), id), suspended_at);

    j.resume();
    wait_until(j,
               [&](const job_info& i) { return i.bytes_transferred > suspended_at + (8 << 20); });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(recorded_bytes(daemon.state_dir(), id), suspended_at);
  }
  daemon.kill9();
  ASSERT_GT(fs::file_size(temp_file(out.path())), suspended_at + (4 << 20));
  set_boot_id(daemon.state_dir(), "00000000-0000-0000-0000-000000000000");  // the machine crashed
  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  EXPECT_TRUE(j.info().high_performance);  // persisted
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "fast.bin"), digest);
  origin.wait_for_requests(3);
  const auto requests = requests_for(origin, "/fast.bin");
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_EQ(requests[1].range, "bytes=" + std::to_string(suspended_at) + "-");
  EXPECT_EQ(requests[2].range, "bytes=" + std::to_string(suspended_at) + "-");
}

TEST(Resume, SuspendStopsTheTransferAndResumeContinuesWithARange) {
  nginx_server origin(rate_limited(4 << 20));
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("pause.bin", 16 << 20, 9);
  client c = connect(daemon);
  job j = c.create_job("pause");
  j.add_file(origin.url("pause.bin"), (out / "pause.bin").string());
  j.resume();
  wait_until(j, [](const job_info& i) { return i.bytes_transferred > (5 << 20); });
  j.suspend();
  const job_info suspended = j.info();
  EXPECT_EQ(suspended.state, job_state::suspended);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(j.info().bytes_transferred, suspended.bytes_transferred);  // nothing moves
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "pause.bin"), digest);
  origin.wait_for_requests(2);
  const auto requests = requests_for(origin, "/pause.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].range, "bytes=" + std::to_string(suspended.bytes_transferred) + "-");
}

// Suspend and Resume save the job's own row, not its files' (the files' progress is saved when
// the transfer stops): each state is what a kill -9 right after its answer finds, and the file
// goes on from the bytes Suspend recorded.
TEST(Resume, SuspendAndResumeAreWhatAKillRightAfterFinds) {
  nginx_server origin(rate_limited(4 << 20));
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("kept.bin", 16 << 20, 10);
  std::string id;
  std::uint64_t at_suspend = 0;
  {
    client c = connect(daemon);
    job j = c.create_job("kept");
    id = j.id();
    j.add_file(origin.url("kept.bin"), (out / "kept.bin").string());
    j.resume();
    wait_until(j, [](const job_info& i) { return i.bytes_transferred > (2 << 20); });
    j.suspend();
    at_suspend = j.info().bytes_transferred;
  }
  daemon.kill9();
  EXPECT_EQ(recorded_bytes(daemon.state_dir(), id), at_suspend);
  daemon.restart();
  {
    client c = connect(daemon);
    job j = c.open_job(id);
    EXPECT_EQ(j.info().state, job_state::suspended);
    EXPECT_EQ(j.info().bytes_transferred, at_suspend);
    j.resume();
  }
  daemon.kill9();
  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();  // resumed by itself
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "kept.bin"), digest);
  const auto requests = requests_for(origin, "/kept.bin");
  ASSERT_GE(requests.size(), 2U);
  EXPECT_EQ(requests[1].range, "bytes=" + std::to_string(at_suspend) + "-");
}

// AddFile saves the files it adds and the job's row, not the files added before: five files
// added one call at a time are all in a job a kill -9 right after the last answer finds, and all
// arrive.
TEST(Resume, FilesAddedOneCallAtATimeAreAllKeptOverAKill) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  std::vector<std::string> digests;
  for (int i = 0; i < 5; ++i) {
    digests.push_back(origin.make_random_file("one" + std::to_string(i) + ".bin",
                                              (64 << 10) + static_cast<std::uint64_t>(i), 20 + i));
  }
  std::string id;
  {
    client c = connect(daemon);
    job j = c.create_job("one at a time");
    id = j.id();
    for (int i = 0; i < 5; ++i) {
      const std::string name = "one" + std::to_string(i) + ".bin";
      j.add_file(origin.url(name), (out / name).string());
    }
  }
  daemon.kill9();
  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  const job_info kept = j.info();
  ASSERT_EQ(kept.files.size(), 5U);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(kept.files[static_cast<std::size_t>(i)].local_name,
              (out / ("one" + std::to_string(i) + ".bin")).string());
  }
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(sha256_file(out / ("one" + std::to_string(i) + ".bin")),
              digests[static_cast<std::size_t>(i)]);
  }
}

TEST(Resume, CancelDeletesTheTemporaryFile) {
  nginx_server origin(rate_limited(1 << 20));
  daemon_process daemon;
  temp_dir out("opendo-out");
  origin.make_random_file("cancel.bin", 8 << 20, 1);
  client c = connect(daemon);
  job j = c.create_job("cancel");
  j.add_file(origin.url("cancel.bin"), (out / "cancel.bin").string());
  j.resume();
  wait_until(j, [](const job_info& i) { return i.bytes_transferred > 0; });
  ASSERT_FALSE(fs::is_empty(out.path()));
  EXPECT_EQ(j.cancel(), hr::ok);
  EXPECT_TRUE(fs::is_empty(out.path()));
  EXPECT_EQ(j.info().state, job_state::cancelled);
  EXPECT_EQ(hresult_of([&] { j.resume(); }), 0x80200002U);
  EXPECT_TRUE(c.list_jobs().empty());  // final jobs leave the list
}

TEST(Resume, FileChangedOnTheServerStartsAgainFromZero) {
  nginx_server origin(rate_limited(2 << 20));
  daemon_process daemon;
  temp_dir out("opendo-out");
  origin.make_random_file("changing.bin", 8 << 20, 1);
  client c = connect(daemon);
  job j = c.create_job("changing");
  j.add_file(origin.url("changing.bin"), (out / "changing.bin").string());
  j.resume();
  wait_until(j, [](const job_info& i) { return i.bytes_transferred > (3 << 20); });
  j.suspend();
  const std::uint64_t first_version_bytes = j.info().files.at(0).progress.bytes_transferred;
  // New content, new size, new time: the validators differ.
  const std::string digest = origin.make_random_file("changing.bin", 6 << 20, 2);
  origin.set_mtime("changing.bin", std::chrono::system_clock::now() + std::chrono::hours(1));
  j.resume();
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  // The accounting counts fetches: the bytes of the first version, then the whole second one,
  // over two requests.
  EXPECT_EQ(done.files.at(0).sources.bytes_from_origin, first_version_bytes + (6U << 20));
  EXPECT_EQ(done.files.at(0).sources.origin_connections, 2U);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(fs::file_size(out / "changing.bin"), 6U << 20);
  EXPECT_EQ(sha256_file(out / "changing.bin"), digest);
  const auto requests = requests_for(origin, "/changing.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].status, 200);  // If-Range did not match: the whole new file came
}

TEST(Resume, ServerWithoutRangesRestartsTheFile) {
  nginx_options options = rate_limited(2 << 20);
  options.extra_config.push_back("max_ranges 0;");
  nginx_server origin(options);
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("norange.bin", 6 << 20, 8);
  client c = connect(daemon);
  job j = c.create_job("norange");
  j.add_file(origin.url("norange.bin"), (out / "norange.bin").string());
  j.resume();
  wait_until(j, [](const job_info& i) { return i.bytes_transferred > (2 << 20); });
  j.suspend();
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "norange.bin"), digest);
}

// kill -9 at several moments while several jobs run: every job survives, every file arrives bit
// for bit, and what is fetched twice is bounded by what arrived after each last record.
TEST(Resume, RepeatedKillNineLosesNoJobAndNoByte) {
  constexpr std::uint64_t kRate = 4 << 20;
  nginx_server origin(rate_limited(kRate));
  daemon_process daemon;
  temp_dir out("opendo-out");
  constexpr int kJobs = 6;
  constexpr int kFilesPerJob = 2;
  constexpr std::uint64_t kFileSize = 5 << 20;
  std::vector<std::string> ids;
  std::map<std::string, std::string> digests;  // local name -> sha256
  {
    client c = connect(daemon);
    for (int i = 0; i < kJobs; ++i) {
      job j = c.create_job("chaos " + std::to_string(i));
      for (int f = 0; f < kFilesPerJob; ++f) {
        const std::string name = "c" + std::to_string(i) + "-" + std::to_string(f) + ".bin";
        digests[(out / name).string()] = origin.make_random_file(name, kFileSize, i * 10 + f);
        j.add_file(origin.url(name), (out / name).string());
      }
      j.resume();
      ids.push_back(j.id());
    }
  }
  // Kill at moments spread over the transfer (fixed, so that a failure can be replayed).
  constexpr int kKills = 5;
  const int pauses_ms[kKills] = {700, 1300, 900, 1600, 1100};
  for (int k = 0; k < kKills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pauses_ms[k]));
    daemon.kill9();
    daemon.restart();
  }
  client c = connect(daemon);
  EXPECT_EQ(c.list_jobs().size(), static_cast<std::size_t>(kJobs));  // none lost, none doubled
  for (const auto& id : ids) {
    job j = c.open_job(id);
    ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
    EXPECT_EQ(j.complete(), hr::ok);
  }
  for (const auto& [path, digest] : digests) EXPECT_EQ(sha256_file(path), digest) << path;
  std::uint64_t fetched = 0;
  for (const auto& entry : origin.access_log()) fetched += entry.body_bytes_sent;
  const std::uint64_t payload = kJobs * kFilesPerJob * kFileSize;
  // At most four jobs run at once; each may lose up to ~2 s of bytes per kill.
  const std::uint64_t bound = payload + kKills * 4 * 2 * kRate;
  EXPECT_GE(fetched, payload);
  EXPECT_LE(fetched, bound) << "fetched " << fetched << " for a payload of " << payload;
  std::cerr << "chaos: " << kKills << " kills, fetched " << fetched << " bytes for " << payload
            << " (" << static_cast<double>(fetched) / static_cast<double>(payload) << "x)\n";
}

// Complete killed between renames (docs/durability.md): the daemon records that Complete began
// before its first rename, and a restart finishes it before any client sees the job. The test
// hook OPENDO_TEST_EXIT_AFTER_RENAMES=N makes opendod _exit right after its Nth rename, before
// recording it: the worst moment, where a file is in place and the store does not say so.
TEST(Resume, KillDuringCompleteFinishesTheCompleteOnRestart) {
  nginx_server origin;
  constexpr int kFiles = 3;
  std::vector<std::string> digests;
  for (int i = 0; i < kFiles; ++i) {
    digests.push_back(
        origin.make_random_file("part" + std::to_string(i) + ".bin", 200000 + i * 1000, 60 + i));
  }
  for (int renames = 1; renames <= kFiles; ++renames) {
    SCOPED_TRACE("killed after rename " + std::to_string(renames));
    temp_dir out("opendo-out");
    // An older file at one destination: Complete replaces it, and a restart must not mistake
    // it for a delivered file.
    write_file(out / "part2.bin", "the old part2");
    daemon_options doomed;
    doomed.env = {"OPENDO_TEST_EXIT_AFTER_RENAMES=" + std::to_string(renames)};
    daemon_process first(doomed);
    std::string id;
    {
      client c = connect(first);
      job j = c.create_job("complete, interrupted");
      id = j.id();
      for (int i = 0; i < kFiles; ++i) {
        const std::string name = "part" + std::to_string(i) + ".bin";
        j.add_file(origin.url(name), (out / name).string());
      }
      j.resume();
      ASSERT_EQ(j.wait().state, job_state::transferred) << first.log();
      EXPECT_THROW(j.complete(), opendo::error);  // the daemon dies under the call
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (first.running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_FALSE(first.running());
    ASSERT_EQ(first.exit_status(), 86) << first.log();
    // The gap this closes: the last file moved is in place, the store says it is not.
    const fs::path last_moved = out / ("part" + std::to_string(renames - 1) + ".bin");
    EXPECT_EQ(sha256_file(last_moved), digests[static_cast<std::size_t>(renames - 1)]);
    EXPECT_EQ(recorded_delivered(first.state_dir(), id, renames - 1), 0);

    daemon_options options;
    options.state_dir = first.state_dir();
    daemon_process second(options);
    client c = connect(second);
    // Finished before the daemon answered anyone: no client sees part of a Complete.
    EXPECT_EQ(c.open_job(id).info().state, job_state::acknowledged) << second.log();
    for (const auto& info : c.list_jobs()) EXPECT_NE(info.id, id);
    for (int i = 0; i < kFiles; ++i) {
      EXPECT_EQ(sha256_file(out / ("part" + std::to_string(i) + ".bin")),
                digests[static_cast<std::size_t>(i)])
          << "file " << i;
    }
    for (const auto& entry : fs::directory_iterator(out.path())) {
      EXPECT_NE(entry.path().extension(), ".part") << entry.path() << " was left behind";
    }
    EXPECT_NE(second.log().find("finishing the Complete"), std::string::npos);
    second.stop();
    EXPECT_EQ(recorded_job_count(second.state_dir()), 0);  // and it is gone from the store
  }
}

// A fast transfer is checkpointed each time it received 16 MiB more, not only once a second: its
// bytes are synced and recorded while it runs, so the file's last sync (which TRANSFERRED waits
// for) has little left to write, and a crash loses less. nginx sends 256 MiB at 64 MiB/s (about
// 4 s) on one connection; the store's record of the file, read every 10 ms while it runs, takes
// more values than one checkpoint a second could make.
TEST(Resume, AFastTransferIsCheckpointedByItsBytesNotOnlyOnceASecond) {
  constexpr std::uint64_t kFast = 256U << 20;
  nginx_options options;
  options.limit_rate = 64U << 20;
  nginx_server origin(options);
  const std::string digest = origin.make_random_file("fast.bin", kFast, 23);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("fast");
  j.add_file(origin.url("fast.bin"), (out / "fast.bin").string());
  const auto started = std::chrono::steady_clock::now();
  j.resume();
  std::set<std::uint64_t> records;
  job_state state = j.info().state;
  while (state != job_state::transferred && state != job_state::error &&
         std::chrono::steady_clock::now() - started < std::chrono::seconds(120)) {
    const std::uint64_t recorded = recorded_bytes(daemon.state_dir(), j.id());
    if (recorded > 0 && recorded < kFast) records.insert(recorded);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    state = j.info().state;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(state, job_state::transferred) << daemon.log();
  std::printf("%zu checkpoints recorded while 256 MiB came in %.1f s\n", records.size(), seconds);
  // One checkpoint a second makes at most one record a second, and one more.
  EXPECT_GT(records.size(), static_cast<std::size_t>(seconds) + 2);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "fast.bin"), digest);
}
