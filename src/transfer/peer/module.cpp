// opendo-peer.so: the swarm and libtorrent as a module that opendod loads when a file first has
// metainfo or a magnet (swarm_api.hpp says why). Only the entry table is exported.
#include <memory>
#include <utility>

#include "transfer/peer/metainfo.hpp"
#include "transfer/peer/swarm.hpp"
#include "transfer/peer/swarm_api.hpp"

namespace opendo::transfer::peer {
namespace {

std::unique_ptr<swarm_api> make_swarm(swarm_settings settings, std::function<void()> wake) {
  return std::make_unique<swarm>(std::move(settings), std::move(wake));
}

const module_entry kEntry{kModuleVersion, &make_swarm,          &read_metainfo,
                          &read_magnet,   &swarm::content_file, &swarm::content_size};

}  // namespace
}  // namespace opendo::transfer::peer

extern "C" __attribute__((visibility("default"))) const opendo::transfer::peer::module_entry*
opendo_peer_module() {
  return &opendo::transfer::peer::kEntry;
}
