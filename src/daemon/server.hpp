// The Varlink server: accepts connections on the daemon's Unix socket, identifies each peer by
// SO_PEERCRED (and, for administrators, by the groups the system gives its uid), decodes
// NUL-terminated JSON calls with a size limit, and dispatches them to the manager. Non-blocking
// throughout: a slow or hostile client never stalls the others.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/activity.hpp"
#include "daemon/config.hpp"
#include "daemon/manager.hpp"
#include "ipc/codec.hpp"
#include "ipc/framing.hpp"
#include "ipc/socket.hpp"

namespace opendo::daemon {

class server {
 public:
  // Throws std::runtime_error when cfg.admin_group names no group. `activity` (may be null: no
  // page) issues the tokens of GetActivityPage.
  server(const config& cfg, manager& jobs, ipc::unique_fd listener,
         activity_page* activity = nullptr);
  ~server();

  // Descriptors to wait on (the listener and every connection), for manager::poll().
  std::vector<curl_waitfd>& wait_fds();
  // Handles what the wait found ready (revents filled in wait_fds()).
  void dispatch();
  std::size_t connections() const { return connections_.size(); }

 private:
  struct connection {
    std::uint64_t id = 0;
    ipc::unique_fd fd;
    ipc::peer_credentials peer;
    bool admin = false;  // decided at accept time: root, or a member of the admin group
    ipc::frame_decoder decoder;
    std::string output;
    std::vector<std::uint64_t> watches;
    std::vector<std::uint64_t> subscriptions;
    std::chrono::steady_clock::time_point partial_since{};
    bool closing = false;  // flush the output, then close
    bool dead = false;
  };

  void accept_all();
  bool is_admin(uid_t uid) const;
  void read_from(connection& c);
  void write_to(connection& c);
  void handle(connection& c, const std::string& message);
  // A reply to a call; `wrote` when the call changed the store, so that a failed sync turns it
  // into an error.
  void answer(connection& c, const std::string& message, bool wrote);
  // Every message, reply or event; held while a turn's requests are handled.
  void queue(connection& c, const std::string& message);
  void append(connection& c, const std::string& message);
  // Ends the turn's requests: syncs what they recorded (one sync for all), then sends what was
  // held.
  void commit_turn();
  void close(connection& c);
  ipc::json handle_call(connection& c, const ipc::call& call);

  config config_;
  manager& jobs_;
  activity_page* activity_;
  ipc::unique_fd listener_;
  std::optional<gid_t> admin_gid_;  // from config_.admin_group
  // By id: watchers refer to their connection by id, never by address, so a connection that
  // closed while an event was on its way is simply not found.
  std::map<std::uint64_t, connection> connections_;
  std::uint64_t next_connection_ = 1;
  // A message written while the turn's requests were handled, sent once their changes are synced.
  struct held_message {
    std::uint64_t connection = 0;
    std::string text;
    bool reply_that_wrote = false;
  };
  // From a turn's first request to its end: the store's change count when it began; what is
  // queued meanwhile is held.
  std::optional<std::int64_t> turn_started_at_;
  std::vector<held_message> held_;
  std::vector<curl_waitfd> fds_;
  std::vector<std::uint64_t> fd_owners_;  // the connection of fds_[i] (0 for the listener)
};

// The text of org.opendo.Transfer.varlink, compiled in.
extern const char* const interface_description;

}  // namespace opendo::daemon
