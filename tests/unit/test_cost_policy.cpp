// Whether a job may transfer on the network now (src/jobs/cost_policy.hpp): BITS cost flags, DO
// CostPolicy and DisallowOnCellular against an unrestricted, a metered and a cellular network,
// with the HRESULT each waits with. Pure logic; nothing runs.
#include "jobs/cost_policy.hpp"

#include <gtest/gtest.h>

#include "opendo/hresult.hpp"

namespace {

using namespace opendo::jobs;
using opendo::do_cost_policy;
using opendo::hr;
using opendo::job_state;
using opendo::value_of;
namespace cost_state = opendo::cost_state;

constexpr std::int64_t wall = 1'700'000'000;
const std::uint32_t bits_blocked = value_of(hr::bg_e_blocked_by_cost_transfer_policy);
const std::uint32_t do_blocked = value_of(hr::do_e_blocked_by_cost_transfer_policy);
const std::uint32_t cellular_blocked = value_of(hr::do_e_blocked_by_cellular_policy);

std::optional<std::uint32_t> code(const job& j, network_cost cost) {
  const auto block = blocked_by_cost(j, cost);
  if (!block) return std::nullopt;
  EXPECT_FALSE(block->message.empty());
  EXPECT_TRUE(is_cost_block(block->code));
  return block->code;
}

TEST(CostPolicy, TheRealValues) {
  EXPECT_EQ(bits_blocked, 0x80200059U);
  EXPECT_EQ(do_blocked, 0x80D03801U);
  EXPECT_EQ(cellular_blocked, 0x80D03803U);
  // A DO error is transient when (code & 0xF800) == 0x3800: both DO codes are.
  EXPECT_EQ(do_blocked & 0xF800U, 0x3800U);
  EXPECT_EQ(cellular_blocked & 0xF800U, 0x3800U);
  EXPECT_EQ(cost_state::transfer_always, 0x800000FFU);
  EXPECT_EQ(cost_state::transfer_unrestricted, 0x80000021U);
  EXPECT_EQ(cost_state::transfer_standard, 0x80000067U);
  EXPECT_EQ(cost_state::transfer_no_surcharge, 0x8000006FU);
  EXPECT_EQ(cost_state::transfer_not_roaming, 0x8000007FU);
}

TEST(CostPolicy, ANewJobTransfersEverywhere) {
  const job j;
  for (const auto cost :
       {network_cost::unrestricted, network_cost::metered, network_cost::cellular})
    EXPECT_EQ(code(j, cost), std::nullopt);
}

TEST(CostPolicy, BitsFlagsAgainstTheNetworksState) {
  job j;
  ASSERT_EQ(set_cost_flags(j, cost_state::transfer_unrestricted, wall), value_of(hr::ok));
  EXPECT_EQ(code(j, network_cost::unrestricted), std::nullopt);
  EXPECT_EQ(code(j, network_cost::metered), bits_blocked);
  EXPECT_EQ(code(j, network_cost::cellular), bits_blocked);
  // The other documented policies all allow a cap nobody knows and usage-based networks.
  for (const std::uint32_t flags :
       {cost_state::transfer_standard, cost_state::transfer_no_surcharge,
        cost_state::transfer_not_roaming}) {
    ASSERT_EQ(set_cost_flags(j, flags, wall), value_of(hr::ok));
    for (const auto cost :
         {network_cost::unrestricted, network_cost::metered, network_cost::cellular})
      EXPECT_EQ(code(j, cost), std::nullopt);
  }
  ASSERT_EQ(set_cost_flags(j, cost_state::usage_based, wall), value_of(hr::ok));
  EXPECT_EQ(code(j, network_cost::unrestricted), bits_blocked);
  EXPECT_EQ(code(j, network_cost::metered), bits_blocked);
  EXPECT_EQ(code(j, network_cost::cellular), std::nullopt);
}

TEST(CostPolicy, DoCostPolicyAndDisallowOnCellular) {
  job j;
  ASSERT_EQ(set_cost_policy(j, 1, wall), value_of(hr::ok));  // Unrestricted
  EXPECT_EQ(code(j, network_cost::unrestricted), std::nullopt);
  EXPECT_EQ(code(j, network_cost::metered), do_blocked);
  EXPECT_EQ(code(j, network_cost::cellular), do_blocked);
  ASSERT_EQ(set_cost_policy(j, 5, wall), value_of(hr::ok));  // NoCellular
  EXPECT_EQ(code(j, network_cost::metered), std::nullopt);
  EXPECT_EQ(code(j, network_cost::cellular), cellular_blocked);
  ASSERT_EQ(set_cost_policy(j, 0, wall), value_of(hr::ok));
  ASSERT_EQ(set_disallow_on_cellular(j, true, wall), value_of(hr::ok));
  EXPECT_EQ(code(j, network_cost::unrestricted), std::nullopt);
  EXPECT_EQ(code(j, network_cost::metered), std::nullopt);
  EXPECT_EQ(code(j, network_cost::cellular), cellular_blocked);
  // The cellular rule is named first, then DO's policy, then BITS's flags.
  ASSERT_EQ(set_cost_policy(j, 1, wall), value_of(hr::ok));
  ASSERT_EQ(set_cost_flags(j, cost_state::transfer_unrestricted, wall), value_of(hr::ok));
  EXPECT_EQ(code(j, network_cost::cellular), cellular_blocked);
  EXPECT_EQ(code(j, network_cost::metered), do_blocked);
}

TEST(CostPolicy, BadValuesAndFinalJobsAreRefused) {
  job j;
  EXPECT_EQ(set_cost_policy(j, 6, wall), value_of(hr::e_invalidarg));
  EXPECT_EQ(set_cost_flags(j, 0x100, wall), value_of(hr::e_invalidarg));
  EXPECT_EQ(set_cost_flags(j, 0x40000000, wall), value_of(hr::e_invalidarg));  // RESERVED
  EXPECT_EQ(j.cost_flags, cost_state::transfer_always);
  EXPECT_EQ(j.cost_policy, do_cost_policy::always);
  j.state = job_state::cancelled;
  EXPECT_EQ(set_cost_flags(j, cost_state::unrestricted, wall), value_of(hr::bg_e_invalid_state));
  EXPECT_EQ(set_cost_policy(j, 1, wall), value_of(hr::bg_e_invalid_state));
  EXPECT_EQ(set_disallow_on_cellular(j, true, wall), value_of(hr::bg_e_invalid_state));
  EXPECT_FALSE(is_cost_block(value_of(hr::bg_e_invalid_state)));
}

}  // namespace
