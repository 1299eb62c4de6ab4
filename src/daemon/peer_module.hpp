// The peer-to-peer engine's functions, from the module opendo-peer.so, loaded at the first call
// (transfer/peer/swarm_api.hpp says why).
#pragma once

#include "transfer/peer/swarm_api.hpp"

namespace opendo::daemon {

// Throws std::runtime_error when the module cannot be loaded (an incomplete installation: the
// message names the file and the reason).
const transfer::peer::module_entry& peer_module();

}  // namespace opendo::daemon
