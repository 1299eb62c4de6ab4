// Socket probes for the test fixtures: a free loopback port, and whether a TCP port or a Unix
// socket accepts connections yet (how the fixtures tell that a server they started is ready).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace opendo::test {

// A port that was free on 127.0.0.1 a moment ago (bound with port 0, then released). Another
// process may take it before the caller binds it; the nginx fixture retries on that.
std::uint16_t find_free_port();

// Whether a TCP connection to the port on address (an IPv4 address; 127.0.0.1 by default) is
// accepted, from the calling thread's network namespace.
bool tcp_port_accepts(std::uint16_t port, const std::string& address = "127.0.0.1");

bool unix_socket_accepts(const std::filesystem::path& path);

}  // namespace opendo::test
