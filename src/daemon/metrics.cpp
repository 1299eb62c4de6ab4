#include "daemon/metrics.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace opendo::daemon {
namespace {

constexpr std::size_t kMaxRequest = 8192;
constexpr std::size_t kMaxConnections = 16;
constexpr auto kConnectionTimeout = std::chrono::seconds(5);

// One metric: its HELP and TYPE lines, then one sample per label set.
class exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    name_ = name;
    text_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(std::uint64_t value, const std::string& labels = {}) {
    text_ +=
        name_ + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(value) + "\n";
  }
  // Seconds from milliseconds, with the milliseconds kept: "12.345".
  void seconds_sample(std::uint64_t ms) {
    char value[32];
    std::snprintf(value, sizeof value, "%llu.%03llu", static_cast<unsigned long long>(ms / 1000),
                  static_cast<unsigned long long>(ms % 1000));
    text_ += name_ + " " + value + "\n";
  }
  std::string take() { return std::move(text_); }

 private:
  std::string name_;
  std::string text_;
};

[[noreturn]] void refuse(const std::string& address, const std::string& why) {
  throw std::runtime_error("metrics address " + address + ": " + why);
}

}  // namespace

std::string prometheus_text(const machine_statistics& s) {
  const source_stats& t = s.totals;
  exposition out;
  out.family("opendo_files_downloaded_total", "counter",
             "Files whose last byte arrived, since the store was created.");
  out.sample(s.files_downloaded);
  out.family("opendo_files_uploaded_total", "counter", "Files served to peers (no peers yet).");
  out.sample(s.files_uploaded);
  out.family("opendo_downloaded_bytes_total", "counter",
             "Bytes received and recorded, by source; bytes fetched again count again.");
  out.sample(t.bytes_from_origin, "source=\"origin\"");
  out.sample(t.bytes_from_cache_hosts, "source=\"cache_host\"");
  out.sample(t.bytes_from_lan_peers, "source=\"lan_peer\"");
  out.sample(t.bytes_from_group_peers, "source=\"group_peer\"");
  out.family("opendo_uploaded_bytes_total", "counter", "Bytes sent to peers, by kind of peer.");
  out.sample(t.bytes_to_lan_peers, "destination=\"lan_peer\"");
  out.sample(t.bytes_to_group_peers, "destination=\"group_peer\"");
  out.family("opendo_requests_total", "counter", "Requests made, by source.");
  out.sample(t.origin_connections, "source=\"origin\"");
  out.sample(t.cache_host_connections, "source=\"cache_host\"");
  out.sample(t.lan_peer_connections, "source=\"lan_peer\"");
  out.sample(t.group_peer_connections, "source=\"group_peer\"");
  out.family("opendo_transfer_seconds_total", "counter",
             "Time spent transferring, summed over every file.");
  out.seconds_sample(t.download_duration_ms);
  out.family("opendo_download_bytes_per_second", "gauge",
             "Bytes received per second over the last 5 s, all sources.");
  out.sample(s.download_rate);
  out.family("opendo_upload_bytes_per_second", "gauge", "Bytes sent to peers per second.");
  out.sample(s.upload_rate);
  out.family("opendo_cache_size_bytes", "gauge", "Content cache for peers (none yet).");
  out.sample(s.cache_size);
  out.family("opendo_peers_connected", "gauge", "Peers connected now (none yet).");
  out.sample(s.peers_connected);
  out.family("opendo_running_jobs", "gauge", "Jobs transferring now, by priority class.");
  out.sample(s.foreground_downloads, "priority=\"foreground\"");
  out.sample(s.background_downloads, "priority=\"background\"");
  out.family("opendo_queued_jobs", "gauge", "Jobs waiting for a slot or a retry.");
  out.sample(s.queued_jobs);
  out.family("process_cpu_seconds_total", "counter", "User and system CPU time of opendod.");
  out.seconds_sample(s.daemon_cpu_time_ms);
  out.family("process_resident_memory_bytes", "gauge", "Resident memory of opendod.");
  out.sample(s.daemon_rss_bytes);
  out.family("opendo_uptime_seconds", "gauge", "Time since opendod started.");
  out.sample(s.daemon_uptime_s);
  return out.take();
}

ipc::unique_fd listen_loopback(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) refuse(address, "not HOST:PORT");
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
    refuse(address, ::gai_strerror(rc));
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
  if (chosen == nullptr) refuse(address, "not a loopback address (127.0.0.0/8 or ::1)");
  ipc::unique_fd fd(
      ::socket(chosen->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  const int on = 1;
  if (!fd || ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      ::bind(fd.get(), chosen->ai_addr, chosen->ai_addrlen) != 0 || ::listen(fd.get(), 16) != 0) {
    refuse(address, std::strerror(errno));
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

metrics_endpoint::metrics_endpoint(ipc::unique_fd listener,
                                   std::function<machine_statistics()> statistics)
    : listener_(std::move(listener)), statistics_(std::move(statistics)) {}

std::size_t metrics_endpoint::add_fds(std::vector<curl_waitfd>& fds) {
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

void metrics_endpoint::dispatch(const std::vector<curl_waitfd>& fds, std::size_t first) {
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

void metrics_endpoint::accept_all() {
  for (;;) {
    ipc::unique_fd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    if (connections_.size() >= kMaxConnections) continue;  // closed at once: too many
    connections_.push_back({std::move(fd), {}, {}, std::chrono::steady_clock::now()});
  }
}

void metrics_endpoint::read_from(connection& c) {
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

void metrics_endpoint::write_to(connection& c) {
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

std::string metrics_endpoint::answer(const std::string& request) {
  const std::string line = request.substr(0, request.find("\r\n"));
  auto reply = [](const char* status, const char* type, const std::string& body) {
    return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
           body;
  };
  if (line.rfind("GET ", 0) != 0) {
    return reply("405 Method Not Allowed", "text/plain; charset=utf-8", "only GET /metrics\n");
  }
  const std::string target = line.substr(4, line.find(' ', 4) - 4);
  if (target != "/metrics" && target.rfind("/metrics?", 0) != 0) {
    return reply("404 Not Found", "text/plain; charset=utf-8", "only GET /metrics\n");
  }
  return reply("200 OK", "text/plain; version=0.0.4; charset=utf-8",
               prometheus_text(statistics_()));
}

}  // namespace opendo::daemon
