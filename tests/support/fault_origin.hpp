// A programmable HTTP/1.1 origin for fault-injection tests: it serves named resources with
// ranges and keep-alive like a good server, and per path misbehaves in one chosen way.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace opendo::test {

// What the origin serves at a path. Empty etag or last_modified: that header is not sent.
struct resource {
  std::string body;
  std::string etag;           // sent as is, quotes included: "\"v1\""
  std::string last_modified;  // an HTTP date, see http_date()
};

// One way to misbehave. Build one with the named constructors; `times` limits it to that many
// requests for the path, so that a retry can then succeed.
struct fault {
  enum class kind {
    none,
    reset,            // send `bytes` body bytes, then RST (SO_LINGER 0 + close)
    truncate,         // send `bytes` body bytes, then close (FIN) short of Content-Length
    status,           // answer `status` (with Retry-After when set) and no body
    short_length,     // Content-Length `bytes` smaller than the body, whole body sent
    long_length,      // Content-Length `bytes` larger than the body; connection kept open
    wrong_range,      // a range request gets 206 for the whole file (bytes 0-last/size)
    redirect,         // 302 to `location` (a path on this origin)
    trickle,          // `bytes` body bytes at once, then one byte every `interval`
    stall,            // headers and `bytes` body bytes, then nothing, ever
    endless_close,    // no Content-Length, the body then filler forever, close-delimited
    endless_chunked,  // the same, chunked
    ntlm,             // 401 until the client does an NTLM handshake on the connection
    ntlm_proxy,       // the same as a proxy: 407, Proxy-Authenticate, Proxy-Authorization
    digest,           // 401 until a request carries a valid Digest (RFC 7616, MD5, qop=auth)
  };
  kind what = kind::none;
  std::uint64_t bytes = 0;
  int status = 0;
  std::string retry_after;
  std::string location;
  std::chrono::milliseconds interval{2000};
  bool ranges = true;  // false: Range is ignored (200, whole body, no Accept-Ranges)
  int times = -1;      // how many requests the fault lasts; -1: all from then on
  std::string user;    // digest: the account the origin accepts
  std::string password;

  // The same fault from a server that also ignores Range.
  fault without_ranges() const {
    fault f = *this;
    f.ranges = false;
    return f;
  }

  static fault reset_after(std::uint64_t body_bytes, int times = -1);
  static fault truncate_after(std::uint64_t body_bytes, int times = -1);
  static fault http_status(int status, std::string retry_after = {}, int times = -1);
  static fault content_length_smaller(std::uint64_t by, int times = -1);
  static fault content_length_larger(std::uint64_t by, int times = -1);
  static fault ignore_ranges(int times = -1);
  static fault wrong_range_answer(int times = -1);
  static fault redirect_to(std::string path, int times = -1);
  static fault trickle_after(std::uint64_t body_bytes, std::chrono::milliseconds every,
                             int times = -1);
  static fault stall_after(std::uint64_t body_bytes, int times = -1);
  static fault endless(bool chunked, int times = -1);
  // NTLM authentication (server or proxy): a request without NTLM credentials gets 401 (407)
  // with `NTLM`; a Type 1 (negotiate) message gets a Type 2 challenge on the same connection;
  // a Type 3 (authenticate) message on that connection is served, its user and domain logged.
  // The origin checks the handshake and the names, not the response's cryptography.
  static fault ntlm_authentication(bool as_proxy, int times = -1);
  // HTTP Digest authentication (server): a request without a Digest Authorization whose
  // response matches `user` and `password` (MD5, qop=auth, the realm and nonce the origin gave)
  // gets 401 with a Digest challenge. The user name sent is logged with whether it verified.
  static fault digest_authentication(std::string user, std::string password, int times = -1);
};

// One request as the origin saw it; status and body_bytes_sent grow as the response goes out.
struct request_record {
  std::string method;
  std::string path;
  std::string range;     // the Range header, empty when there was none
  std::string if_range;  // the If-Range header, empty when there was none
  int status = 0;        // 0 until the status line is sent
  std::uint64_t body_bytes_sent = 0;
  std::uint64_t connection = 0;  // serial number of the TCP connection: equal = reused
  std::chrono::steady_clock::time_point time;  // when the request headers arrived
  bool absolute_form = false;  // the request line held a whole URL (a request to a proxy)
  int ntlm_message = 0;        // the NTLM message type in (Proxy-)Authorization, 0 if none
  std::string ntlm_user;       // a Type 3 message's user and domain (UTF-16LE decoded)
  std::string ntlm_domain;
  std::string digest_user;       // the username of a Digest Authorization, empty if none
  bool digest_verified = false;  // its response matched the password
};

// "Sun, 06 Nov 1994 08:49:37 GMT" for a time in seconds since the epoch.
std::string http_date(std::int64_t unix_seconds);

class fault_origin {
 public:
  // Listens on 127.0.0.1 on a port the kernel picks (bind to port 0: no race with other tests).
  fault_origin();
  // Stops serving (also mid-response: every wait polls a stop event) and joins the threads.
  ~fault_origin();
  fault_origin(const fault_origin&) = delete;
  fault_origin& operator=(const fault_origin&) = delete;

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT/path"; path may start with '/' or not.
  std::string url(std::string_view path) const;

  void serve(std::string_view path, resource r);
  // Serves size bytes of the seeded stream (support/files.hpp) with a fresh ETag and a
  // Last-Modified; returns their SHA-256 in hex.
  std::string serve_random(std::string_view path, std::uint64_t size, std::uint64_t seed);
  // The path's faults form a script: each lasts its `times` requests, then the next one applies
  // (none once the script is over). set_fault starts a new script, add_fault appends to it.
  void set_fault(std::string_view path, fault f);
  void add_fault(std::string_view path, fault f);
  // After `requests` requests for the path, it serves `r` instead (the file changes mid-download).
  void change_after(std::string_view path, std::size_t requests, resource r);

  std::vector<request_record> requests() const;
  std::vector<request_record> requests_for(std::string_view path) const;
  // Waits until the path has had at least count requests; returns them (fewer on timeout).
  std::vector<request_record> wait_for_requests(
      std::string_view path, std::size_t count,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  struct entry {
    resource current;
    std::vector<fault> script;
    std::size_t requests = 0;
    std::optional<std::pair<std::size_t, resource>> change;
  };
  struct connection;

  void accept_loop();
  void serve_connection(int fd, std::uint64_t serial);
  // Returns false when the connection must end after this request.
  bool respond(connection& c, const std::string& head);

  int listen_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd: readable once the origin stops
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, entry, std::less<>> entries_;
  std::vector<request_record> log_;
  std::vector<std::thread> threads_;  // connection threads, joined by the destructor
  std::thread acceptor_;
};

}  // namespace opendo::test
