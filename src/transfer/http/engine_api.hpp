// What the daemon calls of the HTTP engine, and how it finds it: the engine and libcurl (with the
// ~30 libraries Debian's libcurl brings: GnuTLS, Kerberos, LDAP, ...) live in a module,
// opendo-http.so, that the daemon loads at its first transfer or URL, so that an idle daemon never
// maps them (issue 6, case 6: footprint). The types here are plain data; curl/curl.h is included
// for curl_waitfd only, a struct, which needs no libcurl at run time.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobs/client_certificate.hpp"
#include "opendo/types.hpp"

namespace opendo::transfer::http {

using transfer_id = std::uint64_t;

struct credentials {
  auth_scheme scheme = auth_scheme::basic;
  std::string user_name;
  std::string password;
};

// Remote bytes first..last; last size_unknown runs to the end of the file.
struct remote_range {
  std::uint64_t first = 0;
  std::uint64_t last = size_unknown;
};

struct request {
  std::string url;
  int fd = -1;  // the temporary file, open for writing; the caller owns it
  // Where the body's first byte goes in the file; the bytes before it are kept. Without `range`
  // it is also the remote byte to resume from.
  std::uint64_t offset = 0;
  // Ask for exactly these bytes of the remote file (a file with byte ranges). The answer must be
  // a 206 of them; a 200 is refused (BG_E_INSUFFICIENT_RANGE_SUPPORT) unless the validators
  // changed (restart_file) or the range is the whole file.
  std::optional<remote_range> range;
  std::uint64_t expected_total = size_unknown;  // known size of the remote file, if any
  std::string etag;  // validators of the response the first bytes came from
  std::string last_modified;
  proxy_settings proxy;
  std::optional<credentials> server_auth;
  std::optional<credentials> proxy_auth;
  // Checked "Name: value" lines (jobs/headers.hpp) sent with the request and its redirects. The
  // auth headers are secrets: never logged.
  std::vector<std::string> headers;
  std::vector<std::string> auth_headers;
  // Follow a redirect from https to http (otherwise it fails with ERROR_WINHTTP_REDIRECT_FAILED).
  bool allow_https_to_http = false;
  // Certificate errors this request accepts (opendo::tls_exemption bits). Non-zero: the request
  // gets a connection of its own that no other request reuses.
  std::uint32_t tls_exemptions = 0;
  // The TLS client certificate the request presents (PEM; the key is a secret: never logged).
  // Set: the request gets a connection of its own too, so that no other request rides on a
  // connection authenticated as this job's owner.
  jobs::client_certificate_pem client_certificate;
  // The transfer's write buffer; 0: engine_options::write_buffer.
  std::size_t write_buffer = 0;
};

// The final response of a request, after redirects (what DO reports as HttpStatusCode,
// HttpResponseHeaders, HttpServerIPAddress and HttpRedirectionTarget).
struct response_record {
  long status = 0;
  std::string headers;  // "Name: value\r\n" lines, at most engine_options::max_response_headers
  std::string server_ip;
  std::string redirection_target;  // the URL redirected to; empty when not redirected
};

// What the server said about the body that is starting.
struct response_info {
  long status = 0;
  std::uint64_t total = size_unknown;  // size of the whole file when the server told it
  std::string etag;
  std::string last_modified;
  bool accepts_ranges = false;
  // The server sent the whole file from byte 0 although we asked for a range: either the file
  // changed (validators differ) or the server ignores ranges. The file was truncated to 0.
  bool restarted = false;
  bool validators_changed = false;
  response_record record;
};

struct outcome {
  bool ok = false;
  std::uint32_t code = 0;  // HRESULT when !ok
  bool transient = false;
  error_context context = error_context::none;
  std::string message;
  std::uint64_t bytes = 0;  // bytes in the file at the end (durable: flushed and synced)
  std::int64_t remote_mtime = -1;
  bool restart_file = false;  // the remote file changed: discard the bytes and start again
  std::optional<response_record> response;  // when a response arrived
};

class listener {
 public:
  virtual ~listener() = default;
  // Before the first body byte. Returning an outcome stops the transfer, which then finishes
  // with it (e.g. byte ranges that the remote file turns out too small for).
  virtual std::optional<outcome> on_response(transfer_id id, const response_info& info) = 0;
  // After the transfer's bytes were made durable (a finished transfer: all of them), from the
  // event loop. Not called for a transfer stopped meanwhile.
  virtual void on_finished(transfer_id id, const outcome& result) = 0;
  // A sync asked for by request_checkpoint() completed: bytes [0, durable) of the file are on
  // disk. Not called for a transfer that was stopped or finished meanwhile.
  virtual void on_synced(transfer_id /*id*/, std::uint64_t /*durable*/) {}
};

struct engine_options {
  std::string ca_file;  // extra trust anchors (PEM); empty: the system's
  std::string user_agent = "opendo/0.1";
  long connect_timeout_s = 30;
  long low_speed_time_s = 60;  // a transfer below 1 byte/s for this long is a transient failure
  // Bodies are gathered up to write_buffer bytes and written in one pwrite (throughput), or
  // sooner once their first byte has waited write_delay: a kill -9 of the daemon keeps what was
  // written (the page cache outlives it) and loses what was still in memory, so a slow transfer
  // must not hold seconds of bytes there.
  std::size_t write_buffer = std::size_t{4} * 1024 * 1024;
  std::chrono::milliseconds write_delay{100};
  // A full buffer's aligned middle is written with O_DIRECT on a thread of its own while the next
  // one fills: no copy into the page cache and no writeback for the checkpoint syncs to wait for
  // (half the daemon's CPU for a fast download). The unaligned head and tail of a transfer's
  // bytes, and files whose file system has no O_DIRECT, are written buffered.
  bool direct_writes = true;
  long max_redirects = 10;
  std::size_t max_response_headers = std::size_t{16} * 1024;
};

// The engine as the daemon drives it; engine.hpp has the libcurl implementation, whose comments
// say what each call does.
class engine_api {
 public:
  virtual ~engine_api() = default;
  virtual transfer_id start(const request& req) = 0;
  virtual std::uint64_t received(transfer_id id) const = 0;
  virtual std::optional<std::uint64_t> checkpoint(transfer_id id) = 0;
  virtual void request_checkpoint(transfer_id id) = 0;
  virtual void drain_syncs() = 0;
  virtual std::optional<std::uint64_t> stop(transfer_id id) = 0;
  virtual bool running(transfer_id id) const = 0;
  virtual void set_end(transfer_id id, std::uint64_t local_end) = 0;
  virtual void set_rate_limit(transfer_id id, std::uint64_t bytes_per_second) = 0;
  virtual std::uint64_t rate_limit(transfer_id id) const = 0;
  virtual std::uint64_t total_received() const = 0;
  virtual std::size_t active() const = 0;
  virtual void poll(std::vector<curl_waitfd>& extra, int timeout_ms) = 0;
  virtual void wakeup() = 0;
};

// A URL as libcurl reads it (its own parser, so that what is checked is what is fetched).
struct url_parts {
  bool ok = false;
  std::string error;  // why it does not parse, when !ok
  std::string scheme;
  std::string host;
  std::string port;  // the scheme's default when the URL has none
};

// The module's entry: a table of its functions, found by dlsym(kModuleEntry). Its version changes
// with any change of this header, so that a daemon never drives a module built from other
// sources (the build installs both together; the check catches a stale copy).
struct module_entry {
  std::uint32_t version = 0;
  std::unique_ptr<engine_api> (*make_engine)(listener& events,
                                             const engine_options& options) = nullptr;
  url_parts (*parse_url)(const std::string& url) = nullptr;
};
inline constexpr std::uint32_t kModuleVersion = 1;
inline constexpr const char* kModuleEntry = "opendo_http_module";
inline constexpr const char* kModuleFile = "opendo-http.so";

}  // namespace opendo::transfer::http
