// Cache hosts end to end (Delivery Optimization's Connected Cache model): a real nginx origin, a
// real nginx configured as a caching reverse proxy that takes the origin from the
// cacheHostOrigin argument, dead and failing cache hosts, and a real opendod between them. The
// second client's bytes come from the cache, failing hosts are banned and skipped without a
// transient error, the fallback delay holds the origin back, and a resume asks the cache for a
// range.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "integration/helpers.hpp"
#include "support/fault_origin.hpp"
#include "support/files.hpp"
#include "support/net.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

using namespace opendo;
using namespace opendo::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// 5 MiB and a bit: several write buffers, and not a round number.
constexpr std::uint64_t kSize = (5U << 20) + 4321;

// A caching reverse proxy in front of whatever origin the request names, as a Connected Cache
// is. An IP:port literal in proxy_pass needs no resolver. The cache status of each request is in
// the access log (access_log_entry::cache_status).
nginx_options caching_proxy(std::optional<std::uint64_t> limit_rate = std::nullopt) {
  nginx_options options;
  options.http_config = {"proxy_cache_path cache levels=1:2 keys_zone=opendo_test_cache:1m;"};
  options.extra_config = {"location / {", "  proxy_pass http://$arg_cacheHostOrigin$uri;",
                          "  proxy_cache opendo_test_cache;", "  proxy_cache_valid 200 10m;", "}"};
  options.limit_rate = limit_rate;
  return options;
}

std::string host_of(std::uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

daemon_options with_cache_hosts(const std::string& hosts, std::vector<std::string> more = {}) {
  daemon_options options;
  options.extra_args = {"--cache-hosts", hosts, "--retry-delay-floor", "1"};
  options.extra_args.insert(options.extra_args.end(), more.begin(), more.end());
  return options;
}

// A job of its own for `url`, resumed.
job start_download(client& c, const std::string& url, const std::filesystem::path& path) {
  job j = c.create_job("cache host test");
  j.add_file(url, path.string());
  j.resume();
  return j;
}

// Downloads `url` to `path` in a job of its own and completes it; returns its last info.
job_info download(client& c, const std::string& url, const std::filesystem::path& path) {
  job j = start_download(c, url, path);
  const job_info done = wait_for_state(j, job_state::transferred);
  EXPECT_EQ(done.state, job_state::transferred) << (done.error ? done.error->message : "");
  EXPECT_EQ(j.complete(), hr::ok);
  return done;
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// Sends SIGHUP and waits until the daemon says it reloaded its configuration once more.
void reload(daemon_process& daemon) {
  const std::string marker = "SIGHUP: configuration reloaded";
  const std::size_t before = count_of(daemon.log(), marker);
  ASSERT_EQ(::kill(daemon.pid(), SIGHUP), 0);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (count_of(daemon.log(), marker) == before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT(count_of(daemon.log(), marker), before) << daemon.log();
}

}  // namespace

TEST(CacheHosts, SecondClientGetsEveryByteFromTheCache) {
  nginx_server origin;
  const std::string sha = origin.make_random_file("big.bin", kSize, 7);
  nginx_server cache(caching_proxy());
  const std::string metrics = host_of(find_free_port());
  daemon_process daemon(with_cache_hosts(host_of(cache.port()), {"--metrics-listen", metrics}));
  temp_dir out("opendo-out");
  client c = connect(daemon);

  const job_info first = download(c, origin.url("big.bin"), out / "first.bin");
  const job_info second = download(c, origin.url("big.bin"), out / "second.bin");
  EXPECT_EQ(sha256_file(out / "first.bin"), sha);
  EXPECT_EQ(sha256_file(out / "second.bin"), sha);

  // The origin sent the body once, to the cache; the cache served both clients.
  EXPECT_EQ(origin.total_body_bytes_sent("big.bin"), kSize);
  const auto log = cache.wait_for_requests(2);
  ASSERT_EQ(log.size(), 2U);
  EXPECT_EQ(log[0].request, "GET /big.bin?cacheHostOrigin=" + host_of(origin.port()) + " HTTP/1.1");
  EXPECT_EQ(log[0].cache_status, "MISS");
  EXPECT_EQ(log[1].cache_status, "HIT");

  for (const job_info& info : {first, second}) {
    const source_stats& s = info.files.at(0).sources;
    EXPECT_EQ(s.bytes_from_cache_hosts, kSize);
    EXPECT_EQ(s.bytes_from_origin, 0U);
    EXPECT_EQ(s.cache_host_connections, 1U);
    EXPECT_EQ(s.origin_connections, 0U);
  }
  const auto snap = daemon.cli({"--json", "perfsnap"});
  ASSERT_EQ(snap.exit_code, 0) << snap.err;
  const json totals = json::parse(snap.out).at("totals");
  EXPECT_EQ(totals.at("bytes_from_cache_hosts"), 2 * kSize);
  EXPECT_EQ(totals.at("bytes_from_origin"), 0U);
  EXPECT_EQ(totals.at("cache_host_connections"), 2U);
  const auto scraped = run({"curl", "-sS", "--noproxy", "*", "http://" + metrics + "/metrics"});
  ASSERT_EQ(scraped.exit_code, 0) << scraped.err;
  EXPECT_NE(scraped.out.find("opendo_downloaded_bytes_total{source=\"cache_host\"} " +
                             std::to_string(2 * kSize) + "\n"),
            std::string::npos)
      << scraped.out;
}

TEST(CacheHosts, StatusShowsTheFileCameFromTheCache) {
  nginx_server origin;
  origin.make_random_file("s.bin", kSize, 8);
  nginx_server cache(caching_proxy());
  daemon_process daemon(with_cache_hosts(host_of(cache.port())));
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = start_download(c, origin.url("s.bin"), out / "s.bin");
  ASSERT_EQ(wait_for_state(j, job_state::transferred).state, job_state::transferred);

  const auto status = daemon.cli({"--json", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const json row = json::parse(status.out).at(0);
  EXPECT_EQ(row.at("bytes_from_cache_hosts"), kSize);
  EXPECT_EQ(row.at("bytes_from_origin"), 0U);
  EXPECT_EQ(row.at("percent_from_cache_hosts").get<double>(), 100.0);
  EXPECT_EQ(row.at("status"), "Complete");
}

TEST(CacheHosts, DeadCacheHostIsBannedAndSkippedWithoutATransientError) {
  nginx_server origin;
  const std::string sha = origin.make_random_file("d.bin", kSize, 9);
  nginx_server cache(caching_proxy());
  const std::string dead = host_of(find_free_port());  // nothing listens there
  daemon_process daemon(with_cache_hosts(dead + "," + host_of(cache.port())));
  temp_dir out("opendo-out");
  client c = connect(daemon);

  const job_info first = download(c, origin.url("d.bin"), out / "1.bin");
  EXPECT_EQ(first.error_count, 0U);
  EXPECT_EQ(first.files.at(0).sources.cache_host_connections, 2U);  // the dead one, the live one
  EXPECT_EQ(first.files.at(0).sources.bytes_from_cache_hosts, kSize);
  EXPECT_EQ(first.files.at(0).sources.origin_connections, 0U);
  // Within the ban time the dead host is not asked again.
  const job_info second = download(c, origin.url("d.bin"), out / "2.bin");
  EXPECT_EQ(second.files.at(0).sources.cache_host_connections, 1U);
  EXPECT_EQ(second.files.at(0).sources.bytes_from_cache_hosts, kSize);
  EXPECT_EQ(sha256_file(out / "1.bin"), sha);
  EXPECT_EQ(sha256_file(out / "2.bin"), sha);

  const std::string log = daemon.log();
  EXPECT_EQ(count_of(log, "cache host " + dead + " is banned for 300 s"), 1U) << log;
  EXPECT_EQ(count_of(log, "TRANSIENT_ERROR"), 0U) << log;
}

TEST(CacheHosts, DeadCacheHostFallsBackToTheOrigin) {
  nginx_server origin;
  const std::string sha = origin.make_random_file("o.bin", kSize, 10);
  const std::string dead = host_of(find_free_port());
  daemon_process daemon(with_cache_hosts(dead));
  temp_dir out("opendo-out");
  client c = connect(daemon);
  const job_info done = download(c, origin.url("o.bin"), out / "o.bin");
  EXPECT_EQ(done.error_count, 0U);
  EXPECT_EQ(done.files.at(0).sources.bytes_from_origin, kSize);
  EXPECT_EQ(done.files.at(0).sources.bytes_from_cache_hosts, 0U);
  EXPECT_EQ(done.files.at(0).sources.cache_host_connections, 1U);
  EXPECT_EQ(done.files.at(0).sources.origin_connections, 1U);
  EXPECT_EQ(sha256_file(out / "o.bin"), sha);
  EXPECT_EQ(count_of(daemon.log(), "falls back to the origin"), 1U);
}

TEST(CacheHosts, ErrorStatusFromTheCacheHostFallsBackToTheOrigin) {
  for (const int status : {404, 503}) {
    SCOPED_TRACE(status);
    nginx_server origin;
    const std::string sha = origin.make_random_file("e.bin", kSize, 11);
    fault_origin broken_cache;
    broken_cache.set_fault("/e.bin", fault::http_status(status));
    daemon_process daemon(with_cache_hosts(host_of(broken_cache.port())));
    temp_dir out("opendo-out");
    client c = connect(daemon);
    for (const char* name : {"1.bin", "2.bin"}) {
      const job_info done = download(c, origin.url("e.bin"), out / name);
      EXPECT_EQ(done.error_count, 0U);
      EXPECT_EQ(done.files.at(0).sources.bytes_from_origin, kSize);
      EXPECT_EQ(sha256_file(out / name), sha);
    }
    // The second job did not ask the banned host.
    EXPECT_EQ(broken_cache.requests_for("/e.bin").size(), 1U);
    EXPECT_EQ(origin.access_log().size(), 2U);
  }
}

TEST(CacheHosts, FallbackDelayKeepsTheJobInTransientErrorUntilItPasses) {
  nginx_server origin;
  const std::string sha = origin.make_random_file("w.bin", kSize, 12);
  const std::string dead = host_of(find_free_port());
  daemon_process daemon(with_cache_hosts(dead, {"--cache-host-fallback-delay", "4"}));
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("fallback delay");
  j.add_file(origin.url("w.bin"), out / "w.bin");
  j.set_minimum_retry_delay(1s);
  const auto started = std::chrono::steady_clock::now();
  j.resume();

  const job_info waiting = wait_for_state(j, job_state::transient_error, 10s);
  ASSERT_EQ(waiting.state, job_state::transient_error);
  ASSERT_TRUE(waiting.error);
  EXPECT_NE(waiting.error->message.find(dead), std::string::npos) << waiting.error->message;
  EXPECT_NE(waiting.error->message.find("fallback delay of 4 s"), std::string::npos);
  EXPECT_TRUE(origin.access_log().empty());

  const job_info done = wait_for_state(j, job_state::transferred, 30s);
  ASSERT_EQ(done.state, job_state::transferred);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 4s);
  EXPECT_EQ(done.files.at(0).sources.bytes_from_origin, kSize);
  ASSERT_EQ(origin.access_log().size(), 1U);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "w.bin"), sha);
}

TEST(CacheHosts, ResumeAfterSuspendAsksTheCacheForTheRestWithARange) {
  nginx_server origin;
  const std::string sha = origin.make_random_file("r.bin", kSize, 13);
  nginx_server cache(caching_proxy(1'000'000));  // slow enough to suspend mid-file
  daemon_process daemon(with_cache_hosts(host_of(cache.port())));
  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = start_download(c, origin.url("r.bin"), out / "r.bin");
  const job_info partway =
      wait_until(j, [](const job_info& info) { return info.bytes_transferred >= 1U << 20; });
  ASSERT_LT(partway.bytes_transferred, kSize);
  j.suspend();
  const std::uint64_t kept = j.info().bytes_transferred;
  ASSERT_GT(kept, 0U);
  j.resume();
  const job_info done = wait_for_state(j, job_state::transferred);
  ASSERT_EQ(done.state, job_state::transferred);
  EXPECT_EQ(j.complete(), hr::ok);
  EXPECT_EQ(sha256_file(out / "r.bin"), sha);

  const auto log = cache.wait_for_requests(2);
  ASSERT_EQ(log.size(), 2U);
  EXPECT_EQ(log[1].range, "bytes=" + std::to_string(kept) + "-");
  EXPECT_FALSE(log[1].if_range.empty());
  EXPECT_EQ(log[1].status, 206);
  EXPECT_EQ(done.files.at(0).sources.bytes_from_origin, 0U);
  EXPECT_GE(done.files.at(0).sources.bytes_from_cache_hosts, kSize);
  EXPECT_EQ(done.files.at(0).sources.cache_host_connections, 2U);
}

TEST(CacheHosts, ConfigurationFileListIsAppliedOnSighup) {
  nginx_server origin;
  origin.make_random_file("h.bin", kSize, 14);
  nginx_server cache(caching_proxy());
  temp_dir config_dir("opendo-conf");
  const auto config = config_dir / "opendod.conf";
  write_file(config, "[cache_hosts]\n");
  daemon_options options;
  options.extra_args = {"--config", config.string()};
  daemon_process daemon(options);
  temp_dir out("opendo-out");
  client c = connect(daemon);
  const job_info before = download(c, origin.url("h.bin"), out / "1.bin");
  EXPECT_EQ(before.files.at(0).sources.bytes_from_origin, kSize);

  write_file(config, "[cache_hosts]\nhosts = " + host_of(cache.port()) + "\nban_time = 60\n");
  reload(daemon);
  const job_info after = download(c, origin.url("h.bin"), out / "2.bin");
  EXPECT_EQ(after.files.at(0).sources.bytes_from_cache_hosts, kSize);
  EXPECT_EQ(after.files.at(0).sources.origin_connections, 0U);
}

TEST(CacheHosts, CacheHostThatBreaksMidFileLeavesTheRestToTheOriginFromTheByteReached) {
  // The same file with the same validators at the cache and at the origin, as a cache that
  // passes the origin's ETag on serves it; the cache resets its connection after 2 MiB.
  fault_origin origin;
  const std::string sha = origin.serve_random("/m.bin", kSize, 15);
  fault_origin cache;
  cache.serve_random("/m.bin", kSize, 15);
  cache.set_fault("/m.bin", fault::reset_after(2U << 20));
  daemon_process daemon(with_cache_hosts(host_of(cache.port())));
  temp_dir out("opendo-out");
  client c = connect(daemon);
  const job_info done = download(c, origin.url("m.bin"), out / "m.bin");
  EXPECT_EQ(sha256_file(out / "m.bin"), sha);
  EXPECT_EQ(done.error_count, 0U);

  const source_stats& s = done.files.at(0).sources;
  EXPECT_GT(s.bytes_from_cache_hosts, 0U);
  EXPECT_EQ(s.bytes_from_cache_hosts + s.bytes_from_origin, kSize);  // nothing fetched twice
  const auto asked = origin.requests_for("/m.bin");
  ASSERT_EQ(asked.size(), 1U);
  EXPECT_EQ(asked[0].range, "bytes=" + std::to_string(s.bytes_from_cache_hosts) + "-");
  EXPECT_EQ(asked[0].status, 206);
}
