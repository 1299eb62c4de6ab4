// Whether a job may transfer on the network the machine uses now (jobs/network_cost.hpp): its
// BITS cost flags, DO CostPolicy and DisallowOnCellular. Pure logic; the manager asks before a
// job starts and whenever the network changes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "jobs/job.hpp"
#include "jobs/network_cost.hpp"

namespace opendo::jobs {

// BITS_JOB_PROPERTY_ID_COST_FLAGS: bits outside cost_state::known are E_INVALIDARG. DO
// CostPolicy: a DODownloadCostPolicy value (0 to 5, else E_INVALIDARG). DisallowOnCellular: any.
// All in any state but a final one (BG_E_INVALID_STATE), and they apply at once.
std::uint32_t set_cost_flags(job& j, std::uint32_t flags, std::int64_t wall);
std::uint32_t set_cost_policy(job& j, std::uint32_t policy, std::int64_t wall);
std::uint32_t set_disallow_on_cellular(job& j, bool disallow, std::int64_t wall);

// The BITS cost state of a network of this cost: unrestricted UNRESTRICTED, metered
// CAPPED_USAGE_UNKNOWN, cellular USAGE_BASED.
std::uint32_t cost_state_of(network_cost cost);

// The BITS cost flags a DO CostPolicy stands for (NoCellular: every state; cellular is refused
// apart).
std::uint32_t cost_flags_of(do_cost_policy policy);

// Why the job may not transfer on a network of this cost: the HRESULT it waits with and words
// for its error; nullopt when it may. Checked in this order: DisallowOnCellular and CostPolicy
// NoCellular (DO_E_BLOCKED_BY_CELLULAR_POLICY), CostPolicy (DO_E_BLOCKED_BY_COST_TRANSFER_POLICY),
// the BITS cost flags (BG_E_BLOCKED_BY_COST_TRANSFER_POLICY).
struct cost_block {
  std::uint32_t code = 0;
  std::string message;
};
std::optional<cost_block> blocked_by_cost(const job& j, network_cost cost);

// Whether `code` is one of those three: the job waits for the network, not for a retry.
bool is_cost_block(std::uint32_t code);

}  // namespace opendo::jobs
