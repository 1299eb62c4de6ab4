// Per-source accounting: counters by source, percentages, the current rate, and what opendod
// reads from /proc/self.
#include <gtest/gtest.h>

#include <chrono>

#include "daemon/metrics.hpp"
#include "daemon/self_usage.hpp"
#include "jobs/accounting.hpp"

namespace {

using namespace std::chrono_literals;
using opendo::percent_hundredths;
using opendo::source_stats;
using opendo::jobs::byte_source;

TEST(Accounting, ReceivedBytesGoToTheirSourceOnly) {
  source_stats s;
  opendo::jobs::add_received(s, byte_source::origin, 100);
  opendo::jobs::add_received(s, byte_source::cache_host, 20);
  opendo::jobs::add_received(s, byte_source::lan_peer, 3);
  opendo::jobs::add_received(s, byte_source::group_peer, 4);
  opendo::jobs::add_received(s, byte_source::origin, 1);
  source_stats expected;
  expected.bytes_from_origin = 101;
  expected.bytes_from_cache_hosts = 20;
  expected.bytes_from_lan_peers = 3;
  expected.bytes_from_group_peers = 4;
  EXPECT_EQ(s, expected);
  EXPECT_EQ(s.bytes_downloaded(), 128U);
  EXPECT_EQ(s.bytes_from_peers(), 7U);
  EXPECT_EQ(s.bytes_uploaded(), 0U);
}

TEST(Accounting, RequestsCountPerSource) {
  source_stats s;
  opendo::jobs::add_request(s, byte_source::origin);
  opendo::jobs::add_request(s, byte_source::origin);
  opendo::jobs::add_request(s, byte_source::cache_host);
  opendo::jobs::add_request(s, byte_source::lan_peer);
  opendo::jobs::add_request(s, byte_source::group_peer);
  EXPECT_EQ(s.origin_connections, 2U);
  EXPECT_EQ(s.cache_host_connections, 1U);
  EXPECT_EQ(s.lan_peer_connections, 1U);
  EXPECT_EQ(s.group_peer_connections, 1U);
  EXPECT_EQ(s.bytes_downloaded(), 0U);
}

TEST(Accounting, CounterNamesAreUniqueAndCoverEveryCounter) {
  source_stats s;
  std::uint64_t value = 1;
  for (const auto& [name, counter] : opendo::jobs::kSourceCounters) s.*counter = value++;
  // Each counter got its own value: no member is listed twice, and none is missing (the struct
  // has exactly these eleven counters).
  EXPECT_EQ(s, (source_stats{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(opendo::jobs::kSourceCounters[0].first, "bytes_from_origin");
}

TEST(Percent, HundredthsRoundDown) {
  EXPECT_EQ(percent_hundredths(0, 0), 0U);  // nothing downloaded yet
  EXPECT_EQ(percent_hundredths(0, 100), 0U);
  EXPECT_EQ(percent_hundredths(1, 3), 3333U);
  EXPECT_EQ(percent_hundredths(2, 3), 6666U);
  EXPECT_EQ(percent_hundredths(1, 10000), 1U);
  EXPECT_EQ(percent_hundredths(1, 10001), 0U);
  EXPECT_EQ(percent_hundredths(100, 100), 10000U);
  EXPECT_EQ(percent_hundredths(200, 100), 10000U);  // never above 100%
  // Sizes where part * 10000 does not fit 64 bits.
  EXPECT_EQ(percent_hundredths(1ULL << 62, 1ULL << 63), 5000U);
  EXPECT_EQ(percent_hundredths(~0ULL - 1, ~0ULL), 9999U);
}

TEST(Percent, FromPeersAndCacheHostsOfAllBytesDownloaded) {
  source_stats s;
  EXPECT_EQ(s.percent_from_peers(), 0U);
  EXPECT_EQ(s.percent_from_cache_hosts(), 0U);
  s.bytes_from_origin = 1000;
  EXPECT_EQ(s.percent_from_peers(), 0U);
  EXPECT_EQ(s.percent_from_cache_hosts(), 0U);
  s.bytes_from_origin = 500;
  s.bytes_from_cache_hosts = 250;
  s.bytes_from_lan_peers = 125;
  s.bytes_from_group_peers = 125;
  s.bytes_to_lan_peers = 5000;  // uploads are not downloads
  EXPECT_EQ(s.percent_from_peers(), 2500U);
  EXPECT_EQ(s.percent_from_cache_hosts(), 2500U);
}

TEST(RateWindow, NothingBeforeTwoSamples) {
  opendo::jobs::rate_window rate;
  EXPECT_EQ(rate.per_second(), 0U);
  rate.sample(opendo::jobs::mono_time{} + 1s, 1000);
  EXPECT_EQ(rate.per_second(), 0U);
}

TEST(RateWindow, GrowthOverTheWindow) {
  const auto t0 = opendo::jobs::mono_time{} + 100s;
  opendo::jobs::rate_window rate(5s);
  rate.sample(t0, 0);
  rate.sample(t0 + 500ms, 500);
  rate.sample(t0 + 1s, 1000);
  EXPECT_EQ(rate.per_second(), 1000U);
  // Faster later: the old samples leave the window.
  for (int i = 2; i <= 20; ++i) rate.sample(t0 + std::chrono::seconds(i), 1000 + (i - 1) * 4000);
  EXPECT_EQ(rate.per_second(), 4000U);
}

TEST(RateWindow, StoppedCounterReadsZero) {
  const auto t0 = opendo::jobs::mono_time{} + 100s;
  opendo::jobs::rate_window rate(5s);
  rate.sample(t0, 0);
  rate.sample(t0 + 1s, 1000);
  for (int i = 2; i <= 12; ++i) rate.sample(t0 + std::chrono::seconds(i), 1000);
  EXPECT_EQ(rate.per_second(), 0U);
}

// The daemon samples once per event-loop turn, thousands of times a second when busy: the
// window keeps a bounded number of points and still reads the rate up to the newest sample.
TEST(RateWindow, ASamplePerMillisecondKeepsFewPointsAndTheExactRate) {
  const auto t0 = opendo::jobs::mono_time{} + 100s;
  opendo::jobs::rate_window rate(5s);
  for (int ms = 0; ms <= 20000; ++ms) {
    rate.sample(t0 + std::chrono::milliseconds(ms), static_cast<std::uint64_t>(ms) * 3);
  }
  EXPECT_LE(rate.points(), static_cast<std::size_t>(opendo::jobs::rate_window::kSteps) + 3);
  EXPECT_EQ(rate.per_second(), 3000U);
  // A stop shows at once in the newest point: a second later the rate has fallen.
  for (int ms = 20001; ms <= 21000; ++ms) rate.sample(t0 + std::chrono::milliseconds(ms), 60000);
  EXPECT_LT(rate.per_second(), 3000U);
  EXPECT_GT(rate.per_second(), 0U);
}

TEST(RateWindow, CounterGoingDownReadsZero) {
  const auto t0 = opendo::jobs::mono_time{} + 100s;
  opendo::jobs::rate_window rate(5s);
  rate.sample(t0, 1000);
  rate.sample(t0 + 1s, 10);
  EXPECT_EQ(rate.per_second(), 0U);
}

// A command name with spaces and a ')' must not shift the fields.
constexpr const char* kStat =
    "4242 (open do) (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 3 0 12345 "
    "100000000 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(SelfUsage, CpuTimeIsUserPlusSystemTicks) {
  EXPECT_EQ(opendo::daemon::parse_cpu_time_ms(kStat, 100), 4000U);  // (250 + 150) / 100 s
  EXPECT_EQ(opendo::daemon::parse_cpu_time_ms(kStat, 1000), 400U);
}

TEST(SelfUsage, BadStatIsNoFigure) {
  EXPECT_FALSE(opendo::daemon::parse_cpu_time_ms("", 100));
  EXPECT_FALSE(opendo::daemon::parse_cpu_time_ms("1 (x) S 1 2", 100));
  EXPECT_FALSE(opendo::daemon::parse_cpu_time_ms(kStat, 0));
}

TEST(SelfUsage, RssIsResidentPages) {
  EXPECT_EQ(opendo::daemon::parse_rss_bytes("25000 2048 300 10 0 900 0\n", 4096), 2048U * 4096U);
  EXPECT_FALSE(opendo::daemon::parse_rss_bytes("25000", 4096));
  EXPECT_FALSE(opendo::daemon::parse_rss_bytes("a b c", 4096));
}

TEST(SelfUsage, ThisProcessHasSomeMemory) {
  const auto usage = opendo::daemon::read_self_usage();
  EXPECT_GT(usage.rss_bytes, 0U);
}

TEST(Prometheus, CountersAndGaugesByConvention) {
  opendo::machine_statistics stats;
  stats.files_downloaded = 3;
  stats.totals.bytes_from_origin = 1234567;
  stats.totals.bytes_from_cache_hosts = 89;
  stats.totals.origin_connections = 4;
  stats.totals.download_duration_ms = 12345;
  stats.download_rate = 1000;
  stats.foreground_downloads = 1;
  stats.background_downloads = 2;
  stats.daemon_cpu_time_ms = 1500;
  stats.daemon_rss_bytes = 1 << 20;
  const std::string text = opendo::daemon::prometheus_text(stats);
  for (const char* expected : {
           "# HELP opendo_files_downloaded_total ",
           "# TYPE opendo_files_downloaded_total counter\nopendo_files_downloaded_total 3\n",
           "# TYPE opendo_downloaded_bytes_total counter\n"
           "opendo_downloaded_bytes_total{source=\"origin\"} 1234567\n"
           "opendo_downloaded_bytes_total{source=\"cache_host\"} 89\n"
           "opendo_downloaded_bytes_total{source=\"lan_peer\"} 0\n"
           "opendo_downloaded_bytes_total{source=\"group_peer\"} 0\n",
           "opendo_requests_total{source=\"origin\"} 4\n",
           "# TYPE opendo_transfer_seconds_total counter\nopendo_transfer_seconds_total 12.345\n",
           "# TYPE opendo_download_bytes_per_second gauge\nopendo_download_bytes_per_second 1000\n",
           "opendo_running_jobs{priority=\"foreground\"} 1\n"
           "opendo_running_jobs{priority=\"background\"} 2\n",
           "# TYPE opendo_cache_size_bytes gauge\nopendo_cache_size_bytes 0\n",
           "process_cpu_seconds_total 1.500\n",
           "process_resident_memory_bytes 1048576\n",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\nnot in\n" << text;
  }
  // Each family's TYPE comes once, before its samples; the text ends with a newline.
  EXPECT_EQ(text.find("# TYPE opendo_downloaded_bytes_total"),
            text.rfind("# TYPE opendo_downloaded_bytes_total"));
  EXPECT_EQ(text.back(), '\n');
}

TEST(Prometheus, OnlyLoopbackAddressesAreServed) {
  EXPECT_THROW(opendo::daemon::listen_loopback("0.0.0.0:0", "metrics"), std::runtime_error);
  EXPECT_THROW(opendo::daemon::listen_loopback("192.0.2.1:0", "metrics"), std::runtime_error);
  EXPECT_THROW(opendo::daemon::listen_loopback("127.0.0.1", "metrics"), std::runtime_error);
  EXPECT_THROW(opendo::daemon::listen_loopback("127.0.0.1:http", "metrics"), std::runtime_error);
  const auto fd = opendo::daemon::listen_loopback("127.0.0.1:0", "metrics");
  EXPECT_GT(opendo::daemon::bound_port(fd.get()), 0);
}

}  // namespace
