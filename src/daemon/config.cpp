#include "daemon/config.hpp"

#include "common/paths.hpp"

namespace opendo::daemon {

void apply_defaults(config& c) {
  if (c.socket_path.empty()) {
    c.socket_path = c.system_mode ? paths::system_socket_path() : paths::user_socket_path();
  }
  if (c.state_dir.empty()) {
    c.state_dir = c.system_mode ? paths::system_state_dir() : paths::user_state_dir();
  }
}

}  // namespace opendo::daemon
