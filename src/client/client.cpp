// libopendo's modern API (include/opendo/opendo.hpp) as calls of org.opendo.Transfer.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "client/connection.hpp"
#include "common/paths.hpp"
#include "ipc/codec.hpp"
#include "jobs/client_certificate.hpp"
#include "opendo/opendo.hpp"

namespace opendo {
namespace {

using json = nlohmann::json;

[[noreturn]] void malformed(const char* method, const std::string& what) {
  throw error(value_of(hr::e_fail),
              std::string("opendod sent a malformed ") + method + " reply: " + what);
}

detail::connection& use(const std::shared_ptr<detail::connection>& connection) {
  if (!connection) {
    throw error(value_of(hr::e_unexpected), "this opendo::client or opendo::job was moved from");
  }
  return *connection;
}

const json& result(const json& reply, const char* name, const char* method) {
  auto it = reply.find(name);
  if (it == reply.end()) malformed(method, std::string("missing ") + name);
  return *it;
}

job_info decode_job(const json& value, const char* method) {
  try {
    return ipc::job_from_json(value);
  } catch (const ipc::bad_parameter& e) {
    malformed(method, e.what());
  } catch (const json::exception& e) {
    malformed(method, e.what());
  }
}

hr decode_hresult(const json& reply, const char* method) {
  const json& value = result(reply, "hresult", method);
  if (!value.is_number_unsigned() || value.get<std::uint64_t>() > 0xFFFFFFFFULL) {
    malformed(method, "hresult is not an HRESULT");
  }
  return static_cast<hr>(value.get<std::uint32_t>());
}

std::uint32_t seconds_for_wire(std::chrono::seconds value, const char* what) {
  if (value.count() < 0 || value.count() > 0xFFFFFFFFLL) {
    throw error(value_of(hr::e_invalidarg),
                std::string(what) + " must be between 0 and 4294967295 seconds");
  }
  return static_cast<std::uint32_t>(value.count());
}

void set_properties(const std::shared_ptr<detail::connection>& connection, const std::string& id,
                    json properties) {
  use(connection).call("SetProperties", {{"id", id}, {"properties", std::move(properties)}});
}

// States in which job::wait returns.
bool wait_is_over(job_state state, bool stop_on_transient) {
  return state == job_state::transferred || state == job_state::error || is_final(state) ||
         (stop_on_transient && state == job_state::transient_error);
}

}  // namespace

std::string default_socket_path() {
  // $OPENDO_SOCKET picks another daemon, e.g. the system one (/run/opendo/opendod.sock).
  if (const char* socket = std::getenv("OPENDO_SOCKET"); socket != nullptr && *socket != '\0') {
    return socket;
  }
  return paths::user_socket_path();
}

// ---- client ----

client::client(const client_options& options)
    : connection_(detail::connect(options)), options_(connection_->options()) {}
client::~client() = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

const std::string& client::socket_path() const {
  return options_.socket_path;
}

job client::create_job(const std::string& display_name) {
  json reply = use(connection_).call("CreateJob", {{"display_name", display_name}});
  const json& id = result(reply, "id", "CreateJob");
  if (!id.is_string()) malformed("CreateJob", "id is not a string");
  return job(connection_, options_, id.get<std::string>());
}

job client::open_job(const std::string& id) {
  // Asking now turns a wrong id into BG_E_NOT_FOUND here rather than at the first use.
  json reply = use(connection_).call("GetJob", {{"id", id}});
  job_info info = decode_job(result(reply, "job", "GetJob"), "GetJob");
  return job(connection_, options_, info.id.empty() ? id : info.id);
}

std::vector<job_info> client::list_jobs(bool all_users) {
  json reply = use(connection_).call("ListJobs", {{"all_users", all_users}});
  const json& jobs = result(reply, "jobs", "ListJobs");
  if (!jobs.is_array()) malformed("ListJobs", "jobs is not an array");
  std::vector<job_info> out;
  out.reserve(jobs.size());
  for (const json& entry : jobs) out.push_back(decode_job(entry, "ListJobs"));
  return out;
}

machine_statistics client::statistics() {
  json reply = use(connection_).call("GetStatistics", json::object());
  try {
    return ipc::statistics_from_json(result(reply, "statistics", "GetStatistics"));
  } catch (const ipc::bad_parameter& e) {
    malformed("GetStatistics", e.what());
  } catch (const json::exception& e) {
    malformed("GetStatistics", e.what());
  }
}

activity_page_link client::activity_page() {
  json reply = use(connection_).call("GetActivityPage", json::object());
  try {
    return {result(reply, "url", "GetActivityPage").get<std::string>(),
            result(reply, "token", "GetActivityPage").get<std::string>()};
  } catch (const json::exception& e) {
    malformed("GetActivityPage", e.what());
  }
}

std::vector<peer_connection> client::peers() {
  json reply = use(connection_).call("GetPeers", json::object());
  try {
    std::vector<peer_connection> out;
    for (const auto& p : result(reply, "peers", "GetPeers")) out.push_back(ipc::peer_from_json(p));
    return out;
  } catch (const json::exception& e) {
    malformed("GetPeers", e.what());
  } catch (const std::exception& e) {
    malformed("GetPeers", e.what());
  }
}

// ---- job ----

void job::add_file(const std::string& remote_url, const std::string& local_path) {
  add_file(file_spec{remote_url, local_path, {}, range_layout::concatenated, {}});
}

namespace {

// The wire's limits of content metadata, told in words before a request is sent (opendod would
// answer only "invalid parameter").
void check_content_limits(const file_spec& file) {
  if (file.metainfo.size() > max_metainfo_size) {
    throw error(value_of(hr::e_invalidarg),
                "the metainfo of " + file.remote_url + " is " +
                    std::to_string(file.metainfo.size()) + " bytes; at most " +
                    std::to_string(max_metainfo_size) + " are accepted");
  }
  if (file.magnet.size() > max_magnet_size) {
    throw error(value_of(hr::e_invalidarg), "the magnet URI of " + file.remote_url + " is " +
                                                std::to_string(file.magnet.size()) +
                                                " bytes; at most " +
                                                std::to_string(max_magnet_size) + " are accepted");
  }
}

}  // namespace

void job::add_file(const file_spec& file) {
  check_content_limits(file);
  json parameters = ipc::to_json(file);
  parameters["id"] = id_;
  use(connection_).call("AddFile", parameters);
}

void job::resume() {
  use(connection_).call("Resume", {{"id", id_}});
}

void job::suspend() {
  use(connection_).call("Suspend", {{"id", id_}});
}

hr job::cancel() {
  return decode_hresult(use(connection_).call("Cancel", {{"id", id_}}), "Cancel");
}

hr job::complete() {
  return decode_hresult(use(connection_).call("Complete", {{"id", id_}}), "Complete");
}

job_info job::info() {
  json reply = use(connection_).call("GetJob", {{"id", id_}});
  return decode_job(result(reply, "job", "GetJob"), "GetJob");
}

void job::set_display_name(const std::string& name) {
  set_properties(connection_, id_, {{"display_name", name}});
}

void job::set_description(const std::string& description) {
  set_properties(connection_, id_, {{"description", description}});
}

void job::set_priority(job_priority priority) {
  set_properties(connection_, id_, {{"priority", std::string(to_string(priority))}});
}

void job::set_minimum_retry_delay(std::chrono::seconds delay) {
  set_properties(connection_, id_,
                 {{"minimum_retry_delay", seconds_for_wire(delay, "the minimum retry delay")}});
}

void job::set_no_progress_timeout(std::chrono::seconds timeout) {
  set_properties(connection_, id_,
                 {{"no_progress_timeout", seconds_for_wire(timeout, "the no-progress timeout")}});
}

void job::set_notify_flags(std::uint32_t flags) {
  set_properties(connection_, id_, {{"notify_flags", flags}});
}

void job::set_maximum_download_time(std::chrono::seconds timeout) {
  set_properties(connection_, id_,
                 {{"max_download_time", seconds_for_wire(timeout, "the maximum download time")}});
}

void job::set_maximum_download_size(std::uint64_t bytes) {
  set_properties(connection_, id_, {{"max_download_size", bytes}});
}

void job::set_dynamic_content(bool dynamic) {
  set_properties(connection_, id_, {{"dynamic_content", dynamic}});
}

void job::set_high_performance(bool high_performance) {
  set_properties(connection_, id_, {{"high_performance", high_performance}});
}

void job::set_cost_flags(std::uint32_t flags) {
  set_properties(connection_, id_, {{"cost_flags", flags}});
}

void job::set_cost_policy(do_cost_policy policy) {
  set_properties(connection_, id_, {{"cost_policy", static_cast<std::uint32_t>(policy)}});
}

void job::set_disallow_on_cellular(bool disallow) {
  set_properties(connection_, id_, {{"disallow_on_cellular", disallow}});
}

void job::set_peer_caching_flags(std::uint32_t flags) {
  set_properties(connection_, id_, {{"peer_caching_flags", flags}});
}

void job::set_minimum_notification_interval(std::chrono::milliseconds interval) {
  if (interval.count() < 0 || interval.count() > 0xFFFFFFFFLL) {
    throw error(value_of(hr::e_invalidarg),
                "the minimum notification interval must be between 0 and 4294967295 ms");
  }
  set_properties(
      connection_, id_,
      {{"minimum_notification_interval_ms", static_cast<std::uint32_t>(interval.count())}});
}

void job::watch(const std::function<bool(const job_event&)>& on_event,
                std::chrono::milliseconds progress_interval, watched_files files) {
  // The stream occupies its connection until it ends, so it gets one of its own and the
  // client's connection stays free for calls (from on_event, too).
  std::shared_ptr<detail::connection> stream = detail::connect(use(connection_).options());
  const auto interval_ms = std::max<std::chrono::milliseconds::rep>(0, progress_interval.count());
  json params = {{"id", id_}, {"progress_interval_ms", interval_ms}};
  if (files == watched_files::none) params["files"] = false;  // the daemon's default: all
  stream->stream("Watch", params, [&](const json& reply) {
    const json& kind = result(reply, "kind", "Watch");
    if (!kind.is_string()) malformed("Watch", "kind is not a string");
    job_event event;
    // A kind this library does not know yet is still a change of the job.
    event.kind =
        ipc::job_event_kind_from_string(kind.get<std::string>()).value_or(job_event_kind::modified);
    event.job = decode_job(result(reply, "job", "Watch"), "Watch");
    const bool final_state = is_final(event.job.state);
    return on_event(event) && !final_state;
  });
}

job_info job::wait(bool stop_on_transient) {
  for (;;) {
    // Only the state matters until the end: the events leave the files out (a job of many files
    // would send them all at every change), and the job is read whole once it got there.
    std::optional<job_info> last;
    watch(
        [&](const job_event& event) {
          last = event.job;
          return !wait_is_over(event.job.state, stop_on_transient);
        },
        std::chrono::milliseconds(1000), watched_files::none);
    job_info now = info();
    if (wait_is_over(now.state, stop_on_transient)) return now;
    if (last && wait_is_over(last->state, stop_on_transient)) {
      // It moved on in between (a retry right after TRANSIENT_ERROR): the job as it was when
      // the wait ended, with its files as they are now.
      last->files = std::move(now.files);
      return *last;
    }
    // The daemon ended the stream before the job got there (it may be shutting down): watch
    // anew while it is on its way.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace opendo

namespace opendo {

void job::add_files(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<file_spec> specs;
  specs.reserve(files.size());
  for (const auto& [url, local] : files) {
    specs.push_back({url, local, {}, range_layout::concatenated, {}});
  }
  add_files(std::span<const file_spec>(specs));
}

void job::add_files(std::span<const file_spec> files) {
  json list = json::array();
  for (const auto& file : files) {
    check_content_limits(file);
    list.push_back(ipc::to_json(file));
  }
  use(connection_).call("AddFiles", {{"id", id_}, {"files", std::move(list)}});
}

void job::set_custom_headers(const std::vector<std::string>& lines) {
  set_properties(connection_, id_, {{"custom_headers", lines}});
}

void job::set_custom_auth_headers(const std::vector<std::string>& lines) {
  set_properties(connection_, id_, {{"custom_auth_headers", lines}});
}

void job::set_tls_exemptions(std::uint32_t exemptions) {
  set_properties(connection_, id_, {{"tls_exemptions", exemptions}});
}

void job::set_client_certificate(const std::string& certificate_pem,
                                 const std::string& private_key_pem) {
  set_properties(connection_, id_,
                 {{"client_certificate",
                   {{"certificate", certificate_pem}, {"private_key", private_key_pem}}}});
}

void job::set_client_certificate_file(const std::string& pem_path) {
  const auto refuse = [&](const std::string& why) {
    throw error(value_of(hr::e_invalidarg), "the client certificate " + pem_path + ": " + why);
  };
  const int fd = ::open(pem_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) refuse(std::strerror(errno));
  std::string text;
  struct stat st {};
  bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  const int read_errno = [&] {
    if (!regular) return 0;
    char buffer[8192];
    while (text.size() <= jobs::max_client_certificate_size) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    return 0;
  }();
  ::close(fd);
  if (!regular) refuse("not a regular file");
  if (read_errno != 0) refuse(std::strerror(read_errno));
  if (text.size() > jobs::max_client_certificate_size) {
    refuse("larger than " + std::to_string(jobs::max_client_certificate_size) + " bytes");
  }
  jobs::client_certificate_pem parsed;
  const jobs::client_certificate_check checked = jobs::parse_client_certificate(text, parsed);
  if (!checked.ok()) throw error(checked.code, pem_path + ": " + checked.message);
  set_client_certificate(parsed.certificate, parsed.private_key);
}

void job::set_allow_https_to_http_redirect(bool allow) {
  set_properties(connection_, id_, {{"allow_https_to_http_redirect", allow}});
}

void job::set_proxy_settings(const proxy_settings& proxy) {
  set_properties(connection_, id_,
                 {{"proxy",
                   {{"usage", std::string(to_string(proxy.usage))},
                    {"proxy_list", proxy.proxy_list},
                    {"bypass_list", proxy.bypass_list}}}});
}

void job::set_notify_command(const std::string& program, const std::string& parameters) {
  set_properties(connection_, id_,
                 {{"notify_command", {{"program", program}, {"parameters", parameters}}}});
}

void job::set_credentials(auth_target target, auth_scheme scheme, const std::string& user_name,
                          const std::string& password) {
  use(connection_)
      .call("SetCredentials", {{"id", id_},
                               {"target", static_cast<std::uint32_t>(target)},
                               {"scheme", static_cast<std::uint32_t>(scheme)},
                               {"user_name", user_name},
                               {"password", password}});
}

void job::remove_credentials(auth_target target, auth_scheme scheme) {
  use(connection_)
      .call("RemoveCredentials", {{"id", id_},
                                  {"target", static_cast<std::uint32_t>(target)},
                                  {"scheme", static_cast<std::uint32_t>(scheme)}});
}

void job::set_remote_name(std::uint32_t file_index, const std::string& remote_url) {
  use(connection_)
      .call("SetRemoteName", {{"id", id_}, {"file_index", file_index}, {"remote_url", remote_url}});
}

void job::set_validation_state(std::uint32_t file_index, bool valid) {
  use(connection_)
      .call("SetValidationState", {{"id", id_}, {"file_index", file_index}, {"valid", valid}});
}

bool job::replace_remote_prefix(const std::string& old_prefix, const std::string& new_prefix) {
  const json reply =
      use(connection_)
          .call("ReplaceRemotePrefix",
                {{"id", id_}, {"old_prefix", old_prefix}, {"new_prefix", new_prefix}});
  const auto matched = reply.find("matched");
  if (matched == reply.end() || !matched->is_boolean()) {
    throw error(value_of(hr::e_unexpected),
                "ReplaceRemotePrefix: the daemon's reply has no matched");
  }
  return matched->get<bool>();
}

void job::take_ownership() {
  use(connection_).call("TakeOwnership", {{"id", id_}});
}

// ---- notification subscriptions ----
//
// A subscription is a thread that holds a Subscribe stream on a connection of its own and calls
// the application's function for each notification, then acknowledges it on a second
// connection (a stream's connection carries nothing else). The thread polls a stop flag between
// reads, so reset() never waits longer than one read interval plus a running callback.

struct job::subscription::state {
  std::atomic<bool> stop{false};
  std::thread thread;
  std::atomic<bool> running{true};
  std::atomic<subscription_end> end{subscription_end::none};
};

namespace {

constexpr auto kSubscriptionPoll = std::chrono::milliseconds(100);

using subscription_end = job::subscription_end;

subscription_end end_of_stream(const std::string& kind) {
  if (kind == "replaced") return subscription_end::replaced;
  if (kind == "removed") return subscription_end::removed;
  if (kind == "ended") return subscription_end::job_ended;
  return subscription_end::none;
}

void run_subscription(const std::shared_ptr<job::subscription::state>& st,
                      const client_options& options, const std::string& id,
                      const std::function<bool(const notification&)>& fn,
                      const std::function<void(subscription_end)>& on_end, ipc::unique_fd stream,
                      ipc::frame_decoder decoder) {
  std::shared_ptr<detail::connection> acks;
  // The daemon went away, or the stream broke, unless the daemon said why it ended.
  subscription_end why = subscription_end::disconnected;
  try {
    while (!st->stop) {
      std::string message;
      try {
        message = ipc::receive_message(stream.get(), decoder, kSubscriptionPoll);
      } catch (const std::system_error& e) {
        if (e.code().value() == ETIMEDOUT) continue;
        break;  // the daemon went away: the registration is gone with it
      }
      json reply = json::parse(message, nullptr, false);
      if (reply.is_discarded() || reply.contains("error")) break;
      const json& parameters = reply["parameters"];
      const std::string kind = parameters.value("kind", "");
      if (const subscription_end end = end_of_stream(kind); end != subscription_end::none) {
        why = end;
        break;
      }
      notification n = ipc::notification_from_json(parameters);
      bool handled = false;
      try {
        handled = fn(n);
      } catch (...) {
        handled = false;  // an exception is a failed callback; it is delivered again later
      }
      if (st->stop) break;
      if (n.kind == notification_kind::transferred || n.kind == notification_kind::error) {
        if (!acks) acks = detail::connect(options);
        acks->call("Acknowledge", {{"id", id}, {"sequence", n.sequence}, {"handled", handled}});
      }
    }
  } catch (const std::exception&) {
    // A broken stream or acknowledgement ends the registration, as the process's exit would.
  }
  if (st->stop) why = subscription_end::reset;
  st->end = why;
  st->running = false;
  if (why != subscription_end::reset && on_end) {
    try {
      on_end(why);
    } catch (...) {
      // The application's signal handler failed; the subscription has ended all the same.
    }
  }
}

// The threads of subscriptions reset from inside their own callback, which cannot join
// themselves: each ends by itself once its callback returns. The next reset from another thread
// joins them, and so does the library as the process exits, so that none is still running then
// (its callback could run during the exit, and valgrind counts its memory as lost).
class ending_threads {
 public:
  ending_threads() = default;
  ending_threads(const ending_threads&) = delete;
  ending_threads& operator=(const ending_threads&) = delete;
  ~ending_threads() { join_all(); }

  void add(std::thread thread) {
    const std::lock_guard lock(mutex_);
    threads_.push_back(std::move(thread));
  }

  void join_all() {
    std::vector<std::thread> ending;
    {
      const std::lock_guard lock(mutex_);
      ending.swap(threads_);
    }
    for (auto& thread : ending) {
      // The exit may come from a callback: that thread cannot wait for itself.
      if (thread.get_id() == std::this_thread::get_id()) {
        thread.detach();
      } else {
        thread.join();
      }
    }
  }

 private:
  std::mutex mutex_;
  std::vector<std::thread> threads_;
};

ending_threads& threads_ending() {
  static ending_threads threads;
  return threads;
}

}  // namespace

job::subscription job::subscribe(std::function<bool(const notification&)> on_notification,
                                 std::function<void(subscription_end)> on_end) {
  client_options options = use(connection_).options();
  options.autostart = false;
  ipc::unique_fd stream = ipc::connect_unix(options.socket_path);
  if (!stream) {
    throw error(value_of(hr::do_e_no_service),
                "cannot reach opendod at " + options.socket_path + ": " + std::strerror(errno));
  }
  ipc::send_message(stream.get(), json{{"method", std::string(ipc::interface_name) + ".Subscribe"},
                                       {"parameters", {{"id", id_}}},
                                       {"more", true}}
                                      .dump());
  // The first reply confirms the registration or refuses it (SetNotifyInterface's HRESULT).
  ipc::frame_decoder decoder;
  json first;
  try {
    first = json::parse(ipc::receive_message(stream.get(), decoder, options.connect_timeout),
                        nullptr, false);
  } catch (const std::system_error& e) {
    throw error(value_of(hr::do_e_no_service),
                "opendod did not answer Subscribe on " + options.socket_path + ": " + e.what());
  }
  if (first.is_discarded()) malformed("Subscribe", "not JSON");
  if (first.contains("error")) {
    const json& p = first["parameters"];
    const std::string name = first["error"].is_string() ? first["error"].get<std::string>() : "";
    if (name == ipc::hresult_error) {
      throw error(p.value("code", value_of(hr::e_fail)), p.value("message", "Subscribe failed"));
    }
    throw error(value_of(hr::e_invalidarg), "Subscribe refused: " + first.dump());
  }
  if (first["parameters"].value("kind", "") != "registered") {
    malformed("Subscribe", "the first reply is not \"registered\"");
  }
  subscription out;
  out.state_ = std::make_shared<subscription::state>();
  out.state_->thread =
      std::thread(run_subscription, out.state_, options, id_, std::move(on_notification),
                  std::move(on_end), std::move(stream), std::move(decoder));
  return out;
}

job::subscription::~subscription() {
  reset();
}
job::subscription::subscription(subscription&&) noexcept = default;
job::subscription& job::subscription::operator=(subscription&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
  }
  return *this;
}

bool job::remove_subscription() {
  const json reply = use(connection_).call("Unsubscribe", {{"id", id_}});
  const auto removed = reply.find("removed");
  if (removed == reply.end() || !removed->is_boolean()) {
    malformed("Unsubscribe", "no removed in the reply");
  }
  return removed->get<bool>();
}

void job::subscription::reset() {
  if (!state_) return;
  if (state_->running) state_->end = subscription_end::reset;
  state_->stop = true;
  if (state_->thread.joinable()) {
    if (state_->thread.get_id() == std::this_thread::get_id()) {
      // Reset from inside the callback: the thread ends by itself, and is joined later.
      threads_ending().add(std::move(state_->thread));
    } else {
      state_->thread.join();
      threads_ending().join_all();
    }
  }
  state_.reset();
}

bool job::subscription::active() const {
  return state_ && state_->running;
}

job::subscription_end job::subscription::end_reason() const {
  return state_ ? state_->end.load() : subscription_end::reset;
}

}  // namespace opendo
