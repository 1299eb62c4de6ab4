// Where a user-mode opendod keeps its socket and its job store. Both ends compute the same paths.
#pragma once

#include <string>

namespace opendo::paths {

// $XDG_RUNTIME_DIR/opendo, or /tmp/opendo-UID when XDG_RUNTIME_DIR is unset.
std::string user_runtime_dir();
// user_runtime_dir() + "/opendod.sock".
std::string user_socket_path();
// $XDG_STATE_HOME/opendo, or $HOME/.local/state/opendo.
std::string user_state_dir();

// Creates `path` (and missing parents of it with mode 0700) as a directory of the calling user
// with mode 0700, or checks that the existing one is a real directory (not a symlink) owned by the
// calling user and not accessible to others. Throws std::system_error naming the path and reason.
void ensure_private_dir(const std::string& path);

}  // namespace opendo::paths
