// The job manager: owns every job, applies the life-cycle rules to client requests and engine
// events, persists each change, drives the HTTP engine through the scheduler, and tells watchers.
// Single-threaded: the daemon's event loop calls it.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/background_work.hpp"
#include "daemon/config.hpp"
#include "daemon/file_ops.hpp"
#include "daemon/http_transfers.hpp"
#include "daemon/network.hpp"
#include "daemon/notifier.hpp"
#include "jobs/accounting.hpp"
#include "jobs/bandwidth.hpp"
#include "jobs/cache_hosts.hpp"
#include "jobs/cost_policy.hpp"
#include "jobs/job.hpp"
#include "jobs/segments.hpp"
#include "store/store.hpp"
#include "transfer/http/engine_api.hpp"
#include "transfer/peer/swarm_api.hpp"

namespace opendo::daemon {

// A refused request: the HRESULT and what happened in words.
struct request_error {
  std::uint32_t code;
  std::string message;
};

// The engine's record of a response as the API reports it (DO's Http* properties).
http_response to_http_response(const transfer::http::response_record& r);

// Who is calling: the kernel's record of the peer (SO_PEERCRED).
struct caller {
  uid_t uid = 0;
  pid_t pid = 0;
  bool admin = false;
};

// What a notification shows of a job to a subscriber who neither owns it nor administers: its
// creator after TakeOwnership. The id, owner and creator, state, priority, progress counts, notify
// flags, error count, times, and the error's code, context and file index; none of the new
// owner's names, files, URLs, headers, proxy, command line or messages.
job_info creators_view(const job_info& job);

struct property_changes {
  std::optional<std::string> display_name;
  std::optional<std::string> description;
  std::optional<std::uint32_t> priority;
  std::optional<std::uint32_t> minimum_retry_delay;
  std::optional<std::uint32_t> no_progress_timeout;
  std::optional<std::uint32_t> notify_flags;
  std::optional<proxy_settings> proxy;
  std::optional<notify_command_line> notify_command;
  std::optional<std::uint32_t> max_download_time;
  std::optional<std::uint64_t> max_download_size;
  std::optional<bool> dynamic_content;
  std::optional<bool> high_performance;
  std::optional<std::uint32_t> minimum_notification_interval_ms;
  std::optional<std::uint32_t> peer_caching_flags;
  std::optional<std::uint32_t> cost_flags;
  std::optional<std::uint32_t> cost_policy;
  std::optional<bool> disallow_on_cellular;
  std::optional<std::vector<std::string>> custom_headers;
  std::optional<std::vector<std::string>> custom_auth_headers;  // secrets: never logged
  std::optional<bool> allow_https_to_http_redirect;
  std::optional<std::uint32_t> tls_exemptions;
  std::optional<jobs::client_certificate_pem>
      client_certificate;  // the key is a secret: never logged
};

class manager final : public transfer::http::listener {
 public:
  using watcher = std::function<void(job_event_kind, const job_info&)>;

  manager(const config& cfg, store::job_store& store, file_ops& files);
  ~manager() override;

  // Loads the stored jobs; jobs that were running are queued again.
  void load();
  // Makes every change recorded so far survive a power loss (one sync of the store's WAL): the
  // server calls it once per event-loop turn before answering the turn's requests, so that a
  // power loss never takes back what a client was told (docs/durability.md, "Group commit").
  // Throws opendo::error.
  void sync_store() { store_.sync(); }
  // The store's count of changed rows: whether a request wrote anything.
  std::int64_t store_changes() const { return store_.changes(); }

  // Requests. Each throws request_error when refused.
  std::string create_job(const caller& who, const std::string& display_name);
  job_info get_job(const caller& who, const std::string& id);
  std::vector<job_info> list_jobs(const caller& who, bool all_users);
  // Machine-wide figures (perfsnap): for every caller, they name no job.
  machine_statistics statistics() const;
  // The peers connected for the content of the caller's jobs (an administrator's: every one).
  std::vector<peer_connection> peers(const caller& who) const;
  // The machine's totals by source with the bytes received since the last checkpoint, recorded
  // or not: what rates are measured from.
  source_stats live_totals() const;
  // A running job's download rate, bytes/s over the last 5 s (0 for a job not transferring).
  std::uint64_t job_rate(const std::string& id) const;
  // AddFile / AddFileSet / AddFileWithRanges: every file or none.
  void add_files(const caller& who, const std::string& id, const std::vector<file_spec>& files);
  void set_properties(const caller& who, const std::string& id, const property_changes& changes);
  void resume(const caller& who, const std::string& id);
  void suspend(const caller& who, const std::string& id);
  std::uint32_t cancel(const caller& who, const std::string& id);
  std::uint32_t complete(const caller& who, const std::string& id);

  void set_remote_name(const caller& who, const std::string& id, std::uint32_t index,
                       const std::string& remote_url);
  // IBackgroundCopyFile3::SetValidationState (see the Varlink interface).
  void set_validation_state(const caller& who, const std::string& id, std::uint32_t index,
                            bool valid);
  // ReplaceRemotePrefix: every file whose URL starts with old_prefix, all or none; false when no
  // file matched.
  bool replace_remote_prefix(const caller& who, const std::string& id,
                             const std::string& old_prefix, const std::string& new_prefix);
  void take_ownership(const caller& who, const std::string& id);
  void set_credentials(const caller& who, const std::string& id, std::uint32_t target,
                       std::uint32_t scheme, const std::string& user_name,
                       const std::string& password);
  void remove_credentials(const caller& who, const std::string& id, std::uint32_t target,
                          std::uint32_t scheme);

  // Notification subscriptions (SetNotifyInterface); see notifier.hpp. The job's owner, its
  // creator (after TakeOwnership too) and administrators may register; anyone else gets
  // E_ACCESSDENIED. A creator who no longer owns the job gets notifications whose job is
  // creators_view's, and can do nothing else with it (docs/security.md, "The creator after
  // TakeOwnership").
  std::uint64_t subscribe(const caller& who, const std::string& id, subscriber_sink sink);
  void unsubscribe(std::uint64_t token);
  // SetNotifyInterface(NULL): ends the job's registration whoever made it (the owner, the
  // creator or an administrator may).
  bool remove_subscription(const caller& who, const std::string& id);
  // By whoever may register (the subscriber acknowledges what it was sent).
  void acknowledge(const caller& who, const std::string& id, std::uint64_t sequence, bool handled);

  // Watching: `on_event` gets a snapshot now and every change later, progress no more often than
  // once per `progress_interval`. Returns a token.
  std::uint64_t watch(const caller& who, const std::string& id, watcher on_event,
                      std::chrono::milliseconds progress_interval);
  void unwatch(std::uint64_t token);

  // Event loop hooks: poll the engine (and the daemon's descriptors in `extra`), then run timers,
  // the scheduler and checkpoints. Returns how long the loop may sleep before calling again.
  void poll(std::vector<curl_waitfd>& extra, int timeout_ms);
  int run_once();
  void wakeup() { engine_.wakeup(); }
  // Records the progress of every running transfer (on shutdown).
  void checkpoint_all();
  // A new bandwidth policy (configuration reloaded): running transfers are paced to it at once.
  void set_bandwidth_policy(const jobs::bandwidth_policy& policy);
  // New cache hosts, fallback delay or ban time (configuration reloaded): for the next requests.
  void set_cache_host_policy(const jobs::cache_host_policy& policy);

  // transfer::http::listener
  std::optional<transfer::http::outcome> on_response(
      transfer::http::transfer_id id, const transfer::http::response_info& info) override;
  void on_finished(transfer::http::transfer_id id, const transfer::http::outcome& result) override;
  void on_synced(transfer::http::transfer_id id, std::uint64_t durable) override;

 private:
  struct active_transfer {
    std::string job_id;
    std::uint32_t file_index = 0;
    ipc::unique_fd fd;
    jobs::mono_time last_checkpoint;
    std::uint64_t checkpoint_received = 0;  // engine_.received() when that checkpoint was asked
    // The engine reports positions in the local file; the file's progress is where this request
    // began in both, plus what the engine wrote (they differ for in_place ranges).
    std::uint64_t base_progress = 0;
    std::uint64_t base_local = 0;
    // Where this request fetches from, and since when its time is not yet counted.
    jobs::byte_source source = jobs::byte_source::origin;
    std::string url;
    std::string cache_host;  // the cache host asked, when source is cache_host
    jobs::mono_time clock_at;
    // Its bytes below this offset of the local file are recorded; what it received beyond is not
    // yet (the live figures add it).
    std::uint64_t recorded_local = 0;
    // A segmented file: the segment this transfer fetches (see jobs/segments.hpp).
    std::optional<std::uint32_t> segment;
    // A whole file of known size from a server that takes ranges: it may be split.
    bool splittable = false;
    std::uint64_t progress_at(std::uint64_t local) const {
      return base_progress + local - base_local;
    }
  };
  struct watch_entry {
    std::string job_id;
    watcher on_event;
    caller who;  // who watches: a watcher that no longer owns the job sees creators_view only
    std::chrono::milliseconds progress_interval{0};
    jobs::mono_time last_progress{};  // when it was last told of progress
  };

  // A live job, or an ended one kept for a while (retire()); nullptr if neither.
  jobs::job* find_job(const std::string& id);
  jobs::job& visible_job(const caller& who, const std::string& id);
  jobs::job& mutable_job(const caller& who, const std::string& id);
  // The job for a registration call: found (live or retired) and not final, with the owner, the
  // creator or an administrator calling. Another user gets E_ACCESSDENIED (`refused` says for
  // what) on a live job and BG_E_NOT_FOUND on a retired one, as before the creator was kept.
  jobs::job& registration_job(const caller& who, const std::string& id, const char* refused);
  void check(std::uint32_t code, const std::string& what);
  void persist(const jobs::job& j);
  // The job's row and one file's, after only they changed (a file finished).
  void persist_file(const jobs::job& j, std::uint32_t index);
  // The job's row alone, after only the job's own fields changed (Resume, Suspend).
  void persist_state(const jobs::job& j);
  // Runs `save` and saves the totals if they changed, in one batch. On failure the job goes on
  // in memory and the next save may succeed; the error is logged loudly ("could not `what` job").
  void save_with_totals(const jobs::job& j, const std::function<void()>& save,
                        std::string_view what = "record");
  // Makes file `index`'s temporary name durable if start_file created it unsynced.
  void sync_name(const jobs::job& j, std::uint32_t index);
  // The job and file `index`'s validation flags in one transaction.
  void save_with_validation(const jobs::job& j, std::uint32_t index);
  // For a request that adds to what the store holds (a job, files): `save` writes it, and a
  // failed write refuses the request, so that the client never believes in a job a restart
  // would not bring back. `j` names the job in the log.
  void record_or_refuse(const jobs::job& j, const std::function<void()>& save);
  void notify(const jobs::job& j, job_event_kind kind);
  void retire(jobs::job& j);
  // Moves the files of a Complete whose intent is recorded, drops the rest and retires the job.
  std::uint32_t finish_complete(jobs::job& j, bool may_be_delivered);
  // On load: Completes that a crash interrupted are finished before any client sees the job.
  void finish_interrupted_completes();
  job_info view(const jobs::job& j) const;

  void schedule();
  void forget_stale_turns();
  void start_turn(const jobs::job& j, std::uint32_t index,
                  const transfer::http::response_info& info);
  void start_job(jobs::job& j);
  void start_file(jobs::job& j);
  // Cache hosts (jobs/cache_hosts.hpp): where a file's request goes, and what a failed request
  // to a cache host does.
  struct request_source {
    jobs::byte_source source = jobs::byte_source::origin;
    std::string url;
    std::string cache_host;
  };
  bool may_use_cache_hosts(const jobs::job& j, std::uint32_t index) const;
  // nullopt: no cache host is usable and the fallback delay holds the origin back; the job is
  // in TRANSIENT_ERROR.
  std::optional<request_source> choose_request_source(jobs::job& j, std::uint32_t index);
  void wait_for_origin(jobs::job& j, std::uint32_t index, jobs::mono_time origin_from);
  // Bans the host and goes on at once with the next source; false when the failure is not the
  // cache host's (a local file error, a job limit), which then fails the job as usual.
  bool on_cache_host_failure(jobs::job& j, std::uint32_t index, const std::string& host,
                             const transfer::http::outcome& result);
  void forget_cache_host_attempts(const std::string& job_id);
  // True when `opened` succeeded; otherwise fails the job (LOCAL_FILE; transient on a full disk).
  bool opened_or_failed(jobs::job& j, std::uint32_t index, const file_result& opened);
  // The fields of a request that come from the job (proxy, credentials, headers).
  transfer::http::request base_request(const jobs::job& j) const;
  // Aims a request at a source: its URL, and no certificate exemptions unless it is the origin.
  static void request_to(transfer::http::request& req, const request_source& source);
  // Segmented downloads: the transfers of a file's segments (on a resume, or one more when the
  // file's connection controller asks for it), within the connection caps.
  void start_segments(jobs::job& j, std::uint32_t index, ipc::unique_fd fd);
  bool start_segment(jobs::job& j, std::uint32_t index, std::uint32_t segment, int fd,
                     const request_source& from);
  void grow_segments(jobs::mono_time now);
  void give_back_connections(jobs::job& j, std::size_t count);
  bool add_connection(jobs::job& j, std::uint32_t index);
  bool save_segments(const jobs::job& j, std::uint32_t index);
  std::uint32_t connection_budget(const jobs::job& j, std::uint32_t index) const;
  // What connection_memory_ files under: the host a transfer asks (origin or cache host) and the
  // job's priority (whose bandwidth cap may be what made more connections not pay).
  static std::string memory_key(const jobs::job& j, const std::string& url);
  // Stops segment transfers of other jobs (their bytes kept, their segments resumed later) until
  // a job for `host` fits within the connection caps.
  void make_room(const std::string& host);
  void on_segment_finished(transfer::http::transfer_id id, const transfer::http::outcome& result);
  // What a transfer received beyond what is recorded.
  std::uint64_t unrecorded(transfer::http::transfer_id id, const active_transfer& t) const;
  // Records the bytes a transfer has durably written up to `durable_local` in its file.
  void record_transfer(jobs::job& j, active_transfer& t, std::uint64_t durable_local,
                       jobs::mono_time now);
  // Stops one transfer, recording its durable bytes, and forgets it.
  void stop_transfer(jobs::job& j, transfer::http::transfer_id id, jobs::mono_time now);
  void forget_transfer(transfer::http::transfer_id id);
  // The file changed on the server: its bytes are dropped and the job queues to fetch it again.
  void restart_changed_file(jobs::job& j, std::uint32_t index, const std::string& why);
  void change_remote_names(jobs::job& j,
                           const std::vector<std::pair<std::uint32_t, std::string>>& changes);
  // The boot this run is in, and which files were cut back to their records in it: only those
  // may adopt written bytes (see load_boot).
  void load_boot();
  void note_tail_cut(const jobs::job& j, std::uint32_t index);
  void record_tail_cuts();
  void adopt_written_bytes(jobs::job& j, std::uint32_t index, int fd);
  void adopt_segment_bytes(jobs::job& j, std::uint32_t index, int fd, const struct stat& info);
  void save_adopted_progress(const jobs::job& j, std::uint32_t index);
  static bool punch_hole(int fd, std::uint64_t offset, std::uint64_t length);
  static file_result truncate_temp(int fd, std::uint64_t size);
  bool verify_digest(jobs::job& j, std::uint32_t index, int fd);
  // File `index` has all its bytes: the next file starts, or the job is TRANSFERRED.
  void on_finished_file(jobs::job& j, std::uint32_t index);
  // What every file with all its bytes goes through (counts, content cache, notifications,
  // store); returns whether that made the job TRANSFERRED, which it has then announced.
  bool complete_file(jobs::job& j, std::uint32_t index);
  void stop_job(jobs::job& j);  // stops its transfer, recording the durable bytes
  // As stop_job, the durable bytes recorded in `j` only, not saved; false if nothing ran.
  bool halt_job(jobs::job& j);
  void fail_job(jobs::job& j, std::uint32_t code, error_context context, std::uint32_t file,
                const std::string& message, bool transient);
  void checkpoint(transfer::http::transfer_id id, active_transfer& t, jobs::mono_time now);
  void record_checkpoint(transfer::http::transfer_id id, active_transfer& t, std::uint64_t durable,
                         jobs::mono_time now);
  // Fails running jobs whose files of unknown size grew past their maximum download size.
  void enforce_max_download_size();
  void record_progress(jobs::job& j, std::uint32_t index, std::uint64_t durable,
                       jobs::byte_source source, jobs::mono_time now);
  // Accounting (jobs/accounting.hpp): each adds to the file's counters and the machine's totals.
  void count_request(jobs::file_record& file, jobs::byte_source source);
  void count_time(jobs::file_record& file, active_transfer& t, jobs::mono_time now);
  void count_file_downloaded();
  std::uint32_t count_jobs(std::optional<uid_t> owner) const;
  // Samples the rate of every running job; forgets the jobs that stopped.
  void sample_job_rates(jobs::mono_time now);
  // Bandwidth policy: divides each class's cap among its running transfers, and samples the
  // total download rate for the link capacity estimate.
  void pace_transfers(jobs::mono_time now);
  void sample_link_rate(jobs::mono_time now, bool capped);

  // ---- peer-to-peer delivery (manager_peers.cpp, docs/peers.md) ----
  // A file with trusted metadata goes through the swarm: its pieces come from peers and, for the
  // share this host owns, from the origin through the HTTP engine (origin fetches); once complete
  // in the content cache it is copied into the owner's temporary file like downloaded bytes.
  struct shared_file {
    std::uint32_t index = 0;
    std::string key;                    // the content in the swarm
    std::uint64_t peer_bytes_seen = 0;  // the swarm's from_peers already counted
    std::uint64_t verified = 0;         // last seen, for status
    jobs::mono_time clock_at;
    // A file with only a magnet whose metadata has not come from peers yet, and until when it
    // may wait for it before it goes over HTTP only.
    bool awaiting_metadata = false;
    jobs::mono_time metadata_by;
    std::uint64_t origin_size = size_unknown;  // what the origin said before (a magnet's)
    // Complete, and being copied from the cache into the owner's temporary file by the copy
    // numbered `copy` (deliver_shared_file); a result of another copy is not this one's.
    bool delivering = false;
    std::uint64_t copy = 0;
  };
  // A whole-file copy done off the event loop (copies_): a complete content from the cache into
  // a job's temporary file (a delivery), or a job's file into the cache (an import).
  struct cache_copy {
    bool import = false;
    std::uint64_t number = 0;
    std::string job_id;
    std::uint32_t index = 0;
    std::string key;
    std::string metainfo;  // an import's, for the swarm
    std::string url;       // an import's: the file's URL
    ipc::unique_fd to;     // a delivery's temporary file, for the digest check
    std::string error;     // why it failed; empty when copied and synced
    bool disk_full = false;
  };
  struct origin_fetch {
    std::string job_id;
    std::string key;
    transfer::peer::piece_span span;
    ipc::unique_fd fd;  // a memfd the span's bytes are written to
    jobs::mono_time started;
  };
  // A metainfo published beside a file (file_spec::metainfo_url) being fetched, then the probe
  // of the origin's size it must match (docs/peers.md).
  struct metainfo_fetch {
    std::string job_id;
    std::uint32_t index = 0;
    bool probe = false;      // false: the metainfo itself; true: bytes 0-0 of the origin's file
    ipc::unique_fd fd;       // a memfd the body is written to
    std::string metainfo;    // for the probe: the metainfo read before
    std::uint64_t size = 0;  // for the probe: the size the metainfo describes
    std::uint64_t origin_total = size_unknown;  // for the probe: what the origin said
    // The probe of a file with only a magnet (no metainfo to compare): its size decides whether
    // it is worth asking peers for the metadata (at least --peer-min-file-size).
    bool magnet = false;
  };
  // True while the job has transfers, a shared file being fetched or a published metainfo.
  bool running(const std::string& job_id) const {
    return active_by_job_.count(job_id) != 0 || shared_.count(job_id) != 0 ||
           metainfo_fetch_by_job_.count(job_id) != 0;
  }
  // Whether the file should first fetch its published metainfo, and doing it.
  bool wants_published_metainfo(const jobs::job& j, std::uint32_t index) const;
  void start_metainfo_fetch(jobs::job& j, std::uint32_t index, bool probe, std::string metainfo,
                            std::uint64_t size, bool magnet = false);
  void stop_metainfo_fetch(const std::string& job_id);
  // The file goes over HTTP only for this start, `why` shown in `opendo info`.
  void published_metainfo_refused(jobs::job& j, std::uint32_t index, const std::string& why);
  bool on_metainfo_fetch_finished(transfer::http::transfer_id id,
                                  const transfer::http::outcome& result);
  std::optional<std::optional<transfer::http::outcome>> on_metainfo_fetch_response(
      transfer::http::transfer_id id, const transfer::http::response_info& info);
  bool may_share(const jobs::job& j, std::uint32_t index) const;
  // A file with only a magnet (docs/peers.md): whether it is tried through the swarm, what
  // happens once its metadata came from peers, and its fall back to HTTP only (`why` shown in
  // `opendo info`) when none came in time or it cannot be shared.
  bool may_share_magnet(const jobs::job& j, std::uint32_t index) const;
  bool magnet_metadata_arrived(jobs::job& j, shared_file& shared, std::string& why);
  void magnet_not_used(jobs::job& j, std::uint32_t index, const std::string& why);
  // The full metainfo of a complete content that came by its magnet, into the content cache.
  void keep_magnet_metainfo(const jobs::job& j, const shared_file& shared);
  // The size a file's metainfo describes (0 when it cannot be read), parsed once per content.
  std::uint64_t content_size(const jobs::file_record& file) const;
  // download_mode, cache_size and peers_connected of the statistics.
  void add_swarm_figures(machine_statistics& s) const;
  transfer::peer::swarm_api& the_swarm();  // loads the peer module
  void start_shared_file(jobs::job& j, std::uint32_t index);
  void run_shared_files(jobs::mono_time now);
  void start_origin_fetches(jobs::job& j, shared_file& shared, jobs::mono_time now);
  // Each content's figures as read once in a turn of run_shared_files.
  using progress_by_key = std::map<std::string, transfer::peer::content_progress>;
  void count_peer_traffic(const progress_by_key& progress);
  // A job with SERVER but not CLIENT fetched its file over HTTP: its bytes are copied into the
  // content cache and served once libtorrent has checked them (docs/peers.md).
  void import_into_content_cache(jobs::job& j, std::uint32_t index);
  void check_imported(const progress_by_key& progress);
  // Opens or closes each shared content's uploads as its jobs' peer caching flags allow.
  void gate_uploads();
  // A job the network's cost does not allow waits in TRANSIENT_ERROR with the blocking code.
  void wait_for_network(jobs::job& j, const jobs::cost_block& block);
  // Queues the jobs that were waiting for this network, stops those it does not allow.
  void on_network_changed(jobs::mono_time now);
  // Whether a job that shares the content `key`, other than `except`, may serve it to peers.
  bool others_may_serve(const std::string& key, const std::string& except) const;
  // A complete content's delivery to its job: the copy starts here, off the loop, and
  // delivered_shared_file ends it.
  void deliver_shared_file(jobs::job& j);
  void delivered_shared_file(cache_copy done);
  void imported_into_content_cache(cache_copy done);
  // Ends the copies the worker has done.
  void finish_cache_copies();
  void copy_off_loop(cache_copy what, ipc::unique_fd from, ipc::unique_fd to, std::uint64_t size);
  void stop_shared_file(jobs::job& j);
  // Fails every job that shares the content.
  // The content cache (docs/peers.md): complete content is marked, shared again after a
  // restart while young enough, and deleted once too old or when the cache is over its size.
  void remember_content(const std::string& key, const std::string& metainfo);
  void mark_content_complete(const std::string& key, const std::string& url);
  // A complete content its job may not serve, once no other job shares it: out of the swarm and
  // the cache, so that neither this run nor the next one serves it.
  void forget_unserved_content(const std::string& key);
  void restore_content_cache();
  void expire_content_cache(jobs::mono_time now);
  // A content an application rejected (SetValidationState FALSE on a copy peers sent part of):
  // it stops being shared and leaves the cache.
  void forget_rejected_content(const std::string& content_id);
  void drop_cached_content(const std::string& key, const char* why);
  void fail_shared_content(const std::string& key, std::uint32_t code, error_context context,
                           const std::string& message, bool transient);
  // libtorrent stopped the content for good because its v1 and v2 hashes disagree
  // (swarm_event::kind::inconsistent): its files with only a magnet come over HTTP, the magnet
  // dropped; those with a metainfo fail as files that do not match it; the content leaves the
  // swarm and the cache.
  void drop_inconsistent_content(const std::string& key, const std::string& message);
  bool on_origin_fetch_finished(transfer::http::transfer_id id,
                                const transfer::http::outcome& result);
  std::optional<std::optional<transfer::http::outcome>> on_origin_fetch_response(
      transfer::http::transfer_id id, const transfer::http::response_info& info);
  config config_;
  // The cost of the network now ([network], jobs/network_cost.hpp); read in the loop.
  network_monitor network_{config_.network};
  store::job_store& store_;
  file_ops& files_;
  http_transfers engine_;  // loads the HTTP module at the first transfer
  std::map<std::string, jobs::job> jobs_;
  // Jobs that reached a final state stay visible to GetJob for a while; not persisted.
  std::map<std::string, jobs::job> retired_;
  std::deque<std::string> retired_order_;
  std::map<transfer::http::transfer_id, active_transfer> active_;
  // Each running job's transfers: one, or one per running segment of a segmented file.
  std::map<std::string, std::vector<transfer::http::transfer_id>> active_by_job_;
  // How many connections each running segmentable file should use; not persisted.
  std::map<std::pair<std::string, std::uint32_t>, jobs::connection_controller> controllers_;
  // Per host, how many connections its last segmented file settled on (not persisted): the next
  // file from there starts with that many.
  jobs::connection_memory connection_memory_;
  // Files of a server without range support restarted from 0; too many -> ERROR.
  std::map<std::pair<std::string, std::uint32_t>, int> restarts_;
  std::map<std::uint64_t, watch_entry> watchers_;
  notifier notifier_;
  std::uint64_t next_watch_ = 1;
  jobs::mono_time last_progress_notice_{};
  // The machine's totals, saved with the next save of a job or of a file's progress (same
  // transaction) once they changed.
  jobs::machine_totals totals_;
  bool totals_dirty_ = false;
  jobs::rate_window download_rate_;
  jobs::rate_window upload_rate_;
  std::map<std::string, jobs::rate_window> job_rates_;  // running jobs only
  jobs::mono_time job_rates_sampled_{};
  jobs::mono_time started_at_ = jobs::mono_clock::now();
  std::string boot_id_;  // empty when the kernel's cannot be read
  std::set<std::pair<std::string, std::uint32_t>> tails_cut_;                // (job id, file index)
  std::vector<std::pair<std::string, std::uint32_t>> unrecorded_tail_cuts_;  // in tails_cut_
  // Temporary files start_file created without syncing their directory (a Resume does not wait
  // for it), by (owner, directory), and the same names as (job id, file index). sync_name syncs
  // a name's directory before the file's first record, which makes every name in it durable.
  std::map<std::pair<uid_t, std::string>, std::vector<std::pair<std::string, std::uint32_t>>>
      unsynced_dirs_;
  std::set<std::pair<std::string, std::uint32_t>> unsynced_names_;
  bool dirty_schedule_ = true;
  int test_exit_after_renames_ = 0;  // test hook, see manager.cpp
  int renames_done_ = 0;
  // Bandwidth policy state (see pace_transfers).
  jobs::link_capacity_estimator link_capacity_;
  jobs::mono_time rate_sample_start_{};
  std::uint64_t rate_sample_bytes_ = 0;
  bool rate_sample_capped_ = false;
  bool rate_sample_valid_ = false;
  jobs::class_caps logged_caps_{};
  // Cache hosts that failed, for every file, and each file's use of cache hosts; not persisted.
  jobs::cache_host_bans cache_host_bans_;
  std::map<std::pair<std::string, std::uint32_t>, jobs::cache_host_attempt> cache_attempts_;
  // What the scheduler's time slices need, not persisted. A running job's turn starts when its
  // first response arrives (connecting uses no slice) and lasts over its files until it stops.
  struct turn {
    std::optional<jobs::mono_time> started;
    bool resumable = false;  // stopping it loses no bytes: it may be rotated out
  };
  std::map<std::string, turn> turns_;
  std::map<std::string, jobs::mono_time> waiting_since_;  // QUEUED jobs without a transfer
  std::optional<jobs::mono_time> next_schedule_at_;       // a slice ends while a job waits
  // Last, so destroyed first: libtorrent's threads wake the engine until the swarm is gone.
  std::unique_ptr<transfer::peer::swarm_api> swarm_;  // made when a file is first shared
  std::map<std::string, shared_file> shared_;         // by job id
  std::map<transfer::http::transfer_id, origin_fetch> origin_fetches_;
  std::map<transfer::http::transfer_id, metainfo_fetch> metainfo_fetches_;
  std::map<std::string, transfer::http::transfer_id> metainfo_fetch_by_job_;
  // Files with only a magnet whose origin size was probed (job id, file index -> size): the next
  // start_shared_file asks peers for their metadata, which must describe that size.
  std::map<std::pair<std::string, std::uint32_t>, std::uint64_t> magnet_sizes_;
  std::map<std::string, std::uint64_t> uploads_seen_;  // by content: to_peers already counted
  std::map<std::string, std::uint32_t> bad_pieces_;    // by content: hash failures seen
  std::set<std::string> uploaded_contents_;            // contents that sent bytes to peers
  // By content id: the size its metainfo describes (content_size), which may_share reads at
  // every start of a file.
  mutable std::map<std::string, std::uint64_t> content_sizes_;
  jobs::mono_time swarm_turn_at_{};
  jobs::mono_time cache_checked_at_{};
  // Contents shared again after a restart whose v1 twin waits for libtorrent's check: by key, the
  // file's URL (the twin's web seed).
  std::map<std::string, std::string> restored_twins_;
  // Contents put in the cache from an HTTP download (import_into_content_cache) whose check is
  // not done yet: content key -> the file's URL.
  std::map<std::string, std::string> importing_;
  // Contents being copied into the cache by an import (import_into_content_cache).
  std::set<std::string> imports_copying_;
  // Whole-file copies to and from the content cache, off the loop (started at the first). Last,
  // so that it is joined before anything its results would reach goes.
  std::uint64_t copies_made_ = 0;
  std::unique_ptr<background_work<cache_copy>> copies_;
};

}  // namespace opendo::daemon
