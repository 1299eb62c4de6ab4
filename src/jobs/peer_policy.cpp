#include "jobs/peer_policy.hpp"

#include "opendo/hresult.hpp"

namespace opendo::jobs {

std::uint32_t set_peer_caching_flags(job& j, std::uint32_t flags, std::int64_t wall) {
  if (is_final(j.state)) return value_of(hr::bg_e_invalid_state);
  if ((flags & ~peer_caching::all) != 0) return value_of(hr::e_invalidarg);
  j.peer_caching_flags = flags;
  j.times.modification = wall;
  return value_of(hr::ok);
}

bool may_fetch_from_peers(const job& j) {
  return !j.peer_caching_flags || (*j.peer_caching_flags & peer_caching::client) != 0;
}

bool may_serve_to_peers(const job& j) {
  return !j.peer_caching_flags || (*j.peer_caching_flags & peer_caching::server) != 0;
}

}  // namespace opendo::jobs
