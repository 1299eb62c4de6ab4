// What a job may do with peers (src/jobs/peer_policy.hpp): BITS peer caching flags, every value
// and every state. Pure logic; nothing runs.
#include "jobs/peer_policy.hpp"

#include <gtest/gtest.h>

#include <cstdint>

#include "opendo/hresult.hpp"

namespace {

using namespace opendo::jobs;
using opendo::hr;
using opendo::job_state;
using opendo::value_of;
namespace peer_caching = opendo::peer_caching;

constexpr std::int64_t wall = 1'700'000'000;

TEST(PeerCachingFlags, NeverSetFollowsTheDaemon) {
  job j;
  EXPECT_FALSE(j.peer_caching_flags.has_value());
  EXPECT_FALSE(to_info(j).peer_caching_flags.has_value());
  EXPECT_TRUE(may_fetch_from_peers(j));
  EXPECT_TRUE(may_serve_to_peers(j));
}

// Every combination of the three known bits: CLIENT alone decides fetching, SERVER alone serving,
// and BG_JOB_DISABLE_BRANCH_CACHE changes neither.
TEST(PeerCachingFlags, ClientFetchesServerServes) {
  for (std::uint32_t flags = 0; flags <= peer_caching::all; ++flags) {
    SCOPED_TRACE(flags);
    job j;
    ASSERT_EQ(set_peer_caching_flags(j, flags, wall), value_of(hr::ok));
    EXPECT_EQ(j.peer_caching_flags, flags);
    EXPECT_EQ(to_info(j).peer_caching_flags, flags);
    EXPECT_EQ(j.times.modification, wall);
    EXPECT_EQ(may_fetch_from_peers(j), (flags & peer_caching::client) != 0);
    EXPECT_EQ(may_serve_to_peers(j), (flags & peer_caching::server) != 0);
  }
}

TEST(PeerCachingFlags, ZeroIsSetAndMeansNoPeers) {
  job j;
  ASSERT_EQ(set_peer_caching_flags(j, 0, wall), value_of(hr::ok));
  ASSERT_TRUE(j.peer_caching_flags.has_value());
  EXPECT_FALSE(may_fetch_from_peers(j));
  EXPECT_FALSE(may_serve_to_peers(j));
}

TEST(PeerCachingFlags, UnknownBitsAreInvalidAndChangeNothing) {
  for (const std::uint32_t flags : {0x8U, 0x10U, 0x80000000U, 0xFU, 0xFFFFFFFFU}) {
    SCOPED_TRACE(flags);
    job j;
    ASSERT_EQ(set_peer_caching_flags(j, peer_caching::server, wall), value_of(hr::ok));
    EXPECT_EQ(set_peer_caching_flags(j, flags, wall + 1), value_of(hr::e_invalidarg));
    EXPECT_EQ(j.peer_caching_flags, peer_caching::server);
    EXPECT_EQ(j.times.modification, wall);
  }
}

TEST(PeerCachingFlags, AnyStateButAFinalOne) {
  for (const job_state state :
       {job_state::queued, job_state::connecting, job_state::transferring, job_state::suspended,
        job_state::error, job_state::transient_error, job_state::transferred}) {
    job j;
    j.state = state;
    EXPECT_EQ(set_peer_caching_flags(j, peer_caching::client, wall), value_of(hr::ok));
  }
  for (const job_state state : {job_state::acknowledged, job_state::cancelled}) {
    job j;
    j.state = state;
    EXPECT_EQ(set_peer_caching_flags(j, peer_caching::client, wall),
              value_of(hr::bg_e_invalid_state));
    EXPECT_FALSE(j.peer_caching_flags.has_value());
  }
}

}  // namespace
