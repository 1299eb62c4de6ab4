// The BITS job life cycle (see lifecycle.hpp for the contract of each function).
// Every function is total: calls that do not apply to the job's state change nothing.
#include "jobs/lifecycle.hpp"

#include <algorithm>
#include <utility>

#include "jobs/ranges.hpp"
#include "opendo/hresult.hpp"

namespace opendo::jobs {

namespace {

constexpr std::uint32_t s_ok = value_of(hr::ok);
constexpr std::uint32_t invalid_state = value_of(hr::bg_e_invalid_state);

// The reference counts names, descriptions and URLs in characters, not bytes: count UTF-8 code
// points so a non-ASCII name is not rejected for its encoding. Continuation bytes (10xxxxxx) do
// not start a character. Local paths are counted in bytes, as Linux limits them.
std::size_t char_count(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

bool is_error_state(job_state s) {
  return s == job_state::error || s == job_state::transient_error;
}

// Engine events only apply while the engine works on the job; a late event for a job the client
// suspended, completed or cancelled must not override that decision.
bool is_active(job_state s) {
  return s == job_state::queued || s == job_state::connecting || s == job_state::transferring;
}

// Leaving ERROR / TRANSIENT_ERROR: the error and the pending retry belong to the old state.
void set_state(job& j, job_state next) {
  if (is_error_state(j.state) && !is_error_state(next)) {
    j.error.reset();
    j.retry_at.reset();
  }
  j.state = next;
}

// The download clock runs while the job is CONNECTING or TRANSFERRING; leaving those states
// moves what it counted into download_time_spent.
void stop_download_clock(job& j, mono_time now) {
  if (!j.download_clock_at) return;
  if (now > *j.download_clock_at) {
    j.download_time_spent +=
        std::chrono::duration_cast<std::chrono::milliseconds>(now - *j.download_clock_at);
  }
  j.download_clock_at.reset();
}

std::uint32_t first_incomplete(const job& j) {
  std::uint32_t i = 0;
  while (i < j.files.size() && j.files[i].completed) ++i;
  return i;
}

}  // namespace

// ---- creation -------------------------------------------------------------------------------

std::uint32_t check_create(std::uint32_t jobs_on_machine, std::uint32_t jobs_of_user,
                           std::string_view display_name, const limits& lim) {
  if (jobs_on_machine >= lim.max_jobs_per_machine) {
    return value_of(hr::bg_e_too_many_jobs_per_machine);
  }
  if (jobs_of_user >= lim.max_jobs_per_user) return value_of(hr::bg_e_too_many_jobs_per_user);
  if (char_count(display_name) > lim.max_display_name) return value_of(hr::bg_e_string_too_long);
  return s_ok;
}

job make_job(std::string id, std::uint32_t owner_uid, std::string display_name, std::int64_t wall) {
  job j;
  j.id = std::move(id);
  j.owner_uid = owner_uid;
  j.creator_uid = owner_uid;
  j.display_name = std::move(display_name);
  j.state = job_state::suspended;
  j.times.creation = wall;
  j.times.modification = wall;
  return j;
}

// ---- client calls ---------------------------------------------------------------------------

std::uint32_t set_display_name(job& j, std::string_view name, const limits& lim,
                               std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  if (char_count(name) > lim.max_display_name) return value_of(hr::bg_e_string_too_long);
  j.display_name = name;
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t set_description(job& j, std::string_view text, const limits& lim, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  if (char_count(text) > lim.max_description) return value_of(hr::bg_e_string_too_long);
  j.description = text;
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t set_priority(job& j, std::uint32_t priority, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  if (priority > static_cast<std::uint32_t>(job_priority::low)) return value_of(hr::e_invalidarg);
  j.priority = static_cast<job_priority>(priority);
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t set_minimum_retry_delay(job& j, std::uint32_t seconds, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  // Stored as set; the 5 s floor is applied where the delay is used (effective_retry_delay).
  j.minimum_retry_delay = seconds;
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t set_no_progress_timeout(job& j, std::uint32_t seconds, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  j.no_progress_timeout = seconds;
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t set_notify_flags(job& j, std::uint32_t flags, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  if ((flags & ~notify::all) != 0) return value_of(hr::e_notimpl);
  j.notify_flags = flags;
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t set_max_download_time(job& j, std::uint32_t seconds, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  j.max_download_time = seconds;
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t set_max_download_size(job& j, std::uint64_t bytes, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  if (j.resumed) return value_of(hr::bg_e_read_only_property_after_resume);
  j.max_download_size = bytes;
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t set_dynamic_content(job& j, bool dynamic, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  if (j.resumed) return value_of(hr::bg_e_read_only_property_after_resume);
  if (dynamic && std::any_of(j.files.begin(), j.files.end(),
                             [](const file_record& f) { return !f.ranges.empty(); })) {
    return value_of(hr::e_invalidarg);  // Windows: not for downloads that use file ranges
  }
  j.dynamic_content = dynamic;
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t set_high_performance(job& j, bool high_performance, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  j.high_performance = high_performance;
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t set_minimum_notification_interval(job& j, std::uint32_t ms, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  j.minimum_notification_interval_ms = ms;
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t check_file(std::string_view remote_url, std::string_view local_name,
                         const limits& lim) {
  if (char_count(remote_url) > lim.max_url || local_name.size() > lim.max_path) {
    return value_of(hr::bg_e_string_too_long);
  }
  const auto invalid = value_of(hr::e_invalidarg);
  if (remote_url.empty()) return invalid;
  if (local_name.empty() || local_name.front() != '/' || local_name.back() == '/') return invalid;
  if (local_name.find('\0') != std::string_view::npos) return invalid;
  const auto last = local_name.substr(local_name.rfind('/') + 1);
  if (last == "." || last == "..") return invalid;
  return s_ok;
}

std::uint32_t add_file(job& j, file_record file, const limits& lim, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  if (j.files.size() >= lim.max_files_per_job) return value_of(hr::bg_e_too_many_files_in_job);
  j.files.push_back(std::move(file));
  j.current_file = first_incomplete(j);
  if (j.state == job_state::transferred) set_state(j, job_state::suspended);
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t resume(job& j, mono_time now, std::int64_t wall) {
  // Windows: Resume resets the elapsed download time, whatever the state it is called in.
  auto reset_download_time = [&] {
    j.resumed = true;
    j.download_time_spent = std::chrono::milliseconds{0};
    if (j.download_clock_at) j.download_clock_at = now;
  };
  switch (j.state) {
    case job_state::suspended:
    case job_state::error:
    case job_state::transient_error:
      if (j.files.empty()) return value_of(hr::bg_e_empty);
      set_state(j, job_state::queued);
      j.retry_at.reset();
      j.progress_at = now;
      j.times.modification = wall;
      reset_download_time();
      return s_ok;
    case job_state::queued:
    case job_state::connecting:
    case job_state::transferring:
    case job_state::transferred:
      reset_download_time();
      return s_ok;
    case job_state::acknowledged:
    case job_state::cancelled:
      break;
  }
  return invalid_state;
}

std::uint32_t suspend(job& j, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  if (j.state == job_state::suspended) return s_ok;
  set_state(j, job_state::suspended);
  j.error.reset();
  j.retry_at.reset();
  j.download_clock_at.reset();  // SUSPENDED does not count, and Resume starts from 0
  j.times.modification = wall;
  return s_ok;
}

std::uint32_t cancel(job& j, std::int64_t wall) {
  if (is_final(j.state)) return invalid_state;
  set_state(j, job_state::cancelled);
  j.download_clock_at.reset();
  j.times.modification = wall;
  return s_ok;
}

complete_plan plan_complete(const job& j) {
  complete_plan plan;
  if (is_final(j.state)) {
    plan.result = invalid_state;
    return plan;
  }
  for (std::uint32_t i = 0; i < j.files.size(); ++i) {
    const auto& f = j.files[i];
    if (!f.completed) {
      plan.drop.push_back(i);
    } else if (!f.delivered) {
      // A file already renamed into place (a Complete interrupted by a restart) is not moved
      // again; it still counts as delivered for the result.
      plan.deliver.push_back(i);
    }
  }
  plan.result = plan.drop.empty() ? s_ok : value_of(hr::bg_s_partial_complete);
  return plan;
}

void mark_acknowledged(job& j, std::int64_t wall) {
  if (is_final(j.state)) return;
  set_state(j, job_state::acknowledged);
  j.times.modification = wall;
}

// ---- engine events --------------------------------------------------------------------------

void on_connecting(job& j, mono_time now, std::int64_t wall) {
  if (j.state != job_state::queued) return;
  j.state = job_state::connecting;
  // A retry keeps the timer of the first attempt, so the no-progress timeout spans retries.
  if (!j.progress_at) j.progress_at = now;
  j.download_clock_at = now;
  j.times.modification = wall;
}

void on_requeued(job& j, mono_time now, std::int64_t wall) {
  if (j.state != job_state::connecting && j.state != job_state::transferring) return;
  stop_download_clock(j, now);
  j.state = job_state::queued;
  j.times.modification = wall;
}

void on_transferring(job& j, std::int64_t wall) {
  if (j.state != job_state::connecting) return;
  j.state = job_state::transferring;
  j.times.modification = wall;
}

void on_progress(job& j, std::uint32_t index, std::uint64_t bytes_transferred, mono_time now) {
  if (is_final(j.state) || index >= j.files.size()) return;
  auto& f = j.files[index];
  // Only new bytes are progress: a repeated or smaller figure (a restarted file) must not keep
  // a stuck job alive past its no-progress timeout.
  if (bytes_transferred > f.bytes_transferred) j.progress_at = now;
  f.bytes_transferred = bytes_transferred;
}

bool on_file_completed(job& j, std::uint32_t index, std::int64_t wall) {
  if (is_final(j.state) || index >= j.files.size()) return false;
  auto& f = j.files[index];
  f.completed = true;
  if (f.bytes_total != size_unknown) {
    f.bytes_transferred = f.bytes_total;
  } else {
    // The whole body arrived, so its size is now known.
    f.bytes_total = f.bytes_transferred;
  }
  j.current_file = first_incomplete(j);
  j.times.modification = wall;
  if (!is_active(j.state) || !j.all_files_completed()) return false;
  j.state = job_state::transferred;
  j.download_clock_at.reset();  // done; adding a file and resuming starts a new count
  j.times.transfer_completion = wall;
  return true;
}

void restart_file(file_record& f) {
  f.bytes_transferred = 0;
  f.segments.clear();
  f.remote_size = size_unknown;
  f.bytes_total = f.ranges.empty() ? size_unknown : ranges_total(f.ranges, size_unknown);
  f.etag.clear();
  f.last_modified.clear();
}

job_state on_file_rejected(job& j, std::uint32_t index, bool from_peers, mono_time now,
                           std::int64_t wall) {
  if (is_final(j.state) || index >= j.files.size()) return j.state;
  auto& f = j.files[index];
  restart_file(f);
  f.completed = false;
  f.validated = false;
  j.current_file = first_incomplete(j);
  j.times.modification = wall;
  if (from_peers) {
    f.origin_only = true;
    if (j.state == job_state::transferred) {
      j.state = job_state::queued;
      j.times.transfer_completion = 0;
    }
    return j.state;
  }
  stop_download_clock(j, now);
  error_record error;
  error.code = value_of(hr::bg_e_validation_failed);
  error.context = error_context::remote_file;
  error.file_index = index;
  error.message = "the application found the content of " + f.local_name + " not valid";
  error.protocol = f.remote_url.rfind("https", 0) == 0 ? "https" : "http";
  j.error = std::move(error);
  ++j.error_count;
  j.state = job_state::error;
  j.retry_at.reset();
  return j.state;
}

job_state on_error(job& j, error_record error, bool transient, mono_time now, std::int64_t wall) {
  if (!is_active(j.state)) return j.state;
  stop_download_clock(j, now);  // neither ERROR nor TRANSIENT_ERROR counts
  j.error = std::move(error);
  ++j.error_count;
  if (transient && !j.progress_at) j.progress_at = now;

  const std::chrono::seconds timeout{j.no_progress_timeout};
  const auto delay = effective_retry_delay(j);
  const bool fatal = !transient || j.no_progress_timeout == 0 || delay > timeout ||
                     (j.progress_at && now - *j.progress_at >= timeout);
  if (fatal) {
    j.state = job_state::error;
    j.retry_at.reset();
  } else {
    j.state = job_state::transient_error;
    j.retry_at = now + delay;
  }
  j.times.modification = wall;
  return j.state;
}

tick_result tick(job& j, mono_time now, std::int64_t wall) {
  if (j.max_download_time != 0 && j.download_clock_at &&
      download_time(j, now) >= std::chrono::seconds{j.max_download_time}) {
    stop_download_clock(j, now);
    error_record error;
    error.code = value_of(hr::bg_e_maxdownload_timeout);
    error.context = error_context::general_queue_manager;
    error.message = "the job spent its maximum download time (" +
                    std::to_string(j.max_download_time) + " s) connecting and transferring";
    j.error = std::move(error);
    ++j.error_count;
    j.state = job_state::error;
    j.retry_at.reset();
    j.times.modification = wall;
    return tick_result::timed_out;
  }
  if (j.state != job_state::transient_error) return tick_result::none;
  const std::chrono::seconds timeout{j.no_progress_timeout};
  if (j.progress_at && now - *j.progress_at >= timeout) {
    j.state = job_state::error;  // keeps the error: it is the reason the job gave up
    j.retry_at.reset();
    j.times.modification = wall;
    return tick_result::failed;
  }
  if (!j.retry_at) {
    // Timers are not persisted: a TRANSIENT_ERROR job loaded by a restarted daemon starts them
    // afresh instead of waiting forever.
    j.retry_at = now + effective_retry_delay(j);
    if (!j.progress_at) j.progress_at = now;
    return tick_result::none;
  }
  if (now >= *j.retry_at) {
    set_state(j, job_state::queued);
    j.times.modification = wall;
    return tick_result::requeued;
  }
  return tick_result::none;
}

std::chrono::seconds effective_retry_delay(const job& j) {
  return std::max(j.retry_delay_floor, std::chrono::seconds{j.minimum_retry_delay});
}

namespace {

std::optional<mono_time> retry_deadline(const job& j) {
  if (j.state != job_state::transient_error) return std::nullopt;
  // Without a retry timer (a restarted daemon) tick() has work at once: starting the timers.
  if (!j.retry_at) return mono_time{};
  auto deadline = *j.retry_at;
  if (j.progress_at) {
    deadline = std::min(deadline, *j.progress_at + std::chrono::seconds{j.no_progress_timeout});
  }
  return deadline;
}

}  // namespace

std::optional<mono_time> next_deadline(const job& j) {
  std::optional<mono_time> deadline = retry_deadline(j);
  if (j.max_download_time != 0 && j.download_clock_at) {
    const auto left = std::chrono::seconds{j.max_download_time} - j.download_time_spent;
    const mono_time timeout = *j.download_clock_at + left;
    if (!deadline || timeout < *deadline) deadline = timeout;
  }
  return deadline;
}

// ---- limits ---------------------------------------------------------------------------------

std::chrono::milliseconds download_time(const job& j, mono_time now) {
  auto spent = j.download_time_spent;
  if (j.download_clock_at && now > *j.download_clock_at) {
    spent += std::chrono::duration_cast<std::chrono::milliseconds>(now - *j.download_clock_at);
  }
  return spent;
}

void checkpoint_download_time(job& j, mono_time now) {
  if (!j.download_clock_at) return;
  stop_download_clock(j, now);
  j.download_clock_at = now;
}

std::uint64_t download_size(const job& j, std::uint64_t unrecorded) {
  std::uint64_t total = unrecorded;
  for (const auto& f : j.files) {
    total += f.bytes_total != size_unknown ? f.bytes_total : f.bytes_transferred;
  }
  return total;
}

bool exceeds_max_download_size(const job& j, std::uint64_t unrecorded) {
  return j.max_download_size != 0 && download_size(j, unrecorded) > j.max_download_size;
}

}  // namespace opendo::jobs
