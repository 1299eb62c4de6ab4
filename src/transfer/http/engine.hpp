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
#include "transfer/http/engine_api.hpp"

namespace opendo::transfer::http {

class engine final : public engine_api {
 public:
  engine(listener& events, engine_options options);
  ~engine() override;
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  transfer_id start(const request& req) override;
  // Bytes received so far for a running transfer (some may still be in memory).
  std::uint64_t received(transfer_id id) const override;
  // Writes buffered bytes and fdatasyncs the file; returns the durable size, or nullopt after a
  // local write error (the transfer then finishes with that error). Blocks the caller for the
  // sync: for shutdown; running transfers use request_checkpoint().
  std::optional<std::uint64_t> checkpoint(transfer_id id) override;
  // Writes buffered bytes (cheap) and has the sync worker fdatasync the file, off the event
  // loop; listener::on_synced says when, with the durable size. A transfer writing directly
  // (engine_options::direct_writes) syncs what is written: its partial buffer and a direct write
  // in flight wait for the next checkpoint. At most one such sync per
  // transfer is in flight: a request while one runs is skipped. With nothing new to sync,
  // on_synced is called at once. A failed write or sync finishes the transfer with the error.
  void request_checkpoint(transfer_id id) override;
  // Waits for every sync in flight and delivers its result (on_synced, on_finished): shutdown.
  void drain_syncs() override;
  // Stops a transfer without calling on_finished; returns the durable size like checkpoint().
  std::optional<std::uint64_t> stop(transfer_id id) override;
  bool running(transfer_id id) const override { return transfers_.count(id) != 0; }
  // Makes a running transfer end at byte `local_end` of its file, before what it asked for (a
  // segmented download gave the rest to another connection): when its bytes reach it, it
  // finishes with success and its connection is closed. Ignored unless it cuts the transfer short
  // and lies beyond what was received.
  void set_end(transfer_id id, std::uint64_t local_end) override;
  // Paces a running transfer's body to bytes_per_second (0: unlimited), from now on.
  void set_rate_limit(transfer_id id, std::uint64_t bytes_per_second) override;
  std::uint64_t rate_limit(transfer_id id) const override;
  // Body bytes received by every transfer since the engine started (for the capacity estimate).
  std::uint64_t total_received() const override { return total_received_; }
  std::size_t active() const override { return transfers_.size(); }

  // Waits up to timeout_ms for network activity or for one of `extra` (whose revents it fills),
  // then runs transfers and reports finished ones to the listener.
  void poll(std::vector<curl_waitfd>& extra, int timeout_ms) override;
  // Makes a poll() that is waiting return at once (thread-safe).
  void wakeup() override;

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
