// One Varlink connection from libopendo to opendod: method calls, streamed Watch replies, and the
// start of a user-mode opendod when none answers on the user's default socket.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "ipc/socket.hpp"
#include "opendo/opendo.hpp"

namespace opendo::detail {

using json = nlohmann::json;

// Calls on one connection are serialised by its mutex. When the socket breaks, the call that saw
// it throws DO_E_NO_SERVICE and the next call connects again (a restarted daemon is picked up).
class connection {
 public:
  // `options.socket_path` must already be resolved (non-empty).
  connection(client_options options, ipc::unique_fd fd);
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Calls org.opendo.Transfer.<method> and returns the reply's parameters. Throws opendo::error:
  // the daemon's HRESULT for an HResult error, E_INVALIDARG / E_FAIL for other Varlink errors,
  // DO_E_NO_SERVICE when the daemon cannot be reached or hangs up.
  json call(const std::string& method, const json& params);

  // Calls with "more": true and hands each reply's parameters to on_reply until a reply comes
  // without "continues", or on_reply returns false. The socket is closed afterwards either way:
  // a stream that was left early cannot carry another call.
  void stream(const std::string& method, const json& params,
              const std::function<bool(const json&)>& on_reply);

  const std::string& socket_path() const { return options_.socket_path; }
  const client_options& options() const { return options_; }

 private:
  void send_locked(const std::string& method, const json& params, bool more);
  // The next reply: its parameters, and whether more replies follow.
  json receive_locked(bool& continues);
  [[noreturn]] void fail_locked(const std::string& reason);

  std::mutex mutex_;
  client_options options_;
  ipc::unique_fd fd_;
  ipc::frame_decoder decoder_;
};

// Connects to opendod as `options` say, starting a user-mode daemon when allowed (see
// client_options). The returned connection's options carry the resolved socket path.
std::shared_ptr<connection> connect(const client_options& options);

}  // namespace opendo::detail
