// The HTTP(S) engine: libcurl's multi interface driving many transfers on one thread, each
// writing a file descriptor with large positional writes. The daemon's event loop calls poll(),
// which also waits on the daemon's own descriptors, so IPC and transfers share one thread. The
// fdatasyncs of checkpoints and of finished transfers run on a small sync worker instead, so
// that the loop goes on serving other transfers and IPC meanwhile; their results come back
// through poll(). Full buffers are written with O_DIRECT by a writer thread while the loop
// receives the next bytes (engine_options::direct_writes).
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/background_work.hpp"
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

class engine {
 public:
  engine(listener& events, engine_options options);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  transfer_id start(const request& req);
  // Bytes received so far for a running transfer (some may still be in memory).
  std::uint64_t received(transfer_id id) const;
  // Writes buffered bytes and fdatasyncs the file; returns the durable size, or nullopt after a
  // local write error (the transfer then finishes with that error). Blocks the caller for the
  // sync: for shutdown; running transfers use request_checkpoint().
  std::optional<std::uint64_t> checkpoint(transfer_id id);
  // Writes buffered bytes (cheap) and has the sync worker fdatasync the file, off the event
  // loop; listener::on_synced says when, with the durable size. A transfer writing directly
  // (engine_options::direct_writes) syncs what is written: its partial buffer and a direct write
  // in flight wait for the next checkpoint. At most one such sync per
  // transfer is in flight: a request while one runs is skipped. With nothing new to sync,
  // on_synced is called at once. A failed write or sync finishes the transfer with the error.
  void request_checkpoint(transfer_id id);
  // Waits for every sync in flight and delivers its result (on_synced, on_finished): shutdown.
  void drain_syncs();
  // Stops a transfer without calling on_finished; returns the durable size like checkpoint().
  std::optional<std::uint64_t> stop(transfer_id id);
  bool running(transfer_id id) const { return transfers_.count(id) != 0; }
  // Makes a running transfer end at byte `local_end` of its file, before what it asked for (a
  // segmented download gave the rest to another connection): when its bytes reach it, it
  // finishes with success and its connection is closed. Ignored unless it cuts the transfer short
  // and lies beyond what was received.
  void set_end(transfer_id id, std::uint64_t local_end);
  // Paces a running transfer's body to bytes_per_second (0: unlimited), from now on.
  void set_rate_limit(transfer_id id, std::uint64_t bytes_per_second);
  std::uint64_t rate_limit(transfer_id id) const;
  // Body bytes received by every transfer since the engine started (for the capacity estimate).
  std::uint64_t total_received() const { return total_received_; }
  std::size_t active() const { return transfers_.size(); }

  // Waits up to timeout_ms for network activity or for one of `extra` (whose revents it fills),
  // then runs transfers and reports finished ones to the listener.
  void poll(std::vector<curl_waitfd>& extra, int timeout_ms);
  // Makes a poll() that is waiting return at once (thread-safe).
  void wakeup();

  struct transfer;
  struct sync_result;
  class direct_writer;

 private:
  void sync_off_loop(transfer_id id, int fd, std::uint64_t size, bool finish);
  void deliver_syncs();
  void finish_after_sync(transfer& t, outcome result);
  void deliver(transfer& t, outcome result);
  void process_done();
  void finish_failed_checkpoints();
  // Writes the buffers whose bytes have waited write_delay; returns how long poll() may wait
  // before the next one is due (at most timeout_ms).
  int write_waiting_buffers(int timeout_ms);
  void finish(transfer& t, outcome result);
  bool retry_on_fresh_connection(transfer& t, CURLcode code);
  int resume_paced(int timeout_ms);
  listener& events_;
  engine_options options_;
  CURLM* multi_;
  transfer_id next_id_ = 1;
  std::uint64_t total_received_ = 0;
  std::map<transfer_id, std::unique_ptr<transfer>> transfers_;
  // Threads that fdatasync temporary files off the event loop (started at the first sync).
  static constexpr std::size_t kSyncThreads = 4;
  std::unique_ptr<background_work<sync_result>> syncs_;
  std::unique_ptr<direct_writer> writer_;  // ~engine ends the transfers (and their writes) first
};

}  // namespace opendo::transfer::http
