#include "daemon/peer_module.hpp"

#include "daemon/modules.hpp"

namespace opendo::daemon {

const transfer::peer::module_entry& peer_module() {
  namespace peer = transfer::peer;
  static const peer::module_entry& entry = load_module_entry<peer::module_entry>(
      peer::kModuleFile, peer::kModuleEntry, peer::kModuleVersion);
  return entry;
}

}  // namespace opendo::daemon
