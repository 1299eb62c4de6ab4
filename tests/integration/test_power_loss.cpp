// Power loss (the reliability issue's power-loss model): opendod's state dir and download dir
// live in a tree whose unsynced writes a "power off" drops (support/power_loss.hpp), and the
// power goes at moments a seeded PRNG picks while jobs are created, run, and completed. After
// each power off the daemon starts in a new boot (another boot id), so it may trust only what was
// synced. No job a client was told exists may be lost, no file Complete delivered may be lost or
// corrupt, and every job must finish with the right bytes. The model itself is proved first.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/helpers.hpp"
#include "support/fault_origin.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/power_loss.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;
using clock_type = std::chrono::steady_clock;

namespace {

// Runs a shell command line with the model's library preloaded, as opendod runs.
void shell(const power_loss_model& model, const std::string& command) {
  const run_result r =
      run({"/bin/sh", "-c", command}, std::chrono::seconds(30), model.environment());
  ASSERT_EQ(r.exit_code, 0) << command << ": " << r.err;
}

std::string quoted(const fs::path& path) {
  return "'" + path.string() + "'";
}

}  // namespace

// The model drops what was not synced and keeps what was: a new file whose directory was never
// synced is gone, even if its bytes were; a synced file keeps its synced bytes over later
// unsynced writes; a rename counts once its directory is synced; sync(2) keeps everything.
// coreutils make the calls: dd conv=fsync (fsync of the file), sync DIR (fsync of the directory),
// plain sync (sync(2)).
TEST(PowerLossModel, UnsyncedWritesAreDroppedAndSyncedOnesKept) {
  temp_dir base("opendo-model");
  power_loss_model model(base / "disk");
  const fs::path root = model.root();
  fs::create_directory(root / "sub");
  write_file(root / "sub" / "old.txt", "old bytes\n");
  model.sync_everything();
  std::mt19937_64 rng(1);

  // Unsynced: a new file, and new bytes in a synced one; its directory synced, but not its data.
  shell(model, "printf new > " + quoted(root / "sub" / "new.txt") + " && printf changed > " +
                   quoted(root / "sub" / "old.txt") + " && printf data > " +
                   quoted(root / "nameless.txt") + " && dd if=/dev/zero of=" +
                   quoted(root / "zeros.bin") + " bs=4096 count=2 conv=fsync status=none");
  model.power_off(rng);
  EXPECT_FALSE(fs::exists(root / "sub" / "new.txt"));
  EXPECT_EQ(read_file(root / "sub" / "old.txt"), "old bytes\n");
  EXPECT_FALSE(fs::exists(root / "nameless.txt"));
  EXPECT_FALSE(fs::exists(root / "zeros.bin")) << "its bytes were synced, its name was not";

  // Synced: the file's bytes, then its directory's names.
  shell(model, "printf 'kept\\n' | dd of=" + quoted(root / "sub" / "kept.txt") +
                   " conv=fsync status=none && sync " + quoted(root / "sub") +
                   " && printf 'not synced' >> " + quoted(root / "sub" / "kept.txt"));
  model.power_off(rng);
  EXPECT_EQ(read_file(root / "sub" / "kept.txt"), "kept\n");

  // A name that appeared in a synced directory before its bytes were synced: there, empty.
  shell(model,
        "printf lost > " + quoted(root / "sub" / "empty.txt") + " && sync " + quoted(root / "sub"));
  model.power_off(rng);
  ASSERT_TRUE(fs::exists(root / "sub" / "empty.txt"));
  EXPECT_EQ(fs::file_size(root / "sub" / "empty.txt"), 0U);

  // A rename: undone until its directory is synced.
  shell(model, "mv " + quoted(root / "sub" / "kept.txt") + " " + quoted(root / "sub" / "a.txt"));
  model.power_off(rng);
  EXPECT_TRUE(fs::exists(root / "sub" / "kept.txt"));
  EXPECT_FALSE(fs::exists(root / "sub" / "a.txt"));
  shell(model, "mv " + quoted(root / "sub" / "kept.txt") + " " + quoted(root / "sub" / "a.txt") +
                   " && sync " + quoted(root / "sub"));
  model.power_off(rng);
  EXPECT_FALSE(fs::exists(root / "sub" / "kept.txt"));
  EXPECT_EQ(read_file(root / "sub" / "a.txt"), "kept\n");

  // sync(2): everything.
  shell(model, "printf all > " + quoted(root / "sub" / "all.txt") + " && sync");
  model.power_off(rng);
  EXPECT_EQ(read_file(root / "sub" / "all.txt"), "all");

  // Written back before the power went (the kernel's choice): the current bytes stay.
  shell(model, "printf 'written back' > " + quoted(root / "sub" / "a.txt"));
  model.power_off(rng, 1.0);
  EXPECT_EQ(read_file(root / "sub" / "a.txt"), "written back");

  // Its new size reached the disk, its new bytes did not: zeros past the synced ones.
  shell(model, "printf 'kept\\n' | dd of=" + quoted(root / "sub" / "sized.txt") +
                   " conv=fsync status=none && sync " + quoted(root / "sub") +
                   " && printf lost >> " + quoted(root / "sub" / "sized.txt"));
  EXPECT_EQ(model.synced_size(root / "sub" / "sized.txt"), 5U);  // "kept\n"
  model.power_off(rng, power_off_chances{0, 1.0});
  EXPECT_EQ(read_file(root / "sub" / "sized.txt"), std::string("kept\n") + std::string(4, '\0'));
}

namespace {

constexpr int kPowerOffs = 12;
constexpr int kJobsPerRound = 3;
constexpr std::uint64_t kRate = 1 << 20;  // per connection, so that power offs find files half done
constexpr double kWrittenBackChance = 0.3;
constexpr std::uint64_t kDefaultSeed = 20261205;

std::uint64_t power_loss_seed() {
  const char* text = std::getenv("OPENDO_POWER_LOSS_SEED");
  return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : kDefaultSeed;
}

std::uint64_t pick(std::mt19937_64& rng, std::uint64_t low, std::uint64_t high) {
  return std::uniform_int_distribution<std::uint64_t>(low, high)(rng);
}

// The model's tree holds opendod's state dir and the download dir, empty and synced before the
// daemon first starts; the boot id file, outside it, says which boot the daemon runs in.
fs::path prepare_disk(const power_loss_model& model, const fs::path& boot_id) {
  fs::create_directories(model.root() / "state");
  fs::create_directories(model.root() / "out");
  model.sync_everything();
  write_file(boot_id, "00000000-0000-4000-8000-000000000000\n");
  return model.root() / "out";
}

daemon_options on_model(const power_loss_model& model, const fs::path& boot_id) {
  daemon_options options;
  options.state_dir = model.root() / "state";
  options.env = model.environment();
  options.env.push_back("OPENDO_TEST_BOOT_ID_FILE=" + boot_id.string());
  return options;
}

struct planned_file {
  std::string name;
  std::uint64_t size = 0;
  std::string sha256;
};

// A job a client was told exists (its Resume returned), and whether Complete delivered it.
struct acknowledged_job {
  std::string id;
  std::vector<planned_file> files;
  bool delivered = false;
};

struct figures {
  int power_offs = 0;
  int jobs = 0;
  int files = 0;
  int delivered_before_a_power_off = 0;  // checked again after each later power off
  int came_back_after_complete = 0;
  std::uint64_t payload = 0;
  std::uint64_t fetched = 0;
};

class power_loss_run {
 public:
  power_loss_run(std::uint64_t seed, const fs::path& base)
      : rng_(seed),
        model_(base / "disk"),
        boot_id_(base / "boot_id"),
        out_(prepare_disk(model_, boot_id_)) {
    nginx_options origin;
    origin.limit_rate = kRate;
    origin_.emplace(origin);
    daemon_.emplace(daemon_settings());
  }

  // One round: new jobs are acknowledged, jobs run and are completed for a random time, and
  // the power goes.
  void round() {
    std::this_thread::sleep_for(std::chrono::milliseconds(pick(rng_, 0, 800)));
    client c = connect(*daemon_);
    for (int i = 0; i < kJobsPerRound; ++i) create_job(c);
    const auto until = clock_type::now() + std::chrono::milliseconds(pick(rng_, 0, 2500));
    do {
      complete_transferred(c);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (clock_type::now() < until);
    power_off();
  }

  // After the last power off: every job runs to the end and is completed.
  void finish() {
    const auto deadline = clock_type::now() + std::chrono::minutes(3);
    client c = connect(*daemon_);
    while (undelivered() > 0 && clock_type::now() < deadline && !::testing::Test::HasFailure()) {
      complete_transferred(c);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(undelivered(), 0U) << daemon_->log();
    EXPECT_TRUE(c.list_jobs().empty());
    expect_delivered_files_intact("at the end");
  }

  figures result() {
    figures f = figures_;
    std::set<std::string> names;
    for (const auto& j : jobs_) {
      for (const auto& file : j.files) {
        f.payload += file.size;
        ++f.files;
        names.insert("/" + file.name);
      }
    }
    f.jobs = static_cast<int>(jobs_.size());
    for (const auto& e : origin_->access_log()) {
      if (names.count(e.path)) f.fetched += e.body_bytes_sent;
    }
    return f;
  }

 private:
  daemon_options daemon_settings() const {
    daemon_options options = on_model(model_, boot_id_);
    options.max_connections_per_file = 4;
    options.extra_args = {"--max-active-jobs",          "4",
                          "--max-connections-per-host", "16",
                          "--min-segment-size",         std::to_string(1 << 20),
                          "--retry-delay-floor",        "1"};
    return options;
  }

  std::string boot_name() const {
    char id[64];
    std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d\n", figures_.power_offs);
    return id;
  }

  // A job of one file (a few hundred KiB to 3 MiB), of one file fetched in segments (6 to
  // 10 MiB), or of two or three small files.
  void create_job(client& c) {
    acknowledged_job planned;
    const std::uint64_t kind = pick(rng_, 0, 9);
    const std::uint64_t files = kind < 2 ? pick(rng_, 2, 3) : 1;
    for (std::uint64_t f = 0; f < files; ++f) {
      const std::uint64_t size = kind < 2   ? pick(rng_, 16 << 10, 512 << 10)
                                 : kind < 5 ? pick(rng_, 6 << 20, 10 << 20)
                                            : pick(rng_, 256 << 10, 3 << 20);
      const std::string name =
          "p" + std::to_string(jobs_.size()) + "-f" + std::to_string(f) + ".bin";
      planned.files.push_back({name, size, origin_->make_random_file(name, size, ++seed_)});
    }
    job j = c.create_job("power loss " + std::to_string(jobs_.size()));
    j.set_minimum_retry_delay(std::chrono::seconds(1));
    std::vector<std::pair<std::string, std::string>> specs;
    for (const auto& f : planned.files) {
      specs.emplace_back(origin_->url(f.name), (out_ / f.name).string());
    }
    j.add_files(specs);
    j.resume();
    planned.id = j.id();
    jobs_.push_back(planned);  // acknowledged: the daemon answered every call
  }

  void complete_transferred(client& c) {
    for (const auto& info : c.list_jobs()) {
      acknowledged_job* tracked = find(info.id);
      ASSERT_NE(tracked, nullptr) << "a job nobody created: " << info.id;
      if (info.state == job_state::error) {
        ADD_FAILURE() << "job " << info.id
                      << " is in ERROR: " << (info.error ? info.error->message : std::string())
                      << "\n"
                      << daemon_->log();
        return;
      }
      if (info.state != job_state::transferred) continue;
      ASSERT_EQ(c.open_job(info.id).complete(), hr::ok) << daemon_->log();
      if (tracked->delivered) ++figures_.came_back_after_complete;
      tracked->delivered = true;
      for (const auto& f : tracked->files) {
        EXPECT_EQ(sha256_file(out_ / f.name), f.sha256) << f.name << " as Complete delivered it";
      }
    }
  }

  // The power goes while the daemon runs; the machine comes back in a new boot with what was
  // synced, and the daemon starts again.
  void power_off() {
    daemon_->kill9();
    model_.power_off(rng_, kWrittenBackChance);
    ++figures_.power_offs;
    write_file(boot_id_, boot_name());
    daemon_->restart();
    const std::string after = " after power off " + std::to_string(figures_.power_offs);
    expect_delivered_files_intact(after);
    client c = connect(*daemon_);
    std::map<std::string, job_info> listed;
    for (const auto& info : c.list_jobs()) listed[info.id] = info;
    for (const auto& j : jobs_) {
      if (j.delivered) continue;
      const auto it = listed.find(j.id);
      if (it == listed.end()) {
        ADD_FAILURE() << "job " << j.id << " was lost" << after << "\n" << daemon_->log();
        continue;
      }
      EXPECT_EQ(it->second.files_total, j.files.size()) << j.id << after;
      EXPECT_NE(it->second.state, job_state::suspended) << j.id << " lost its Resume" << after;
    }
  }

  void expect_delivered_files_intact(const std::string& when) {
    int delivered = 0;
    for (const auto& j : jobs_) {
      if (!j.delivered) continue;
      ++delivered;
      for (const auto& f : j.files) {
        EXPECT_EQ(sha256_file(out_ / f.name), f.sha256) << f.name << " delivered, " << when;
      }
    }
    figures_.delivered_before_a_power_off =
        std::max(figures_.delivered_before_a_power_off, delivered);
  }

  acknowledged_job* find(const std::string& id) {
    for (auto& j : jobs_) {
      if (j.id == id) return &j;
    }
    return nullptr;
  }

  std::size_t undelivered() const {
    std::size_t n = 0;
    for (const auto& j : jobs_) n += j.delivered ? 0 : 1;
    return n;
  }

  std::mt19937_64 rng_;
  std::uint64_t seed_ = 500;
  power_loss_model model_;
  fs::path boot_id_;
  fs::path out_;
  std::optional<nginx_server> origin_;
  std::optional<daemon_process> daemon_;
  std::vector<acknowledged_job> jobs_;
  figures figures_;
};

}  // namespace

TEST(PowerLoss, NoAcknowledgedJobIsLostAndNoDeliveredFileIsCorrupt) {
  const std::uint64_t seed = power_loss_seed();
  std::printf("power loss: seed %llu (OPENDO_POWER_LOSS_SEED replays a run)\n",
              static_cast<unsigned long long>(seed));
  temp_dir base("opendo-power");
  power_loss_run run(seed, base.path());
  const auto started = clock_type::now();
  for (int i = 0; i < kPowerOffs && !HasFailure(); ++i) run.round();
  run.finish();
  const figures f = run.result();
  std::printf(
      "power loss: %d power offs, %d jobs, %d files, payload %llu bytes, fetched %llu bytes "
      "(ratio %.3f), up to %d delivered jobs checked after each power off, %d came back after "
      "their Complete, %.1f s, seed %llu\n",
      f.power_offs, f.jobs, f.files, static_cast<unsigned long long>(f.payload),
      static_cast<unsigned long long>(f.fetched),
      static_cast<double>(f.fetched) / static_cast<double>(f.payload),
      f.delivered_before_a_power_off, f.came_back_after_complete,
      std::chrono::duration<double>(clock_type::now() - started).count(),
      static_cast<unsigned long long>(seed));
  EXPECT_GE(f.fetched, f.payload);
}

// The first power-loss hole the model found, made certain: a temporary file whose bytes were
// synced and recorded, and the record made durable by a later client request, but whose name
// was never synced (no Complete synced its directory since). After the power off the store says
// the file has bytes; the file must still be there with them, or the daemon would go on after a
// hole of zeros. (Fails without the directory fsync in open_temp.)
TEST(PowerLoss, ATemporaryFileWithRecordedBytesSurvivesAPowerOff) {
  temp_dir base("opendo-power");
  power_loss_model model(base / "disk");
  const fs::path out = prepare_disk(model, base / "boot_id");
  nginx_options paced;
  paced.limit_rate = kRate;
  nginx_server origin(paced);
  const std::string digest = origin.make_random_file("named.bin", 8 << 20, 71);
  daemon_process daemon(on_model(model, base / "boot_id"));
  std::string id;
  {
    client c = connect(daemon);
    job j = c.create_job("named");
    id = j.id();
    j.add_file(origin.url("named.bin"), (out / "named.bin").string());
    j.resume();
    // Past a checkpoint (once a second) that recorded at least 1 MiB: nginx sends the first
    // second's worth at once, then 1 MiB a second.
    wait_until(j, [](const job_info& i) { return i.bytes_transferred >= (5 << 19); });
    c.create_job("syncs the store");  // its commit syncs the WAL, with the progress record
  }
  daemon.kill9();
  std::mt19937_64 rng(71);
  model.power_off(rng);
  write_file(base / "boot_id", "00000000-0000-4000-8000-000000000001\n");
  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "named.bin"), digest);
  // The restarted daemon resumed from its record, so the bytes before it came from the file.
  const auto requests = origin.wait_for_requests(2);
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].range.rfind("bytes=", 0), 0U) << "the progress record did not survive";
}

// The temporary files a Resume creates are not synced one by one (a Resume does not wait for a
// directory sync): each name is made durable by one sync of its directory before the file's
// first record, which covers every name created there meanwhile. Six small files of a job in
// one directory finish, their records are synced, and the power goes: each recorded file is
// still there with its bytes, so the job is TRANSFERRED after the reboot and Complete delivers
// all six. Without the directory sync before the records, the names are gone and Complete fails.
TEST(PowerLoss, SmallFilesRecordedWholeKeepTheirTemporaryFilesOverAPowerOff) {
  temp_dir base("opendo-power");
  power_loss_model model(base / "disk");
  const fs::path out = prepare_disk(model, base / "boot_id");
  nginx_server origin;
  std::vector<std::string> digests;
  for (int i = 0; i < 6; ++i) {
    digests.push_back(origin.make_random_file("small" + std::to_string(i) + ".bin",
                                              16384 + 1000 * static_cast<std::uint64_t>(i),
                                              static_cast<std::uint64_t>(80 + i)));
  }
  daemon_process daemon(on_model(model, base / "boot_id"));
  std::string id;
  {
    client c = connect(daemon);
    job j = c.create_job("small files");
    id = j.id();
    for (int i = 0; i < 6; ++i) {
      const std::string name = "small" + std::to_string(i) + ".bin";
      j.add_file(origin.url(name), (out / name).string());
    }
    j.resume();
    ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
    c.create_job("syncs the store");  // its commit syncs the WAL, with the files' records
  }
  daemon.kill9();
  std::mt19937_64 rng(81);
  model.power_off(rng);
  write_file(base / "boot_id", "00000000-0000-4000-8000-000000000001\n");
  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  ASSERT_EQ(j.complete(), hr::ok) << daemon.log();
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(sha256_file(out / ("small" + std::to_string(i) + ".bin")), digests[i]) << i;
  }
  // Nothing was fetched again: every file came back from its temporary file.
  EXPECT_EQ(origin.wait_for_requests(6).size(), 6U);
}

// Complete renames every file of the job and then syncs each directory once (not once per
// file) before it records the deliveries and answers. Files in two directories, the power right
// after Complete's answer: every file is in place with its bytes, and no temporary file is left.
TEST(PowerLoss, EveryFileACompleteDeliveredSurvivesAPowerOffRightAfterIt) {
  temp_dir base("opendo-power");
  power_loss_model model(base / "disk");
  const fs::path out = prepare_disk(model, base / "boot_id");
  fs::create_directories(out / "a");
  fs::create_directories(out / "b");
  model.sync_everything();
  nginx_server origin;
  std::vector<std::pair<fs::path, std::string>> files;
  for (int i = 0; i < 6; ++i) {
    const std::string name = "c" + std::to_string(i) + ".bin";
    files.emplace_back(out / (i % 2 == 0 ? "a" : "b") / name,
                       origin.make_random_file(name, 20000 + static_cast<std::uint64_t>(i),
                                               static_cast<std::uint64_t>(90 + i)));
  }
  daemon_process daemon(on_model(model, base / "boot_id"));
  {
    client c = connect(daemon);
    job j = c.create_job("complete");
    for (std::size_t i = 0; i < files.size(); ++i) {
      j.add_file(origin.url("c" + std::to_string(i) + ".bin"), files[i].first.string());
    }
    j.resume();
    ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
    ASSERT_EQ(j.complete(), hr::ok) << daemon.log();
  }
  daemon.kill9();
  std::mt19937_64 rng(91);
  model.power_off(rng);
  for (const auto& [path, digest] : files) EXPECT_EQ(sha256_file(path), digest) << path;
  for (const char* dir : {"a", "b"}) {
    for (const auto& entry : fs::directory_iterator(out / dir)) {
      EXPECT_EQ(entry.path().extension(), ".bin") << "left behind: " << entry.path();
    }
  }
}

// The second hole, made certain: a job whose creation, file and Resume were answered, and the
// power going right after. The store committed client requests with synchronous = NORMAL, so
// the WAL holding them was not synced yet and the job was gone after the reboot.
TEST(PowerLoss, AJobIsKeptOnceItsCallsWereAnswered) {
  temp_dir base("opendo-power");
  power_loss_model model(base / "disk");
  const fs::path out = prepare_disk(model, base / "boot_id");
  daemon_process daemon(on_model(model, base / "boot_id"));
  std::string id;
  {
    client c = connect(daemon);
    job j = c.create_job("answered");
    id = j.id();
    j.add_file("http://127.0.0.1:9/answered.bin", (out / "answered.bin").string());
    j.resume();
  }
  daemon.kill9();
  std::mt19937_64 rng(72);
  model.power_off(rng);
  write_file(base / "boot_id", "00000000-0000-4000-8000-000000000001\n");
  daemon.restart();
  client c = connect(daemon);
  const job_info info = c.open_job(id).info();
  EXPECT_EQ(info.files_total, 1U);
  EXPECT_NE(info.state, job_state::suspended) << "its Resume was lost";
}

// The sync of a finished transfer runs off the event loop, and the file is reported
// transferred only once it is done. The model holds every sync of the download dir's files
// (OPENDO_TEST_HOLD_SYNC_OF) until the test lets it go: meanwhile the daemon answers another
// client's call (with the sync on the loop, that call waited for the sync), and the job is not
// TRANSFERRED. The power goes while the sync is held: the job comes back and fetches the file
// again from its start (the store named none of its bytes). Then the syncs go
// through, and the power goes right after the job is TRANSFERRED and its record synced: the
// whole file is there, and Complete delivers it with its SHA-256.
TEST(PowerLoss, AFileIsTransferredOnlyOnceSyncedAndTheLoopServesMeanwhile) {
  temp_dir base("opendo-power");
  power_loss_model model(base / "disk");
  const fs::path out = prepare_disk(model, base / "boot_id");
  nginx_server origin;
  const std::string digest = origin.make_random_file("held.bin", 3 << 20, 91);
  const sync_gate gate(base.path(), out.string() + "/");
  daemon_options options = on_model(model, base / "boot_id");
  for (auto& entry : gate.environment()) options.env.push_back(entry);
  daemon_process daemon(options);
  std::string id;
  {
    client c = connect(daemon);
    job j = c.create_job("held");
    id = j.id();
    j.add_file(origin.url("held.bin"), (out / "held.bin").string());
    j.resume();
    ASSERT_TRUE(gate.wait_until_held()) << "no sync of the file was held\n" << daemon.log();
    // Another client's call, while the sync is held: answered (waited for up to 10 s).
    auto answered = std::async(std::launch::async, [&daemon] {
      client other = connect(daemon);
      return other.create_job("answered while a sync is held").id();
    });
    const bool in_time = answered.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    if (!in_time) gate.open();  // lets the blocked loop go on, so that the test ends
    ASSERT_TRUE(in_time) << "the daemon did not answer while a file's sync was held";
    EXPECT_FALSE(answered.get().empty());
    // Its bytes all arrived, but none is on disk: not TRANSFERRED. (The call above synced the
    // store's WAL, so a record of bytes made now would survive the power off below.)
    EXPECT_NE(j.info().state, job_state::transferred);
  }
  daemon.kill9();
  std::mt19937_64 rng(91);
  model.power_off(rng);
  gate.open();
  write_file(base / "boot_id", "00000000-0000-4000-8000-000000000001\n");
  daemon.restart();
  {
    client c = connect(daemon);
    job j = c.open_job(id);
    ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
    c.create_job("syncs the store");  // its commit syncs the WAL, with the file's record
  }
  // The store named no byte of the file: it was fetched again from its start.
  const auto requests = origin.wait_for_requests(2);
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].range, "") << "bytes were recorded before they were synced";
  daemon.kill9();
  model.power_off(rng);
  write_file(base / "boot_id", "00000000-0000-4000-8000-000000000002\n");
  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  EXPECT_EQ(j.info().state, job_state::transferred) << daemon.log();
  ASSERT_EQ(j.complete(), hr::ok) << daemon.log();
  EXPECT_EQ(sha256_file(out / "held.bin"), digest);
}

// A Suspend while a finished transfer's sync is on the worker: the transfer is stopped (its
// bytes synced on the loop and recorded, as any stop does), the worker's late result for it is
// dropped, so the job stays SUSPENDED instead of turning TRANSFERRED behind the client's back,
// and Resume finds the file recorded whole: it is not fetched again.
TEST(PowerLoss, ASuspendWhileAFilesSyncRunsStopsItOnce) {
  temp_dir base("opendo-power");
  power_loss_model model(base / "disk");
  const fs::path out = prepare_disk(model, base / "boot_id");
  nginx_server origin;
  const std::string digest = origin.make_random_file("suspended.bin", 3 << 20, 92);
  const sync_gate gate(base.path(), out.string() + "/");
  daemon_options options = on_model(model, base / "boot_id");
  for (auto& entry : gate.environment()) options.env.push_back(entry);
  daemon_process daemon(options);
  client c = connect(daemon);
  job j = c.create_job("suspended");
  const std::string id = j.id();
  j.add_file(origin.url("suspended.bin"), (out / "suspended.bin").string());
  j.resume();
  ASSERT_TRUE(gate.wait_until_held()) << "no sync of the file was held\n" << daemon.log();
  // The worker's sync is held; the Suspend's own sync (on the loop) is held next.
  gate.forget_held();
  auto suspended = std::async(std::launch::async, [&daemon, &id] {
    client other = connect(daemon);
    other.open_job(id).suspend();
  });
  const bool stopping = gate.wait_until_held();
  gate.open();  // both syncs go through
  ASSERT_TRUE(stopping) << "the Suspend did not sync the file\n" << daemon.log();
  suspended.get();
  EXPECT_EQ(j.info().state, job_state::suspended);
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  ASSERT_EQ(j.complete(), hr::ok) << daemon.log();
  EXPECT_EQ(sha256_file(out / "suspended.bin"), digest);
  EXPECT_EQ(origin.wait_for_requests(1).size(), 1U) << "the file was fetched again";
}

// A job whose turn ends (one slot, one-second slices) after its file's last byte came but
// before its transfer was seen to finish (the worker's sync of the file is held) gives its slot
// away with every byte kept. On its next turn it needs no request: it turns TRANSFERRED at once,
// and its slot must go to the next job. Before, nothing asked the scheduler again, so the other
// job stayed QUEUED for ever (Scheduling.EqualJobsTakeTurnsAndAHighJobPreemptsThem, about 1 run in
// 5 under AddressSanitizer and load, hung so).
TEST(PowerLoss, AJobWhoseTurnEndsAfterItsLastByteFinishesAndFreesItsSlot) {
  temp_dir base("opendo-power");
  power_loss_model model(base / "disk");
  const fs::path out = prepare_disk(model, base / "boot_id");
  temp_dir other_out("opendo-out");
  nginx_server origin;
  constexpr std::uint64_t kSize = 3 << 20;
  const std::string digest = origin.make_random_file("whole.bin", kSize, 94);
  nginx_options paced;
  paced.limit_rate = 256 << 10;
  nginx_server slow(paced);
  const std::string slow_digest = slow.make_random_file("slow.bin", 1 << 20, 95);
  const sync_gate gate(base.path(), out.string() + "/");
  daemon_options options = on_model(model, base / "boot_id");
  for (auto& entry : gate.environment()) options.env.push_back(entry);
  options.extra_args = {"--max-active-jobs", "1", "--time-slice", "1"};
  daemon_process daemon(options);
  client c = connect(daemon);
  job whole = c.create_job("whole");
  whole.add_file(origin.url("whole.bin"), (out / "whole.bin").string());
  job waiting = c.create_job("waiting");
  waiting.add_file(slow.url("slow.bin"), (other_out / "slow.bin").string());
  whole.resume();
  waiting.resume();
  ASSERT_TRUE(gate.wait_until_held()) << "no sync of the file was held\n" << daemon.log();
  // The turn ends while the worker's sync is held; stopping the transfer syncs it on the loop.
  gate.forget_held();
  const bool stopping = gate.wait_until_held();
  gate.open();
  ASSERT_TRUE(stopping) << "the turn did not end\n" << daemon.log();
  ASSERT_EQ(wait_for_state(whole, job_state::transferred, std::chrono::seconds(30)).state,
            job_state::transferred)
      << daemon.log();
  ASSERT_EQ(wait_for_state(waiting, job_state::transferred, std::chrono::seconds(30)).state,
            job_state::transferred)
      << "the slot was not given on\n"
      << daemon.log();
  EXPECT_NE(
      daemon.log().find("gives its slot away and waits, " + std::to_string(kSize) + " bytes kept"),
      std::string::npos)
      << "the turn did not end with every byte kept\n"
      << daemon.log();
  ASSERT_EQ(whole.complete(), hr::ok) << daemon.log();
  ASSERT_EQ(waiting.complete(), hr::ok) << daemon.log();
  EXPECT_EQ(sha256_file(out / "whole.bin"), digest);
  EXPECT_EQ(sha256_file(other_out / "slow.bin"), slow_digest);
  EXPECT_EQ(origin.wait_for_requests(1).size(), 1U) << "the file was fetched again";
}

// A transfer stopped before its first byte has nothing to make durable: Suspend and Cancel of a
// job right after Resume wait for no sync of its temporary file (each cost a journal commit on
// the loop: API throughput, bench case 4). The gate holds every sync of the output's files, so
// a stop that still synced would not answer.
TEST(PowerLoss, StoppingATransferBeforeItsFirstByteSyncsNothing) {
  temp_dir base("opendo-power");
  power_loss_model model(base / "disk");
  const fs::path out = prepare_disk(model, base / "boot_id");
  fault_origin origin;
  origin.serve_random("silent.bin", 4096, 93);
  origin.set_fault("silent.bin", fault::stall_after(0));  // headers, then never a byte
  const sync_gate gate(base.path(), out.string() + "/");
  daemon_options options = on_model(model, base / "boot_id");
  for (auto& entry : gate.environment()) options.env.push_back(entry);
  daemon_process daemon(options);
  client c = connect(daemon);
  for (const std::string verb : {"suspend", "cancel"}) {
    SCOPED_TRACE(verb);
    job j = c.create_job(verb);
    j.add_file(origin.url("silent.bin"), (out / (verb + ".bin")).string());
    const std::size_t before = origin.requests_for("silent.bin").size();
    j.resume();
    ASSERT_EQ(origin.wait_for_requests("silent.bin", before + 1).size(), before + 1)
        << daemon.log();
    auto stopped = std::async(std::launch::async, [&daemon, &verb, id = j.id()] {
      client other = connect(daemon);
      job same = other.open_job(id);
      if (verb == "suspend") {
        same.suspend();
      } else {
        same.cancel();
      }
    });
    const bool in_time = stopped.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    if (!in_time) gate.open();  // lets the blocked loop go on, so that the test ends
    ASSERT_TRUE(in_time) << verb << " waited for a sync of a file with no byte";
    stopped.get();
  }
}

// Group commit, made certain: eight clients on their own connections call at once, so the daemon
// answers many of their calls after one sync, and each also makes a call that fails (Resume of
// a job with no file) among the others'. Every answered call must survive the power going right
// after, each job as its client left it: one client's failed call undoes no other's.
TEST(PowerLoss, EveryConcurrentClientsAnsweredCallsSurvive) {
  constexpr int kClients = 8;
  constexpr int kJobsEach = 6;
  temp_dir base("opendo-power");
  power_loss_model model(base / "disk");
  const fs::path out = prepare_disk(model, base / "boot_id");
  daemon_process daemon(on_model(model, base / "boot_id"));
  struct answered {
    std::string id;
    std::string name;
    bool has_file = false;
    bool resumed = false;
  };
  std::vector<std::vector<answered>> jobs(kClients);
  std::vector<std::string> errors(kClients);
  std::vector<int> refused(kClients, 0);
  {
    std::vector<std::thread> clients;
    for (int k = 0; k < kClients; ++k) {
      clients.emplace_back([&, k] {
        try {
          client c = connect(daemon);
          for (int i = 0; i < kJobsEach; ++i) {
            const std::string name = "client " + std::to_string(k) + " job " + std::to_string(i);
            job j = c.create_job(name);
            answered a{j.id(), name};
            if (i % 3 == 2) {  // left empty: its Resume is refused
              try {
                j.resume();
              } catch (const opendo::error& e) {
                if (e.hresult() == value_of(hr::bg_e_empty)) ++refused[k];
              }
            } else {
              j.add_file("http://127.0.0.1:9/" + std::to_string(k) + "-" + std::to_string(i),
                         (out / (std::to_string(k) + "-" + std::to_string(i) + ".bin")).string());
              a.has_file = true;
              if (i % 3 == 0) {
                j.resume();
                a.resumed = true;
              }
            }
            jobs[k].push_back(a);
          }
        } catch (const std::exception& e) {
          errors[k] = e.what();
        }
      });
    }
    for (auto& t : clients) t.join();
  }
  for (int k = 0; k < kClients; ++k) {
    ASSERT_EQ(errors[k], "") << "client " << k;
    ASSERT_EQ(refused[k], kJobsEach / 3) << "client " << k << ": an empty job's Resume passed";
  }
  daemon.kill9();
  std::mt19937_64 rng(73);
  model.power_off(rng);
  write_file(base / "boot_id", "00000000-0000-4000-8000-000000000001\n");
  daemon.restart();
  client c = connect(daemon);
  for (const auto& of_client : jobs) {
    for (const auto& a : of_client) {
      const job_info info = c.open_job(a.id).info();
      EXPECT_EQ(info.display_name, a.name);
      EXPECT_EQ(info.files_total, a.has_file ? 1U : 0U) << a.name;
      if (a.resumed) {
        EXPECT_NE(info.state, job_state::suspended) << a.name << ": its Resume was lost";
      } else {
        EXPECT_EQ(info.state, job_state::suspended) << a.name;
      }
    }
  }
}

namespace {

// The one temporary file in `dir`.
// Waits until every thread of `pid` is stopped (kill(SIGSTOP) returns before they are): one
// still running, such as the engine's sync worker, could sync or record meanwhile.
void wait_until_stopped(pid_t pid) {
  const auto deadline = clock_type::now() + std::chrono::seconds(10);
  for (;;) {
    bool all = true;
    for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
      const std::string stat = read_file(task.path() / "stat");
      const auto end = stat.rfind(')');
      if (end == std::string::npos || end + 2 >= stat.size() || stat[end + 2] != 'T') all = false;
    }
    if (all) return;
    ASSERT_LT(clock_type::now(), deadline) << "opendod did not stop";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

fs::path temp_file_in(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".part") return entry.path();
  }
  ADD_FAILURE() << "no temporary file in " << dir;
  return dir / "missing.part";
}

// The first offset in [from, the end of `written`) where `written` differs from `original`.
std::optional<std::uint64_t> first_difference(const std::string& written,
                                              const std::string& original, std::uint64_t from) {
  for (std::uint64_t i = from; i < written.size(); ++i) {
    if (i >= original.size() || written[i] != original[i]) return i;
  }
  return std::nullopt;
}

}  // namespace

// The last power-loss gap, made certain: when the power goes, a file has bytes past its last
// sync, and its new size reaches the disk but not those bytes (zeros). In the boot after, the
// file does not start before the daemon is killed: a job of higher priority holds the only slot.
// The next start in the same boot must not take those zeros for bytes the daemon wrote before a
// kill (adopt_written_bytes): the file resumes from its record and is delivered whole. Fails
// without the tail-cut marks: that start adopted the zeros, and the file was delivered with them.
TEST(PowerLoss, WhatAPowerLossLeftPastARecordIsNotAdoptedLaterInTheBoot) {
  temp_dir base("opendo-power");
  power_loss_model model(base / "disk");
  const fs::path out = prepare_disk(model, base / "boot_id");
  fs::create_directory(out / "tail");
  model.sync_everything();
  nginx_options paced;
  paced.limit_rate = kRate;
  nginx_server origin(paced);
  const std::string digest = origin.make_random_file("tail.bin", 6 << 20, 73);
  origin.make_random_file("slot.bin", 64 << 20, 74);
  const fs::path settings = base / "opendod.conf";
  write_file(settings, "[daemon]\nmax_active_jobs = 2\n");
  daemon_options options = on_model(model, base / "boot_id");
  options.extra_args = {"--config", settings.string()};
  daemon_process daemon(options);
  std::string id;
  std::string slot_id;
  {
    client c = connect(daemon);
    job slot = c.create_job("holds the slot");
    slot_id = slot.id();
    slot.set_priority(job_priority::high);
    slot.add_file(origin.url("slot.bin"), (out / "slot.bin").string());
    slot.resume();
    job j = c.create_job("tail");
    id = j.id();
    j.add_file(origin.url("tail.bin"), (out / "tail" / "tail.bin").string());
    j.resume();
    // Past a checkpoint that recorded at least 1 MiB (as in the test above).
    wait_until(j, [](const job_info& i) { return i.bytes_transferred >= (5 << 19); });
    c.create_job("syncs the store");  // its commit syncs the WAL, with the progress record
  }
  // The engine writes every 100 ms and syncs at each checkpoint (once a second): the power goes
  // when about a third of a second of bytes was written since the last sync.
  const fs::path temp = temp_file_in(out / "tail");
  const auto unsynced = [&] { return fs::file_size(temp) - model.synced_size(temp); };
  // The daemon is frozen (SIGSTOP) once the bytes are seen, and looked at again: a checkpoint
  // may sync them between the look and the kill, which made this test fail about 1 run in 6.
  const auto deadline = clock_type::now() + std::chrono::seconds(20);
  bool caught = false;
  while (!caught && clock_type::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (unsynced() < (300 << 10)) continue;
    ASSERT_EQ(::kill(daemon.pid(), SIGSTOP), 0);
    wait_until_stopped(daemon.pid());
    caught = unsynced() > 0;
    if (!caught) {
      ASSERT_EQ(::kill(daemon.pid(), SIGCONT), 0);
    }
  }
  daemon.kill9();
  ASSERT_TRUE(caught) << "no moment with unsynced bytes was caught";
  std::mt19937_64 rng(73);
  model.power_off(rng, power_off_chances{0, 1.0});
  const std::string left = read_file(temp);

  // The boot after: one slot, which the job of higher priority takes.
  write_file(settings, "[daemon]\nmax_active_jobs = 1\n");
  write_file(base / "boot_id", "00000000-0000-4000-8000-000000000001\n");
  daemon.restart();
  std::uint64_t recorded = 0;
  {
    client c = connect(daemon);
    job slot = c.open_job(slot_id);
    ASSERT_EQ(wait_for_state(slot, job_state::transferring).state, job_state::transferring)
        << daemon.log();
    const job_info info = c.open_job(id).info();
    ASSERT_EQ(info.state, job_state::queued) << daemon.log();
    recorded = info.bytes_transferred;
  }
  const auto junk = first_difference(left, read_file(origin.docroot() / "tail.bin"), recorded);
  ASSERT_TRUE(junk.has_value()) << "the power off left no junk past the record (" << recorded
                                << " of " << left.size() << " bytes)";
  EXPECT_EQ(read_file(temp), left) << "a file that did not start was changed";
  std::printf("power loss: recorded %llu bytes, the temporary file holds %llu, junk from %llu\n",
              static_cast<unsigned long long>(recorded),
              static_cast<unsigned long long>(left.size()), static_cast<unsigned long long>(*junk));
  daemon.kill9();

  daemon.restart();  // the same boot
  client c = connect(daemon);
  c.open_job(slot_id).cancel();
  job j = c.open_job(id);
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "tail" / "tail.bin"), digest)
      << "junk from byte " << *junk << " of " << left.size() << " was delivered";
  std::vector<access_log_entry> requests;
  for (const auto& e : origin.access_log()) {
    if (e.path == "/tail.bin") requests.push_back(e);
  }
  ASSERT_GE(requests.size(), 2U);
  EXPECT_EQ(requests.back().range,
            recorded == 0 ? std::string() : "bytes=" + std::to_string(recorded) + "-")
      << "the file did not resume from its record";
  EXPECT_GT(recorded, 0U) << "no progress record survived: the test proves less than it should";
}
