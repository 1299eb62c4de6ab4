#include "daemon/config.hpp"

#include <cstdlib>

#include "common/paths.hpp"
#include "transfer/peer/metainfo.hpp"

namespace opendo::daemon {

void apply_defaults(config& c) {
  if (c.socket_path.empty()) {
    c.socket_path = c.system_mode ? paths::system_socket_path() : paths::user_socket_path();
  }
  if (c.state_dir.empty()) {
    c.state_dir = c.system_mode ? paths::system_state_dir() : paths::user_state_dir();
  }
  // The daemon's own directory: in system mode no user can reach into it (see docs/peers.md).
  if (c.peers.cache_dir.empty()) c.peers.cache_dir = c.state_dir + "/content";
}

std::optional<std::string> config_problem(const config& c) {
  if (!c.peers.group_mode()) return std::nullopt;
  if (c.peers.group_id.empty()) {
    return "download mode 2 (Group) needs a group id: give --group-id TEXT or group_id in the "
           "[peers] section of the configuration file";
  }
  return transfer::peer::group_id_problem(c.peers.group_id);
}

std::string default_config_path(bool system_mode) {
  if (system_mode) return "/etc/opendo/opendod.conf";
  // Relative values are ignored, as the XDG base directory specification says.
  const char* config_home = std::getenv("XDG_CONFIG_HOME");
  if (config_home != nullptr && config_home[0] == '/') {
    return std::string(config_home) + "/opendo/opendod.conf";
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') return std::string(home) + "/.config/opendo/opendod.conf";
  return {};  // no home: no default file
}

}  // namespace opendo::daemon
