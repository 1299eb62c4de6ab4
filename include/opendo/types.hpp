// Value types of the modern opendo API: job states, priorities, progress and job snapshots.
// They are also the payloads of the wire protocol (see src/ipc/org.opendo.Transfer.varlink).
#pragma once

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

// BG_SIZE_UNKNOWN: the size is not known yet.
inline constexpr std::uint64_t size_unknown = ~std::uint64_t{0};

std::string_view to_string(job_state state);
std::string_view to_string(job_priority priority);
std::string_view to_string(error_context context);
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

struct file_info {
  std::string remote_url;
  std::string local_name;
  file_progress progress;
  // Bytes received from the origin server for this file (sources other than the origin come later).
  std::uint64_t bytes_from_origin = 0;
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
};

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

}  // namespace opendo
