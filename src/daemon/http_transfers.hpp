// The daemon's HTTP engine, loaded from the module opendo-http.so at the first transfer or URL
// (transfer/http/engine_api.hpp says why). Before that no transfer exists: every query answers
// as the engine does for a transfer it does not know, and poll() is a plain poll(2) of the
// daemon's own descriptors.
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipc/socket.hpp"
#include "transfer/http/engine_api.hpp"

namespace opendo::daemon {

class http_transfers {
 public:
  http_transfers(transfer::http::listener& events, transfer::http::engine_options options);
  ~http_transfers();
  http_transfers(const http_transfers&) = delete;
  http_transfers& operator=(const http_transfers&) = delete;

  // The module's functions; loads it on the first call. Throws std::runtime_error when it
  // cannot be loaded (an incomplete installation: the message names the file and the reason).
  static const transfer::http::module_entry& module();

  transfer::http::transfer_id start(const transfer::http::request& req);
  std::uint64_t received(transfer::http::transfer_id id) const;
  std::optional<std::uint64_t> checkpoint(transfer::http::transfer_id id);
  void request_checkpoint(transfer::http::transfer_id id);
  void drain_syncs();
  std::optional<std::uint64_t> stop(transfer::http::transfer_id id);
  void set_end(transfer::http::transfer_id id, std::uint64_t local_end);
  void set_rate_limit(transfer::http::transfer_id id, std::uint64_t bytes_per_second);
  std::uint64_t total_received() const;
  void poll(std::vector<curl_waitfd>& extra, int timeout_ms);
  // Thread-safe: makes a poll() that waits return at once, loaded or not.
  void wakeup();

 private:
  transfer::http::listener& events_;
  transfer::http::engine_options options_;
  std::unique_ptr<transfer::http::engine_api> engine_;
  // Always in the poll set, so that a wakeup() from another thread is never lost, also not
  // one that came while the engine was being made.
  ipc::unique_fd wake_;
};

// An http(s) URL as libcurl reads it (the module's parser, so what is checked is what is fetched).
transfer::http::url_parts parse_url(const std::string& url);

}  // namespace opendo::daemon
