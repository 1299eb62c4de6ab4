// Faulty origins: what opendod does when a server resets, truncates, lies about sizes and
// ranges, changes the file mid-download, loops redirects, trickles, stalls or never ends. Each
// test proves the state, the HRESULT and its context, whether and how the job is retried (the
// origin's request log shows the Range of the retry), and that Complete never delivers a
// corrupt file.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "integration/helpers.hpp"
#include "support/fault_origin.hpp"
#include "support/files.hpp"

namespace opendo {
// States print by name in failure messages.
inline void PrintTo(job_state state, std::ostream* out) {
  *out << to_string(state);
}
}  // namespace opendo

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kSize = 1 << 20;
constexpr std::uint32_t kConnectionError = 0x80072EFE;  // WinHTTP: connection reset or cut
constexpr std::uint32_t kTimeout = 0x80072EE2;          // WinHTTP: timed out
constexpr std::uint32_t kInvalidResponse = 0x80072F78;  // WinHTTP: invalid server response
constexpr std::uint32_t kRedirectFailed = 0x80072F7C;   // WinHTTP: redirect failed
constexpr std::uint32_t kInsufficientRanges = 0x80200013;

// Retries after 1 s instead of 5, and a transfer that receives nothing for 3 s fails.
daemon_options fast_faults() {
  daemon_options options;
  options.extra_args = {"--retry-delay-floor", "1", "--stall-timeout", "3"};
  return options;
}

// What every test needs, started on the test's thread.
struct bench {
  fault_origin origin;
  daemon_process daemon{fast_faults()};
  temp_dir out{"opendo-out"};
  client c = connect(daemon);

  // A job with one file per path, a minimum retry delay of 1 s, resumed.
  job start(const std::vector<std::string>& paths) {
    job j = c.create_job("faults");
    j.set_minimum_retry_delay(1s);
    for (const auto& path : paths) j.add_file(origin.url(path), (out / path).string());
    j.resume();
    return j;
  }
  job start(const std::string& path) { return start(std::vector<std::string>{path}); }
};

bool is(const job_info& info, job_state state) {
  return info.state == state;
}

// The first failure (or the end, if the job never failed).
job_info first_failure(job& j) {
  return wait_until(
      j,
      [](const job_info& i) {
        return is(i, job_state::transient_error) || is(i, job_state::error) ||
               is(i, job_state::transferred);
      },
      15s);
}

// TRANSFERRED or ERROR; a TRANSIENT_ERROR on the way is waited through.
job_info final_state(job& j) {
  return wait_until(
      j, [](const job_info& i) { return is(i, job_state::transferred) || is(i, job_state::error); },
      15s);
}

// N of "bytes=N-"; -1 when the header is something else.
long long range_start(const std::string& range) {
  if (range.rfind("bytes=", 0) != 0 || range.back() != '-') return -1;
  return std::stoll(range.substr(6, range.size() - 7));
}

double seconds_between(const request_record& a, const request_record& b) {
  return std::chrono::duration<double>(b.time - a.time).count();
}

// A failed job: Complete delivers nothing and leaves nothing behind.
void expect_nothing_delivered(job& j, const fs::path& destination) {
  EXPECT_EQ(j.complete(), hr::bg_s_partial_complete);
  EXPECT_FALSE(fs::exists(destination));
  EXPECT_TRUE(fs::is_empty(destination.parent_path())) << "a temporary file was left behind";
}

// 5xx for the first request only: TRANSIENT_ERROR with the status as HRESULT, then a retry after
// the job's 1 s delay (whatever Retry-After says) that brings the whole file.
void expect_transient_status(int status, const std::string& retry_after) {
  bench b;
  const std::string digest = b.origin.serve_random("s.bin", 300000, 3);
  b.origin.set_fault("s.bin", fault::http_status(status, retry_after, /*times=*/1));
  job j = b.start("s.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, 0x80190000U | static_cast<std::uint32_t>(status));
  EXPECT_EQ(failed.error->context, error_context::remote_file);
  EXPECT_EQ(failed.error->file_index, 0U);
  EXPECT_EQ(failed.error->protocol, "http");

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(done.error_count, 1U);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(b.out / "s.bin"), digest);

  const auto requests = b.origin.requests_for("s.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0].status, status);
  EXPECT_EQ(requests[1].range, "");  // nothing had arrived: the retry asks for the whole file
  EXPECT_EQ(requests[1].status, 200);
  const double gap = seconds_between(requests[0], requests[1]);
  EXPECT_GE(gap, 0.9) << "retried before the minimum retry delay";
  EXPECT_LT(gap, 4.5) << "the retry waited for something else than the job's 1 s delay";
}

}  // namespace

TEST(Faults, ResetMidBodyIsTransientAndTheRetryResumesAtTheLastByte) {
  bench b;
  const std::string digest = b.origin.serve_random("r.bin", kSize, 1);
  b.origin.set_fault("r.bin", fault::reset_after(300000, /*times=*/1));
  job j = b.start("r.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, kConnectionError);
  EXPECT_EQ(failed.error->context, error_context::general_transport);
  EXPECT_EQ(failed.error->file_index, 0U);
  EXPECT_EQ(failed.bytes_transferred, 300000U);  // what arrived is kept

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(b.out / "r.bin"), digest);

  const auto requests = b.origin.requests_for("r.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0].body_bytes_sent, 300000U);
  EXPECT_EQ(requests[1].range, "bytes=300000-");
  EXPECT_EQ(requests[1].if_range, "\"1-1048576\"");  // resumed only if still the same file
  EXPECT_EQ(requests[1].status, 206);
  EXPECT_EQ(requests[1].body_bytes_sent, kSize - 300000);
  EXPECT_GE(seconds_between(requests[0], requests[1]), 0.9);
}

// BITS_JOB_PROPERTY_DYNAMIC_CONTENT: the same reset, but the content may differ per request, so
// the retry fetches the whole file again, with neither Range nor If-Range.
TEST(Faults, ResetOfDynamicContentRestartsTheFileWithoutARange) {
  bench b;
  const std::string digest = b.origin.serve_random("dyn.bin", kSize, 11);
  b.origin.set_fault("dyn.bin", fault::reset_after(300000, /*times=*/1));
  job j = b.c.create_job("dynamic");
  j.set_minimum_retry_delay(1s);
  j.set_dynamic_content(true);
  EXPECT_TRUE(j.info().dynamic_content);
  // No ranges for dynamic content.
  file_spec ranged;
  ranged.remote_url = b.origin.url("dyn.bin");
  ranged.local_name = (b.out / "ranged.bin").string();
  ranged.ranges = {{0, 10}};
  EXPECT_EQ(hresult_of([&] { j.add_file(ranged); }), 0x80070057U);
  j.add_file(b.origin.url("dyn.bin"), (b.out / "dyn.bin").string());
  j.resume();
  // Only before the first Resume.
  EXPECT_EQ(hresult_of([&] { j.set_dynamic_content(false); }), 0x80200062U);

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(b.out / "dyn.bin"), digest);
  const auto requests = b.origin.requests_for("dyn.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0].body_bytes_sent, 300000U);
  EXPECT_EQ(requests[1].range, "");
  EXPECT_EQ(requests[1].if_range, "");
  EXPECT_EQ(requests[1].status, 200);
  EXPECT_EQ(requests[1].body_bytes_sent, kSize);
}

TEST(Faults, TruncatedBodyIsTransientAndTheRetryResumesAtTheLastByte) {
  bench b;
  const std::string digest = b.origin.serve_random("t.bin", kSize, 2);
  b.origin.set_fault("t.bin", fault::truncate_after(400000, /*times=*/1));
  job j = b.start("t.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, kConnectionError);
  EXPECT_EQ(failed.error->context, error_context::general_transport);

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(b.out / "t.bin"), digest);

  const auto requests = b.origin.requests_for("t.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0].body_bytes_sent, 400000U);
  EXPECT_EQ(requests[1].range, "bytes=400000-");
  EXPECT_EQ(requests[1].status, 206);
}

TEST(Faults, Http500IsTransientAndRetried) {
  expect_transient_status(500, "");
}

TEST(Faults, Http502IsTransientAndRetried) {
  expect_transient_status(502, "");
}

TEST(Faults, Http503IsTransientAndRetried) {
  expect_transient_status(503, "");
}

// Retry-After of an hour: the job's own MinimumRetryDelay decides when it is retried.
TEST(Faults, Http503WithRetryAfterIsRetriedAfterTheJobsDelay) {
  expect_transient_status(503, "3600");
}

TEST(Faults, Http500WithRetryAfterDateIsRetriedAfterTheJobsDelay) {
  expect_transient_status(500, http_date(2000000000));
}

TEST(Faults, Http404IsFatalAndNotRetried) {
  bench b;
  b.origin.serve_random("gone.bin", 300000, 4);
  b.origin.set_fault("gone.bin", fault::http_status(404));
  job j = b.start("gone.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::error) << b.daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, 0x80190194U);
  EXPECT_EQ(failed.error->context, error_context::remote_file);
  std::this_thread::sleep_for(2s);  // two retry delays: nothing happens
  EXPECT_EQ(j.info().state, job_state::error);
  EXPECT_EQ(b.origin.requests_for("gone.bin").size(), 1U);
  expect_nothing_delivered(j, b.out / "gone.bin");
}

// Content-Length says 1,000 bytes fewer than the server sends. HTTP frames the body by its
// Content-Length, so the file is the announced bytes. The surplus stays on the connection and
// spoils the next response on it (libcurl reads it as an HTTP/0.9 reply): the engine sends that
// request again on a new connection at once, so the second file costs no error and no delay.
TEST(Faults, ContentLengthSmallerThanTheBodyDeliversTheAnnouncedBytesOnly) {
  bench b;
  b.origin.serve_random("short.bin", 300000, 5);
  const std::string next_digest = b.origin.serve_random("next.bin", 300000, 6);
  b.origin.set_fault("short.bin", fault::content_length_smaller(1000));
  job j = b.start(std::vector<std::string>{"short.bin", "next.bin"});

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << (done.error ? done.error->message : "") << "\n"
                                                << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(fs::file_size(b.out / "short.bin"), 299000U);
  EXPECT_EQ(sha256_file(b.out / "short.bin"), sha256_hex(random_bytes(5, 0, 299000)));
  EXPECT_EQ(sha256_file(b.out / "next.bin"), next_digest);
  EXPECT_EQ(done.error_count, 0U);
  const auto next = b.origin.requests_for("next.bin");
  ASSERT_EQ(next.size(), 2U);
  EXPECT_EQ(next[1].status, 200);
  EXPECT_NE(next[0].connection, next[1].connection);
  EXPECT_LT(next[1].time - next[0].time, std::chrono::milliseconds(900));  // no retry delay
}

// Content-Length promises 1,000 bytes more than the file has, and the connection stays open:
// the transfer stalls (a transient timeout). The retry asks for the missing bytes, which the
// server now says lie past the end of the file (416, Content-Range: bytes */300000): the file
// has another size than promised, so it must start again from byte 0, as a changed file does.
TEST(Faults, ContentLengthLargerThanTheBodyStallsThenTheFileStartsAgain) {
  bench b;
  const std::string digest = b.origin.serve_random("long.bin", 300000, 7);
  b.origin.set_fault("long.bin", fault::content_length_larger(1000, /*times=*/1));
  job j = b.start("long.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, kTimeout);
  EXPECT_EQ(failed.error->context, error_context::general_transport);

  const job_info done = final_state(j);
  EXPECT_EQ(done.state, job_state::transferred) << (done.error ? done.error->message : "") << "\n"
                                                << b.daemon.log();
  if (done.state == job_state::transferred) {
    EXPECT_EQ(j.complete(), hr::ok);
    EXPECT_EQ(sha256_file(b.out / "long.bin"), digest);
  } else {
    expect_nothing_delivered(j, b.out / "long.bin");
  }
  const auto requests = b.origin.requests_for("long.bin");
  ASSERT_GE(requests.size(), 2U);
  EXPECT_EQ(requests[1].range, "bytes=300000-");
  EXPECT_EQ(requests[1].status, 416);
  EXPECT_EQ(requests.back().range, "");  // started again
  EXPECT_EQ(requests.back().status, 200);
}

TEST(Faults, ServerIgnoringTheRangeRestartsTheFileFromZero) {
  bench b;
  const std::string digest = b.origin.serve_random("norange.bin", kSize, 8);
  b.origin.set_fault("norange.bin", fault::reset_after(300000, /*times=*/1));
  b.origin.add_fault("norange.bin", fault::ignore_ranges());
  job j = b.start("norange.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  EXPECT_EQ(failed.error->code, kConnectionError);

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(b.out / "norange.bin"), digest);
  const auto requests = b.origin.requests_for("norange.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].range, "bytes=300000-");
  EXPECT_EQ(requests[1].status, 200);
  EXPECT_EQ(requests[1].body_bytes_sent, kSize);  // the whole file again, written from byte 0
}

// A server without ranges that also cuts every transfer short: the file can never be finished,
// and after three restarts the job gives up with BG_E_INSUFFICIENT_RANGE_SUPPORT.
TEST(Faults, RangelessServerThatKeepsCuttingEndsInInsufficientRangeSupport) {
  bench b;
  b.origin.serve_random("cut.bin", kSize, 9);
  b.origin.set_fault("cut.bin", fault::reset_after(300000).without_ranges());
  job j = b.start("cut.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  EXPECT_EQ(failed.error->code, kConnectionError);

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::error) << b.daemon.log();
  ASSERT_TRUE(done.error);
  EXPECT_EQ(done.error->code, kInsufficientRanges);
  EXPECT_EQ(done.error->context, error_context::remote_file);
  const std::size_t tries = b.origin.requests_for("cut.bin").size();
  EXPECT_GE(tries, 3U);
  EXPECT_LE(tries, 5U);
  std::this_thread::sleep_for(2s);  // fatal: no more retries
  EXPECT_EQ(b.origin.requests_for("cut.bin").size(), tries);
  expect_nothing_delivered(j, b.out / "cut.bin");
}

// A range request answered with 206 for another range (the whole file): those bytes are refused
// (BG_E_INSUFFICIENT_RANGE_SUPPORT) and the retry asks for the same range again.
TEST(Faults, RangeAnsweredWithAnotherRangeIsRefusedAndRetried) {
  bench b;
  const std::string digest = b.origin.serve_random("wrong.bin", kSize, 10);
  b.origin.set_fault("wrong.bin", fault::reset_after(300000, /*times=*/1));
  b.origin.add_fault("wrong.bin", fault::wrong_range_answer(/*times=*/1));
  job j = b.start("wrong.bin");

  const job_info refused = wait_until(
      j,
      [](const job_info& i) {
        return i.error_count >= 2 || is(i, job_state::error) || is(i, job_state::transferred);
      },
      15s);
  ASSERT_EQ(refused.state, job_state::transient_error) << b.daemon.log();
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->code, kInsufficientRanges);
  EXPECT_EQ(refused.error->context, error_context::remote_file);
  EXPECT_EQ(refused.bytes_transferred, 300000U);  // nothing of the wrong range was kept

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(b.out / "wrong.bin"), digest);
  const auto requests = b.origin.requests_for("wrong.bin");
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_EQ(requests[1].range, "bytes=300000-");
  EXPECT_EQ(requests[1].status, 206);
  EXPECT_EQ(requests[2].range, "bytes=300000-");
  EXPECT_EQ(requests[2].status, 206);
}

// The file changes on the server (new ETag) between the cut and the retry: If-Range makes the
// server send the new file whole, and only the new file is delivered.
TEST(Faults, EtagChangeMidDownloadDeliversTheNewFileWhole) {
  bench b;
  b.origin.serve_random("etag.bin", kSize, 11);
  b.origin.set_fault("etag.bin", fault::reset_after(300000, /*times=*/1));
  resource v2;
  v2.body = random_bytes(12, 0, 800000);
  v2.etag = "\"v2\"";
  v2.last_modified = http_date(1800000000);
  const std::string digest = sha256_hex(v2.body);
  b.origin.change_after("etag.bin", 1, v2);
  job j = b.start("etag.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  EXPECT_EQ(failed.error->code, kConnectionError);
  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(fs::file_size(b.out / "etag.bin"), 800000U);
  EXPECT_EQ(sha256_file(b.out / "etag.bin"), digest);
  const auto requests = b.origin.requests_for("etag.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].range, "bytes=300000-");
  EXPECT_EQ(requests[1].if_range, "\"11-1048576\"");
  EXPECT_EQ(requests[1].status, 200);
}

// No ETag: If-Range carries the Last-Modified date; the new date brings the new file (of the
// same size) whole, and the delivered file gets the new date as its modification time.
TEST(Faults, LastModifiedChangeMidDownloadDeliversTheNewFileWhole) {
  bench b;
  resource v1;
  v1.body = random_bytes(13, 0, kSize);
  v1.last_modified = http_date(1700000000);
  resource v2;
  v2.body = random_bytes(14, 0, kSize);
  v2.last_modified = http_date(1700003600);
  const std::string digest = sha256_hex(v2.body);
  b.origin.serve("date.bin", v1);
  b.origin.change_after("date.bin", 1, v2);
  b.origin.set_fault("date.bin", fault::reset_after(300000, /*times=*/1));
  job j = b.start("date.bin");

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(done.error_count, 1U);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(b.out / "date.bin"), digest);
  const auto mtime = fs::last_write_time(b.out / "date.bin");
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::file_clock::to_sys(mtime).time_since_epoch());
  EXPECT_EQ(seconds.count(), 1700003600);
  const auto requests = b.origin.requests_for("date.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].range, "bytes=300000-");
  EXPECT_EQ(requests[1].if_range, v1.last_modified);
  EXPECT_EQ(requests[1].status, 200);
}

// A broken server changes the file's size but keeps its validators: the resumed 206 reports
// another total, and the file starts again from byte 0 (a restart, not an error).
TEST(Faults, SizeChangeWithTheSameValidatorsRestartsTheFile) {
  bench b;
  resource v1;
  v1.body = random_bytes(15, 0, kSize);
  v1.etag = "\"same\"";
  v1.last_modified = http_date(1700000000);
  resource v2 = v1;
  v2.body = random_bytes(16, 0, 700000);
  const std::string digest = sha256_hex(v2.body);
  b.origin.serve("size.bin", v1);
  b.origin.change_after("size.bin", 1, v2);
  b.origin.set_fault("size.bin", fault::reset_after(300000, /*times=*/1));
  job j = b.start("size.bin");

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(done.error_count, 1U);  // the reset; the restart is not an error
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(fs::file_size(b.out / "size.bin"), 700000U);
  EXPECT_EQ(sha256_file(b.out / "size.bin"), digest);
  const auto requests = b.origin.requests_for("size.bin");
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_EQ(requests[1].range, "bytes=300000-");
  EXPECT_EQ(requests[1].status, 206);  // Content-Range: bytes 300000-699999/700000
  EXPECT_EQ(requests[2].range, "");
  EXPECT_EQ(requests[2].status, 200);
}

TEST(Faults, RedirectToItselfIsFatalAfterTenRedirects) {
  bench b;
  b.origin.serve_random("loop.bin", 300000, 17);
  b.origin.set_fault("loop.bin", fault::redirect_to("loop.bin"));
  job j = b.start("loop.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::error) << b.daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, kRedirectFailed);
  EXPECT_EQ(failed.error->context, error_context::remote_file);
  EXPECT_EQ(b.origin.requests_for("loop.bin").size(), 11U);  // the request and 10 redirects
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(b.origin.requests_for("loop.bin").size(), 11U);  // fatal: not retried
  expect_nothing_delivered(j, b.out / "loop.bin");
}

TEST(Faults, RedirectLoopBetweenTwoUrlsIsFatal) {
  bench b;
  b.origin.serve_random("a.bin", 300000, 18);
  b.origin.serve_random("b.bin", 300000, 19);
  b.origin.set_fault("a.bin", fault::redirect_to("b.bin"));
  b.origin.set_fault("b.bin", fault::redirect_to("a.bin"));
  job j = b.start("a.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::error) << b.daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, kRedirectFailed);
  EXPECT_EQ(failed.error->context, error_context::remote_file);
  EXPECT_EQ(b.origin.requests_for("a.bin").size(), 6U);
  EXPECT_EQ(b.origin.requests_for("b.bin").size(), 5U);
  expect_nothing_delivered(j, b.out / "a.bin");
}

// One byte every 2 s is slower than 1 byte/s: after the stall timeout (3 s) the transfer fails
// transiently, and the retry resumes after the bytes that did arrive.
TEST(Faults, TrickleSlowerThanOneBytePerSecondIsATransientTimeout) {
  bench b;
  const std::string digest = b.origin.serve_random("slow.bin", 300000, 20);
  b.origin.set_fault("slow.bin", fault::trickle_after(0, 2s, /*times=*/1));
  job j = b.start("slow.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, kTimeout);
  EXPECT_EQ(failed.error->context, error_context::general_transport);

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(b.out / "slow.bin"), digest);
  const auto requests = b.origin.requests_for("slow.bin");
  ASSERT_EQ(requests.size(), 2U);
  const long long resumed_at = range_start(requests[1].range);
  EXPECT_GE(resumed_at, 1) << requests[1].range;  // the trickled bytes were kept...
  EXPECT_LE(resumed_at, static_cast<long long>(requests[0].body_bytes_sent));  // ...not more
  const double gap = seconds_between(requests[0], requests[1]);
  EXPECT_GE(gap, 3.0 + 0.9);  // the stall timeout, then the retry delay
}

TEST(Faults, StallAfterTheHeadersIsATransientTimeout) {
  bench b;
  const std::string digest = b.origin.serve_random("stall.bin", 300000, 21);
  b.origin.set_fault("stall.bin", fault::stall_after(0, /*times=*/1));
  job j = b.start("stall.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, kTimeout);
  EXPECT_EQ(failed.error->context, error_context::general_transport);
  EXPECT_EQ(failed.bytes_transferred, 0U);

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(b.out / "stall.bin"), digest);
  const auto requests = b.origin.requests_for("stall.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].range, "");
  const double gap = seconds_between(requests[0], requests[1]);
  EXPECT_GE(gap, 2.9 + 0.9) << "gave up before the 3 s stall timeout";
  EXPECT_LT(gap, 9.0);
}

TEST(Faults, StallMidBodyIsATransientTimeoutAndTheRetryResumes) {
  bench b;
  const std::string digest = b.origin.serve_random("half.bin", 600000, 22);
  b.origin.set_fault("half.bin", fault::stall_after(200000, /*times=*/1));
  job j = b.start("half.bin");

  const job_info failed = first_failure(j);
  ASSERT_EQ(failed.state, job_state::transient_error) << b.daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, kTimeout);
  EXPECT_EQ(failed.error->context, error_context::general_transport);

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(b.out / "half.bin"), digest);
  const auto requests = b.origin.requests_for("half.bin");
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].range, "bytes=200000-");
  EXPECT_EQ(requests[1].status, 206);
  // Nothing arrived after the first 200,000 bytes (sent at once): the 3 s stall timeout runs
  // from there. The retry comes 1 s after the failure.
  const double gap = seconds_between(requests[0], requests[1]);
  EXPECT_GE(gap, 2.9 + 0.9);
  EXPECT_LT(gap, 3.0 + 1.0 + 2.0) << "the transfer hung longer than the stall timeout\n"
                                  << b.daemon.log();
}

// No size and no end: the job transfers for ever (nothing says the file is wrong). Complete
// must not deliver what arrived, and must stop the transfer.
TEST(Faults, EndlessBodyWithoutSizeIsNeverDelivered) {
  bench b;
  b.origin.serve_random("endless.bin", 300000, 23);
  b.origin.set_fault("endless.bin", fault::endless(/*chunked=*/false));
  job j = b.start("endless.bin");

  const job_info running = wait_until(
      j, [](const job_info& i) { return i.bytes_transferred > 1000000; }, 10s);
  ASSERT_EQ(running.state, job_state::transferring) << b.daemon.log();
  EXPECT_EQ(running.bytes_total, size_unknown);
  expect_nothing_delivered(j, b.out / "endless.bin");

  // The origin stops streaming once the daemon has hung up.
  std::this_thread::sleep_for(300ms);
  const auto sent = b.origin.requests_for("endless.bin").at(0).body_bytes_sent;
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(b.origin.requests_for("endless.bin").at(0).body_bytes_sent, sent);
  EXPECT_EQ(b.origin.requests_for("endless.bin").size(), 1U);
}

// A resumed 206 whose chunked body runs past the end of the file: more bytes than the file's
// size is an invalid server response, and the surplus never reaches the file.
TEST(Faults, EndlessChunkedBodyAfterARangeIsAnInvalidResponse) {
  bench b;
  const std::string digest = b.origin.serve_random("more.bin", kSize, 24);
  b.origin.set_fault("more.bin", fault::reset_after(300000, /*times=*/1));
  b.origin.add_fault("more.bin", fault::endless(/*chunked=*/true, /*times=*/1));
  job j = b.start("more.bin");

  const job_info refused = wait_until(
      j,
      [](const job_info& i) {
        return i.error_count >= 2 || is(i, job_state::error) || is(i, job_state::transferred);
      },
      15s);
  ASSERT_EQ(refused.state, job_state::transient_error) << b.daemon.log();
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->code, kInvalidResponse);
  EXPECT_EQ(refused.error->context, error_context::remote_file);
  EXPECT_LE(refused.bytes_transferred, kSize);

  const job_info done = final_state(j);
  ASSERT_EQ(done.state, job_state::transferred) << b.daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(fs::file_size(b.out / "more.bin"), kSize);
  EXPECT_EQ(sha256_file(b.out / "more.bin"), digest);
  const auto requests = b.origin.requests_for("more.bin");
  ASSERT_GE(requests.size(), 2U);
  EXPECT_EQ(requests[1].range, "bytes=300000-");
  EXPECT_EQ(requests[1].status, 206);
}
