// A full disk: a job whose temporary file cannot grow goes to TRANSIENT_ERROR (LOCAL_FILE, a
// message naming the full file system), keeps the bytes it has, lets other jobs go on, and
// finishes by itself once space is freed; a job store on a full file system refuses new jobs
// with a clear error and loses none it accepted.
//
// Runs as root (CI does): each test mounts a small tmpfs of its own and unmounts it at the end,
// also when the test fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;

// A tmpfs of `bytes` mounted on a temp dir while it lives. umount -l detaches it even while the
// daemon still holds files open in it.
class small_file_system {
 public:
  explicit small_file_system(std::uint64_t bytes) : dir_(make_temp_dir("opendo-small-fs")) {
    const run_result r =
        run({"mount", "-t", "tmpfs", "-o", "size=" + std::to_string(bytes) + ",mode=0700",
             "opendo-test-tmpfs", dir_.string()});
    if (r.exit_code != 0) {
      remove_temp_dir(dir_);
      throw std::runtime_error("cannot mount a tmpfs on " + dir_.string() + ": " + r.err);
    }
  }
  ~small_file_system() {
    run({"umount", "-l", dir_.string()});
    remove_temp_dir(dir_);
  }
  small_file_system(const small_file_system&) = delete;
  small_file_system& operator=(const small_file_system&) = delete;

  const fs::path& path() const { return dir_; }

 private:
  fs::path dir_;
};

// Writes `path` with up to `limit` bytes, stopping early at a full disk; returns what fit.
std::uint64_t write_filler(const fs::path& path, std::uint64_t limit) {
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) throw std::runtime_error("cannot create " + path.string());
  const std::vector<char> block(64 * 1024, 'x');
  std::uint64_t written = 0;
  while (written < limit) {
    const std::size_t n =
        std::fwrite(block.data(), 1, std::min<std::uint64_t>(block.size(), limit - written), out);
    written += n;
    if (n == 0 || std::fflush(out) != 0) break;
  }
  std::fclose(out);
  return fs::file_size(path);
}

#define REQUIRE_ROOT()                                                                        \
  ASSERT_EQ(::geteuid(), 0U)                                                                  \
      << "test_disk_full must run as root: it mounts small tmpfs file systems to fill them. " \
         "Run it as root (CI does), e.g. sudo ctest --test-dir build -R DiskFull"

daemon_options with_short_retries() {
  daemon_options options;
  options.extra_args = {"--retry-delay-floor", "1"};
  return options;
}

}  // namespace

// Fast, the engine's write buffer fills and the write in libcurl's callback meets the full disk;
// at 1 MiB/s it never fills, and the write of a checkpoint (outside libcurl) does.
class DiskFullAt : public ::testing::TestWithParam<std::uint64_t> {};

INSTANTIATE_TEST_SUITE_P(DiskFull, DiskFullAt, ::testing::Values(0, kMiB), [](const auto& info) {
  return info.param == 0 ? std::string("FullSpeed") : std::string("OneMiBPerSecond");
});

TEST_P(DiskFullAt, NoSpaceIsTransientKeepsTheBytesAndFinishesOnceSpaceIsFreed) {
  REQUIRE_ROOT();
  small_file_system small(8 * kMiB);
  const fs::path filler = small.path() / "filler";
  ASSERT_EQ(write_filler(filler, 5 * kMiB), 5 * kMiB);
  nginx_options rate;
  if (GetParam() != 0) rate.limit_rate = GetParam();
  nginx_server origin(rate);
  daemon_process daemon(with_short_retries());
  temp_dir out("opendo-out");
  constexpr std::uint64_t kBig = 6 * kMiB;  // about 3 MiB fit
  const std::string big_digest = origin.make_random_file("big.bin", kBig, 71);
  const std::string other_digest = origin.make_random_file("other.bin", 8 * kMiB, 72);

  client c = connect(daemon);
  job full = c.create_job("on a full disk");
  full.set_minimum_retry_delay(std::chrono::seconds(0));  // the daemon's floor: 1 s
  const std::string destination = (small.path() / "big.bin").string();
  full.add_file(origin.url("big.bin"), destination);
  job other = c.create_job("on another disk");
  other.add_file(origin.url("other.bin"), (out / "other.bin").string());
  full.resume();
  other.resume();

  const job_info failed = full.wait(/*stop_on_transient=*/true);
  ASSERT_EQ(failed.state, job_state::transient_error) << daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, value_of(hr::disk_full));
  EXPECT_EQ(failed.error->context, error_context::local_file);
  const std::string& message = failed.error->message;
  EXPECT_NE(message.find("the disk is full"), std::string::npos) << message;
  EXPECT_NE(message.find("tmpfs file system mounted on " + small.path().string()),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(destination), std::string::npos) << message;
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  // What fitted is kept, on disk, and not fetched again.
  const std::uint64_t kept = failed.bytes_transferred;
  EXPECT_GT(kept, 1 * kMiB);
  EXPECT_LT(kept, kBig);
  const run_result shown = daemon.cli({"info", full.id()});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("the disk is full"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("TRANSIENT_ERROR"), std::string::npos) << shown.out;

  // The job on another file system is not held up, while the full one keeps failing.
  ASSERT_EQ(other.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(other.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "other.bin"), other_digest);
  EXPECT_NE(full.info().state, job_state::transferred);

  fs::remove(filler);
  const job_info done = full.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_GE(done.error_count, 1U);
  EXPECT_EQ(full.complete(), hr::ok);
  EXPECT_EQ(sha256_file(destination), big_digest);

  // Every request after the first resumed at least where the full disk stopped it.
  std::vector<access_log_entry> requests;
  for (const auto& entry : origin.access_log()) {
    if (entry.path == "/big.bin") requests.push_back(entry);
  }
  ASSERT_GE(requests.size(), 2U);
  EXPECT_EQ(requests.front().range, "");
  for (std::size_t i = 1; i < requests.size(); ++i) {
    const std::string& range = requests[i].range;
    ASSERT_EQ(range.rfind("bytes=", 0), 0U) << "request " << i << " started again from byte 0";
    EXPECT_GE(std::stoull(range.substr(6)), kept) << range;
  }
  EXPECT_EQ(requests.back().status, 206);
}

TEST(DiskFull, AFullStoreRefusesChangesClearlyAndLosesNoJob) {
  REQUIRE_ROOT();
  small_file_system small(2 * kMiB);
  const fs::path state = small.path() / "state";
  nginx_server origin;
  daemon_options options = with_short_retries();
  options.state_dir = state;
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("kept.bin", 300000, 73);

  client c = connect(daemon);
  job before = c.create_job("recorded before the disk filled");
  before.add_file(origin.url("kept.bin"), (out / "kept.bin").string());
  before.resume();
  ASSERT_EQ(before.wait().state, job_state::transferred) << daemon.log();

  // Fill every byte that is left but 256 KiB; then add jobs with many files until the store
  // cannot grow.
  const fs::path room = small.path() / "room";
  ASSERT_EQ(write_filler(room, 256 * 1024), 256U * 1024);
  const fs::path filler = small.path() / "filler";
  write_filler(filler, 64 * kMiB);
  fs::remove(room);
  std::vector<std::string> accepted;
  std::uint32_t refusal = 0;
  std::string refusal_text;
  for (int attempt = 0; attempt < 50 && refusal == 0; ++attempt) {
    try {
      job j = c.create_job("job " + std::to_string(attempt) + std::string(200, 'n'));
      accepted.push_back(j.id());
      std::vector<std::pair<std::string, std::string>> files;
      for (int f = 0; f < 100; ++f) {
        files.emplace_back(origin.url("kept.bin") + "?" + std::to_string(f),
                           (out / ("f" + std::to_string(attempt) + "-" + std::to_string(f) +
                                   std::string(150, 'x')))
                               .string());
      }
      j.add_files(files);
    } catch (const opendo::error& e) {
      refusal = e.hresult();
      refusal_text = e.what();
    }
  }
  ASSERT_NE(refusal, 0U) << "the store never ran out of space";
  EXPECT_FALSE(accepted.empty()) << "the 256 KiB left took no job: " << refusal_text;
  EXPECT_EQ(refusal, value_of(hr::disk_full)) << refusal_text;
  EXPECT_NE(refusal_text.find("could not be recorded"), std::string::npos) << refusal_text;
  EXPECT_NE(refusal_text.find("full"), std::string::npos) << refusal_text;
  EXPECT_TRUE(daemon.running()) << daemon.log();
  // The daemon still answers, and the job recorded before is intact.
  EXPECT_EQ(before.info().state, job_state::transferred);

  // A crash now, and a restart on the still full disk: the daemon starts, and every accepted
  // job is back, none half-written.
  daemon.kill9();
  daemon.restart();
  {
    client again = connect(daemon);
    std::vector<std::string> listed;
    for (const auto& info : again.list_jobs()) listed.push_back(info.id);
    EXPECT_NE(std::find(listed.begin(), listed.end(), before.id()), listed.end());
    for (const auto& id : accepted) {
      EXPECT_NE(std::find(listed.begin(), listed.end(), id), listed.end()) << id << " was lost";
    }
    EXPECT_EQ(listed.size(), accepted.size() + 1);
  }
  // With space again, the job recorded before the disk filled completes.
  fs::remove(filler);
  daemon.restart();
  client again = connect(daemon);
  job kept = again.open_job(before.id());
  EXPECT_EQ(kept.info().state, job_state::transferred);
  EXPECT_EQ(kept.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "kept.bin"), digest);
}
