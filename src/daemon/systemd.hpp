// What opendod needs of systemd, by systemd's documented, stable protocols (sd_listen_fds(3),
// sd_notify(3)) rather than a library: a listening socket handed over by socket activation, and
// readiness and stopping notices on $NOTIFY_SOCKET. Without systemd both do nothing.
#pragma once

#include <string>

#include "ipc/socket.hpp"

namespace opendo::daemon {

// The listening socket systemd passed (LISTEN_PID is this process, LISTEN_FDS >= 1: fd 3), made
// non-blocking and close-on-exec; empty when the daemon was not socket-activated. Throws when
// fd 3 is not a listening Unix stream socket. Unsets LISTEN_* so that children do not see them.
ipc::unique_fd take_activated_socket();

// Sends `state` ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET when it is set; errors are
// ignored, as sd_notify's are.
void notify_systemd(const std::string& state);

}  // namespace opendo::daemon
