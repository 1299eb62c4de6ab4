// Transient failures: a refused connection is TRANSIENT_ERROR and is retried after the minimum
// retry delay; with no-progress timeout 0 it is fatal at once; TLS is verified by default.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/net.hpp"
#include "support/nginx.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

TEST(Retry, RefusedConnectionIsTransientAndRetriedAfterTheDelay) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("later.bin", 300000, 4);
  const std::string url = origin.url("later.bin");
  origin.stop();  // nothing listens: connections are refused
  client c = connect(daemon);
  job j = c.create_job("retry");
  j.set_minimum_retry_delay(std::chrono::seconds(1));  // becomes 5 s, the floor
  j.add_file(url, (out / "later.bin").string());
  j.resume();
  const job_info failed = j.wait(/*stop_on_transient=*/true);
  ASSERT_EQ(failed.state, job_state::transient_error) << daemon.log();
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, 0x80072EFDU);
  EXPECT_EQ(failed.error->context, error_context::general_transport);
  EXPECT_EQ(failed.minimum_retry_delay, 1U);
  const auto failed_at = std::chrono::steady_clock::now();
  origin.start();
  const job_info done = j.wait();
  const auto waited = std::chrono::steady_clock::now() - failed_at;
  ASSERT_EQ(done.state, job_state::transferred) << daemon.log();
  EXPECT_GE(waited, std::chrono::milliseconds(4500));  // the 5 s floor, not the 1 s asked for
  EXPECT_FALSE(done.error.has_value());
  EXPECT_EQ(done.error_count, 1U);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "later.bin"), digest);
}

TEST(Retry, DaemonRetryFloorLowersTheFiveSecondFloor) {
  nginx_server origin;
  daemon_options options;
  options.extra_args = {"--retry-delay-floor", "1"};
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  const std::string digest = origin.make_random_file("soon.bin", 1000, 5);
  const std::string url = origin.url("soon.bin");
  origin.stop();
  client c = connect(daemon);
  job j = c.create_job("floor");
  j.set_minimum_retry_delay(std::chrono::seconds(0));  // raised to the daemon's floor: 1 s
  j.add_file(url, (out / "soon.bin").string());
  j.resume();
  ASSERT_EQ(j.wait(/*stop_on_transient=*/true).state, job_state::transient_error);
  const auto failed_at = std::chrono::steady_clock::now();
  origin.start();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  const auto waited = std::chrono::steady_clock::now() - failed_at;
  EXPECT_GE(waited, std::chrono::milliseconds(900));
  EXPECT_LT(waited, std::chrono::milliseconds(4500));  // well before the default 5 s floor
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "soon.bin"), digest);
}

TEST(Retry, NoProgressTimeoutZeroMakesEveryErrorFatal) {
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("fatal");
  j.set_no_progress_timeout(std::chrono::seconds(0));
  j.add_file("http://127.0.0.1:" + std::to_string(find_free_port()) + "/x", (out / "x").string());
  j.resume();
  const job_info info = j.wait(/*stop_on_transient=*/true);
  EXPECT_EQ(info.state, job_state::error);
  ASSERT_TRUE(info.error);
  EXPECT_EQ(info.error->code, 0x80072EFDU);
}

TEST(Retry, ResumeFromErrorRequeuesAndClearsTheError) {
  nginx_server origin;
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("fix");
  j.add_file(origin.url("late.bin"), (out / "late.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::error);
  const std::string digest = origin.make_random_file("late.bin", 1000, 1);  // the fix
  j.resume();
  const job_info done = j.wait();
  ASSERT_EQ(done.state, job_state::transferred);
  EXPECT_FALSE(done.error);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "late.bin"), digest);
}

TEST(Tls, UntrustedCertificateIsAnError) {
  nginx_options tls;
  tls.tls = true;
  nginx_server origin(tls);
  origin.make_random_file("secure.bin", 1000, 1);
  daemon_process daemon;
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("untrusted");
  j.add_file(origin.url("secure.bin"), (out / "secure.bin").string());
  j.resume();
  const job_info info = j.wait();
  EXPECT_EQ(info.state, job_state::error);
  ASSERT_TRUE(info.error);
  EXPECT_EQ(info.error->code, 0x80072F8FU);
  EXPECT_EQ(info.error->protocol, "https");
}

TEST(Tls, TrustedCertificateTransfers) {
  nginx_options tls;
  tls.tls = true;
  nginx_server origin(tls);
  const std::string digest = origin.make_random_file("secure.bin", 3 << 20, 1);
  daemon_options options;
  options.extra_args = {"--ca-file", origin.ca_file().string()};
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("trusted");
  j.add_file(origin.url("secure.bin"), (out / "secure.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred) << daemon.log();
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "secure.bin"), digest);
}
