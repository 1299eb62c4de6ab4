#include "daemon/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "daemon/owner_helper.hpp"
#include "opendo/hresult.hpp"

namespace opendo::daemon {
namespace {

using ipc::json;

constexpr std::size_t kMaxId = 64;
constexpr std::size_t kMaxText = std::size_t{64} * 1024;  // strings whose limits the rules check
constexpr const char* kVarlinkService = "org.varlink.service";

// A list of header lines. Sizes are bounded here so that the checks (jobs/headers.hpp) see a
// bounded input; they then answer with the HRESULT (BG_E_STRING_TOO_LONG for a long block).
std::optional<std::vector<std::string>> header_lines(const json& p, const char* name) {
  auto it = p.find(name);
  if (it == p.end() || it->is_null()) return std::nullopt;
  if (!it->is_array() || it->size() > 1000) throw ipc::bad_parameter(name);
  std::vector<std::string> lines;
  for (const json& line : *it) {
    if (!line.is_string() || line.get_ref<const std::string&>().size() > kMaxText) {
      throw ipc::bad_parameter(name);
    }
    lines.push_back(line.get<std::string>());
  }
  return lines;
}

property_changes parse_properties(const json& params) {
  auto it = params.find("properties");
  if (it == params.end() || !it->is_object()) throw ipc::bad_parameter("properties");
  const json& p = *it;
  property_changes out;
  // Over-long strings are passed on so the life-cycle rules answer BG_E_STRING_TOO_LONG.
  out.display_name = ipc::optional_string(p, "display_name", kMaxText);
  out.description = ipc::optional_string(p, "description", kMaxText);
  if (auto priority = ipc::optional_string(p, "priority", 32)) {
    auto value = job_priority_from_string(*priority);
    if (!value) throw ipc::bad_parameter("priority");
    out.priority = static_cast<std::uint32_t>(*value);
  }
  out.minimum_retry_delay = ipc::optional_uint32(p, "minimum_retry_delay");
  out.no_progress_timeout = ipc::optional_uint32(p, "no_progress_timeout");
  out.notify_flags = ipc::optional_uint32(p, "notify_flags");
  if (auto proxy = p.find("proxy"); proxy != p.end() && !proxy->is_null()) {
    if (!proxy->is_object()) throw ipc::bad_parameter("proxy");
    auto usage = proxy_usage_from_string(ipc::required_string(*proxy, "usage", 32));
    if (!usage) throw ipc::bad_parameter("usage");
    out.proxy =
        proxy_settings{*usage, ipc::optional_string(*proxy, "proxy_list", kMaxText).value_or(""),
                       ipc::optional_string(*proxy, "bypass_list", kMaxText).value_or("")};
  }
  if (auto command = p.find("notify_command"); command != p.end() && !command->is_null()) {
    if (!command->is_object()) throw ipc::bad_parameter("notify_command");
    out.notify_command =
        notify_command_line{ipc::optional_string(*command, "program", kMaxText).value_or(""),
                            ipc::optional_string(*command, "parameters", kMaxText).value_or("")};
  }
  out.max_download_time = ipc::optional_uint32(p, "max_download_time");
  out.max_download_size = ipc::optional_uint(p, "max_download_size");
  out.dynamic_content = ipc::optional_bool(p, "dynamic_content");
  out.high_performance = ipc::optional_bool(p, "high_performance");
  out.minimum_notification_interval_ms =
      ipc::optional_uint32(p, "minimum_notification_interval_ms");
  out.peer_caching_flags = ipc::optional_uint32(p, "peer_caching_flags");
  out.cost_flags = ipc::optional_uint32(p, "cost_flags");
  out.cost_policy = ipc::optional_uint32(p, "cost_policy");
  out.disallow_on_cellular = ipc::optional_bool(p, "disallow_on_cellular");
  out.custom_headers = header_lines(p, "custom_headers");
  out.custom_auth_headers = header_lines(p, "custom_auth_headers");
  out.allow_https_to_http_redirect = ipc::optional_bool(p, "allow_https_to_http_redirect");
  out.tls_exemptions = ipc::optional_uint32(p, "tls_exemptions");
  if (auto cert = p.find("client_certificate"); cert != p.end() && !cert->is_null()) {
    if (!cert->is_object()) throw ipc::bad_parameter("client_certificate");
    // One byte over the limit still reads, so that the manager's check names the size.
    constexpr std::size_t limit = jobs::max_client_certificate_size + 1;
    out.client_certificate =
        jobs::client_certificate_pem{ipc::required_string(*cert, "certificate", limit),
                                     ipc::required_string(*cert, "private_key", limit)};
  }
  return out;
}

}  // namespace

server::server(const config& cfg, manager& jobs, ipc::unique_fd listener, activity_page* activity)
    : config_(cfg), jobs_(jobs), activity_(activity), listener_(std::move(listener)) {
  if (!config_.admin_group.empty()) {
    admin_gid_ = lookup_group(config_.admin_group);
    if (!admin_gid_) {
      throw std::runtime_error("--admin-group " + config_.admin_group + ": no such group");
    }
  }
}

bool server::is_admin(uid_t uid) const {
  if (uid == 0) return true;
  if (!admin_gid_) return false;
  // The groups the system defines for the user (not the peer's process groups, which a client
  // could have dropped or a setgid program gained), read afresh for each connection.
  const auto who = lookup_owner(uid);
  return who && std::find(who->groups.begin(), who->groups.end(), *admin_gid_) != who->groups.end();
}

server::~server() {
  for (auto& [id, c] : connections_) {
    for (auto token : c.watches) jobs_.unwatch(token);
    for (auto token : c.subscriptions) jobs_.unsubscribe(token);
  }
}

std::vector<curl_waitfd>& server::wait_fds() {
  fds_.clear();
  fd_owners_.clear();
  fds_.push_back({listener_.get(), CURL_WAIT_POLLIN, 0});
  fd_owners_.push_back(0);
  for (const auto& [id, c] : connections_) {
    short events = c.closing ? 0 : CURL_WAIT_POLLIN;
    if (!c.output.empty()) events |= CURL_WAIT_POLLOUT;
    fds_.push_back({c.fd.get(), events, 0});
    fd_owners_.push_back(id);
  }
  return fds_;
}

void server::dispatch() {
  // fds_[i] belongs to the connection fd_owners_[i]; one that closed meanwhile is skipped.
  for (std::size_t i = 1; i < fds_.size() && i < fd_owners_.size(); ++i) {
    auto it = connections_.find(fd_owners_[i]);
    if (it == connections_.end() || it->second.dead) continue;
    connection& c = it->second;
    if (fds_[i].revents & (CURL_WAIT_POLLIN | CURL_WAIT_POLLPRI)) read_from(c);
    if (!c.dead && !c.output.empty()) write_to(c);
  }
  if (!fds_.empty() && (fds_[0].revents & CURL_WAIT_POLLIN)) accept_all();
  commit_turn();
  const auto now = std::chrono::steady_clock::now();
  for (auto& [id, c] : connections_) {
    if (!c.dead && c.decoder.pending() > 0 && c.partial_since.time_since_epoch().count() != 0 &&
        now - c.partial_since > config_.incomplete_message_timeout) {
      spdlog::warn("closing connection of pid {}: incomplete message for {} s", c.peer.pid,
                   config_.incomplete_message_timeout.count());
      close(c);
    }
  }
  std::erase_if(connections_, [](const auto& entry) { return entry.second.dead; });
}

void server::accept_all() {
  for (;;) {
    ipc::unique_fd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        spdlog::warn("accept failed: {}", std::strerror(errno));
      }
      return;
    }
    auto peer = ipc::peer_of(fd.get());
    if (!peer) continue;
    if (connections_.size() >= config_.max_connections) {
      const std::string refusal = ipc::frame(ipc::hresult_reply(
          value_of(hr::e_outofmemory), "opendod has too many connections; try again later"));
      [[maybe_unused]] auto n = ::send(fd.get(), refusal.data(), refusal.size(), MSG_NOSIGNAL);
      continue;
    }
    // A user-mode daemon serves its own user (and root); nobody else can reach the 0700
    // directory, but the check does not rely on that. A system daemon serves everyone: each
    // caller sees and changes only its own jobs (the manager's rules), administrators all.
    if (!config_.system_mode && peer->uid != ::geteuid() && peer->uid != 0) {
      const std::string refusal = ipc::frame(ipc::hresult_reply(
          value_of(hr::e_accessdenied), "this opendod serves uid " + std::to_string(::geteuid())));
      [[maybe_unused]] auto n = ::send(fd.get(), refusal.data(), refusal.size(), MSG_NOSIGNAL);
      continue;
    }
    const std::uint64_t id = next_connection_++;
    connection& c = connections_[id];
    c.id = id;
    c.fd = std::move(fd);
    c.peer = *peer;
    c.admin = is_admin(peer->uid);
  }
}

void server::read_from(connection& c) {
  char buffer[65536];
  for (int rounds = 0; rounds < 16 && !c.dead; ++rounds) {  // bounded: others get their turn
    ssize_t n = ::recv(c.fd.get(), buffer, sizeof buffer, 0);
    if (n == 0) {
      close(c);
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      close(c);
      return;
    }
    c.decoder.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
    while (auto message = c.decoder.next()) {
      handle(c, *message);
      if (c.dead || c.closing) return;
    }
    if (c.decoder.overflow()) {
      queue(c,
            ipc::error_reply("org.varlink.service.InvalidParameter",
                             {{"parameter", "message"},
                              {"reason", "a message may be at most " +
                                             std::to_string(ipc::max_message_size) + " bytes"}}));
      c.closing = true;
      return;
    }
  }
  if (c.decoder.pending() == 0) {
    c.partial_since = {};
  } else if (c.partial_since.time_since_epoch().count() == 0) {
    c.partial_since = std::chrono::steady_clock::now();
  }
}

void server::write_to(connection& c) {
  while (!c.output.empty()) {
    ssize_t n = ::send(c.fd.get(), c.output.data(), c.output.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      close(c);
      return;
    }
    c.output.erase(0, static_cast<std::size_t>(n));
  }
  if (c.closing) close(c);
}

void server::queue(connection& c, const std::string& message) {
  if (c.dead) return;
  if (turn_started_at_) {
    held_.push_back({c.id, message, false});
    return;
  }
  append(c, message);
}

void server::answer(connection& c, const std::string& message, bool wrote) {
  if (c.dead) return;
  if (turn_started_at_) {
    held_.push_back({c.id, message, wrote});
    return;
  }
  append(c, message);
}

void server::append(connection& c, const std::string& message) {
  c.output += message;
  c.output.push_back('\0');
  if (c.output.size() > config_.max_output_per_connection) {
    spdlog::warn("closing connection of pid {}: it does not read its replies", c.peer.pid);
    close(c);
    return;
  }
  write_to(c);
}

void server::commit_turn() {
  if (!turn_started_at_) return;
  std::optional<std::string> failure;
  if (jobs_.store_changes() != *turn_started_at_) {
    try {
      jobs_.sync_store();
    } catch (const std::exception& e) {
      failure = e.what();
      spdlog::error("the requests of this turn could not be made durable: {}", *failure);
    }
  }
  turn_started_at_.reset();
  auto held = std::move(held_);
  held_.clear();
  for (auto& message : held) {
    auto it = connections_.find(message.connection);
    if (it == connections_.end() || it->second.dead) continue;
    if (failure && message.reply_that_wrote) {
      // Its change may be gone after a power loss: the client must not be told it was made.
      message.text = ipc::hresult_reply(value_of(hr::e_fail),
                                        "the change could not be made durable: " + *failure);
    }
    append(it->second, message.text);
  }
}

void server::close(connection& c) {
  if (c.dead) return;
  for (auto token : c.watches) jobs_.unwatch(token);
  c.watches.clear();
  c.dead = true;
  // After dead: an unsubscribe may run the notify command, never this connection's sink.
  for (auto token : c.subscriptions) jobs_.unsubscribe(token);
  c.subscriptions.clear();
  c.fd.reset();
  c.output.clear();
}

namespace {
// An error of the org.varlink.service interface (unknown interface or method), thrown by
// handle_call so that handle() decides, with the other errors, whether a reply goes out at all.
struct varlink_error {
  std::string name;
  json parameters;
};
}  // namespace

void server::handle(connection& c, const std::string& message) {
  // The turn's first request starts it; commit_turn ends it after the last. Every reply of the
  // turn waits for the sync, errors too, so that each connection's replies keep their order.
  if (!turn_started_at_) turn_started_at_ = jobs_.store_changes();
  ipc::call call;
  try {
    call = ipc::parse_call(message);
  } catch (const ipc::bad_parameter& e) {
    queue(c,
          ipc::error_reply("org.varlink.service.InvalidParameter", {{"parameter", e.parameter}}));
    return;
  }
  const std::int64_t changes_before = jobs_.store_changes();
  std::optional<std::string> reply;
  try {
    // A stream answers more than once, which a oneway call (no reply at all) cannot be.
    if (call.more && call.oneway) throw ipc::bad_parameter("oneway");
    json result = handle_call(c, call);
    if (!result.is_null()) reply = ipc::reply(std::move(result));
  } catch (const varlink_error& e) {
    reply = ipc::error_reply(e.name, e.parameters);
  } catch (const request_error& e) {
    reply = ipc::hresult_reply(e.code, e.message);
  } catch (const ipc::bad_parameter& e) {
    reply = ipc::error_reply("org.varlink.service.InvalidParameter", {{"parameter", e.parameter}});
  } catch (const std::exception& e) {
    spdlog::error("{} failed: {}", call.method, e.what());
    reply = ipc::hresult_reply(value_of(hr::e_fail), e.what());
  }
  if (reply && !call.oneway) answer(c, *reply, jobs_.store_changes() != changes_before);
}

json server::handle_call(connection& c, const ipc::call& call) {
  const caller who{c.peer.uid, c.peer.pid, c.admin};
  const json& p = call.parameters;
  const std::string& method = call.method;
  const auto& lim = config_.limits;
  const std::string prefix = std::string(ipc::interface_name) + ".";

  if (method == std::string(kVarlinkService) + ".GetInfo") {
    return {{"vendor", "opendo"},
            {"product", "opendod"},
            {"version", "0.1.0"},
            {"url", "https://opendo.invalid/"},
            {"interfaces", {kVarlinkService, ipc::interface_name}}};
  }
  if (method == std::string(kVarlinkService) + ".GetInterfaceDescription") {
    const std::string name = ipc::required_string(p, "interface", 256);
    if (name != ipc::interface_name) {
      throw request_error{value_of(hr::e_invalidarg), "unknown interface " + name};
    }
    return {{"description", interface_description}};
  }
  if (method.rfind(prefix, 0) != 0) {
    const auto dot = method.rfind('.');
    const std::string iface = dot == std::string::npos ? method : method.substr(0, dot);
    throw varlink_error{"org.varlink.service.InterfaceNotFound", {{"interface", iface}}};
  }
  const std::string name = method.substr(prefix.size());

  if (name == "CreateJob") {
    // Longer names than the limit pass so the rules answer BG_E_STRING_TOO_LONG.
    const auto display = ipc::required_string(p, "display_name", kMaxText);
    return {{"id", jobs_.create_job(who, display)}};
  }
  if (name == "GetJob") {
    return {{"job", ipc::to_json(jobs_.get_job(who, ipc::required_string(p, "id", kMaxId)))}};
  }
  if (name == "ListJobs") {
    json list = json::array();
    for (const auto& info :
         jobs_.list_jobs(who, ipc::optional_bool(p, "all_users").value_or(false))) {
      list.push_back(ipc::to_json(info));
    }
    return {{"jobs", std::move(list)}};
  }
  if (name == "GetStatistics") {
    return {{"statistics", ipc::to_json(jobs_.statistics())}};
  }
  if (name == "GetPeers") {
    json list = json::array();
    for (const auto& peer : jobs_.peers(who)) list.push_back(ipc::to_json(peer));
    return {{"peers", std::move(list)}};
  }
  if (name == "GetActivityPage") {
    if (activity_ == nullptr) {
      throw request_error{value_of(hr::e_notimpl),
                          "the activity page is off: start opendod with --activity-listen "
                          "HOST:PORT (or activity_listen in its configuration file)"};
    }
    const activity_link link = activity_->issue_link(who);
    return {{"url", link.url}, {"token", link.token}};
  }
  if (name == "AddFile") {
    jobs_.add_files(who, ipc::required_string(p, "id", kMaxId),
                    {ipc::file_spec_from_json(p, lim.max_url * 4, lim.max_path * 4)});
    return json::object();
  }
  if (name == "AddFiles") {
    auto files = p.find("files");
    if (files == p.end() || !files->is_array() || files->size() > lim.max_files_per_job) {
      throw ipc::bad_parameter("files");
    }
    std::vector<file_spec> list;
    for (const json& entry : *files) {
      list.push_back(ipc::file_spec_from_json(entry, lim.max_url * 4, lim.max_path * 4));
    }
    jobs_.add_files(who, ipc::required_string(p, "id", kMaxId), list);
    return json::object();
  }
  if (name == "SetProperties") {
    jobs_.set_properties(who, ipc::required_string(p, "id", kMaxId), parse_properties(p));
    return json::object();
  }
  if (name == "Resume") {
    jobs_.resume(who, ipc::required_string(p, "id", kMaxId));
    return json::object();
  }
  if (name == "Suspend") {
    jobs_.suspend(who, ipc::required_string(p, "id", kMaxId));
    return json::object();
  }
  if (name == "Cancel") {
    return {{"hresult", jobs_.cancel(who, ipc::required_string(p, "id", kMaxId))}};
  }
  if (name == "Complete") {
    return {{"hresult", jobs_.complete(who, ipc::required_string(p, "id", kMaxId))}};
  }
  auto as_u32 = [&](const char* field) {
    auto value = ipc::optional_uint32(p, field);
    if (!value) throw ipc::bad_parameter(field);
    return *value;
  };
  if (name == "SetRemoteName") {
    jobs_.set_remote_name(who, ipc::required_string(p, "id", kMaxId), as_u32("file_index"),
                          ipc::required_string(p, "remote_url", lim.max_url * 4));
    return json::object();
  }
  if (name == "SetValidationState") {
    const auto valid = ipc::optional_bool(p, "valid");
    if (!valid) throw ipc::bad_parameter("valid");
    jobs_.set_validation_state(who, ipc::required_string(p, "id", kMaxId), as_u32("file_index"),
                               *valid);
    return json::object();
  }
  if (name == "ReplaceRemotePrefix") {
    return {{"matched",
             jobs_.replace_remote_prefix(who, ipc::required_string(p, "id", kMaxId),
                                         ipc::required_string(p, "old_prefix", lim.max_url * 4),
                                         ipc::required_string(p, "new_prefix", lim.max_url * 4))}};
  }
  if (name == "TakeOwnership") {
    jobs_.take_ownership(who, ipc::required_string(p, "id", kMaxId));
    return json::object();
  }
  if (name == "SetCredentials") {
    jobs_.set_credentials(who, ipc::required_string(p, "id", kMaxId), as_u32("target"),
                          as_u32("scheme"), ipc::required_string(p, "user_name", kMaxText),
                          ipc::required_string(p, "password", std::size_t{256} * 1024));
    return json::object();
  }
  if (name == "RemoveCredentials") {
    jobs_.remove_credentials(who, ipc::required_string(p, "id", kMaxId), as_u32("target"),
                             as_u32("scheme"));
    return json::object();
  }
  if (name == "Acknowledge") {
    const auto handled = ipc::optional_bool(p, "handled");
    const auto sequence = ipc::optional_uint(p, "sequence");
    if (!handled) throw ipc::bad_parameter("handled");
    if (!sequence) throw ipc::bad_parameter("sequence");
    jobs_.acknowledge(who, ipc::required_string(p, "id", kMaxId), *sequence, *handled);
    return json::object();
  }
  if (name == "Unsubscribe") {
    return {{"removed", jobs_.remove_subscription(who, ipc::required_string(p, "id", kMaxId))}};
  }
  if (name == "Subscribe") {
    if (!call.more) throw ipc::bad_parameter("more");
    const std::string id = ipc::required_string(p, "id", kMaxId);
    const std::uint64_t connection_id = c.id;
    auto send = [this, connection_id](const std::string& message) {
      auto target = connections_.find(connection_id);
      if (target != connections_.end() && !target->second.dead) queue(target->second, message);
    };
    subscriber_sink sink;
    sink.registered = [send] { send(ipc::reply({{"kind", "registered"}, {"sequence", 0}}, true)); };
    sink.deliver = [send](const notification& n) { send(ipc::reply(ipc::to_json(n), true)); };
    sink.end = [send](const std::string& reason) {
      send(ipc::reply({{"kind", reason}, {"sequence", 0}}, false));
    };
    const auto token = jobs_.subscribe(who, id, std::move(sink));
    if (token != 0 && c.dead) {
      jobs_.unsubscribe(token);
    } else if (token != 0) {
      c.subscriptions.push_back(token);
    }
    return nullptr;  // replies come from the notifier
  }
  if (name == "Watch") {
    const std::string id = ipc::required_string(p, "id", kMaxId);
    const auto interval = std::chrono::milliseconds(std::clamp<std::uint64_t>(
        ipc::optional_uint(p, "progress_interval_ms").value_or(100), 0, 60'000));
    const watched_files files =
        ipc::optional_bool(p, "files").value_or(true) ? watched_files::all : watched_files::none;
    if (!call.more) {
      return {{"kind", "snapshot"}, {"job", ipc::to_json(jobs_.get_job(who, id), files)}};
    }
    // Each reply continues until the job is final; the manager rate-limits progress replies.
    const std::uint64_t connection_id = c.id;
    const auto token = jobs_.watch(
        who, id,
        [this, connection_id, files](job_event_kind kind, const job_info& info) {
          auto target = connections_.find(connection_id);
          if (target == connections_.end() || target->second.dead) return;
          queue(target->second, ipc::reply({{"kind", std::string(ipc::to_string(kind))},
                                            {"job", ipc::to_json(info, files)}},
                                           !is_final(info.state)));
        },
        interval);
    // The snapshot may already have found the client gone; then nobody is left to watch.
    if (token != 0 && c.dead) {
      jobs_.unwatch(token);
    } else if (token != 0) {
      c.watches.push_back(token);
    }
    return nullptr;  // the replies were queued by the watcher
  }
  throw varlink_error{"org.varlink.service.MethodNotFound", {{"method", method}}};
}

}  // namespace opendo::daemon
