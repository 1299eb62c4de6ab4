// Where opendod keeps its socket and its job store, in user mode and in system mode (--system).
// Both ends compute the same paths.
#pragma once

#include <string>

namespace opendo::paths {

// $XDG_RUNTIME_DIR/opendo, or /tmp/opendo-UID when XDG_RUNTIME_DIR is unset.
std::string user_runtime_dir();
// user_runtime_dir() + "/opendod.sock".
std::string user_socket_path();
// $XDG_STATE_HOME/opendo, or $HOME/.local/state/opendo.
std::string user_state_dir();

// The system-wide daemon (opendod --system): /run/opendo/opendod.sock and /var/lib/opendo.
std::string system_socket_path();
std::string system_state_dir();

// Creates `path` (and missing parents of it with the same mode) as a directory of the calling
// user with mode `mode`, or checks that the existing one is a real directory (not a symlink)
// owned by the calling user, and takes away any permission `mode` does not grant. It never adds
// one: an existing directory an administrator made stricter stays so. Throws std::system_error
// naming the path and reason.
void ensure_dir(const std::string& path, unsigned mode);

// ensure_dir(path, 0700): nobody else may enter.
void ensure_private_dir(const std::string& path);

// ensure_dir(path, 0755): anyone may reach what is inside (the system socket), only its owner
// may change it.
void ensure_shared_dir(const std::string& path);

}  // namespace opendo::paths
