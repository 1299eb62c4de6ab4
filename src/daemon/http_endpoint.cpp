#include "daemon/http_endpoint.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "common/text.hpp"
namespace opendo::daemon {
namespace {

constexpr std::size_t kMaxRequest = 8192;
constexpr std::size_t kMaxConnections = 16;
constexpr auto kConnectionTimeout = std::chrono::seconds(5);

[[noreturn]] void refuse(const std::string& what, const std::string& address,
                         const std::string& why) {
  throw std::runtime_error(what + " address " + address + ": " + why);
}

}  // namespace

ipc::unique_fd listen_loopback(const std::string& address, const std::string& what) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) refuse(what, address, "not HOST:PORT");
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    refuse(what, address, ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
  const addrinfo* chosen = nullptr;
  for (const addrinfo* a = found; a != nullptr && chosen == nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) chosen = a;
    } else if (a->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) chosen = a;
    }
  }
  if (chosen == nullptr) refuse(what, address, "not a loopback address (127.0.0.0/8 or ::1)");
  ipc::unique_fd fd(
      ::socket(chosen->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  const int on = 1;
  if (!fd || ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      ::bind(fd.get(), chosen->ai_addr, chosen->ai_addrlen) != 0 || ::listen(fd.get(), 16) != 0) {
    refuse(what, address, std::strerror(errno));
  }
  return fd;
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

http_endpoint::http_endpoint(ipc::unique_fd listener, handler answer)
    : listener_(std::move(listener)), handler_(std::move(answer)) {}

std::size_t http_endpoint::add_fds(std::vector<curl_waitfd>& fds) {
  const std::size_t first = fds.size();
  // Connections that are done or too slow go first, so that the wait set names only live ones.
  const auto now = std::chrono::steady_clock::now();
  connections_.remove_if(
      [&](const connection& c) { return !c.fd || now - c.opened > kConnectionTimeout; });
  fds.push_back({listener_.get(), CURL_WAIT_POLLIN, 0});
  polled_.clear();
  for (auto& c : connections_) {
    fds.push_back({c.fd.get(),
                   static_cast<short>(c.output.empty() ? CURL_WAIT_POLLIN : CURL_WAIT_POLLOUT), 0});
    polled_.push_back(&c);
  }
  return first;
}

void http_endpoint::dispatch(const std::vector<curl_waitfd>& fds, std::size_t first) {
  for (std::size_t i = 0; i < polled_.size() && first + 1 + i < fds.size(); ++i) {
    connection& c = *polled_[i];
    const short revents = fds[first + 1 + i].revents;
    if (revents == 0 || !c.fd) continue;
    if (c.output.empty()) {
      read_from(c);
    } else {
      write_to(c);
    }
  }
  if (first < fds.size() && (fds[first].revents & CURL_WAIT_POLLIN) != 0) accept_all();
}

void http_endpoint::accept_all() {
  for (;;) {
    ipc::unique_fd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    if (connections_.size() >= kMaxConnections) continue;  // closed at once: too many
    connections_.push_back({std::move(fd), {}, {}, std::chrono::steady_clock::now()});
  }
}

void http_endpoint::read_from(connection& c) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(c.fd.get(), buffer, sizeof buffer);
    if (n > 0) {
      c.input.append(buffer, static_cast<std::size_t>(n));
      if (c.input.size() > kMaxRequest) {
        c.output =
            "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
            "Content-Length: 0\r\n\r\n";
        break;
      }
      if (c.input.find("\r\n\r\n") != std::string::npos) {
        c.output = answer(c.input);
        break;
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    c.fd.reset();  // closed before a whole request, or an error
    return;
  }
  write_to(c);
}

void http_endpoint::write_to(connection& c) {
  while (!c.output.empty()) {
    const ssize_t n = ::send(c.fd.get(), c.output.data(), c.output.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.output.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    break;
  }
  c.fd.reset();  // answered (or the peer went away): one request per connection
}

std::string http_endpoint::answer(const std::string& text) {
  http_request request;
  if (!parse_http_request(text, request)) {
    return to_wire({"400 Bad Request", "text/plain; charset=utf-8", "bad request\n", {}});
  }
  // A request must never end the daemon's loop: whatever the handler throws is this request's 500.
  try {
    return to_wire(handler_(request));
  } catch (const std::exception& e) {
    spdlog::error("HTTP {} {}: {}", request.method, request.path, e.what());
    return to_wire(
        {"500 Internal Server Error", "text/plain; charset=utf-8", "internal error\n", {}});
  }
}

std::string http_request::query_parameter(const std::string& name) const {
  std::size_t at = 0;
  while (at <= query.size()) {
    const std::size_t end = std::min(query.find('&', at), query.size());
    const std::string pair = query.substr(at, end - at);
    const std::size_t equals = pair.find('=');
    if (pair.substr(0, equals) == name && equals != std::string::npos) {
      return pair.substr(equals + 1);
    }
    at = end + 1;
  }
  return {};
}

std::string http_request::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

bool parse_http_request(const std::string& text, http_request& out) {
  std::size_t line_end = text.find("\r\n");
  const std::string line = text.substr(0, line_end);
  const std::size_t space = line.find(' ');
  const std::size_t second = line.find(' ', space + 1);
  if (space == std::string::npos || second == std::string::npos) return false;
  out.method = line.substr(0, space);
  const std::string target = line.substr(space + 1, second - space - 1);
  const std::size_t question = target.find('?');
  out.path = target.substr(0, question);
  out.query = question == std::string::npos ? std::string() : target.substr(question + 1);
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = text.find("\r\n", start);
    const std::string header = text.substr(start, line_end - start);
    if (header.empty()) break;  // the end of the header; what follows is not ours to read
    const std::size_t colon = header.find(':');
    if (colon == std::string::npos) continue;
    out.headers[text::lower(header.substr(0, colon))] =
        std::string(text::trim(header.substr(colon + 1)));
  }
  return true;
}

std::string to_wire(const http_reply& reply) {
  std::string head = "HTTP/1.1 " + reply.status + "\r\nContent-Type: " + reply.content_type +
                     "\r\nContent-Length: " + std::to_string(reply.body.size()) +
                     "\r\nConnection: close\r\n";
  for (const auto& [name, value] : reply.headers) {
    head.append(name).append(": ").append(value).append("\r\n");
  }
  return head + "\r\n" + reply.body;
}

}  // namespace opendo::daemon
