// Value types of the modern opendo API: job states, priorities, progress and job snapshots.
// They are also the payloads of the wire protocol (see src/ipc/org.opendo.Transfer.varlink).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace opendo {

// Values are those of BG_JOB_STATE.
enum class job_state : std::uint32_t {
  queued = 0,
  connecting = 1,
  transferring = 2,
  suspended = 3,
  error = 4,
  transient_error = 5,
  transferred = 6,
  acknowledged = 7,
  cancelled = 8,
};

// Values are those of BG_JOB_PRIORITY.
enum class job_priority : std::uint32_t { foreground = 0, high = 1, normal = 2, low = 3 };

// Values are those of BG_ERROR_CONTEXT.
enum class error_context : std::uint32_t {
  none = 0,
  unknown = 1,
  general_queue_manager = 2,
  queue_manager_notification = 3,
  local_file = 4,
  remote_file = 5,
  general_transport = 6,
  remote_application = 7,
};

// BG_NOTIFY_* flags.
namespace notify {
inline constexpr std::uint32_t job_transferred = 0x1;
inline constexpr std::uint32_t job_error = 0x2;
inline constexpr std::uint32_t disable = 0x4;
inline constexpr std::uint32_t job_modification = 0x8;
inline constexpr std::uint32_t file_transferred = 0x10;
inline constexpr std::uint32_t file_ranges_transferred = 0x20;
inline constexpr std::uint32_t all = 0x3F;
}  // namespace notify

// BG_JOB_ENABLE_PEERCACHING_* flags (SetPeerCachingFlags): what a job may do with peers.
namespace peer_caching {
inline constexpr std::uint32_t client = 0x1;  // its files may come from peers
inline constexpr std::uint32_t server = 0x2;  // its content may be served to peers
// BG_JOB_DISABLE_BRANCH_CACHE: about Windows BranchCache; accepted and kept, nothing to do.
inline constexpr std::uint32_t disable_branch_cache = 0x4;
inline constexpr std::uint32_t all = 0x7;
}  // namespace peer_caching

// BITS_COST_STATE_* (IBackgroundCopyJob5 BITS_JOB_PROPERTY_ID_COST_FLAGS): the network states a
// job may transfer on. opendo tells three: unrestricted, metered (CAPPED_USAGE_UNKNOWN: the cap
// is not known) and cellular (USAGE_BASED); it never sees a cap, roaming or congestion.
namespace cost_state {
inline constexpr std::uint32_t unrestricted = 0x1;
inline constexpr std::uint32_t capped_usage_unknown = 0x2;
inline constexpr std::uint32_t below_cap = 0x4;
inline constexpr std::uint32_t near_cap = 0x8;
inline constexpr std::uint32_t overcap_charged = 0x10;
inline constexpr std::uint32_t overcap_throttled = 0x20;
inline constexpr std::uint32_t usage_based = 0x40;
inline constexpr std::uint32_t roaming = 0x80;
inline constexpr std::uint32_t ignore_congestion = 0x80000000;  // BITS_COST_OPTION_*
inline constexpr std::uint32_t known = 0x800000FF;
// BITS_COST_STATE_TRANSFER_*: the documented combinations.
inline constexpr std::uint32_t transfer_unrestricted =
    ignore_congestion | overcap_throttled | unrestricted;
inline constexpr std::uint32_t transfer_standard = ignore_congestion | usage_based |
                                                   overcap_throttled | below_cap |
                                                   capped_usage_unknown | unrestricted;
inline constexpr std::uint32_t transfer_no_surcharge = transfer_standard | near_cap;
inline constexpr std::uint32_t transfer_not_roaming = transfer_no_surcharge | overcap_charged;
inline constexpr std::uint32_t transfer_always = transfer_not_roaming | roaming;
}  // namespace cost_state

// Values are those of DODownloadCostPolicy.
enum class do_cost_policy : std::uint32_t {
  always = 0,
  unrestricted = 1,
  standard = 2,
  no_roaming = 3,
  no_surcharge = 4,
  no_cellular = 5,
};

// Values are those of BG_JOB_PROXY_USAGE.
enum class proxy_usage : std::uint32_t {
  preconfig = 0,
  no_proxy = 1,
  override = 2,
  autodetect = 3
};

struct proxy_settings {
  proxy_usage usage = proxy_usage::preconfig;
  std::string proxy_list;   // with override: space- or semicolon-separated proxies
  std::string bypass_list;  // with override: hosts that go direct
};

// Values are those of BG_AUTH_TARGET and BG_AUTH_SCHEME.
enum class auth_target : std::uint32_t { server = 1, proxy = 2 };
enum class auth_scheme : std::uint32_t {
  basic = 1,
  digest = 2,
  ntlm = 3,
  negotiate = 4,
  passport = 5
};

// Which credentials a job holds (the secrets never leave the daemon).
struct credential_slot {
  auth_target target = auth_target::server;
  auth_scheme scheme = auth_scheme::basic;
  std::string user_name;
};

// SetNotifyCmdLine: a program run as the job's owner on TRANSFERRED or ERROR when no live
// notification callback took the event.
struct notify_command_line {
  std::string program;     // absolute path; empty = none
  std::string parameters;  // the whole command line, as Windows passes it
};

// The last HTTP response of a job's transfers (after redirects): DO's HttpStatusCode,
// HttpResponseHeaders, HttpServerIPAddress and HttpRedirectionTarget. The daemon keeps it in
// memory only: after a restart of opendod it is empty until the next response.
struct http_response {
  std::uint32_t status = 0;  // 0: no response yet
  // The response's header lines, each "Name: value" followed by CRLF (at most 16 KiB; longer
  // header sets are cut at a line boundary).
  std::string headers;
  std::string server_ip;           // the address the response came from
  std::string redirection_target;  // the URL the request was redirected to; empty if it was not
};

// BG_SIZE_UNKNOWN: the size is not known yet.
inline constexpr std::uint64_t size_unknown = ~std::uint64_t{0};

std::string_view to_string(job_state state);
std::string_view to_string(job_priority priority);
std::string_view to_string(error_context context);
std::string_view to_string(proxy_usage usage);
std::optional<proxy_usage> proxy_usage_from_string(std::string_view text);
std::optional<job_state> job_state_from_string(std::string_view text);
std::optional<job_priority> job_priority_from_string(std::string_view text);

// A job in a final state accepts no more changes.
constexpr bool is_final(job_state state) {
  return state == job_state::acknowledged || state == job_state::cancelled;
}

struct file_progress {
  std::uint64_t bytes_total = size_unknown;
  std::uint64_t bytes_transferred = 0;
  bool completed = false;
};

// BG_FILE_RANGE / DO_DOWNLOAD_RANGE: the bytes [offset, offset + length) of the remote file;
// length_to_eof runs to the end of the file.
inline constexpr std::uint64_t length_to_eof = size_unknown;

struct byte_range {
  std::uint64_t offset = 0;
  std::uint64_t length = length_to_eof;
  friend bool operator==(const byte_range&, const byte_range&) = default;
};

// Where the bytes of a file's ranges go in the local file.
enum class range_layout : std::uint8_t {
  // One after another in the order given, as BITS's AddFileWithRanges writes them: ranges
  // 100-199 and 400-499 make a 200-byte file.
  concatenated = 0,
  // Each at its own offset, as IDODownload::Start with ranges does: the file ends where the last
  // range ends, and the bytes between ranges read as zeros (a sparse file).
  in_place = 1,
};

// Per-file accounting by source, the figures of Delivery Optimization's DOSwarmStats and
// Get-DeliveryOptimizationStatus (and IBackgroundCopyFile4::GetPeerDownloadStats).
//
// What a byte counts: each time a byte of the file is received from a source and recorded (at a
// checkpoint, about once a second, or when a request ends), it is added to that source's counter.
// A byte fetched again counts again: after a file restarts (it changed on the server, the server
// ignored a range request, its digest did not match) and after a crash of opendod dropped the
// bytes written since the last checkpoint. The bytes received in that last second before a crash
// are not counted the first time (their record died with the process), only when fetched again.
// So bytes_from_* may add up to more than the file's size, never to less than what is recorded.
// While a file is being transferred, the figures opendod reports include the bytes received since
// the last checkpoint, as its progress does.
struct source_stats {
  std::uint64_t bytes_from_origin = 0;       // the URL's server, over HTTP(S) (DO BytesFromHttp)
  std::uint64_t bytes_from_cache_hosts = 0;  // DO BytesFromCacheServer (Connected Cache)
  std::uint64_t bytes_from_lan_peers = 0;    // DO BytesFromLanPeers
  std::uint64_t bytes_from_group_peers = 0;  // DO BytesFromGroupPeers
  std::uint64_t bytes_to_lan_peers = 0;      // uploaded (DO BytesToLanPeers)
  std::uint64_t bytes_to_group_peers = 0;    // uploaded (DO BytesToGroupPeers)
  // Requests made to each source for this file (DO HttpConnectionCount and the like): every
  // request counts one, whether libcurl opened a connection for it or reused one.
  std::uint64_t origin_connections = 0;
  std::uint64_t cache_host_connections = 0;
  std::uint64_t lan_peer_connections = 0;
  std::uint64_t group_peer_connections = 0;
  // Time spent transferring this file (from each request's start to its end, summed), in ms.
  std::uint64_t download_duration_ms = 0;

  std::uint64_t bytes_downloaded() const {
    return bytes_from_origin + bytes_from_cache_hosts + bytes_from_lan_peers +
           bytes_from_group_peers;
  }
  std::uint64_t bytes_from_peers() const { return bytes_from_lan_peers + bytes_from_group_peers; }
  std::uint64_t bytes_uploaded() const { return bytes_to_lan_peers + bytes_to_group_peers; }
  // DO's PercentPeerCaching: bytes from LAN and group peers of all bytes downloaded, in
  // hundredths of a percent (0..10000), 0 before any byte.
  std::uint32_t percent_from_peers() const;
  // Bytes from cache hosts of all bytes downloaded, likewise.
  std::uint32_t percent_from_cache_hosts() const;
  friend bool operator==(const source_stats&, const source_stats&) = default;
};

// `part` of `whole` in hundredths of a percent, rounded down (0..10000); 0 when whole is 0.
// Integers, so that tables and JSON show the same figure everywhere.
std::uint32_t percent_hundredths(std::uint64_t part, std::uint64_t whole);

// A file to add to a job.
struct file_spec {
  std::string remote_url;
  std::string local_name;  // absolute path of the final file
  // Only these bytes of the remote file (at most 500 ranges, none overlapping, none empty); empty
  // means the whole file. In the in_place layout they are sorted by offset when added.
  std::vector<byte_range> ranges;
  range_layout layout = range_layout::concatenated;
  // The digest the file must have, "sha256:HEX" or "sha512:HEX" (of the local file's bytes, so of
  // the ranges for a ranged file); empty: not checked. A mismatch puts the job in ERROR with
  // BG_E_VALIDATION_FAILED and the file is never delivered.
  std::string digest;
  // Trusted content metadata, which lets opendod fetch the file from peers and verify every
  // piece (docs/architecture.md, "Content metadata"): at most one of the two, for a whole file
  // only (no ranges). metainfo is the raw bytes of a BitTorrent v2 or hybrid .torrent file of
  // this one file (at most max_metainfo_size bytes; `opendo publish` makes one); magnet a
  // "magnet:?xt=urn:btmh:1220..." URI with the v2 info hash (at most max_magnet_size bytes).
  // The daemon refuses anything else with E_INVALIDARG. (Initialized here so that existing
  // aggregate initializations of file_spec without them stay warning-free.)
  std::string metainfo = {};
  std::string magnet = {};
  // Instead of either: the http(s) URL of a metainfo published beside the file (for instance
  // remote_url + ".torrent", what `opendo publish` writes), which opendod fetches with the job's
  // HTTP options when the file starts (docs/peers.md, "A metainfo published beside the file").
  // As long as a remote URL may be, at most; for a whole file only, like metainfo.
  std::string metainfo_url = {};
};

// Limits of file_spec::metainfo and file_spec::magnet. A metainfo travels base64-encoded in one
// request, and a request is at most 1 MiB: 512 KiB of metainfo takes 683 KiB of it. Adding
// several files with metainfo at once (add_files) needs them to fit one request together; add
// them one by one otherwise.
inline constexpr std::size_t max_metainfo_size = std::size_t{512} * 1024;
inline constexpr std::size_t max_magnet_size = 4096;

struct file_info {
  std::string remote_url;
  std::string local_name;
  // The ranges the file was added with (GetFileRanges); empty for a whole file. A range's
  // length_to_eof stays as given.
  std::vector<byte_range> ranges;
  range_layout layout = range_layout::concatenated;
  std::string digest;  // as added ("sha256:HEX"), empty when none
  // For a file with ranges: bytes_total is the sum of the ranges' lengths (known once the size of
  // the remote file is, when one runs to its end) and bytes_transferred counts range bytes.
  file_progress progress;
  // Where the file's bytes came from and went (see source_stats).
  source_stats sources;
  // "urn:btmh:1220" and the 64 hex digits of the v2 info hash when the file was added with
  // trusted content metadata (a metainfo or a magnet); empty otherwise. The metainfo itself is
  // not sent back.
  std::string content_id = {};
  // The URL of the published metainfo the file was added with (file_spec::metainfo_url), and
  // what became of it: empty until it was fetched; "used" once it was (content_id then names
  // its content); otherwise why the file goes over HTTP only (404, not a v2 metainfo, ...).
  // For a file added with a magnet (no metainfo URL) the note says the same of its metadata from
  // peers: empty until its file starts, "used" once peers sent it, otherwise why the file goes over
  // HTTP only (no peer sent it in time, ...).
  std::string metainfo_url = {};
  std::string metainfo_note = {};
  // The temporary file the bytes go to until Complete, an absolute path beside local_name
  // (IBackgroundCopyFile3::GetTemporaryName). Empty from an opendod that does not say.
  std::string temp_name = {};
  // The owner's application said the file's content is valid (job::set_validation_state,
  // IBackgroundCopyFile3::GetValidationState).
  bool validated = false;
};

struct job_error {
  std::uint32_t code = 0;  // HRESULT
  error_context context = error_context::none;
  std::optional<std::uint32_t> file_index;  // the file the error is about, when one is
  std::string message;                      // what happened, in words
  std::string protocol;                     // "http" or "https" for transfer errors
};

// Seconds since the Unix epoch; 0 when the moment has not happened.
struct job_times {
  std::int64_t creation = 0;
  std::int64_t modification = 0;
  std::int64_t transfer_completion = 0;
};

struct job_info {
  std::string id;  // a GUID in registry format: {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}
  std::uint32_t owner_uid = 0;
  // Who created the job; differs from owner_uid after TakeOwnership.
  std::uint32_t creator_uid = 0;
  std::string display_name;
  std::string description;
  job_priority priority = job_priority::normal;
  job_state state = job_state::suspended;
  std::uint64_t bytes_total = size_unknown;
  std::uint64_t bytes_transferred = 0;
  std::uint32_t files_total = 0;
  std::uint32_t files_transferred = 0;
  std::uint32_t notify_flags = notify::job_transferred | notify::job_error;
  std::uint32_t minimum_retry_delay = 600;      // seconds
  std::uint32_t no_progress_timeout = 1209600;  // seconds
  std::uint32_t error_count = 0;
  std::optional<job_error> error;  // set in ERROR and TRANSIENT_ERROR only
  job_times times;
  std::vector<file_info> files;
  proxy_settings proxy;
  notify_command_line notify_command;
  std::vector<credential_slot> credentials;
  // IBackgroundCopyJob4::SetMaximumDownloadTime: seconds the job may spend CONNECTING or
  // TRANSFERRING before it fails with BG_E_MAXDOWNLOAD_TIMEOUT; 0 = no limit.
  std::uint32_t max_download_time = 7776000;
  // BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE: bytes the job may download in total; 0 = no limit.
  std::uint64_t max_download_size = 0;
  // BITS_JOB_PROPERTY_DYNAMIC_CONTENT: files are fetched whole, from byte 0, every time.
  bool dynamic_content = false;
  // BITS_JOB_PROPERTY_HIGH_PERFORMANCE: running transfers are not recorded once a second.
  bool high_performance = false;
  // BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS: JobModification at most this often.
  std::uint32_t minimum_notification_interval_ms = 500;
  // HTTP options: header lines ("Name: value") sent with every request of the job; whether it
  // holds write-only auth headers (their text never leaves the daemon); whether an https URL may
  // redirect to http (DO HttpAllowSecureToNonSecureRedirect); the last response.
  std::vector<std::string> custom_headers;
  bool has_custom_auth_headers = false;
  bool allow_https_to_http_redirect = false;
  // Certificate errors the job's HTTPS requests accept (tls_exemption bits); 0 accepts none.
  std::uint32_t tls_exemptions = 0;
  // Whether the job has a TLS client certificate (job::set_client_certificate): write-only, its
  // certificate and key never leave the daemon.
  bool has_client_certificate = false;
  http_response last_response;
  // BITS peer caching flags (peer_caching::*) as set; nullopt when never set: the job then
  // follows the daemon's download mode (fetches from peers and serves them when it shares).
  std::optional<std::uint32_t> peer_caching_flags = {};
  // Where the job may transfer (docs/configuration.md, "The network's cost"): BITS cost flags
  // (cost_state::*), DO's CostPolicy and DisallowOnCellular. A job the network does not allow
  // waits in TRANSIENT_ERROR with BG_E_BLOCKED_BY_COST_TRANSFER_POLICY,
  // DO_E_BLOCKED_BY_COST_TRANSFER_POLICY or DO_E_BLOCKED_BY_CELLULAR_POLICY and goes on by itself
  // when the network changes.
  std::uint32_t cost_flags = cost_state::transfer_always;
  do_cost_policy cost_policy = do_cost_policy::always;
  bool disallow_on_cellular = false;
};

// Certificate errors a job may choose to accept on its HTTPS requests, as bits of
// job_info::tls_exemptions (DO's SecurityFlags, WinHTTP's SECURITY_FLAG_IGNORE_*). Each accepts
// that one error only: a certificate with two problems needs both. The job's connections are its
// own (never shared with, or resumed by, another job), so no other job trusts a server because of
// them. Certificates of cache hosts and proxies are always verified.
namespace tls_exemption {
inline constexpr std::uint32_t unknown_ca = 0x1;     // not signed by a trusted authority
inline constexpr std::uint32_t wrong_usage = 0x2;    // not meant for TLS servers
inline constexpr std::uint32_t name_mismatch = 0x4;  // issued to another host name
inline constexpr std::uint32_t date_invalid = 0x8;   // expired or not yet valid
inline constexpr std::uint32_t all = 0xF;
}  // namespace tls_exemption

// Machine-wide figures of opendod (DO's Get-DeliveryOptimizationPerfSnap): `opendo perfsnap`.
// Every caller may read them, in system mode too: they are sums over all users, with no job,
// file name or URL in them.
struct machine_statistics {
  // Totals over every file of every job since the store was created (migrated stores: since the
  // migration to schema version 5, plus the bytes of the files it held then). Persisted with the
  // files' progress, so they survive restarts of opendod, crashes included.
  std::uint64_t files_downloaded = 0;  // files whose last byte arrived
  std::uint64_t files_uploaded = 0;    // shared files that sent bytes to peers
  source_stats totals;                 // bytes by source, requests, time transferring
  // Now.
  std::uint64_t download_rate = 0;  // bytes/s received over the last few seconds, all sources
  std::uint64_t upload_rate = 0;    // bytes/s sent to peers
  // Verified bytes of the content the daemon shares now (its content cache, docs/peers.md).
  std::uint64_t cache_size = 0;
  std::uint32_t peers_connected = 0;       // distinct peer addresses connected now
  std::uint32_t foreground_downloads = 0;  // running jobs of priority FOREGROUND
  std::uint32_t background_downloads = 0;  // running jobs of priority HIGH, NORMAL or LOW
  std::uint32_t queued_jobs = 0;           // jobs waiting for a slot (QUEUED, TRANSIENT_ERROR)
  // DO's DownloadMode name: "HttpOnly" (0), "Lan" (1), "Group" (2) or "Simple" (99); see opendod
  // --download-mode.
  std::string download_mode;
  // opendod itself, read by it from /proc/self/stat and /proc/self/statm.
  std::uint64_t daemon_cpu_time_ms = 0;  // user + system time since it started
  std::uint64_t daemon_rss_bytes = 0;    // resident set size
  std::uint64_t daemon_uptime_s = 0;
};

// A peer connected for a shared file (`opendo status --peers`, GetPeers): who it is and what
// went each way. Rates are over the last few seconds.
struct peer_connection {
  std::string content_id;        // the file's content ("urn:btmh:1220" + v2 info hash)
  std::string address;           // "ADDRESS:PORT" as connected
  std::string client;            // what the peer calls itself (e.g. "opendo 0.1.0.0")
  bool opendo = false;           // an opendo host, which shares the origin's work
  bool seed = false;             // it has the whole file
  std::uint64_t bytes_from = 0;  // payload received from it
  std::uint64_t bytes_to = 0;    // payload sent to it
  std::uint64_t rate_from = 0;   // bytes/s
  std::uint64_t rate_to = 0;
};

// The address of opendod's activity page with a token in its query, and the token alone (for a
// program that sends it as "Authorization: Bearer TOKEN").
struct activity_page_link {
  std::string url;
  std::string token;
};

// The Linux counterpart of the owner's SID: "S-1-22-1-<uid>", the SID Samba and Windows use for
// Unix users (the "Unix User" authority).
std::string owner_sid(std::uint32_t uid);

// What a watcher of a job is told: a fresh snapshot and why it was sent.
enum class job_event_kind : std::uint32_t {
  snapshot = 0,  // the state when watching started
  state = 1,     // the job changed state
  progress = 2,  // bytes arrived (coalesced)
  modified = 3,  // a file was added or a property changed
};

struct job_event {
  job_event_kind kind = job_event_kind::snapshot;
  job_info job;
};

// What a watcher is sent of a job's files with each event: every file's record, or none (the
// job's totals, files_total and files_transferred included, still count them all). A job of
// thousands of files sends them all at each change otherwise; a watcher of the totals, or of
// the state only, does not need them.
enum class watched_files : std::uint8_t { all, none };

// What a notification subscriber (SetNotifyInterface) is told, per BG_NOTIFY_* flag.
enum class notification_kind : std::uint32_t {
  transferred = 0,       // BG_NOTIFY_JOB_TRANSFERRED; re-delivered until handled
  error = 1,             // BG_NOTIFY_JOB_ERROR; on entering ERROR only; re-delivered until handled
  modification = 2,      // BG_NOTIFY_JOB_MODIFICATION; coalesced
  file_transferred = 3,  // BG_NOTIFY_FILE_TRANSFERRED, with file_index
};

struct notification {
  notification_kind kind = notification_kind::modification;
  std::uint64_t sequence = 0;  // acknowledged by this number
  std::optional<std::uint32_t> file_index;
  job_info job;
};

}  // namespace opendo
