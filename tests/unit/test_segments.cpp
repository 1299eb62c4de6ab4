// Segmented downloads as pure logic: the store's text form, splits, and the controller that
// learns how many connections pay, on an injected clock.
#include "jobs/segments.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

using namespace opendo::jobs;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t MiB = 1 << 20;
const mono_time t0 = mono_time{} + 1000h;

segment_policy policy() {
  segment_policy p;
  p.max_connections = 6;
  p.min_segment_size = 1 * MiB;
  p.settle = 300ms;
  p.window = 1000ms;
  return p;
}

// Feeds the controller a download in which each connection brings `per_connection` bytes a
// second up to `link` in all, for `seconds`, adding and giving back connections as it asks;
// returns how many it ended with.
std::uint32_t run(connection_controller& c, double per_connection, double link, int seconds) {
  std::uint32_t running = 1;
  double received = 0;
  mono_time now = t0;
  c.connections_changed(now, running, 0);
  for (int step = 0; step < seconds * 10; ++step) {
    now += 100ms;
    received += std::min(link, per_connection * running) / 10;
    const std::uint32_t want = c.target(now, static_cast<std::uint64_t>(received));
    if (want != running) {
      running = want;
      c.connections_changed(now, running, static_cast<std::uint64_t>(received));
    }
  }
  return running;
}

}  // namespace

TEST(Segments, TextFormRoundTrips) {
  const std::vector<segment> s{{0, 100, 40}, {100, 250, 0}, {250, 251, 1}};
  EXPECT_EQ(encode_segments(s), "0-100:40,100-250:0,250-251:1");
  EXPECT_EQ(decode_segments(encode_segments(s)), s);
  EXPECT_EQ(encode_segments({}), "");
  EXPECT_EQ(decode_segments(""), std::vector<segment>{});
}

TEST(Segments, BadTextIsRefused) {
  for (const char* bad : {"0-100", "0-100:101", "100-100:0", "5-1:0", "0-100:0,", ",0-1:0",
                          "0-100:0;100-200:0", "a-100:0", "-1-100:0"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(decode_segments(bad));
  }
}

TEST(Segments, DoneAndCompleteSumTheSegments) {
  std::vector<segment> s{{0, 100, 100}, {100, 200, 50}};
  EXPECT_EQ(segments_done(s), 150U);
  EXPECT_FALSE(segments_complete(s));
  s[1].done = 100;
  EXPECT_TRUE(segments_complete(s));
}

TEST(Segments, FirstSplitCutsWhatIsLeftInHalf) {
  const auto s = first_split(100 * MiB, 10 * MiB, 20 * MiB, 4 * MiB);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->size(), 2U);
  EXPECT_EQ((*s)[0], (segment{0, 60 * MiB, 10 * MiB}));
  EXPECT_EQ((*s)[1], (segment{60 * MiB, 100 * MiB, 0}));
  EXPECT_FALSE(first_split(100 * MiB, 0, 93 * MiB, 4 * MiB));  // 7 MiB left: not worth it
  EXPECT_TRUE(first_split(100 * MiB, 0, 92 * MiB, 4 * MiB));
  EXPECT_FALSE(first_split(100 * MiB, 0, 101 * MiB, 4 * MiB));
}

TEST(Segments, SplitLargestTakesTheMostBytesLeftBeyondItsTransfer) {
  std::vector<segment> s{{0, 40 * MiB, 0}, {40 * MiB, 100 * MiB, 10 * MiB}};
  // Segment 0's transfer is at 30 MiB (10 left), segment 1's at 60 MiB (40 left).
  const auto split = split_largest(s, {30 * MiB, 60 * MiB}, 4 * MiB);
  ASSERT_EQ(split, 1U);
  ASSERT_EQ(s.size(), 3U);
  EXPECT_EQ(s[1], (segment{40 * MiB, 80 * MiB, 10 * MiB}));
  EXPECT_EQ(s[2], (segment{80 * MiB, 100 * MiB, 0}));
  // Nothing with 2 x the minimum left: no split.
  std::vector<segment> small{{0, 10 * MiB, 0}};
  EXPECT_FALSE(split_largest(small, {3 * MiB}, 4 * MiB));
  EXPECT_EQ(small.size(), 1U);
}

TEST(ConnectionController, APerConnectionCapAddsConnectionsUpToTheMost) {
  connection_controller c(policy());
  EXPECT_EQ(run(c, 2.0 * MiB, 1000.0 * MiB, 20), 6U);  // every connection adds 2 MiB/s
  EXPECT_TRUE(c.settled());
}

TEST(ConnectionController, AFullLinkGoesBackToOneConnection) {
  connection_controller c(policy());
  EXPECT_EQ(run(c, 50.0 * MiB, 50.0 * MiB, 20), 1U);  // the probe gained nothing: given back
  EXPECT_TRUE(c.settled());
}

TEST(ConnectionController, ALinkThatFillsUpKeepsTheConnectionsThatPaid) {
  connection_controller c(policy());
  EXPECT_EQ(run(c, 10.0 * MiB, 33.0 * MiB, 30), 3U);  // 10, 20, then 4 bring 33: one paid
  EXPECT_TRUE(c.settled());
}

TEST(ConnectionController, NothingIsDecidedBeforeAWholeWindow) {
  segment_policy p = policy();
  p.bursts = 1;  // the calls below are far apart: their gaps are no server's silences
  connection_controller c(p);
  c.connections_changed(t0, 1, 0);
  EXPECT_EQ(c.target(t0 + 100ms, 0, false), 1U);       // no bytes yet: no settling either
  EXPECT_EQ(c.target(t0 + 200ms, 1 * MiB, true), 1U);  // bytes flow: settling from here
  EXPECT_EQ(c.target(t0 + 400ms, 1 * MiB), 1U);        // still settling
  EXPECT_EQ(c.target(t0 + 500ms, 2 * MiB), 1U);        // the window starts
  EXPECT_EQ(c.target(t0 + 1000ms, 3 * MiB), 1U);       // half a window
  EXPECT_EQ(c.target(t0 + 1500ms, 4 * MiB), 2U);       // one window with one connection: probe
}

TEST(ConnectionController, AConnectionThatNeverFlowsIsJudgedAfterTheLongestWait) {
  segment_policy p = policy();
  p.bursts = 1;
  connection_controller c(p);
  c.connections_changed(t0, 1, 0);
  EXPECT_EQ(c.target(t0 + 4900ms, 0, false), 1U);  // still waiting for the first bytes
  EXPECT_EQ(c.target(t0 + 5000ms, 0, false), 1U);  // waited long enough: settling starts
  EXPECT_EQ(c.target(t0 + 5300ms, 0, false), 1U);  // the window starts
  EXPECT_EQ(c.target(t0 + 6300ms, 1 * MiB, false), 2U);
}

// The tries double while everything added pays: 1, 2, 4, 8, 16, each judged on one window.
TEST(ConnectionController, TriesDoubleWhileEveryAddedConnectionPays) {
  segment_policy p = policy();
  p.max_connections = 16;
  connection_controller c(p);
  std::uint32_t running = 1;
  double received = 0;
  mono_time now = t0;
  c.connections_changed(now, running, 0);
  std::vector<std::uint32_t> steps{1};
  for (int step = 0; step < 200; ++step) {
    now += 100ms;
    received += 2.0 * MiB * running / 10;
    const std::uint32_t want = c.target(now, static_cast<std::uint64_t>(received));
    if (want != running) {
      running = want;
      steps.push_back(running);
      c.connections_changed(now, running, static_cast<std::uint64_t>(received));
    }
  }
  EXPECT_EQ(steps, (std::vector<std::uint32_t>{1, 2, 4, 8, 16}));
  EXPECT_TRUE(c.settled());
}

// A server that sends each connection 2 MiB every 500 ms: a 400 ms window would hold no burst
// or one; the window grows to three of the silences seen, so the probe pays and the next try
// doubles.
TEST(ConnectionController, BurstsFarApartLengthenTheWindow) {
  segment_policy p = policy();
  p.max_connections = 16;
  p.settle = 50ms;
  p.window = 400ms;
  connection_controller c(p);
  std::uint32_t running = 1;
  std::uint64_t received = 0;
  mono_time now = t0;
  c.connections_changed(now, running, 0);
  std::vector<std::pair<mono_time::duration, std::uint32_t>> changes;
  for (int step = 0; step < 200; ++step) {  // 10 s in turns of 50 ms
    if (step % 10 == 0) received += 2 * MiB * running;
    const std::uint32_t want = c.target(now, received);
    if (want != running) {
      running = want;
      changes.emplace_back(now - t0, running);
      c.connections_changed(now, running, received);
    }
    now += 50ms;
  }
  ASSERT_GE(changes.size(), 2U);
  EXPECT_GE(changes[0].first, 1500ms);  // three silences of 500 ms, not 400 ms
  EXPECT_EQ(changes[0].second, 2U);
  EXPECT_EQ(changes[1].second, 4U);  // the probe paid in full
}

TEST(ConnectionController, AResumedFileKeepsWhatItLearned) {
  connection_controller c(policy());
  c.resume_with(5);
  EXPECT_TRUE(c.settled());
  EXPECT_EQ(c.target(t0, 0), 5U);
  connection_controller fresh(policy());
  fresh.resume_with(1);
  EXPECT_FALSE(fresh.settled());
  connection_controller huge(policy());
  huge.resume_with(100);
  EXPECT_EQ(huge.target(t0, 0), 6U);
}
