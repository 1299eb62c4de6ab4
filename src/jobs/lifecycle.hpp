// The BITS job life cycle as pure functions on jobs::job: every client call and every engine event
// is one function that checks the rules, changes the job and returns the HRESULT. No I/O, no clock:
// callers pass the monotonic `now` (timers) and the wall-clock `wall` (Unix seconds, for job
// times).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "jobs/job.hpp"

namespace opendo::jobs {

// ---- creation -------------------------------------------------------------------------------
// BG_E_TOO_MANY_JOBS_PER_MACHINE / _PER_USER when the counts (of non-final jobs) are at the limit,
// BG_E_STRING_TOO_LONG for a display name over the limit, else S_OK.
std::uint32_t check_create(std::uint32_t jobs_on_machine, std::uint32_t jobs_of_user,
                           std::string_view display_name, const limits& lim);
// A new job: SUSPENDED, default properties, creation/modification times = wall.
job make_job(std::string id, std::uint32_t owner_uid, std::string display_name, std::int64_t wall);

// ---- client calls ---------------------------------------------------------------------------
// All of them return BG_E_INVALID_STATE for a job in a final state (ACKNOWLEDGED, CANCELLED) and
// leave it untouched; on success they set times.modification = wall.

std::uint32_t set_display_name(job& j, std::string_view name, const limits& lim, std::int64_t wall);
std::uint32_t set_description(job& j, std::string_view text, const limits& lim, std::int64_t wall);
// E_INVALIDARG for a value outside BG_JOB_PRIORITY.
std::uint32_t set_priority(job& j, std::uint32_t priority, std::int64_t wall);
std::uint32_t set_minimum_retry_delay(job& j, std::uint32_t seconds, std::int64_t wall);
std::uint32_t set_no_progress_timeout(job& j, std::uint32_t seconds, std::int64_t wall);
// E_NOTIMPL for bits outside notify::all.
std::uint32_t set_notify_flags(job& j, std::uint32_t flags, std::int64_t wall);
// IBackgroundCopyJob4::SetMaximumDownloadTime: any value; 0 means no limit. A running job's
// deadline moves with it (a value under the time already spent fails the job at the next tick).
std::uint32_t set_max_download_time(job& j, std::uint32_t seconds, std::int64_t wall);
// BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE: any value (0 = no limit), but only before the first
// Resume: BG_E_READ_ONLY_PROPERTY_AFTER_RESUME afterwards.
std::uint32_t set_max_download_size(job& j, std::uint64_t bytes, std::int64_t wall);
// BITS_JOB_PROPERTY_DYNAMIC_CONTENT: only before the first Resume
// (BG_E_READ_ONLY_PROPERTY_AFTER_RESUME), and TRUE not for a job with a ranged file
// (E_INVALIDARG; Windows does not support dynamic content with file ranges).
std::uint32_t set_dynamic_content(job& j, bool dynamic, std::int64_t wall);
// BITS_JOB_PROPERTY_HIGH_PERFORMANCE: any time before a final state, also while transferring.
std::uint32_t set_high_performance(job& j, bool high_performance, std::int64_t wall);
// BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS: any value; 0 tells every modification.
std::uint32_t set_minimum_notification_interval(job& j, std::uint32_t ms, std::int64_t wall);

// Checks of a file before it is added (no I/O): the URL's length, the local path's length
// (BG_E_STRING_TOO_LONG), that the local path is absolute and names a file (E_INVALIDARG).
std::uint32_t check_file(std::string_view remote_url, std::string_view local_name,
                         const limits& lim);
// Appends a file. BG_E_TOO_MANY_FILES_IN_JOB at the per-job limit. Allowed in every non-final
// state; a TRANSFERRED job goes back to SUSPENDED (it has work again and waits for Resume).
std::uint32_t add_file(job& j, file_record file, const limits& lim, std::int64_t wall);

// SUSPENDED, ERROR, TRANSIENT_ERROR -> QUEUED (error cleared, retry timer cleared, progress timer
// restarted at now); with no files BG_E_EMPTY and the state is unchanged. QUEUED, CONNECTING,
// TRANSFERRING, TRANSFERRED: S_OK, unchanged. Every S_OK resets the download time to 0 (Windows:
// "Calling Resume resets the elapsed time") and marks the job resumed.
std::uint32_t resume(job& j, mono_time now, std::int64_t wall);
// Any non-final state -> SUSPENDED (error and retry timer cleared). SUSPENDED: S_OK, unchanged.
std::uint32_t suspend(job& j, std::int64_t wall);
// Any non-final state -> CANCELLED. The caller deletes the temporary files.
std::uint32_t cancel(job& j, std::int64_t wall);

// What Complete must do: deliver the completed files, drop the others. result is S_OK when every
// file is completed, BG_S_PARTIAL_COMPLETE when some are not, BG_E_INVALID_STATE for a final job.
struct complete_plan {
  std::uint32_t result = 0;
  std::vector<std::uint32_t> deliver;
  std::vector<std::uint32_t> drop;
};
complete_plan plan_complete(const job& j);
// After the files were delivered: -> ACKNOWLEDGED.
void mark_acknowledged(job& j, std::int64_t wall);

// ---- engine events --------------------------------------------------------------------------
// The scheduler started the job: QUEUED -> CONNECTING. Starts the progress timer if unset.
void on_connecting(job& j, mono_time now, std::int64_t wall);
// The scheduler took the job's slot, or its file must start again: CONNECTING or TRANSFERRING
// -> QUEUED. The download time stops running (QUEUED does not count).
void on_requeued(job& j, mono_time now, std::int64_t wall);
// The first response arrived: CONNECTING -> TRANSFERRING.
void on_transferring(job& j, std::int64_t wall);
// New bytes of file `index` are recorded: updates the file and restarts the progress timer.
void on_progress(job& j, std::uint32_t index, std::uint64_t bytes_transferred, mono_time now);
// File `index` is complete. When it was the last one the job becomes TRANSFERRED (returns true,
// times.transfer_completion = wall); otherwise current_file advances and the job stays active.
bool on_file_completed(job& j, std::uint32_t index, std::int64_t wall);
// File `f` starts again from byte 0 of the remote file: its progress, segments, size and
// validators are forgotten (its bytes on disk are cut when it starts).
void restart_file(file_record& f);
// The owner's application said transferred file `index` is not valid (IBackgroundCopyFile3::
// SetValidationState FALSE). The file starts again from byte 0, its validated flag cleared. A
// copy that came partly `from_peers` is fetched again from the origin only (origin_only): a
// TRANSFERRED job goes back to QUEUED, any other keeps its state. A copy from the origin alone
// puts the job in ERROR with BG_E_VALIDATION_FAILED (context REMOTE_FILE) for Resume to fetch it
// again, as BITS does. Returns the new state.
job_state on_file_rejected(job& j, std::uint32_t index, bool from_peers, mono_time now,
                           std::int64_t wall);
// A transfer failed. error_count grows and the error is recorded. The job goes to ERROR when the
// failure is not transient, when no_progress_timeout is 0, when the effective retry delay exceeds
// no_progress_timeout, or when no progress was made for no_progress_timeout; otherwise to
// TRANSIENT_ERROR with retry_at = now + effective_retry_delay. Returns the new state.
job_state on_error(job& j, error_record error, bool transient, mono_time now, std::int64_t wall);

// Timers. A TRANSIENT_ERROR job whose no-progress timeout ran out goes to ERROR (keeping its
// error); one whose retry time came goes back to QUEUED (error cleared). A CONNECTING or
// TRANSFERRING job whose download time reached max_download_time goes to ERROR with
// BG_E_MAXDOWNLOAD_TIMEOUT (context GENERAL_QUEUE_MANAGER, no file): timed_out, and the caller
// stops its transfer.
enum class tick_result { none, requeued, failed, timed_out };
tick_result tick(job& j, mono_time now, std::int64_t wall);

// max(retry_delay_floor, minimum_retry_delay): values under the floor (5 s) become the floor.
std::chrono::seconds effective_retry_delay(const job& j);
// When tick() next has something to do for this job, if ever.
std::optional<mono_time> next_deadline(const job& j);

// ---- limits ---------------------------------------------------------------------------------
// Time spent CONNECTING or TRANSFERRING since the last Resume: the recorded part plus the
// running clock. Windows counts only those two states (not QUEUED, TRANSIENT_ERROR, SUSPENDED).
std::chrono::milliseconds download_time(const job& j, mono_time now);
// Moves the running clock into download_time_spent so that the store can record it.
void checkpoint_download_time(job& j, mono_time now);
// What the job downloads in all: each file's size when known, else the bytes it has so far, plus
// `unrecorded` bytes the running transfer received and did not record yet.
std::uint64_t download_size(const job& j, std::uint64_t unrecorded = 0);
// max_download_size is set and download_size(j, unrecorded) is over it.
bool exceeds_max_download_size(const job& j, std::uint64_t unrecorded = 0);

}  // namespace opendo::jobs
