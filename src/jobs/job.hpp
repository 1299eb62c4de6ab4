// The daemon's model of a job: what is persisted and what the life cycle rules act on.
// Pure data; no I/O. The wire/API view of a job is opendo::job_info (include/opendo/types.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jobs/client_certificate.hpp"
#include "opendo/types.hpp"

namespace opendo::jobs {

using mono_clock = std::chrono::steady_clock;
using mono_time = mono_clock::time_point;

// Bytes [first, end) of a whole file fetched by a connection of its own (jobs/segments.hpp);
// `done` of them, from first on, are durably on disk and recorded.
struct segment {
  std::uint64_t first = 0;
  std::uint64_t end = 0;
  std::uint64_t done = 0;
  std::uint64_t next() const { return first + done; }
  std::uint64_t remaining() const { return end - next(); }
  bool complete() const { return next() >= end; }
  bool operator==(const segment&) const = default;
};

struct file_record {
  std::string remote_url;
  std::string local_name;  // absolute path of the final file
  std::string temp_name;   // file name (no directory) of the temporary file beside local_name
  // Only these bytes of the remote file (empty: all of it); see jobs/ranges.hpp.
  std::vector<byte_range> ranges;
  range_layout layout = range_layout::concatenated;
  std::string digest;  // "sha256:HEX" / "sha512:HEX" the file must have; empty: not checked
  // Trusted content metadata as the owner gave it (at most one of metainfo, the raw bencoded
  // bytes, and magnet), checked when the file was added, and the content id derived from it
  // ("urn:btmh:1220" + v2 info hash; empty without metadata). They never change afterwards.
  std::string metainfo;
  std::string magnet;
  std::string content_id;
  // The URL of a metainfo published beside the file (file_spec::metainfo_url), given instead of
  // metainfo and magnet. Fetched when the file starts with no bytes yet; once it is read and
  // matches the origin's file, it fills metainfo and content_id as if the owner had given it.
  std::string metainfo_url;
  // Not persisted: what became of the published metainfo in this run ("used", or why the file
  // goes over HTTP only), as `opendo info` shows it.
  std::string metainfo_note;
  // Size of the remote file, when a response told it. For a whole file it equals bytes_total.
  std::uint64_t remote_size = size_unknown;
  // For a ranged file these count range bytes: the sum of the ranges, and what of it arrived.
  std::uint64_t bytes_total = size_unknown;
  std::uint64_t bytes_transferred = 0;  // bytes durably on disk and recorded
  bool completed = false;
  // A whole file fetched over several connections: its segments, whose done bytes add up to
  // bytes_transferred. Empty: one connection from byte 0 (bytes_transferred is where it is).
  std::vector<segment> segments;
  // Bytes and requests by source, time transferring (see source_stats and jobs/accounting.hpp).
  source_stats sources;
  // Validators of the response the bytes came from; a change restarts the file.
  std::string etag;
  std::string last_modified;
  std::int64_t remote_mtime = -1;  // Last-Modified as Unix seconds; -1 when unknown
  bool delivered = false;          // renamed into place by Complete
  // IBackgroundCopyFile3::SetValidationState: the owner's application said the content is valid
  // (GetValidationState); or it said a copy that came partly from peers is not, so the file is
  // fetched again from the origin only.
  bool validated = false;
  bool origin_only = false;
  // Not persisted: set when a daemon loads the job in the boot its last run had, so that the
  // bytes its temporary file holds beyond bytes_transferred may be kept (see the manager).
  bool adopt_written_bytes = false;
};

// The temporary file's absolute path: temp_name in local_name's directory.
std::string temp_path(const file_record& f);

// The store's one-integer form of a file's validation flags: bit 0 validated, bit 1 origin_only.
inline std::int64_t encode_validation(const file_record& f) {
  return (f.validated ? 1 : 0) | (f.origin_only ? 2 : 0);
}
inline void decode_validation(file_record& f, std::int64_t bits) {
  f.validated = (bits & 1) != 0;
  f.origin_only = (bits & 2) != 0;
}

struct error_record {
  std::uint32_t code = 0;  // HRESULT
  error_context context = error_context::none;
  std::optional<std::uint32_t> file_index;
  std::string message;
  std::string protocol;
};

// A secret for SetCredentials. Kept only in the daemon's store (mode 0600), never logged, never
// sent to clients (they see credential_slot).
struct credential_record {
  auth_target target = auth_target::server;
  auth_scheme scheme = auth_scheme::basic;
  std::string user_name;
  std::string password;
};

// Configurable limits; defaults are those of the reference.
struct limits {
  std::uint32_t max_jobs_per_machine = 300;
  std::uint32_t max_jobs_per_user = 60;
  std::uint32_t max_files_per_job = 200;
  std::uint32_t max_ranges_per_file = 500;
  std::size_t max_display_name = 256;
  std::size_t max_description = 1024;
  std::size_t max_url = 2200;
  std::size_t max_path = 4096;
};

struct job {
  std::string id;  // {GUID}
  std::uint32_t owner_uid = 0;
  // Who called CreateJob. TakeOwnership changes the owner, never the creator, who may still
  // register for the job's notifications (docs/security.md, "The creator after TakeOwnership").
  std::uint32_t creator_uid = 0;
  std::string display_name;
  std::string description;
  job_priority priority = job_priority::normal;
  job_state state = job_state::suspended;
  std::uint32_t notify_flags = notify::job_transferred | notify::job_error;
  std::uint32_t minimum_retry_delay = 600;      // seconds, as set (reads back as set)
  std::uint32_t no_progress_timeout = 1209600;  // seconds; 0 = every error is fatal
  std::uint32_t error_count = 0;
  std::optional<error_record> error;
  job_times times;  // wall clock, Unix seconds
  std::vector<file_record> files;
  std::uint32_t current_file = 0;  // index of the first file not completed
  proxy_settings proxy;
  notify_command_line notify_command;
  std::vector<credential_record> credentials;  // at most one per (target, scheme)
  // HTTP options (checked by jobs/headers.hpp). The auth headers are secrets like credentials:
  // stored, sent, never logged or returned. last_response is not persisted.
  std::vector<std::string> custom_headers;
  std::vector<std::string> custom_auth_headers;
  bool allow_https_to_http_redirect = false;
  std::uint32_t tls_exemptions = 0;  // opendo::tls_exemption bits
  // TLS client certificate (DO SecurityContext); its key is a secret like the credentials.
  client_certificate_pem client_certificate;
  http_response last_response;

  // IBackgroundCopyJob4::SetMaximumDownloadTime (seconds; 0 = no limit) and the time the job
  // has spent CONNECTING or TRANSFERRING since it was last resumed, up to the last state change or
  // checkpoint (download_clock_at holds the rest). Resume resets it, as in Windows.
  std::uint32_t max_download_time = 7776000;  // Windows' default: 90 days
  std::chrono::milliseconds download_time_spent{0};
  // BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE: bytes the whole job may download; 0 = no limit. Set
  // only before the first Resume, which `resumed` records.
  std::uint64_t max_download_size = 0;
  bool resumed = false;
  // BITS_JOB_PROPERTY_DYNAMIC_CONTENT: the server's content may differ per request (no size,
  // no ranges): every request fetches a file from byte 0, never with Range or If-Range, and an
  // interrupted file starts again. Set only before the first Resume, and not with ranges.
  bool dynamic_content = false;
  // BITS_JOB_PROPERTY_HIGH_PERFORMANCE: the job asks for speed over crash safety. Its running
  // transfers are not synced and recorded once a second; their bytes are recorded when the
  // transfer stops, finishes or the daemon shuts down. After a crash of the machine such a file
  // starts again from its last recorded byte (often 0). Any time before a final state.
  bool high_performance = false;
  // BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS: JobModification at most this often.
  std::uint32_t minimum_notification_interval_ms = 500;  // Windows' default
  // SetPeerCachingFlags (peer_caching::*); nullopt: never set (see jobs/peer_policy.hpp).
  std::optional<std::uint32_t> peer_caching_flags;
  // Where it may transfer (jobs/cost_policy.hpp).
  std::uint32_t cost_flags = cost_state::transfer_always;
  do_cost_policy cost_policy = do_cost_policy::always;
  bool disallow_on_cellular = false;

  // The daemon's policy, not persisted: retry delays under this floor are raised to it. The
  // reference's 5 s; a test daemon lowers it (opendod --retry-delay-floor) to test retries fast.
  std::chrono::seconds retry_delay_floor{5};

  // Monotonic timers; not persisted (a restarted daemon starts them afresh).
  std::optional<mono_time> retry_at;     // when a TRANSIENT_ERROR job is re-queued
  std::optional<mono_time> progress_at;  // last progress, or when the current attempt began
  // Since when the download time runs (CONNECTING or TRANSFERRING), not yet in
  // download_time_spent.
  std::optional<mono_time> download_clock_at;

  std::uint64_t bytes_total() const;  // size_unknown if any file's size is unknown
  std::uint64_t bytes_transferred() const;
  std::uint32_t files_transferred() const;
  bool all_files_completed() const;
};

// The API/wire view of a job.
job_info to_info(const job& j);

}  // namespace opendo::jobs
