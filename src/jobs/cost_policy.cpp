#include "jobs/cost_policy.hpp"

#include "opendo/hresult.hpp"

namespace opendo::jobs {

namespace {

std::uint32_t changed(job& j, std::int64_t wall) {
  j.times.modification = wall;
  return value_of(hr::ok);
}

std::string network_words(network_cost cost) {
  return "the network (" + std::string(to_string(cost)) + ")";
}

}  // namespace

std::uint32_t set_cost_flags(job& j, std::uint32_t flags, std::int64_t wall) {
  if (is_final(j.state)) return value_of(hr::bg_e_invalid_state);
  if ((flags & ~cost_state::known) != 0) return value_of(hr::e_invalidarg);
  j.cost_flags = flags;
  return changed(j, wall);
}

std::uint32_t set_cost_policy(job& j, std::uint32_t policy, std::int64_t wall) {
  if (is_final(j.state)) return value_of(hr::bg_e_invalid_state);
  if (policy > static_cast<std::uint32_t>(do_cost_policy::no_cellular)) {
    return value_of(hr::e_invalidarg);
  }
  j.cost_policy = static_cast<do_cost_policy>(policy);
  return changed(j, wall);
}

std::uint32_t set_disallow_on_cellular(job& j, bool disallow, std::int64_t wall) {
  if (is_final(j.state)) return value_of(hr::bg_e_invalid_state);
  j.disallow_on_cellular = disallow;
  return changed(j, wall);
}

std::uint32_t cost_state_of(network_cost cost) {
  switch (cost) {
    case network_cost::unrestricted:
      return cost_state::unrestricted;
    case network_cost::metered:
      return cost_state::capped_usage_unknown;
    case network_cost::cellular:
      return cost_state::usage_based;
  }
  return cost_state::unrestricted;
}

std::uint32_t cost_flags_of(do_cost_policy policy) {
  switch (policy) {
    case do_cost_policy::always:
    case do_cost_policy::no_cellular:
      return cost_state::transfer_always;
    case do_cost_policy::unrestricted:
      return cost_state::transfer_unrestricted;
    case do_cost_policy::standard:
      return cost_state::transfer_standard;
    case do_cost_policy::no_roaming:
      return cost_state::transfer_not_roaming;
    case do_cost_policy::no_surcharge:
      return cost_state::transfer_no_surcharge;
  }
  return cost_state::transfer_always;
}

std::optional<cost_block> blocked_by_cost(const job& j, network_cost cost) {
  const std::uint32_t state = cost_state_of(cost);
  if (cost == network_cost::cellular &&
      (j.disallow_on_cellular || j.cost_policy == do_cost_policy::no_cellular)) {
    return cost_block{value_of(hr::do_e_blocked_by_cellular_policy),
                      "waits for another network: it may not use a cellular network"};
  }
  if ((cost_flags_of(j.cost_policy) & state) == 0) {
    return cost_block{
        value_of(hr::do_e_blocked_by_cost_transfer_policy),
        "waits for another network: its cost policy does not allow " + network_words(cost)};
  }
  if ((j.cost_flags & state) == 0) {
    return cost_block{
        value_of(hr::bg_e_blocked_by_cost_transfer_policy),
        "waits for another network: its cost flags do not allow " + network_words(cost)};
  }
  return std::nullopt;
}

bool is_cost_block(std::uint32_t code) {
  return code == value_of(hr::do_e_blocked_by_cellular_policy) ||
         code == value_of(hr::do_e_blocked_by_cost_transfer_policy) ||
         code == value_of(hr::bg_e_blocked_by_cost_transfer_policy);
}

}  // namespace opendo::jobs
