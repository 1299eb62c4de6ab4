// What a job may do with peers: its BITS peer caching flags (SetPeerCachingFlags) against the
// daemon's own policy. Pure logic; the manager asks it before a file goes to the swarm and on
// every look at what a shared content may upload (docs/peers.md).
#pragma once

#include <cstdint>

#include "jobs/job.hpp"

namespace opendo::jobs {

// SetPeerCachingFlags: any combination of peer_caching::all, in every state but a final one
// (BG_E_INVALID_STATE); other bits E_INVALIDARG. It takes effect when the job's file next
// starts (fetching) and at once (serving).
std::uint32_t set_peer_caching_flags(job& j, std::uint32_t flags, std::int64_t wall);

// A job whose flags were never set follows the daemon (as Windows' BITS jobs follow the machine's
// policy); once set, its file comes from peers only with peer_caching::client and its content is
// served only with peer_caching::server. Neither overrides a daemon that does not share.
bool may_fetch_from_peers(const job& j);
bool may_serve_to_peers(const job& j);

}  // namespace opendo::jobs
