// The Prometheus text endpoint: opendod's machine-wide figures (the same as `opendo perfsnap`)
// as counters and gauges named by Prometheus conventions, served over HTTP on a loopback address.
// Off unless `--metrics-listen` is given (see docs/configuration.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "ipc/socket.hpp"
#include "opendo/types.hpp"

namespace opendo::daemon {

// The exposition text (format 0.0.4) of `stats`. Pure.
std::string prometheus_text(const machine_statistics& stats);

// "127.0.0.1:9477", "[::1]:9477", "localhost:9477" -> a listening socket on that loopback address
// (port 0: any free port). Throws std::runtime_error for an address that is not loopback or a
// port that cannot be bound: the endpoint is never reachable from another machine.
ipc::unique_fd listen_loopback(const std::string& address);
// The port a listening socket is bound to.
std::uint16_t bound_port(int fd);

// Answers `GET /metrics` on a listening socket, one small request per connection, without
// blocking the daemon's loop: requests of at most 8 KiB, at most 16 connections, each closed
// after its answer or after 5 s.
class metrics_endpoint {
 public:
  metrics_endpoint(ipc::unique_fd listener, std::function<machine_statistics()> statistics);

  // Adds its descriptors to the loop's wait set; dispatch() reads the results from `fds`
  // starting at the index add_fds returned.
  std::size_t add_fds(std::vector<curl_waitfd>& fds);
  void dispatch(const std::vector<curl_waitfd>& fds, std::size_t first);

 private:
  struct connection {
    ipc::unique_fd fd;
    std::string input;
    std::string output;
    std::chrono::steady_clock::time_point opened;
  };
  void accept_all();
  void read_from(connection& c);
  void write_to(connection& c);
  std::string answer(const std::string& request);

  ipc::unique_fd listener_;
  std::function<machine_statistics()> statistics_;
  std::list<connection> connections_;
  std::vector<connection*> polled_;
};

}  // namespace opendo::daemon
