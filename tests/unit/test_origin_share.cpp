// The origin's work shared out among the hosts of a LAN (jobs/origin_share.hpp).
#include "jobs/origin_share.hpp"

#include <gtest/gtest.h>

#include <set>

namespace opendo::jobs {
namespace {

using namespace std::chrono_literals;

const std::string kKey = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

std::vector<std::string> hosts(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back("10.213.0." + std::to_string(i + 2));
  return out;
}

std::vector<std::string> without(std::vector<std::string> all, std::size_t i) {
  all.erase(all.begin() + static_cast<std::ptrdiff_t>(i));
  return all;
}

share_view all_needed(std::uint32_t groups) {
  return {std::vector<bool>(groups, true), std::vector<bool>(groups, false)};
}

TEST(OriginShare, EveryHostComputesTheSameOwnerAndTheGroupsSpreadEvenly) {
  const auto all = hosts(6);
  constexpr std::uint32_t kGroups = 600;
  const mono_time t0{};
  std::vector<std::set<std::uint32_t>> chosen(all.size());
  for (std::size_t h = 0; h < all.size(); ++h) {
    origin_share share(kKey, t0);
    const auto groups =
        share.choose(all[h], without(all, h), all_needed(kGroups), t0 + 2s, kGroups);
    chosen[h].insert(groups.begin(), groups.end());
    EXPECT_EQ(groups.size(), chosen[h].size()) << "no group twice";
    EXPECT_GT(groups.size(), kGroups / 6 / 2) << all[h];
    EXPECT_LT(groups.size(), kGroups / 6 * 2) << all[h];
  }
  // Each group is fetched by exactly one host: the hosts' choices partition the content.
  std::size_t total = 0;
  for (std::uint32_t g = 0; g < kGroups; ++g) {
    int owners = 0;
    for (const auto& c : chosen) owners += static_cast<int>(c.count(g));
    EXPECT_EQ(owners, 1) << "group " << g;
  }
  for (const auto& c : chosen) total += c.size();
  EXPECT_EQ(total, kGroups);
}

TEST(OriginShare, AHostThatLeavesMovesOnlyItsOwnGroups) {
  const auto all = hosts(5);
  const auto rest = without(all, 2);
  int moved = 0;
  for (std::uint32_t g = 0; g < 500; ++g) {
    const auto before = all[owner_of(kKey, all, g)];
    const auto after = rest[owner_of(kKey, rest, g)];
    if (before != all[2]) {
      EXPECT_EQ(before, after) << "group " << g << " moved although its owner stayed";
    } else {
      ++moved;
    }
  }
  EXPECT_GT(moved, 50);
}

TEST(OriginShare, AHostBeginsWithTheGroupsTheNextInLineWouldFetchLast) {
  // b started alone and fetches its groups in its own order of preference; when a arrives it
  // takes some of them over, and begins with those b would have reached last.
  const mono_time t0{};
  origin_share a(kKey, t0, {.start_grace = 0ms});
  const auto first = a.choose("a", {"b"}, all_needed(200), t0, 200);
  ASSERT_GT(first.size(), 20U);
  for (std::size_t i = 1; i < first.size(); ++i) {
    EXPECT_LE(rendezvous_weight(kKey, "b", first[i - 1]), rendezvous_weight(kKey, "b", first[i]))
        << "position " << i;
  }
}

TEST(OriginShare, NothingIsFetchedDuringTheStartGrace) {
  const mono_time t0{};
  origin_share share(kKey, t0, {.start_grace = 1000ms});
  EXPECT_TRUE(share.choose("a", {}, all_needed(4), t0 + 999ms, 4).empty());
  ASSERT_TRUE(share.next_decision());
  EXPECT_EQ(*share.next_decision(), t0 + 1000ms);
  EXPECT_EQ(share.choose("a", {}, all_needed(4), t0 + 1000ms, 4).size(), 4U)
      << "alone, a host owns every group";
}

TEST(OriginShare, OnlyGroupsThatNeedTheOriginAndAreNotInFlightAreChosen) {
  const mono_time t0{};
  origin_share share(kKey, t0, {.start_grace = 0ms});
  share_view view = all_needed(6);
  view.needs_origin[1] = false;  // here already or held by a peer
  view.in_flight[4] = true;
  const auto groups = share.choose("a", {}, view, t0, 10);
  EXPECT_EQ(std::set<std::uint32_t>(groups.begin(), groups.end()),
            (std::set<std::uint32_t>{0, 2, 3, 5}));
  EXPECT_EQ(share.choose("a", {}, view, t0, 2).size(), 2U) << "at most max";
}

TEST(OriginShare, AnotherHostsGroupIsTakenOverOnlyAfterTheGrace) {
  const auto all = hosts(2);
  const mono_time t0{};
  origin_share share(kKey, t0, {.start_grace = 0ms, .min_takeover_grace = 1500ms});
  // Only groups the other host owns still need the origin.
  share_view view{std::vector<bool>(40, false), std::vector<bool>(40, false)};
  std::uint32_t theirs = 0;
  for (std::uint32_t g = 0; g < 40; ++g) {
    if (owner_of(kKey, all, g) == 1) {
      view.needs_origin[g] = true;
      ++theirs;
    }
  }
  ASSERT_GT(theirs, 3U);
  EXPECT_TRUE(share.choose(all[0], {all[1]}, view, t0, 8).empty());
  ASSERT_TRUE(share.next_decision());
  EXPECT_EQ(*share.next_decision(), t0 + 1500ms);
  EXPECT_TRUE(share.choose(all[0], {all[1]}, view, t0 + 1499ms, 8).empty());
  const auto taken = share.choose(all[0], {all[1]}, view, t0 + 1500ms, 2);
  ASSERT_EQ(taken.size(), 2U);
  for (const auto g : taken) EXPECT_EQ(owner_of(kKey, all, g), 1U);
}

TEST(OriginShare, OwnWorkInFlightIsNotIdleness) {
  const auto all = hosts(2);
  const mono_time t0{};
  origin_share share(kKey, t0, {.start_grace = 0ms, .min_takeover_grace = 1000ms});
  share_view view{std::vector<bool>(40, true), std::vector<bool>(40, false)};
  for (std::uint32_t g = 0; g < 40; ++g) view.in_flight[g] = owner_of(kKey, all, g) == 0;
  // Its own groups are all being fetched: it waits for them rather than taking others'.
  EXPECT_TRUE(share.choose(all[0], {all[1]}, view, t0 + 10s, 8).empty());
  EXPECT_FALSE(share.next_decision());
}

TEST(OriginShare, GroupsAPeerHoldsButNeverSendsComeFromTheOriginOnceNothingArrives) {
  const mono_time t0{};
  origin_share share(kKey, t0, {.start_grace = 0ms, .min_takeover_grace = 1000ms});
  // A peer announced every group and sends nothing.
  share_view view{std::vector<bool>(10, false), std::vector<bool>(10, false),
                  std::vector<bool>(10, true)};
  EXPECT_TRUE(share.choose("a", {}, view, t0, 4).empty());
  ASSERT_TRUE(share.next_decision());
  EXPECT_EQ(*share.next_decision(), t0 + 2000ms) << "twice the grace without progress";
  // A group arrives at 1.5 s: the clock starts again.
  view.missing[0] = false;
  EXPECT_TRUE(share.choose("a", {}, view, t0 + 1500ms, 4).empty());
  EXPECT_TRUE(share.choose("a", {}, view, t0 + 3499ms, 4).empty());
  EXPECT_EQ(share.choose("a", {}, view, t0 + 3500ms, 4).size(), 4U);
}

// Once a peer that claims every group proved it sends none, the groups this host then fetches
// from the origin are not news from peers: each next one is asked for as soon as a request is
// free, not after another stall time. Before, each group the origin gave restarted the clock, so
// a 13-group file behind such a peer took 70 s (Peers.APeerThatClaimsEveryPieceAndSendsNone...).
TEST(OriginShare, AfterAStallTheOriginsOwnGroupsDoNotRestartTheClock) {
  const mono_time t0{};
  origin_share share(kKey, t0, {.start_grace = 0ms, .min_takeover_grace = 1000ms});
  share_view view{std::vector<bool>(10, false), std::vector<bool>(10, false),
                  std::vector<bool>(10, true)};
  EXPECT_TRUE(share.choose("a", {}, view, t0, 2).empty());
  auto first = share.choose("a", {}, view, t0 + 2000ms, 2);
  ASSERT_EQ(first.size(), 2U);
  // They arrive from the origin (no longer missing, no longer in flight): the next two are asked
  // for at once.
  for (const auto g : first) view.missing[g] = false;
  const auto second = share.choose("a", {}, view, t0 + 2100ms, 2);
  ASSERT_EQ(second.size(), 2U);
  for (const auto g : second) {
    EXPECT_TRUE(view.missing[g]);
    view.missing[g] = false;
  }
  // A group that a peer sends (never asked of the origin) restarts the clock.
  std::uint32_t from_peer = 0;
  while (!view.missing[from_peer]) ++from_peer;
  view.missing[from_peer] = false;
  EXPECT_TRUE(share.choose("a", {}, view, t0 + 2200ms, 2).empty());
  ASSERT_TRUE(share.next_decision());
  EXPECT_EQ(*share.next_decision(), t0 + 4200ms);
  EXPECT_EQ(share.choose("a", {}, view, t0 + 4200ms, 2).size(), 2U);
}

TEST(OriginShare, TheTakeoverGraceFollowsTheMeanRequestTime) {
  origin_share share(kKey, mono_time{}, {.min_takeover_grace = 1000ms, .takeover_factor = 3.0});
  EXPECT_EQ(share.takeover_grace(), 1000ms);
  share.request_took(200ms);
  EXPECT_EQ(share.takeover_grace(), 1000ms) << "never below the minimum";
  share.request_took(1400ms);
  EXPECT_EQ(share.takeover_grace(), 2400ms) << "3 x the mean of 800 ms";
}

TEST(OriginShare, WeightsAreStableValues) {
  // Hosts of different builds must agree: the weight is a fixed function, not std::hash.
  EXPECT_EQ(rendezvous_weight("k", "h", 7), 2527588373014188264ULL);
  EXPECT_NE(rendezvous_weight("k", "h", 0), rendezvous_weight("k", "h", 1));
  EXPECT_NE(rendezvous_weight("k", "h1", 0), rendezvous_weight("k", "h2", 0));
  EXPECT_NE(rendezvous_weight("k1", "h", 0), rendezvous_weight("k2", "h", 0));
}

}  // namespace
}  // namespace opendo::jobs
