// The Prometheus endpoint of a real opendod (--metrics-listen on loopback), read with libcurl as
// Prometheus would: the same totals as perfsnap, named by Prometheus conventions; off unless
// asked for; never on an address other machines can reach.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

#include "integration/helpers.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/net.hpp"
#include "support/nginx.hpp"

using namespace opendo;
using namespace opendo::test;

namespace {

// "name{labels}" -> value, from the exposition text; HELP and TYPE lines are checked apart.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

}  // namespace

TEST(Metrics, EndpointServesTheTotalsInPrometheusText) {
  nginx_server origin;
  constexpr std::uint64_t kSize = (2U << 20) + 777;
  origin.make_random_file("metrics.bin", kSize, 51);
  const std::uint16_t port = find_free_port();
  daemon_options options;
  options.extra_args = {"--metrics-listen", "127.0.0.1:" + std::to_string(port)};
  daemon_process daemon(options);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";

  const http_reply before = http_get(url);
  ASSERT_EQ(before.code, CURLE_OK) << curl_easy_strerror(before.code);
  EXPECT_EQ(before.status, 200);
  EXPECT_EQ(before.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(samples(before.body).at("opendo_downloaded_bytes_total{source=\"origin\"}"), "0");

  temp_dir out("opendo-out");
  client c = connect(daemon);
  job j = c.create_job("metrics");
  j.add_file(origin.url("metrics.bin"), (out / "metrics.bin").string());
  j.resume();
  ASSERT_EQ(wait_for_state(j, job_state::transferred).state, job_state::transferred);

  const http_reply after = http_get(url);
  ASSERT_EQ(after.status, 200);
  const auto values = samples(after.body);
  EXPECT_EQ(values.at("opendo_downloaded_bytes_total{source=\"origin\"}"), std::to_string(kSize));
  EXPECT_EQ(values.at("opendo_downloaded_bytes_total{source=\"cache_host\"}"), "0");
  EXPECT_EQ(values.at("opendo_downloaded_bytes_total{source=\"lan_peer\"}"), "0");
  EXPECT_EQ(values.at("opendo_downloaded_bytes_total{source=\"group_peer\"}"), "0");
  EXPECT_EQ(values.at("opendo_files_downloaded_total"), "1");
  EXPECT_EQ(values.at("opendo_requests_total{source=\"origin\"}"), "1");
  EXPECT_EQ(values.at("opendo_cache_size_bytes"), "0");
  EXPECT_EQ(values.at("opendo_peers_connected"), "0");
  EXPECT_EQ(values.count("opendo_transfer_seconds_total"), 1U);
  EXPECT_EQ(values.count("opendo_download_bytes_per_second"), 1U);
  EXPECT_EQ(values.count("opendo_running_jobs{priority=\"foreground\"}"), 1U);
  EXPECT_GT(std::stoull(values.at("process_resident_memory_bytes")), 0U);
  EXPECT_EQ(values.count("process_cpu_seconds_total"), 1U);
  // Every family has its HELP and TYPE, counters end in _total.
  EXPECT_NE(after.body.find("# TYPE opendo_downloaded_bytes_total counter\n"), std::string::npos);
  EXPECT_NE(after.body.find("# TYPE opendo_peers_connected gauge\n"), std::string::npos);
  EXPECT_NE(after.body.find("# HELP opendo_files_downloaded_total "), std::string::npos);

  // The same figures as perfsnap.
  const machine_statistics stats = c.statistics();
  EXPECT_EQ(stats.totals.bytes_from_origin, kSize);

  // Only /metrics, only GET.
  EXPECT_EQ(http_get("http://127.0.0.1:" + std::to_string(port) + "/").status, 404);
  // The daemon still answers its clients after all that.
  EXPECT_EQ(c.list_jobs().size(), 1U);
}

TEST(Metrics, OffUnlessAsked) {
  daemon_process daemon;
  EXPECT_EQ(daemon.log().find("metrics"), std::string::npos) << daemon.log();
}

TEST(Metrics, ANonLoopbackAddressIsRefused) {
  daemon_options options;
  options.extra_args = {"--metrics-listen", "0.0.0.0:0"};
  try {
    daemon_process daemon(options);
    ADD_FAILURE() << "opendod started with its metrics on 0.0.0.0";
  } catch (const std::runtime_error& e) {
    // It exited at once, saying why, before it served anyone.
    const std::string what = e.what();
    EXPECT_NE(what.find("exited with status 1"), std::string::npos) << what;
    EXPECT_NE(what.find("not a loopback address"), std::string::npos) << what;
  }
}
