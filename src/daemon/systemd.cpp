#include "daemon/systemd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>

#include "common/numbers.hpp"

namespace opendo::daemon {
namespace {

constexpr int kFirstActivatedFd = 3;  // SD_LISTEN_FDS_START

bool is_listening_unix_stream(int fd) {
  int value = 0;
  socklen_t length = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &length) != 0 || value != AF_UNIX) {
    return false;
  }
  length = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) != 0 || value != SOCK_STREAM) {
    return false;
  }
  length = sizeof value;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value == 1;
}

// The environment variable `name` as a whole decimal number; nothing when it is unset, empty, has
// anything after the digits or does not fit in T.
template <typename T>
std::optional<T> whole_number_of(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr) return std::nullopt;
  return numbers::parse_whole<T>(text);
}

}  // namespace

ipc::unique_fd take_activated_socket() {
  // Malformed values are treated as absent ones: the sockets are not for us.
  const std::optional<pid_t> pid = whole_number_of<pid_t>("LISTEN_PID");
  const std::optional<int> fds = whole_number_of<int>("LISTEN_FDS");
  const bool for_us = pid && fds && *pid == ::getpid() && *fds >= 1;
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!for_us) return {};
  if (!is_listening_unix_stream(kFirstActivatedFd)) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "socket activation: fd 3 is not a listening Unix stream socket");
  }
  const int flags = ::fcntl(kFirstActivatedFd, F_GETFL);
  if (flags < 0 || ::fcntl(kFirstActivatedFd, F_SETFL, flags | O_NONBLOCK) != 0 ||
      ::fcntl(kFirstActivatedFd, F_SETFD, FD_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "socket activation: fd 3");
  }
  return ipc::unique_fd(kFirstActivatedFd);
}

void notify_systemd(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr) return;
  const std::string_view target(path);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (target.empty() || target.size() >= sizeof address.sun_path ||
      (target.front() != '/' && target.front() != '@')) {
    return;
  }
  std::memcpy(address.sun_path, target.data(), target.size());
  if (target.front() == '@') address.sun_path[0] = '\0';  // an abstract socket
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + target.size());
  ipc::unique_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return;
  (void)::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&address), length);
}

}  // namespace opendo::daemon
