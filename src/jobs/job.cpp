// Derived figures of a job (totals over its files) and its API view, opendo::job_info.
// Pure data transformations; the rules that change a job live in lifecycle.cpp.
#include "jobs/job.hpp"

#include <utility>

namespace opendo::jobs {

std::uint64_t job::bytes_total() const {
  std::uint64_t total = 0;
  for (const auto& f : files) {
    // One unknown size makes the job's size unknown, as BG_JOB_PROGRESS reports it.
    if (f.bytes_total == size_unknown) return size_unknown;
    total += f.bytes_total;
  }
  return total;
}

std::uint64_t job::bytes_transferred() const {
  std::uint64_t total = 0;
  for (const auto& f : files) total += f.bytes_transferred;
  return total;
}

std::uint32_t job::files_transferred() const {
  std::uint32_t count = 0;
  for (const auto& f : files) count += f.completed ? 1 : 0;
  return count;
}

bool job::all_files_completed() const {
  if (files.empty()) return false;
  for (const auto& f : files) {
    if (!f.completed) return false;
  }
  return true;
}

std::string temp_path(const file_record& f) {
  const auto slash = f.local_name.rfind('/');
  if (slash == std::string::npos) return f.temp_name;
  return f.local_name.substr(0, slash + 1) + f.temp_name;
}

job_info to_info(const job& j) {
  job_info info;
  info.id = j.id;
  info.owner_uid = j.owner_uid;
  info.creator_uid = j.creator_uid;
  info.display_name = j.display_name;
  info.description = j.description;
  info.priority = j.priority;
  info.state = j.state;
  info.bytes_total = j.bytes_total();
  info.bytes_transferred = j.bytes_transferred();
  info.files_total = static_cast<std::uint32_t>(j.files.size());
  info.files_transferred = j.files_transferred();
  info.notify_flags = j.notify_flags;
  info.minimum_retry_delay = j.minimum_retry_delay;
  info.no_progress_timeout = j.no_progress_timeout;
  info.error_count = j.error_count;
  // GetError has an answer only in the two error states; elsewhere a stale record must not show.
  if (j.error && (j.state == job_state::error || j.state == job_state::transient_error)) {
    info.error = job_error{j.error->code, j.error->context, j.error->file_index, j.error->message,
                           j.error->protocol};
  }
  info.times = j.times;
  info.files.reserve(j.files.size());
  for (const auto& f : j.files) {
    file_info fi;
    fi.remote_url = f.remote_url;
    fi.local_name = f.local_name;
    fi.ranges = f.ranges;
    fi.layout = f.layout;
    fi.digest = f.digest;
    fi.content_id = f.content_id;
    fi.metainfo_url = f.metainfo_url;
    fi.metainfo_note = f.metainfo_note;
    fi.temp_name = temp_path(f);
    fi.validated = f.validated;
    fi.progress = file_progress{f.bytes_total, f.bytes_transferred, f.completed};
    fi.sources = f.sources;
    info.files.push_back(std::move(fi));
  }
  info.proxy = j.proxy;
  info.notify_command = j.notify_command;
  for (const auto& c : j.credentials) {
    info.credentials.push_back(credential_slot{c.target, c.scheme, c.user_name});  // no secret
  }
  info.max_download_time = j.max_download_time;
  info.max_download_size = j.max_download_size;
  info.dynamic_content = j.dynamic_content;
  info.high_performance = j.high_performance;
  info.minimum_notification_interval_ms = j.minimum_notification_interval_ms;
  info.custom_headers = j.custom_headers;
  info.has_custom_auth_headers = !j.custom_auth_headers.empty();  // never their text
  info.allow_https_to_http_redirect = j.allow_https_to_http_redirect;
  info.tls_exemptions = j.tls_exemptions;
  info.has_client_certificate = !j.client_certificate.empty();  // never the certificate or key
  info.last_response = j.last_response;
  info.peer_caching_flags = j.peer_caching_flags;
  info.cost_flags = j.cost_flags;
  info.cost_policy = j.cost_policy;
  info.disallow_on_cellular = j.disallow_on_cellular;
  return info;
}

}  // namespace opendo::jobs
