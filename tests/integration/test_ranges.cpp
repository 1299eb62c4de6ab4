// Byte ranges (AddFileWithRanges, IDODownload::Start with ranges) against a real nginx: only the
// bytes asked for are fetched, they land where the layout says, a crash loses nothing, and
// ranges the remote file cannot satisfy end in the documented errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

namespace {

constexpr std::uint64_t kSeed = 7;

// The bytes of the seeded file that make_random_file wrote, for a range.
std::string remote_bytes(std::uint64_t offset, std::uint64_t length) {
  return random_bytes(kSeed, offset, length);
}

std::vector<std::string> ranges_requested(const nginx_server& origin, const std::string& path) {
  std::vector<std::string> out;
  for (const auto& entry : origin.access_log()) {
    if (entry.path == path) out.push_back(entry.range);
  }
  return out;
}

job add_ranged(client& c, const std::string& url, const fs::path& local,
               std::vector<byte_range> ranges, range_layout layout = range_layout::concatenated) {
  job j = c.create_job("ranges");
  j.add_file(file_spec{url, local.string(), std::move(ranges), layout, {}});
  return j;
}

}  // namespace

TEST(Ranges, ConcatenatedRangesLandOneAfterAnotherInTheOrderGiven) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  origin.make_random_file("big.bin", 1 << 20, kSeed);
  client c = connect(daemon);
  // BITS's own example: remote bytes 100-199, 900-999 and 400-499 make a 300-byte file.
  job j = add_ranged(c, origin.url("big.bin"), out / "part.bin",
                     {{100, 100}, {900000, 100}, {400, 100}});
  const job_info before = j.info();
  ASSERT_EQ(before.files.size(), 1U);
  EXPECT_EQ(before.files[0].ranges,
            (std::vector<byte_range>{{100, 100}, {900000, 100}, {400, 100}}));
  EXPECT_EQ(before.files[0].layout, range_layout::concatenated);
  EXPECT_EQ(before.files[0].progress.bytes_total, 300U);  // known before any request
  j.resume();
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(done.bytes_total, 300U);
  EXPECT_EQ(done.bytes_transferred, 300U);
  EXPECT_EQ(done.files[0].sources.bytes_from_origin, 300U);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(read_file(out / "part.bin"),
            remote_bytes(100, 100) + remote_bytes(900000, 100) + remote_bytes(400, 100));
  // Exactly the three ranges were asked for, one request each, over one connection.
  origin.wait_for_requests(3);
  EXPECT_EQ(ranges_requested(origin, "/big.bin"),
            (std::vector<std::string>{"bytes=100-199", "bytes=900000-900099", "bytes=400-499"}));
  const auto log = origin.access_log();
  EXPECT_EQ(log.front().connection, log.back().connection);
  EXPECT_EQ(origin.total_body_bytes_sent("big.bin"), 300U);
}

TEST(Ranges, InPlaceRangesLandAtTheirOffsetsAndTheLastMayRunToTheEnd) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  constexpr std::uint64_t kSize = 300000;
  origin.make_random_file("f.bin", kSize, kSeed);
  client c = connect(daemon);
  // Given out of order: the in_place layout sorts them.
  job j = add_ranged(c, origin.url("f.bin"), out / "f.bin", {{200000, length_to_eof}, {1000, 10}},
                     range_layout::in_place);
  EXPECT_EQ(j.info().files[0].ranges,
            (std::vector<byte_range>{{1000, 10}, {200000, length_to_eof}}));
  EXPECT_EQ(j.info().files[0].progress.bytes_total, size_unknown);  // until the size is known
  j.resume();
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(done.files[0].progress.bytes_total, 10U + (kSize - 200000));
  EXPECT_EQ(j.complete(), hr::ok);
  const std::string local = read_file(out / "f.bin");
  ASSERT_EQ(local.size(), kSize);
  EXPECT_EQ(local.substr(0, 1000), std::string(1000, '\0'));
  EXPECT_EQ(local.substr(1000, 10), remote_bytes(1000, 10));
  EXPECT_EQ(local.substr(1010, 200000 - 1010), std::string(200000 - 1010, '\0'));
  EXPECT_EQ(local.substr(200000), remote_bytes(200000, kSize - 200000));
  // The first answer told the size, so the last range is asked for with its end.
  EXPECT_EQ(ranges_requested(origin, "/f.bin"),
            (std::vector<std::string>{"bytes=1000-1009", "bytes=200000-299999"}));
}

TEST(Ranges, ARangeBeyondTheEndOfTheRemoteFileIsInvalidRange) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  origin.make_random_file("small.bin", 5000, kSeed);
  client c = connect(daemon);
  // The first range fits and tells the size; the second lies beyond it.
  job j = add_ranged(c, origin.url("small.bin"), out / "a.bin", {{0, 10}, {4995, 10}});
  j.resume();
  const job_info failed = j.wait();
  ASSERT_EQ(failed.state, job_state::error) << daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, 0x8020002BU);  // BG_E_INVALID_RANGE
  EXPECT_EQ(failed.error->context, error_context::remote_file);
  EXPECT_NE(failed.error->message.find("beyond the end"), std::string::npos);
  EXPECT_EQ(j.complete(), hr::bg_s_partial_complete);
  EXPECT_FALSE(fs::exists(out / "a.bin"));

  // A first range that starts beyond the end: the server's 416 says so.
  job k = add_ranged(c, origin.url("small.bin"), out / "b.bin", {{9000, 10}});
  k.resume();
  const job_info refused = k.wait();
  ASSERT_EQ(refused.state, job_state::error) << daemon.log();
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->code, 0x8020002BU);
  EXPECT_EQ(refused.error->context, error_context::remote_file);
}

TEST(Ranges, AServerWithoutRangesIsInsufficientRangeSupport) {
  nginx_options options;
  options.extra_config = {"max_ranges 0;"};  // nginx then answers every Range with a 200
  nginx_server origin(options);
  daemon_process daemon;
  temp_dir out("opendo-out");
  origin.make_random_file("whole.bin", 100000, kSeed);
  client c = connect(daemon);
  job j = add_ranged(c, origin.url("whole.bin"), out / "w.bin", {{10, 10}});
  j.resume();
  const job_info failed = j.wait();
  ASSERT_EQ(failed.state, job_state::error) << daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, 0x80200013U);  // BG_E_INSUFFICIENT_RANGE_SUPPORT
  EXPECT_EQ(failed.error->context, error_context::remote_file);
  EXPECT_EQ(j.complete(), hr::bg_s_partial_complete);
  EXPECT_FALSE(fs::exists(out / "w.bin"));
}

TEST(Ranges, BadRangesAreRefusedWithTheDocumentedCodesAndAddNothing) {
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("bad ranges");
  auto add = [&](std::vector<byte_range> ranges) {
    return hresult_of([&] {
      j.add_file(file_spec{"http://127.0.0.1:1/x",
                           (out / "x").string(),
                           std::move(ranges),
                           range_layout::concatenated,
                           {}});
    });
  };
  EXPECT_EQ(add({{0, 10}, {5, 10}}), 0x8020002CU);  // BG_E_OVERLAPPING_RANGES
  EXPECT_EQ(add({{0, length_to_eof}, {50, 10}}), 0x8020002CU);
  EXPECT_EQ(add({{0, 0}}), 0x8020002BU);  // BG_E_INVALID_RANGE
  EXPECT_EQ(add({{length_to_eof, 1}}), 0x8020002BU);
  std::vector<byte_range> many;
  for (std::uint64_t i = 0; i < 501; ++i) many.push_back({i * 2, 1});
  EXPECT_EQ(add(many), 0x80200052U);  // BG_E_TOO_MANY_RANGES_IN_FILE
  EXPECT_TRUE(j.info().files.empty());
  many.pop_back();
  EXPECT_EQ(add(many), 0U);
  EXPECT_EQ(j.info().files.at(0).progress.bytes_total, 500U);
}

TEST(Ranges, KillNineBetweenAndInsideRangesLosesNothing) {
  nginx_options options;
  options.limit_rate = 1 << 20;  // 1 MiB/s: the ranges take a few seconds
  nginx_server origin(options);
  daemon_process daemon;
  temp_dir out("opendo-out");
  origin.make_random_file("slow.bin", 8 << 20, kSeed);
  const std::vector<byte_range> ranges{{0, 1500000}, {4000000, 2500000}};
  std::string id;
  {
    client c = connect(daemon);
    job j = add_ranged(c, origin.url("slow.bin"), out / "slow.bin", ranges);
    id = j.id();
    j.resume();
    // Into the second range, past a checkpoint there.
    const auto info =
        wait_until(j, [](const job_info& i) { return i.bytes_transferred > 2500000; });
    ASSERT_EQ(info.state, job_state::transferring) << daemon.log();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  daemon.kill9();
  daemon.restart();
  client c = connect(daemon);
  job j = c.open_job(id);
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(read_file(out / "slow.bin"), remote_bytes(0, 1500000) + remote_bytes(4000000, 2500000));
  // The resumed request continues the second range where the store says, not at its start.
  const auto requested = ranges_requested(origin, "/slow.bin");
  ASSERT_GE(requested.size(), 3U);
  EXPECT_EQ(requested[0], "bytes=0-1499999");
  EXPECT_EQ(requested[1], "bytes=4000000-6499999");
  EXPECT_NE(requested.back(), "bytes=4000000-6499999");
  EXPECT_EQ(requested.back().substr(requested.back().find('-')), "-6499999");
  // Bytes fetched again: at most what arrived since the last checkpoint (about a second's worth).
  EXPECT_LT(origin.total_body_bytes_sent("slow.bin"), 4000000U + 2U * (1U << 20));
}
