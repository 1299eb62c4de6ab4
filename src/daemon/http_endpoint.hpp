// A small HTTP/1.1 server for loopback addresses, run from the daemon's one event loop: the
// Prometheus endpoint and the activity page each have one. Non-blocking, one request of at most
// 8 KiB per connection, 16 connections at a time, each closed after its answer or after 5 s.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <curl/curl.h>

#include "ipc/socket.hpp"

namespace opendo::daemon {

// "127.0.0.1:9477", "[::1]:9477", "localhost:9477" -> a listening socket on that loopback address
// (port 0: any free port). Throws std::runtime_error, naming `what` ("metrics address ..."), for
// an address that is not loopback or a port that cannot be bound: the endpoint is never reachable
// from another machine.
ipc::unique_fd listen_loopback(const std::string& address, const std::string& what);
// The port a listening socket is bound to.
std::uint16_t bound_port(int fd);

struct http_request {
  std::string method;                          // "GET"
  std::string path;                            // "/metrics", without the query
  std::string query;                           // "a=1&b=2", without the '?'
  std::map<std::string, std::string> headers;  // names lower-cased, values trimmed

  // The value of `name` in the query, undecoded; empty when absent.
  std::string query_parameter(const std::string& name) const;
  // The value of a header (name in lower case); empty when absent.
  std::string header(const std::string& name) const;
};

// Parses the request line and header lines of `text` (up to the blank line). False when the
// request line is malformed.
bool parse_http_request(const std::string& text, http_request& out);

struct http_reply {
  std::string status;  // "200 OK"
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond the usual ones
};

// The bytes of a whole response, with Content-Length and Connection: close.
std::string to_wire(const http_reply& reply);

class http_endpoint {
 public:
  using handler = std::function<http_reply(const http_request&)>;
  http_endpoint(ipc::unique_fd listener, handler answer);

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
  handler handler_;
  std::list<connection> connections_;
  std::vector<connection*> polled_;
};

}  // namespace opendo::daemon
