// Bandwidth policy logic with an injected clock: which caps hold at a given local time (business
// hours, percentages of the link capacity), how a class cap is shared, how the link capacity is
// estimated, the parsers of the configuration values, and the token bucket that paces a transfer.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

#include "jobs/bandwidth.hpp"
#include "transfer/http/token_bucket.hpp"

namespace {

using namespace opendo::jobs;
using namespace std::chrono_literals;
using opendo::transfer::http::token_bucket;

constexpr int kSun = 0, kMon = 1, kTue = 2, kFri = 5, kSat = 6;

hours_window window(int start, int end, const char* days = "all") {
  hours_window w = *parse_hours(std::to_string(start) + "-" + std::to_string(end));
  w.days = *parse_days(days);
  return w;
}

TEST(BusinessHours, DayWindowHoldsFromStartHourUntilBeforeEndHourOnItsDays) {
  const hours_window w = window(8, 17, "mon-fri");
  EXPECT_FALSE(in_window(w, {kMon, 7}));
  EXPECT_TRUE(in_window(w, {kMon, 8}));
  EXPECT_TRUE(in_window(w, {kFri, 16}));
  EXPECT_FALSE(in_window(w, {kFri, 17}));
  EXPECT_FALSE(in_window(w, {kSat, 10}));
  EXPECT_FALSE(in_window(w, {kSun, 10}));
}

TEST(BusinessHours, NightWindowWrapsPastMidnightAndBelongsToTheDayItStarts) {
  const hours_window w = window(22, 6, "mon");
  EXPECT_TRUE(in_window(w, {kMon, 22}));
  EXPECT_TRUE(in_window(w, {kMon, 23}));
  EXPECT_TRUE(in_window(w, {kTue, 0}));
  EXPECT_TRUE(in_window(w, {kTue, 5}));
  EXPECT_FALSE(in_window(w, {kTue, 6}));
  EXPECT_FALSE(in_window(w, {kMon, 3}));  // Sunday night's window: Sunday is not a day of it
  EXPECT_FALSE(in_window(w, {kTue, 22}));
  // Saturday 22:00 to Sunday 06:00 crosses the week's end.
  const hours_window weekend = window(22, 6, "sat");
  EXPECT_TRUE(in_window(weekend, {kSun, 2}));
  EXPECT_FALSE(in_window(weekend, {kMon, 2}));
}

TEST(BusinessHours, WholeDayWindow) {
  const hours_window w = window(0, 24, "sat,sun");
  for (int hour = 0; hour < 24; ++hour) {
    EXPECT_TRUE(in_window(w, {kSat, hour}));
    EXPECT_FALSE(in_window(w, {kFri, hour}));
  }
}

TEST(Caps, AbsoluteCapsPerClassAndNoneByDefault) {
  bandwidth_policy policy;
  EXPECT_EQ(caps_at(policy, {kMon, 10}, std::nullopt), (class_caps{0, 0}));
  policy.foreground = bandwidth_cap::bytes(5'000'000);
  policy.background = bandwidth_cap::bytes(1'000'000);
  EXPECT_EQ(caps_at(policy, {kMon, 10}, std::nullopt), (class_caps{5'000'000, 1'000'000}));
}

TEST(Caps, BusinessHoursCapsReplaceTheOthersOnlyInsideTheWindow) {
  bandwidth_policy policy;
  policy.foreground = bandwidth_cap::bytes(5'000'000);
  policy.background = bandwidth_cap::bytes(1'000'000);
  policy.business_hours = window(8, 17, "mon-fri");
  policy.business_background = bandwidth_cap::bytes(100'000);  // foreground keeps its cap
  EXPECT_EQ(caps_at(policy, {kMon, 9}, std::nullopt), (class_caps{5'000'000, 100'000}));
  EXPECT_EQ(caps_at(policy, {kMon, 18}, std::nullopt), (class_caps{5'000'000, 1'000'000}));
  EXPECT_EQ(caps_at(policy, {kSat, 9}, std::nullopt), (class_caps{5'000'000, 1'000'000}));
  policy.business_foreground = bandwidth_cap{};  // no cap in the window
  EXPECT_EQ(caps_at(policy, {kTue, 12}, std::nullopt), (class_caps{0, 100'000}));
}

TEST(Caps, PercentageOfTheConfiguredOrMeasuredLinkCapacity) {
  bandwidth_policy policy;
  policy.background = bandwidth_cap::percent(25);
  // Nothing measured, nothing configured: a percentage cannot limit yet.
  EXPECT_EQ(caps_at(policy, {kMon, 10}, std::nullopt).background, 0U);
  EXPECT_EQ(caps_at(policy, {kMon, 10}, 8'000'000).background, 2'000'000U);
  policy.link_capacity = 100'000'000;  // stated: the measurement is not used
  EXPECT_EQ(caps_at(policy, {kMon, 10}, 8'000'000).background, 25'000'000U);
  policy.link_capacity = 3;  // tiny capacities still give a cap of at least 1 byte/s
  EXPECT_EQ(caps_at(policy, {kMon, 10}, std::nullopt).background, 1U);
  policy.link_capacity = 0xFFFF'FFFF'FFFF'FFFFULL;  // no overflow
  EXPECT_EQ(caps_at(policy, {kMon, 10}, std::nullopt).background, 0xFFFF'FFFF'FFFF'FFFFULL / 4);
}

TEST(Share, ClassCapIsDividedAmongItsRunningTransfers) {
  EXPECT_EQ(share_of(0, 3), 0U);  // no cap stays no cap
  EXPECT_EQ(share_of(2'000'000, 0), 2'000'000U);
  EXPECT_EQ(share_of(2'000'000, 1), 2'000'000U);
  EXPECT_EQ(share_of(2'000'000, 4), 500'000U);
  EXPECT_EQ(share_of(2, 5), 1U);  // never 0, which would mean unlimited
}

TEST(LinkCapacity, HighestUncappedRateOfTheWindowAndKeptWhenTheWindowEmpties) {
  link_capacity_estimator estimator(60s);
  const mono_time t0{};
  EXPECT_EQ(estimator.estimate(t0), std::nullopt);
  estimator.add_sample(t0, t0 + 1s, 4'000'000, false);
  estimator.add_sample(t0 + 1s, t0 + 3s, 20'000'000, false);  // 10 MB/s
  estimator.add_sample(t0 + 3s, t0 + 4s, 50'000'000, true);   // capped: measures the cap, skipped
  estimator.add_sample(t0 + 4s, t0 + 4s + 100ms, 9'000'000, false);  // too short: noise
  EXPECT_EQ(estimator.estimate(t0 + 5s), 10'000'000U);
  // The 10 MB/s sample leaves the window; the newer, slower one is the estimate.
  estimator.add_sample(t0 + 30s, t0 + 31s, 6'000'000, false);
  EXPECT_EQ(estimator.estimate(t0 + 64s), 6'000'000U);
  // No sample left in the window (e.g. everything capped since): the last estimate stays.
  EXPECT_EQ(estimator.estimate(t0 + 200s), 6'000'000U);
}

TEST(Parse, CapsInBytesWithDecimalAndBinarySuffixesOrPercent) {
  EXPECT_EQ(parse_cap("2000000"), bandwidth_cap::bytes(2'000'000));
  EXPECT_EQ(parse_cap("2M"), bandwidth_cap::bytes(2'000'000));
  EXPECT_EQ(parse_cap("500k"), bandwidth_cap::bytes(500'000));
  EXPECT_EQ(parse_cap(" 1G "), bandwidth_cap::bytes(1'000'000'000));
  EXPECT_EQ(parse_cap("4MiB"), bandwidth_cap::bytes(4 * 1024 * 1024));
  EXPECT_EQ(parse_cap("8 KiB"), bandwidth_cap::bytes(8192));
  EXPECT_EQ(parse_cap("0"), bandwidth_cap{});
  EXPECT_EQ(parse_cap("unlimited"), bandwidth_cap{});
  EXPECT_EQ(parse_cap("50%"), bandwidth_cap::percent(50));
  EXPECT_EQ(parse_cap("100%"), bandwidth_cap::percent(100));
  for (const char* bad : {"", "-1", "2X", "M", "1.5M", "0%", "101%", "50%%", "%",
                          "99999999999999999999", "20000000000G", "2 M B"}) {
    EXPECT_EQ(parse_cap(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(parse_cap("50%", false), std::nullopt);
}

TEST(Parse, HoursAndDays) {
  EXPECT_EQ(parse_hours("8-17"), (hours_window{8, 17, 0x7F}));
  EXPECT_EQ(parse_hours(" 22 - 6 "), (hours_window{22, 6, 0x7F}));
  EXPECT_EQ(parse_hours("0-24"), (hours_window{0, 24, 0x7F}));
  for (const char* bad : {"", "8", "8-", "-17", "8-8", "24-3", "8-25", "8-0", "a-b", "8:30-17"}) {
    EXPECT_EQ(parse_hours(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(parse_days("mon-fri"), 0b0111110);
  EXPECT_EQ(parse_days("Sat,Sun"), 0b1000001);
  EXPECT_EQ(parse_days("fri-mon"), 0b1100011);
  EXPECT_EQ(parse_days("mon, wed-thu"), 0b0011010);
  EXPECT_EQ(parse_days("all"), 0x7F);
  for (const char* bad : {"", "monday", "mon,", ",mon", "mon-", "xyz", "mon;tue"}) {
    EXPECT_EQ(parse_days(bad), std::nullopt) << bad;
  }
}

TEST(TokenBucket, UnlimitedAlwaysReady) {
  token_bucket bucket;
  const auto t0 = token_bucket::clock::time_point{} + 1000s;
  EXPECT_TRUE(bucket.ready(t0));
  bucket.take(1'000'000'000);
  EXPECT_TRUE(bucket.ready(t0));
}

TEST(TokenBucket, PacesToItsRateAndADebtIsRepaidBeforeTheNextChunk) {
  token_bucket bucket;
  const auto t0 = token_bucket::clock::time_point{} + 1000s;
  bucket.set_rate(1'000'000, t0);
  ASSERT_TRUE(bucket.ready(t0));
  bucket.take(500'000);  // one chunk may go into debt
  EXPECT_FALSE(bucket.ready(t0));
  EXPECT_EQ(bucket.ready_at(t0), t0 + 500ms);
  EXPECT_FALSE(bucket.ready(t0 + 499ms));
  EXPECT_TRUE(bucket.ready(t0 + 500ms));
  // Over a long run the bytes taken follow the rate, within one burst and one chunk.
  std::uint64_t taken = 0;
  auto now = t0 + 500ms;
  const auto end = now + 10s;
  while (now < end) {
    if (bucket.ready(now)) {
      bucket.take(64 * 1024);
      taken += 64 * 1024;
    }
    now += 7ms;
  }
  EXPECT_NEAR(static_cast<double>(taken), 10'000'000.0, 250'000.0 + 64 * 1024);
}

TEST(TokenBucket, IdleTimeSavesAtMostAQuarterSecond) {
  token_bucket bucket;
  const auto t0 = token_bucket::clock::time_point{} + 1000s;
  bucket.set_rate(1'000'000, t0);
  const auto later = t0 + 60s;  // a minute idle
  ASSERT_TRUE(bucket.ready(later));
  bucket.take(250'000);
  EXPECT_TRUE(bucket.ready(later));  // the saved quarter second
  bucket.take(1);
  EXPECT_FALSE(bucket.ready(later));
}

TEST(TokenBucket, ANewRateKeepsTheDebtAndZeroLiftsTheLimit) {
  token_bucket bucket;
  const auto t0 = token_bucket::clock::time_point{} + 1000s;
  bucket.set_rate(1'000'000, t0);
  bucket.take(1'000'000);
  bucket.set_rate(2'000'000, t0);
  EXPECT_EQ(bucket.ready_at(t0), t0 + 500ms);
  bucket.set_rate(0, t0);
  EXPECT_TRUE(bucket.ready(t0));
  EXPECT_FALSE(bucket.limited());
}

}  // namespace
