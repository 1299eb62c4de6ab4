// Cache hosts as pure logic: host lists as the configuration gives them, origin URLs rewritten
// for a cache host, and the choice of each request's source with bans and the fallback delay on
// an injected clock.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "jobs/cache_hosts.hpp"

namespace {

using namespace opendo::jobs;
using std::chrono::seconds;
using hosts = std::vector<std::string>;

const mono_time t0 = mono_time{} + std::chrono::hours(1000);

TEST(CacheHostList, HostsAndPortsAreTakenInOrder) {
  EXPECT_EQ(parse_cache_host_list("cache1, Cache2.example:8080 ,10.0.0.9:3128,[fd00::1]:80"),
            (hosts{"cache1", "cache2.example:8080", "10.0.0.9:3128", "[fd00::1]:80"}));
  EXPECT_EQ(parse_cache_host_list(""), hosts{});
  EXPECT_EQ(parse_cache_host_list("  "), hosts{});
  EXPECT_EQ(parse_cache_host("[::1]"), "[::1]");
}

TEST(CacheHostList, BadItemsAreRefused) {
  for (const char* bad :
       {"http://cache", "cache/path", "cache:", "cache:0", "cache:65536", "cache:80:90", "a,,b",
        "a,", "-cache", "ca che", "[::1", "[zz]:80", "[::1]80", "user@cache"}) {
    EXPECT_EQ(parse_cache_host_list(bad), std::nullopt) << bad;
  }
}

TEST(CacheHostUrl, PathQueryAndOriginAreKept) {
  EXPECT_EQ(cache_host_url("http://origin.example/pub/a.iso", "cache:8080"),
            "http://cache:8080/pub/a.iso?cacheHostOrigin=origin.example");
  EXPECT_EQ(cache_host_url("http://origin.example/a?x=1&y=2", "cache"),
            "http://cache/a?x=1&y=2&cacheHostOrigin=origin.example");
  EXPECT_EQ(cache_host_url("HTTP://Origin.Example", "cache"),
            "http://cache/?cacheHostOrigin=origin.example");
  EXPECT_EQ(cache_host_url("http://origin.example?q", "cache"),
            "http://cache/?q&cacheHostOrigin=origin.example");
  EXPECT_EQ(cache_host_url("http://origin.example/a#part", "cache"),
            "http://cache/a?cacheHostOrigin=origin.example");
}

TEST(CacheHostUrl, OnlyAPortThatIsNotTheDefaultIsNamed) {
  EXPECT_EQ(cache_host_url("http://127.0.0.1:8081/f", "c"),
            "http://c/f?cacheHostOrigin=127.0.0.1:8081");
  EXPECT_EQ(cache_host_url("http://origin:80/f", "c"), "http://c/f?cacheHostOrigin=origin");
  EXPECT_EQ(cache_host_url("http://[::1]:81/f", "c"), "http://c/f?cacheHostOrigin=[::1]:81");
}

TEST(CacheHostUrl, HttpsUserInfoAndHostlessUrlsGoToTheOriginOnly) {
  EXPECT_EQ(cache_host_url("https://origin/f", "c"), std::nullopt);
  EXPECT_EQ(cache_host_url("http://user:pw@origin/f", "c"), std::nullopt);
  EXPECT_EQ(cache_host_url("http:///f", "c"), std::nullopt);
  EXPECT_EQ(cache_host_url("ftp://origin/f", "c"), std::nullopt);
}

cache_host_policy policy(hosts list, int delay_s = 0, int ban_s = 300) {
  return cache_host_policy{std::move(list), seconds(delay_s), seconds(ban_s)};
}

TEST(ChooseSource, WithoutCacheHostsTheOriginServes) {
  cache_host_attempt attempt;
  const auto choice = choose_source(policy({}), {}, attempt, t0);
  EXPECT_EQ(choice.what, source_choice::kind::origin);
  EXPECT_FALSE(attempt.first_try);
}

TEST(ChooseSource, HostsAreTriedInOrderThenTheOriginAtOnce) {
  const auto p = policy({"a", "b"});
  cache_host_bans bans;
  cache_host_attempt attempt;
  auto choice = choose_source(p, bans, attempt, t0);
  EXPECT_EQ(choice.what, source_choice::kind::cache_host);
  EXPECT_EQ(choice.host, "a");
  EXPECT_EQ(attempt.first_try, t0);
  attempt.failed.push_back("a");
  choice = choose_source(p, bans, attempt, t0 + seconds(1));
  EXPECT_EQ(choice.host, "b");
  attempt.failed.push_back("b");
  EXPECT_EQ(choose_source(p, bans, attempt, t0 + seconds(2)).what, source_choice::kind::origin);
  EXPECT_EQ(attempt.first_try, t0);  // the first try stays
}

TEST(ChooseSource, ABannedHostIsSkippedUntilItsBanEnds) {
  const auto p = policy({"a", "b"});
  cache_host_bans bans;
  bans.ban("a", t0 + seconds(300), 1, "refused");
  cache_host_attempt attempt;
  EXPECT_EQ(choose_source(p, bans, attempt, t0).host, "b");
  ASSERT_NE(bans.find("a", t0 + seconds(299)), nullptr);
  EXPECT_EQ(bans.find("a", t0 + seconds(299))->reason, "refused");
  EXPECT_EQ(bans.find("a", t0 + seconds(300)), nullptr);
  ASSERT_NE(bans.last("a"), nullptr);  // why it failed is kept after the ban
  EXPECT_EQ(bans.last("a")->reason, "refused");
  EXPECT_EQ(bans.last("b"), nullptr);
  cache_host_attempt later;
  EXPECT_EQ(choose_source(p, bans, later, t0 + seconds(300)).host, "a");
}

TEST(ChooseSource, AHostThatFailedTheFileIsNotAskedAgainEvenWhenItsBanEnded) {
  // Bans shorter than a failure take: without the file's own list the chain would never end.
  const auto p = policy({"a"}, 0, 1);
  cache_host_bans bans;
  cache_host_attempt attempt;
  attempt.failed.push_back("a");
  EXPECT_EQ(choose_source(p, bans, attempt, t0 + seconds(5)).what, source_choice::kind::origin);
}

TEST(ChooseSource, FallbackDelayHoldsTheOriginBackFromTheFirstTry) {
  const auto p = policy({"a"}, 30);
  cache_host_bans bans;
  cache_host_attempt attempt;
  EXPECT_EQ(choose_source(p, bans, attempt, t0).host, "a");
  bans.ban("a", t0 + seconds(300), 1, "refused");
  auto choice = choose_source(p, bans, attempt, t0 + seconds(10));
  EXPECT_EQ(choice.what, source_choice::kind::wait);
  EXPECT_EQ(choice.origin_from, t0 + seconds(30));
  choice = choose_source(p, bans, attempt, t0 + seconds(29));
  EXPECT_EQ(choice.what, source_choice::kind::wait);
  EXPECT_EQ(choose_source(p, bans, attempt, t0 + seconds(30)).what, source_choice::kind::origin);
}

TEST(ChooseSource, AFileThatFindsEveryHostBannedWaitsTheDelayFromThen) {
  const auto p = policy({"a"}, 30);
  cache_host_bans bans;
  bans.ban("a", t0 + seconds(300), 1, "refused");
  cache_host_attempt attempt;
  const auto choice = choose_source(p, bans, attempt, t0 + seconds(5));
  EXPECT_EQ(choice.what, source_choice::kind::wait);
  EXPECT_EQ(choice.origin_from, t0 + seconds(35));
}

}  // namespace
