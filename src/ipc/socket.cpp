#include "ipc/socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace opendo::ipc {
namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

sockaddr_un address_of(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    errno = ENAMETOOLONG;
    throw_errno("socket path too long: " + path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

}  // namespace

void unique_fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

unique_fd listen_unix(const std::string& path, unsigned mode) {
  sockaddr_un address = address_of(path);
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw_errno("socket");
  ::unlink(path.c_str());  // a stale socket from a daemon that died; the caller holds the lock
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw_errno("bind " + path);
  }
  if (::chmod(path.c_str(), mode) != 0) throw_errno("chmod " + path);
  if (::listen(fd.get(), 128) != 0) throw_errno("listen " + path);
  return fd;
}

unique_fd connect_unix(const std::string& path) {
  sockaddr_un address{};
  try {
    address = address_of(path);
  } catch (const std::system_error&) {
    return unique_fd();
  }
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return unique_fd();
  return fd;
}

std::optional<peer_credentials> peer_of(int fd) {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return std::nullopt;
  return peer_credentials{cred.pid, cred.uid, cred.gid};
}

void send_message(int fd, const std::string& json) {
  const std::string bytes = frame(json);
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("send to opendod");
    }
    sent += static_cast<std::size_t>(n);
  }
}

std::string receive_message(int fd, frame_decoder& decoder, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto message = decoder.next()) return *message;
    if (decoder.overflow()) {
      errno = EMSGSIZE;
      throw_errno("message from opendod too large");
    }
    int wait_ms = -1;
    if (timeout.count() >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        errno = ETIMEDOUT;
        throw_errno("no answer from opendod");
      }
      wait_ms = static_cast<int>(left.count());
    }
    pollfd pfd{fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (ready == 0) continue;  // the deadline check above reports it
    char buffer[65536];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw_errno("receive from opendod");
    }
    if (n == 0) {
      errno = ECONNRESET;
      throw_errno("opendod closed the connection");
    }
    decoder.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
  }
}

}  // namespace opendo::ipc
