// The modern C++ API of opendo: connect to opendod, create jobs, add files, drive and watch them.
// Every failure throws opendo::error, whose code() is HRESULT-valued and whose what() says why.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "opendo/hresult.hpp"
#include "opendo/types.hpp"

namespace opendo {

namespace detail {
class connection;
}

struct client_options {
  // Path of the daemon's socket. Empty: default_socket_path(); when that is the user's own
  // daemon and none answers there, a system daemon that answers (/run/opendo/opendod.sock, or
  // $OPENDO_SYSTEM_SOCKET) serves instead, and only when there is none is a user daemon started.
  std::string socket_path;
  // Start a user-mode opendod when none answers on the default socket.
  bool autostart = true;
  // The opendod binary to start; empty means: beside this program, then $OPENDO_DAEMON, then PATH.
  std::string daemon_path;
  std::chrono::milliseconds connect_timeout{5000};
};

// $OPENDO_SOCKET when set (e.g. /run/opendo/opendod.sock for the system daemon), else the
// calling user's own daemon: $XDG_RUNTIME_DIR/opendo/opendod.sock, or
// /tmp/opendo-UID/opendod.sock. Only the user's own daemon is started on demand.
std::string default_socket_path();

class job;

// A connection to opendod. Cheap to move; calls on one client are serialised.
class client {
 public:
  explicit client(const client_options& options = {});
  ~client();
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;

  // Creates a SUSPENDED download job.
  job create_job(const std::string& display_name);
  // BG_E_NOT_FOUND when no job with this id is visible to the caller.
  job open_job(const std::string& id);
  // The caller's jobs that are not in a final state; all users' with all_users (administrators).
  std::vector<job_info> list_jobs(bool all_users = false);
  // Machine-wide figures of the daemon (`opendo perfsnap`): totals by source since the store was
  // created, current rates, running jobs, the daemon's CPU time and memory. Any caller may read
  // them; they name no job. Each file's own figures are in job_info::files[i].sources.
  machine_statistics statistics();
  // The activity page of opendod (GetActivityPage): its address with a fresh token that lets a
  // browser on this machine read your jobs and the machine's totals. Throws with E_NOTIMPL when
  // opendod serves no page (it needs --activity-listen).
  activity_page_link activity_page();
  // The peers connected for the files of your jobs (an administrator's: every shared file).
  std::vector<peer_connection> peers();

  const std::string& socket_path() const;

 private:
  friend class job;
  std::shared_ptr<detail::connection> connection_;
  client_options options_;
};

// A handle on one job. Copies refer to the same job.
class job {
 public:
  const std::string& id() const { return id_; }

  void add_file(const std::string& remote_url, const std::string& local_path);
  // A file with options, e.g. only some byte ranges of it (AddFileWithRanges).
  void add_file(const file_spec& file);
  // AddFileSet: {remote_url, local_path} pairs, all added or none.
  void add_files(const std::vector<std::pair<std::string, std::string>>& files);
  // AddFileSet of files with options (a span, so that a braced list of pairs stays unambiguous).
  void add_files(std::span<const file_spec> files);
  void resume();
  void suspend();
  // Deletes the temporary files. Returns S_OK or BG_S_UNABLE_TO_DELETE_FILES.
  hr cancel();
  // Moves transferred files into place. Returns S_OK or BG_S_PARTIAL_COMPLETE.
  hr complete();

  job_info info();
  job_state state() { return info().state; }

  void set_display_name(const std::string& name);
  void set_description(const std::string& description);
  void set_priority(job_priority priority);
  void set_minimum_retry_delay(std::chrono::seconds delay);
  void set_no_progress_timeout(std::chrono::seconds timeout);
  void set_notify_flags(std::uint32_t flags);
  // IBackgroundCopyJob4::SetMaximumDownloadTime: how long the job may spend CONNECTING or
  // TRANSFERRING before it fails with BG_E_MAXDOWNLOAD_TIMEOUT (0 = no limit; resume() restarts
  // the count). Whole seconds, at most UINT32_MAX (E_INVALIDARG otherwise).
  void set_maximum_download_time(std::chrono::seconds timeout);
  // BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE: bytes the job may download in all (0 = no limit). Only
  // before the first resume() (BG_E_READ_ONLY_PROPERTY_AFTER_RESUME).
  void set_maximum_download_size(std::uint64_t bytes);
  // BITS_JOB_PROPERTY_DYNAMIC_CONTENT: the server's content may change per request or come
  // without a size or ranges, so each file is fetched whole and an interrupted one starts again
  // from byte 0. Only before the first resume() (BG_E_READ_ONLY_PROPERTY_AFTER_RESUME), and not
  // with files that have ranges (E_INVALIDARG).
  void set_dynamic_content(bool dynamic);
  // BITS_JOB_PROPERTY_HIGH_PERFORMANCE: speed over crash safety. The daemon no longer syncs and
  // records the job's running transfers once a second, only when a transfer stops or finishes,
  // so a crash of the machine may cost the bytes since then. Any time before a final state.
  void set_high_performance(bool high_performance);
  // BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS: modification notifications at most this
  // often (default 500 ms). At most UINT32_MAX ms (E_INVALIDARG otherwise).
  void set_minimum_notification_interval(std::chrono::milliseconds interval);
  // SetPeerCachingFlags: peer_caching::client lets the job's files come from peers,
  // peer_caching::server lets their content be served to peers (disable_branch_cache is kept and
  // means nothing here). A job whose flags were never set follows the daemon's download mode;
  // neither flag makes a daemon that does not share do so. Other bits E_INVALIDARG; any time
  // before a final state. Fetching follows the flags when a file next starts, serving at once.
  void set_peer_caching_flags(std::uint32_t flags);
  // Where the job may transfer (job_info::cost_flags): BITS_COST_STATE_* flags (bits outside
  // cost_state::known E_INVALIDARG), DO's CostPolicy and DisallowOnCellular. Any time before a
  // final state, applied at once: a job the network does not allow waits in TRANSIENT_ERROR
  // and goes on by itself when the network changes.
  void set_cost_flags(std::uint32_t flags);
  void set_cost_policy(do_cost_policy policy);
  void set_disallow_on_cellular(bool disallow);
  void set_proxy_settings(const proxy_settings& proxy);
  // SetNotifyCmdLine: program must be an absolute path (or empty to remove the command).
  void set_notify_command(const std::string& program, const std::string& parameters);
  // Basic, Digest and NTLM are supported; Negotiate and Passport are E_NOTIMPL. Never logged.
  void set_credentials(auth_target target, auth_scheme scheme, const std::string& user_name,
                       const std::string& password);
  void remove_credentials(auth_target target, auth_scheme scheme);
  // Header lines ("Name: value") sent with every request of the job, replacing the previous
  // ones; an empty list removes them. At most 100 lines and 16,383 bytes with a CRLF after each
  // (BG_E_STRING_TOO_LONG); no CR or LF in a line, a token name, and none of the headers the
  // engine sends itself (Host, Range, If-Range, Content-Length...; E_INVALIDARG).
  void set_custom_headers(const std::vector<std::string>& lines);
  // The same for secrets (Authorization: Bearer ...): write-only, never logged, kept like
  // credentials; job_info says only whether there are any. TakeOwnership drops both lists.
  void set_custom_auth_headers(const std::vector<std::string>& lines);
  // Whether an https URL may redirect to http (default false: such a redirect puts the job in
  // ERROR with ERROR_WINHTTP_REDIRECT_FAILED).
  void set_allow_https_to_http_redirect(bool allow);
  // The certificate errors the job's HTTPS requests accept: tls_exemption bits (0: none, the
  // default). Other bits E_INVALIDARG.
  void set_tls_exemptions(std::uint32_t exemptions);
  // The TLS client certificate the job's requests to its origin present (DO SecurityContext):
  // PEM texts of at most 65,536 bytes each, the certificate (then any chain) and its unencrypted
  // private key, which must belong to it (E_INVALIDARG otherwise). Two empty strings remove it.
  // Write-only (job_info says only whether there is one), kept like credentials, never logged,
  // dropped by TakeOwnership; the job's connections are its own.
  void set_client_certificate(const std::string& certificate_pem,
                              const std::string& private_key_pem);
  // The same from one PEM file holding the certificate (first, then any chain) and the key, read
  // here, with the calling process's own credentials (opendod never opens it). A file that cannot
  // be read, is larger than 65,536 bytes or does not hold a matching certificate and key is
  // E_INVALIDARG.
  void set_client_certificate_file(const std::string& pem_path);
  // SetRemoteName of IBackgroundCopyFile2: in any state but a final one. A file being transferred
  // starts again from the new URL at the same byte; a transferred file keeps its bytes.
  void set_remote_name(std::uint32_t file_index, const std::string& remote_url);
  // SetValidationState of IBackgroundCopyFile3: what the application found checking a transferred
  // file (E_PENDING before it is). Valid: file_info::validated becomes true. Not valid: the file
  // starts again from byte 0; a copy that came partly from peers leaves the content cache and
  // the file is fetched from the origin only, by itself; a copy from the origin alone puts the
  // job in ERROR with BG_E_VALIDATION_FAILED, and resume() fetches it again.
  void set_validation_state(std::uint32_t file_index, bool valid);
  // ReplaceRemotePrefix: every file whose URL starts with old_prefix, all or none. Returns false
  // when no file matched.
  bool replace_remote_prefix(const std::string& old_prefix, const std::string& new_prefix);
  // Makes the caller the owner (administrators only); clears the notify command.
  void take_ownership();

  // Registers this process for the job's notifications (SetNotifyInterface): the last
  // registration, from any process, wins; it lasts as long as the returned subscription (and
  // this process). on_notification runs on a thread of the library and may call back into the
  // API; returning true acknowledges the notification, false has the daemon deliver a
  // transferred/error notification again after the job's minimum retry delay. An event that
  // already happened (the job is TRANSFERRED or in ERROR) is delivered at once.
  // Why a subscription stopped delivering.
  enum class subscription_end : std::uint8_t {
    none = 0,      // it is still active
    reset,         // this process ended it (reset() or destruction)
    replaced,      // a later registration, from any process, took the job (the last one wins)
    removed,       // remove_subscription(), from any process (SetNotifyInterface(NULL))
    job_ended,     // the job reached a final state
    disconnected,  // the daemon went away (or the stream broke); the registration is gone
  };

  class subscription {
   public:
    subscription() = default;
    ~subscription();
    subscription(subscription&&) noexcept;
    subscription& operator=(subscription&&) noexcept;
    subscription(const subscription&) = delete;
    subscription& operator=(const subscription&) = delete;
    // Ends the registration; waits for a callback that is running on another thread.
    void reset();
    bool active() const;
    // subscription_end::none while active; afterwards, why it ended.
    subscription_end end_reason() const;

    struct state;  // opaque: the library's thread and its stop flag

   private:
    friend class job;
    std::shared_ptr<state> state_;
  };
  // on_end, when given, runs on the library's thread once the subscription ends for a reason
  // other than this process's reset() (replaced, removed, job_ended, disconnected): the signal to
  // register again or to poll the job's state.
  subscription subscribe(std::function<bool(const notification&)> on_notification,
                         std::function<void(subscription_end)> on_end = {});
  // Ends the job's registration, whoever made it (SetNotifyInterface(NULL)): the owner, the
  // creator or an administrator may. Returns false when the job had none; BG_E_INVALID_STATE for a
  // final job.
  bool remove_subscription();

  // Calls on_event with a snapshot and then with every change of this job until on_event returns
  // false or the job reaches a final state. Progress events are coalesced to at most one per
  // `progress_interval`. With watched_files::none the events' job_info has no files (its totals
  // count them): for a job of many files, whose every event would carry them all otherwise.
  // Runs on the calling thread over a connection of its own.
  void watch(const std::function<bool(const job_event&)>& on_event,
             std::chrono::milliseconds progress_interval = std::chrono::milliseconds(100),
             watched_files files = watched_files::all);

  // Blocks until the job is TRANSFERRED, ERROR, ACKNOWLEDGED or CANCELLED (or, with
  // stop_on_transient, TRANSIENT_ERROR) and returns its info then.
  job_info wait(bool stop_on_transient = false);

 private:
  friend class client;
  job(std::shared_ptr<detail::connection> connection, client_options options, std::string id)
      : connection_(std::move(connection)), options_(std::move(options)), id_(std::move(id)) {}
  std::shared_ptr<detail::connection> connection_;
  client_options options_;
  std::string id_;
};

}  // namespace opendo
