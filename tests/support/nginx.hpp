// A real nginx for integration tests: its own temp dir (config, docroot, logs, pid, temp paths),
// a free loopback port (or an address in a network namespace), optional TLS and rate limit, and
// an access log the test can read back.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opendo::test {

struct nginx_options {
  // Bytes per second per connection (nginx limit_rate), for transfers slow enough to interrupt.
  // nginx sends the first second's worth at once and counts time in whole seconds: n bytes take
  // between n / rate - 2 and n / rate - 1 seconds.
  std::optional<std::uint64_t> limit_rate;
  // Serve HTTPS with a fresh self-signed certificate for 127.0.0.1 and localhost; ca_file() is
  // the certificate to trust (opendod --ca-file, CURLOPT_CAINFO).
  bool tls = false;
  // With tls: offer HTTP/2 (ALPN h2) as well as HTTP/1.1.
  bool http2 = false;
  // With tls, a certificate with one flaw, for tests of certificate errors: the names it holds
  // instead of the loopback ones (e.g. "DNS:example.invalid"), its extended key usage instead of
  // serverAuth (e.g. "clientAuth"), or a validity that ended yesterday.
  std::string certificate_names;
  std::string certificate_usage;
  bool certificate_expired = false;
  // With tls: ask every client for a certificate signed by a CA of the server's own
  // (ssl_verify_client on); make_client_certificate() makes them. nginx answers a request
  // without one, or with one it does not trust, with HTTP 400.
  bool client_certificates = false;
  // Raw lines added to the server block, e.g. "location /gone { return 404; }".
  std::vector<std::string> extra_config;
  // Raw lines added to the http block, e.g. a proxy_cache_path (relative paths are under dir()).
  std::vector<std::string> http_config;
  std::chrono::milliseconds start_timeout = std::chrono::seconds(10);
  // Run nginx inside this network namespace (e.g. a host of support/netns.hpp's lan) and
  // listen there; empty: the test's own namespace.
  std::string netns;
  // The IPv4 address nginx listens on and url() names, e.g. a lan host's address(). With TLS
  // the certificate names it too.
  std::string listen_address = "127.0.0.1";
  // A fixed port (80 for an origin alone in its namespace); default: one that is free.
  std::optional<std::uint16_t> port;
};

// One line of the access log, logged when nginx finishes (or abandons) a request.
struct access_log_entry {
  std::string request;  // the request line, "GET /a.bin HTTP/1.1"
  std::string method;   // "GET"
  std::string path;     // "/a.bin", without the query string
  int status = 0;
  std::uint64_t body_bytes_sent = 0;  // what was sent before the client hung up, for aborts
  std::string range;                  // the Range header, empty when there was none
  std::string if_range;               // the If-Range header, empty when there was none
  std::uint64_t connection = 0;       // nginx's connection serial number: equal = reused
  std::string x_opendo_test;          // the X-Opendo-Test header (custom header tests)
  std::string authorization;          // the Authorization header
  std::string cache_status;  // $upstream_cache_status (HIT, MISS...), empty when not proxied
};

class nginx_server {
 public:
  // Starts nginx and waits until its port accepts connections; throws with the error log when
  // it does not within options.start_timeout.
  explicit nginx_server(nginx_options options = {});
  ~nginx_server();
  nginx_server(const nginx_server&) = delete;
  nginx_server& operator=(const nginx_server&) = delete;

  std::uint16_t port() const { return port_; }
  // "http://ADDRESS:PORT/path" (https with TLS); path may start with '/' or not.
  std::string url(std::string_view path = "") const;
  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& docroot() const { return docroot_; }
  // The self-signed certificate with TLS; empty without.
  const std::filesystem::path& ca_file() const { return ca_file_; }
  // With client_certificates: a new EC client certificate and its unencrypted key, in one PEM
  // file (certificate first) under dir(), named NAME.pem. Trusted: signed by the CA the server
  // verifies clients with; otherwise by a CA of its own that the server does not know. Returns
  // the file's path.
  std::filesystem::path make_client_certificate(std::string_view name, bool trusted) const;

  // Creates or replaces a file under the docroot and returns its full path. nginx's ETag is
  // mtime and size: to make a replaced file look changed to If-Range, also call set_mtime().
  std::filesystem::path write_file(std::string_view relative_path, std::string_view bytes);
  // Writes size bytes of the seeded stream (see files.hpp) and returns their SHA-256 in hex.
  std::string make_random_file(std::string_view relative_path, std::uint64_t size,
                               std::uint64_t seed);
  void set_mtime(std::string_view relative_path, std::chrono::system_clock::time_point when);

  std::vector<access_log_entry> access_log() const;
  // Waits until the access log has at least count entries (nginx logs a request after sending
  // its last byte, so a client can finish first); returns the log, or throws after timeout.
  std::vector<access_log_entry> wait_for_requests(
      std::size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // Body bytes sent for one path over all requests; path as in url(), leading '/' optional.
  std::uint64_t total_body_bytes_sent(std::string_view path) const;
  std::string error_log() const;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Fast shutdown (SIGTERM, SIGKILL after 5 s) and waitpid. Idempotent.
  void stop();
  // Starts again on the same port with the same docroot and logs, e.g. after stop() to test
  // that a client recovers when the server comes back.
  void start();

 private:
  void write_config() const;
  void make_certificate() const;
  void launch();
  std::string start_failure(const std::string& why) const;

  nginx_options options_;
  std::filesystem::path dir_;
  std::filesystem::path docroot_;
  std::filesystem::path ca_file_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace opendo::test
