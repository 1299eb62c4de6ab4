// Unix stream sockets for the Varlink transport: an owning fd, listen/connect, peer credentials,
// and blocking message I/O used by the client library.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "ipc/framing.hpp"

namespace opendo::ipc {

class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct peer_credentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Creates, binds and listens on a Unix socket at `path` (replacing a stale socket file), with
// mode `mode`. Throws std::system_error.
unique_fd listen_unix(const std::string& path, unsigned mode);
// Connects; returns an invalid fd and sets errno when nothing listens at `path`.
unique_fd connect_unix(const std::string& path);
// The kernel's record of who is on the other end (SO_PEERCRED).
std::optional<peer_credentials> peer_of(int fd);

// Blocking message exchange for clients: writes a whole framed message; reads the next message,
// waiting at most `timeout` (negative: forever). Throw std::system_error on failure or EOF.
void send_message(int fd, const std::string& json);
std::string receive_message(int fd, frame_decoder& decoder,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));

}  // namespace opendo::ipc
