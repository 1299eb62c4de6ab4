// The engine's O_DIRECT writes (engine_options::direct_writes) against a real nginx and a real
// opendod: a fast download's bytes go to the disk past the page cache (mincore shows them absent
// from it) and arrive whole, ranges that start at unaligned offsets of the local file land where
// the layout says, segments of one fast file (one open file description) write side by side, and
// a file system without O_DIRECT gets the same bytes written buffered.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
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

// A directory beside the build's programs: on the disk the build is on, where O_DIRECT bypasses
// the page cache (under /tmp a tmpfs would keep every byte in memory anyway).
class disk_dir {
 public:
  disk_dir() {
    std::string pattern = (bin_dir().parent_path() / "direct-writes-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
    path_ = pattern;
  }
  ~disk_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  disk_dir(const disk_dir&) = delete;
  disk_dir& operator=(const disk_dir&) = delete;
  fs::path operator/(const fs::path& child) const { return path_ / child; }

 private:
  fs::path path_;
};

struct page_count {
  std::size_t cached = 0;
  std::size_t total = 0;
};

// The file's pages that are in the page cache now (mincore of a mapping that touches none).
page_count cached_pages(const fs::path& path) {
  page_count count;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ADD_FAILURE() << "cannot open " << path;
    return count;
  }
  struct stat info {};
  EXPECT_EQ(::fstat(fd, &info), 0);
  const auto size = static_cast<std::size_t>(info.st_size);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* map = size == 0 ? MAP_FAILED : ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) {
    ADD_FAILURE() << "cannot map " << path;
    return count;
  }
  std::vector<unsigned char> resident((size + page - 1) / page);
  EXPECT_EQ(::mincore(map, size, resident.data()), 0);
  ::munmap(map, size);
  count.total = resident.size();
  for (unsigned char r : resident) count.cached += r & 1;
  std::cout << path.filename().string() << ": " << count.cached << " of " << count.total
            << " pages in the page cache" << std::endl;
  return count;
}

constexpr std::uint64_t kSeed = 61;

}  // namespace

TEST(DirectWrites, AFastDownloadGoesPastThePageCacheAndArrivesWhole) {
  nginx_server origin;
  daemon_process daemon;
  disk_dir out;
  constexpr std::uint64_t kSize = 64ULL << 20;
  const std::string digest = origin.make_random_file("direct.bin", kSize, kSeed);
  client c = connect(daemon);
  job j = c.create_job("direct");
  j.add_file(origin.url("direct.bin"), (out / "direct.bin").string());
  j.resume();
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  // Written buffered, every page of the file would be cached after its sync; written directly,
  // only the buffered heads and tails (a partial buffer written at a checkpoint, the last one).
  const page_count pages = cached_pages(out / "direct.bin");
  EXPECT_EQ(pages.total, kSize / 4096);
  EXPECT_LT(pages.cached, pages.total / 2) << pages.cached << " of " << pages.total << " cached";
  EXPECT_EQ(sha256_file(out / "direct.bin"), digest);
}

TEST(DirectWrites, RangesAtUnalignedLocalOffsetsLandWhereTheLayoutSays) {
  nginx_server origin;
  daemon_process daemon;
  disk_dir out;
  origin.make_random_file("ranges.bin", 72ULL << 20, kSeed);
  // Concatenated: the second range starts at local offset 20 MiB + 333, the third at an odd one;
  // each is a request whose first bytes (up to a 4 KiB boundary) are written buffered.
  const std::vector<byte_range> ranges = {
      {12345, (20ULL << 20) + 333}, {(40ULL << 20) + 7, (24ULL << 20) + 1}, {5, 4099}};
  client c = connect(daemon);
  job j = c.create_job("ranges");
  j.add_file(file_spec{origin.url("ranges.bin"),
                       (out / "part.bin").string(),
                       ranges,
                       range_layout::concatenated,
                       {}});
  j.resume();
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  std::string expected;
  for (const byte_range& r : ranges) expected += random_bytes(kSeed, r.offset, r.length);
  const page_count pages = cached_pages(out / "part.bin");
  EXPECT_LT(pages.cached, pages.total / 2) << pages.cached << " of " << pages.total << " cached";
  EXPECT_EQ(sha256_file(out / "part.bin"), sha256_hex(expected));
}

// Segments of one file share its open file description, and each one's first bytes start at an
// unaligned offset: buffered writes of one meet the O_DIRECT mode of another's write in flight.
TEST(DirectWrites, SegmentsOfAFastFileWriteDirectlySideBySide) {
  nginx_options capped;
  capped.limit_rate = 80ULL << 20;  // per connection: 4 MiB buffers fill in 50 ms
  nginx_server origin(capped);
  daemon_options options;
  options.max_connections_per_file = 6;
  options.extra_args = {"--min-segment-size", std::to_string(1 << 20)};
  daemon_process daemon(options);
  disk_dir out;
  // On one connection the file lasts 4 s, longer than the connection controller's longest
  // window (3 s, when a loaded machine stalls the bytes): the probe with a second connection
  // comes before the file ends. With 192 MiB (2.4 s) a loaded CI run once fetched it whole on
  // one connection.
  constexpr std::uint64_t kSize = (320ULL << 20) + 777;
  const std::string digest = origin.make_random_file("segments.bin", kSize, kSeed + 2);
  client c = connect(daemon);
  job j = c.create_job("segments");
  j.add_file(origin.url("segments.bin"), (out / "segments.bin").string());
  j.resume();
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  std::set<std::uint64_t> connections;
  std::vector<access_log_entry> requests;
  try {
    requests = origin.wait_for_requests(2);
  } catch (const std::exception& e) {
    FAIL() << e.what() << "\n" << daemon.log();  // the controller's decisions say why
  }
  for (const auto& entry : requests) {
    if (entry.path == "/segments.bin") connections.insert(entry.connection);
  }
  EXPECT_GE(connections.size(), 2U) << daemon.log();
  const page_count pages = cached_pages(out / "segments.bin");
  EXPECT_LT(pages.cached, pages.total / 2) << pages.cached << " of " << pages.total << " cached";
  EXPECT_EQ(sha256_file(out / "segments.bin"), digest);
}

TEST(DirectWrites, WithoutODirectTheSameBytesAreWrittenBuffered) {
  nginx_server origin;
  temp_dir notes("opendo-no-direct");
  const fs::path refusals = notes / "refusals";
  daemon_options options;
  options.env = {"LD_PRELOAD=" + (bin_dir() / "libopendo_no_direct.so").string(),
                 "OPENDO_TEST_NO_DIRECT_LOG=" + refusals.string(), asan_options_for_preload()};
  daemon_process daemon(options);
  disk_dir out;
  constexpr std::uint64_t kSize = (48ULL << 20) + 12345;
  const std::string digest = origin.make_random_file("buffered.bin", kSize, kSeed + 1);
  client c = connect(daemon);
  job j = c.create_job("buffered");
  j.add_file(origin.url("buffered.bin"), (out / "buffered.bin").string());
  j.resume();
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  // The engine asked, was refused, and wrote the transfer buffered from then on: once per
  // request (the manager may add a segment), not once per buffer.
  ASSERT_TRUE(fs::exists(refusals)) << "opendod never asked for O_DIRECT";
  std::uint64_t requests = 0;
  for (const auto& entry : origin.wait_for_requests(1)) {
    requests += entry.path == "/buffered.bin" ? 1 : 0;
  }
  EXPECT_GE(fs::file_size(refusals), 1U);
  EXPECT_LE(fs::file_size(refusals), requests);
  EXPECT_EQ(sha256_file(out / "buffered.bin"), digest);
}
