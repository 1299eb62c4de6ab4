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
  EXPECT_EQ(c.target(t0 + 5300ms, 0, false), 1U);  // settled, but no bytes to start from
  EXPECT_EQ(c.target(t0 + 6300ms, 0, false), 1U);  // a window later: the window starts anyway
  EXPECT_EQ(c.target(t0 + 7300ms, 1 * MiB, false), 2U);
}

// While everything added pays: the probe with 2, then four times as many, then the cap (1, 2, 8,
// 16), each judged on one window.
TEST(ConnectionController, AProbeThatPaysIsFollowedByFourTimesAsManyThenTheCap) {
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
  EXPECT_EQ(steps, (std::vector<std::uint32_t>{1, 2, 8, 16}));
  EXPECT_TRUE(c.settled());
}

// A server that sends each connection 2 MiB every 500 ms: a 400 ms window would hold no burst
// or one; the window grows to three of the silences seen, so the probe pays and the next try
// asks for four times as many.
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
  EXPECT_EQ(changes[1].second, 8U);  // the probe paid in full
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

namespace {

// A server like nginx with limit_rate: each connection gets `burst` bytes at once every
// `period`, the connections' bursts at different phases; the loop turns every 10 ms. Returns
// the numbers of connections the controller went through, and when it reached the last.
struct bursty_run {
  std::vector<std::uint32_t> steps;
  mono_time::duration last_change{};
};

bursty_run run_bursty(connection_controller& c, std::uint64_t burst, mono_time::duration period,
                      std::uint64_t link_per_turn, mono_time::duration how_long,
                      mono_time::duration first = 30ms, mono_time::duration spread = 37ms,
                      std::uint64_t pieces = 1) {
  bursty_run out;
  std::uint32_t running = 1;
  std::uint64_t received = 0;
  mono_time now = t0;
  c.connections_changed(now, running, 0);
  out.steps.push_back(running);
  std::vector<mono_time> next_burst{t0 + first};
  std::uint64_t queued = 0;            // sent by the server, not through the link yet
  std::vector<std::uint64_t> sending;  // of each connection's burst, what is left to send
  for (; now - t0 < how_long; now += 10ms) {
    sending.resize(next_burst.size(), 0);
    for (std::size_t i = 0; i < next_burst.size(); ++i) {
      if (now >= next_burst[i]) {
        sending[i] += burst;
        next_burst[i] += period;
      }
      // A burst comes in `pieces` turns (what the socket holds at once).
      const std::uint64_t piece = std::min(sending[i], (burst + pieces - 1) / pieces);
      sending[i] -= piece;
      queued += piece;
    }
    const std::uint64_t through = std::min(queued, link_per_turn);
    queued -= through;
    received += through;
    const std::uint32_t want = c.target(now, received);
    if (want != running) {
      running = want;
      out.steps.push_back(running);
      out.last_change = now - t0;
      // New connections get their first burst after a handshake, at phases of their own.
      while (next_burst.size() < running) {
        next_burst.push_back(now + 20ms + (next_burst.size() * spread) % period);
      }
      next_burst.resize(running);
      c.connections_changed(now, running, received);
    }
  }
  return out;
}

}  // namespace

// nginx's limit_rate 20m per connection (2 MiB bursts every 100 ms), 16 allowed: 16 after three
// windows, nothing given back.
TEST(ConnectionController, ABurstyPerConnectionCapReachesTheCapInThreeWindows) {
  segment_policy p;
  p.max_connections = 16;
  connection_controller c(p);
  const auto r = run_bursty(c, 2 * MiB, 100ms, UINT64_MAX, 5s);
  EXPECT_EQ(r.steps, (std::vector<std::uint32_t>{1, 2, 8, 16}));
  EXPECT_LT(r.last_change, 2s);
  EXPECT_TRUE(c.settled());
}

// Whatever the phases of the bursts against the loop's turns and the window's edges, the
// windows count whole bursts: no try is misjudged (a window that caught one burst more of one
// connection than of two would find the probe brought too little).
TEST(ConnectionController, BurstPhasesDoNotMisjudgeATry) {
  segment_policy p;
  p.max_connections = 16;
  int misjudged = 0;
  for (std::uint64_t pieces = 1; pieces <= 3; ++pieces) {
    for (int first = 0; first < 100; first += 10) {
      for (int spread = 3; spread < 100; spread += 8) {
        connection_controller c(p);
        const auto r =
            run_bursty(c, 2 * MiB, 105ms, UINT64_MAX, 5s, std::chrono::milliseconds(first),
                       std::chrono::milliseconds(spread), pieces);
        if (r.steps != std::vector<std::uint32_t>{1, 2, 8, 16}) {
          ++misjudged;
          ADD_FAILURE() << "first burst at " << first << " ms, phases " << spread
                        << " ms apart, bursts in " << pieces
                        << " turns: " << testing::PrintToString(r.steps);
        }
      }
    }
  }
  EXPECT_EQ(misjudged, 0);
}

// The same bursts through a link that carries 2 MiB per 10 ms turn (200 MiB/s, 10 connections'
// worth): the try with 8 pays in full, the one with 16 in part.
TEST(ConnectionController, ABurstySourceBehindAFullLinkKeepsWhatPaid) {
  segment_policy p;
  p.max_connections = 16;
  connection_controller c(p);
  const auto r = run_bursty(c, 2 * MiB, 100ms, 2 * MiB, 8s);
  ASSERT_GE(r.steps.size(), 4U);
  EXPECT_EQ((std::vector<std::uint32_t>{r.steps[0], r.steps[1], r.steps[2]}),
            (std::vector<std::uint32_t>{1, 2, 8}));
  EXPECT_TRUE(c.settled());
  EXPECT_GE(c.wanted(), 9U);
  EXPECT_LE(c.wanted(), 11U);
}

// The try after the probe asks for four times as many; when only some of them pay, those stay.
TEST(ConnectionController, AFourfoldTryThatPaysInPartKeepsTheOnesThatPaid) {
  segment_policy p = policy();
  p.max_connections = 16;
  connection_controller c(p);
  // 2 MiB/s each up to 11 MiB/s: 1 and 2 pay, 8 bring 11, 3.5 connections' worth more than 2.
  EXPECT_EQ(run(c, 2.0 * MiB, 11.0 * MiB, 30), 6U);
  EXPECT_TRUE(c.settled());
  const auto learned = c.learned();
  ASSERT_TRUE(learned);
  EXPECT_EQ(learned->connections, 6U);
  EXPECT_NEAR(learned->one_connection_rate, 2.0 * MiB, 0.1 * MiB);
}

// What a file learned, and where it came from: one connection's rate, measured alone.
TEST(ConnectionController, AFileThatSettledTellsWhatItLearned) {
  connection_controller full(policy());
  EXPECT_FALSE(full.learned());  // nothing measured yet
  EXPECT_EQ(run(full, 50.0 * MiB, 50.0 * MiB, 20), 1U);
  ASSERT_TRUE(full.learned());
  EXPECT_EQ(full.learned()->connections, 1U);
  EXPECT_NEAR(full.learned()->one_connection_rate, 50.0 * MiB, 1.0 * MiB);
  connection_controller resumed(policy());
  resumed.resume_with(4);  // told, not measured
  EXPECT_FALSE(resumed.learned());
}

// A file that ends while it still tries more: what it asked for after a try that paid in full.
TEST(ConnectionController, AFileThatEndsBeforeTheLastTryTellsWhatItAskedFor) {
  segment_policy p = policy();
  p.max_connections = 16;
  connection_controller c(p);
  // Windows of 1 s after 300 ms of settling: 1 and 2 judged, 8 asked for at 2.6 s; not judged.
  EXPECT_EQ(run(c, 2.0 * MiB, 1000.0 * MiB, 3), 8U);
  EXPECT_FALSE(c.settled());
  ASSERT_TRUE(c.learned());
  EXPECT_EQ(c.learned()->connections, 8U);
  connection_controller early(p);
  EXPECT_EQ(run(early, 2.0 * MiB, 1000.0 * MiB, 2), 2U);  // the probe is not judged yet
  EXPECT_FALSE(early.learned());
  connection_controller told(p);
  told.start_from({8, 2.0 * MiB});  // nothing measured: nothing to tell
  EXPECT_FALSE(told.learned());
}

// A file whose host's last file paid with 8 connections asks for them at once, judges them
// against the remembered rate of one, and goes on to the cap when they all pay.
TEST(ConnectionController, AFileStartsWhereItsHostsLastFileSettled) {
  segment_policy p = policy();
  p.max_connections = 16;
  connection_controller c(p);
  c.start_from({8, 2.0 * MiB});
  EXPECT_FALSE(c.settled());
  EXPECT_EQ(c.wanted(), 8U);
  EXPECT_EQ(run(c, 2.0 * MiB, 1000.0 * MiB, 10), 16U);
  ASSERT_TRUE(c.learned());
  EXPECT_EQ(c.learned()->connections, 16U);
}

// The host's link is now full (a total cap): the remembered connections bring nothing over the
// remembered rate of one, so the file goes back to one and learns 1.
TEST(ConnectionController, ARememberedCountThatNoLongerPaysGoesBackToOne) {
  segment_policy p = policy();
  p.max_connections = 16;
  connection_controller c(p);
  c.start_from({8, 10.0 * MiB});
  EXPECT_EQ(run(c, 10.0 * MiB, 10.0 * MiB, 10), 1U);
  EXPECT_TRUE(c.settled());
  ASSERT_TRUE(c.learned());
  EXPECT_EQ(c.learned()->connections, 1U);
}

// A host whose last file found that more did not pay: one connection, no probe, and nothing
// learned again (so the memory expires when it was due to, and the probe comes back then).
TEST(ConnectionController, ARememberedOneIsNotProbedAgain) {
  connection_controller c(policy());
  c.start_from({1, 10.0 * MiB});
  EXPECT_TRUE(c.settled());
  EXPECT_EQ(run(c, 10.0 * MiB, 1000.0 * MiB, 10), 1U);
  EXPECT_FALSE(c.learned());
}

TEST(ConnectionMemory, RemembersPerHostUntilItExpires) {
  connection_memory m(10min);
  EXPECT_FALSE(m.recall("a:80", t0));
  m.remember("a:80", {8, 1.0 * MiB}, t0);
  m.remember("b:80", {1, 5.0 * MiB}, t0);
  ASSERT_TRUE(m.recall("a:80", t0 + 9min));
  EXPECT_EQ(m.recall("a:80", t0 + 9min)->connections, 8U);
  EXPECT_EQ(m.recall("b:80", t0 + 9min)->connections, 1U);
  m.remember("a:80", {1, 3.0 * MiB}, t0 + 9min);  // a later file found no gain: replaced
  EXPECT_EQ(m.recall("a:80", t0 + 12min)->connections, 1U);
  EXPECT_FALSE(m.recall("b:80", t0 + 10min));  // expired
  EXPECT_FALSE(m.recall("a:80", t0 + 19min));
  EXPECT_EQ(m.size(), 0U);
}

TEST(ConnectionMemory, HoldsABoundedNumberOfHosts) {
  connection_memory m(10min);
  for (int i = 0; i < 1000; ++i) {
    m.remember("host" + std::to_string(i), {4, 1.0 * MiB}, t0 + std::chrono::milliseconds(i));
  }
  EXPECT_LE(m.size(), 256U);
  EXPECT_TRUE(m.recall("host999", t0 + 1s));  // the newest stay
  EXPECT_FALSE(m.recall("host0", t0 + 1s));
}

// A file's transfers share its write budget: one or two keep the whole buffer, more get their
// share, never less than the minimum nor more than the maximum.
TEST(TransferWriteBuffer, AFilesTransfersShareItsBudget) {
  constexpr std::size_t MiB = std::size_t{1} << 20;
  EXPECT_EQ(transfer_write_buffer(1, 8 * MiB, MiB / 2, 4 * MiB), 4 * MiB);
  EXPECT_EQ(transfer_write_buffer(2, 8 * MiB, MiB / 2, 4 * MiB), 4 * MiB);
  EXPECT_EQ(transfer_write_buffer(8, 8 * MiB, MiB / 2, 4 * MiB), MiB);
  EXPECT_EQ(transfer_write_buffer(16, 8 * MiB, MiB / 2, 4 * MiB), MiB / 2);
  EXPECT_EQ(transfer_write_buffer(64, 8 * MiB, MiB / 2, 4 * MiB), MiB / 2);
  EXPECT_EQ(transfer_write_buffer(0, 8 * MiB, MiB / 2, 4 * MiB), 4 * MiB);  // as one
  // An engine buffer under the minimum stays as it is: nothing grows past the maximum.
  EXPECT_EQ(transfer_write_buffer(16, 8 * MiB, MiB / 2, 64 * 1024), 64 * 1024U);
}
