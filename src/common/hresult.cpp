// Messages for every HRESULT opendo returns, and the std::error_category that carries them.
#include "opendo/hresult.hpp"

#include <array>
#include <cstdio>
#include <utility>

namespace opendo {
namespace {

struct known_code {
  hr code;
  const char* text;
};

constexpr std::array kMessages{
    known_code{hr::ok, "The operation succeeded."},
    known_code{hr::s_false, "The operation succeeded with nothing (more) to return."},
    known_code{hr::bg_s_partial_complete,
               "The job was completed; files that were not fully transferred were dropped."},
    known_code{hr::bg_s_unable_to_delete_files,
               "The job was cancelled but some temporary files could not be deleted."},
    known_code{hr::e_notimpl, "This method is not implemented for this kind of job or platform."},
    known_code{hr::e_nointerface, "The object does not support the requested interface."},
    known_code{hr::e_pointer, "A required pointer argument is NULL."},
    known_code{hr::e_fail, "Unspecified failure."},
    known_code{hr::e_pending,
               "The data necessary to complete this operation is not yet available."},
    known_code{hr::e_unexpected, "Unexpected failure."},
    known_code{hr::e_accessdenied, "Access is denied."},
    known_code{hr::e_outofmemory, "Not enough memory to complete the operation."},
    known_code{hr::e_invalidarg, "One or more arguments are not valid."},
    known_code{hr::file_not_found, "The system cannot find the file specified."},
    known_code{hr::path_not_found, "The system cannot find the path specified."},
    known_code{hr::disk_full, "There is not enough space on the disk."},
    known_code{hr::file_exists, "The file exists."},
    known_code{hr::invalid_name,
               "The file name, directory name, or volume label syntax is incorrect."},
    known_code{hr::bg_e_not_found, "The requested job was not found."},
    known_code{hr::bg_e_invalid_state,
               "The requested action is not allowed in the current job state."},
    known_code{hr::bg_e_empty, "There are no files attached to this job."},
    known_code{hr::bg_e_file_not_available,
               "No file is available because no error has occurred on a file."},
    known_code{hr::bg_e_destination_locked,
               "The destination file could not be replaced or is locked."},
    known_code{hr::bg_e_error_information_unavailable,
               "No error information is available: the job is not in an error state."},
    known_code{hr::bg_e_network_disconnected, "No network connection is active on this computer."},
    known_code{hr::bg_e_missing_file_size, "The server did not return the file size."},
    known_code{hr::bg_e_insufficient_http_support,
               "The server does not support the necessary HTTP protocol."},
    known_code{hr::bg_e_insufficient_range_support,
               "The server does not support HTTP byte ranges, which this file needs."},
    known_code{hr::bg_e_too_many_files, "The job cannot hold any more files."},
    known_code{hr::bg_e_local_file_changed,
               "The local file was changed while the job was transferring it."},
    known_code{hr::bg_e_too_large, "The value is too large."},
    known_code{hr::bg_e_string_too_long, "The string is longer than the limit allows."},
    known_code{hr::bg_e_invalid_range, "The requested byte range is not valid."},
    known_code{hr::bg_e_overlapping_ranges, "The byte ranges overlap."},
    known_code{hr::bg_e_too_many_jobs_per_user, "The user has reached the maximum number of jobs."},
    known_code{hr::bg_e_too_many_jobs_per_machine,
               "The machine has reached the maximum number of jobs."},
    known_code{hr::bg_e_too_many_files_in_job, "The job has reached the maximum number of files."},
    known_code{hr::bg_e_too_many_ranges_in_file, "The file has too many byte ranges."},
    known_code{hr::bg_e_validation_failed, "The content of the file did not pass validation."},
    known_code{hr::bg_e_maxdownload_timeout,
               "The job did not finish within its maximum download time."},
    known_code{hr::bg_e_read_only_property_after_resume,
               "The property can only be set before the job is first resumed."},
    known_code{hr::bg_e_max_download_size_limit_reached,
               "The job would download more bytes than its maximum download size allows."},
    known_code{hr::winhttp_timeout, "The operation timed out."},
    known_code{hr::winhttp_name_not_resolved, "The server name could not be resolved."},
    known_code{hr::winhttp_invalid_url, "The URL is not valid."},
    known_code{hr::winhttp_unrecognized_scheme, "The URL uses a scheme other than http or https."},
    known_code{hr::winhttp_cannot_connect, "A connection to the server could not be established."},
    known_code{hr::winhttp_connection_error,
               "The connection to the server was reset or terminated."},
    known_code{hr::winhttp_redirect_failed, "The redirection failed."},
    known_code{hr::winhttp_secure_failure,
               "The server's TLS certificate is not valid or the secure connection failed."},
    known_code{hr::winhttp_invalid_server_response, "The server response could not be parsed."},
    known_code{hr::do_e_no_service, "The Delivery Optimization service is not available."},
    known_code{hr::do_e_download_no_progress, "The download made no progress within the timeout."},
    known_code{hr::do_e_job_not_found, "The download was not found."},
    known_code{hr::do_e_job_empty, "The download has no files."},
    known_code{hr::do_e_no_downloads, "There are no downloads."},
    known_code{hr::do_e_file_not_available, "No file is available for this download."},
    known_code{hr::do_e_unknown_property_id, "The property is unknown."},
    known_code{hr::do_e_read_only_property, "The property is read-only."},
    known_code{hr::do_e_invalid_state,
               "The requested action is not allowed in the current download state."},
    known_code{hr::do_e_error_information_unavailable, "No error information is available."},
    known_code{hr::do_e_write_only_property, "The property is write-only."},
    known_code{hr::do_e_download_no_uri, "The download has no URI."},
    known_code{hr::do_e_blocked_by_no_network, "The download is blocked: no network is available."},
    known_code{hr::do_e_http_blocksize_mismatch, "The server returned a block of unexpected size."},
    known_code{hr::do_e_http_cert_validation, "The server's certificate could not be validated."},
    known_code{hr::do_e_invalid_range, "The requested range is not valid."},
    known_code{hr::do_e_insufficient_range_support, "The server does not support byte ranges."},
    known_code{hr::do_e_overlapping_ranges, "The requested ranges overlap."},
    known_code{hr::do_e_bad_piece_hash, "A piece failed its hash check."},
    known_code{hr::do_e_peer_banned, "The peer was banned for sending bad data."},
};

std::string http_status_message(std::uint32_t status) {
  const char* reason = "";
  switch (status) {
    case 400:
      reason = " (Bad Request)";
      break;
    case 401:
      reason = " (Unauthorized)";
      break;
    case 403:
      reason = " (Forbidden)";
      break;
    case 404:
      reason = " (Not Found)";
      break;
    case 407:
      reason = " (Proxy Authentication Required)";
      break;
    case 410:
      reason = " (Gone)";
      break;
    case 416:
      reason = " (Range Not Satisfiable)";
      break;
    case 429:
      reason = " (Too Many Requests)";
      break;
    case 500:
      reason = " (Internal Server Error)";
      break;
    case 502:
      reason = " (Bad Gateway)";
      break;
    case 503:
      reason = " (Service Unavailable)";
      break;
    case 504:
      reason = " (Gateway Timeout)";
      break;
    default:
      break;
  }
  return "The server answered HTTP status " + std::to_string(status) + reason + ".";
}

class hresult_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "hresult"; }
  std::string message(int value) const override {
    return describe(static_cast<std::uint32_t>(value));
  }
};

}  // namespace

std::string describe(std::uint32_t hresult) {
  for (const auto& known : kMessages) {
    if (value_of(known.code) == hresult) return known.text;
  }
  if ((hresult & 0xFFFF0000U) == 0x80190000U) return http_status_message(hresult & 0xFFFFU);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "Error 0x%08X.", hresult);
  return buffer;
}

const std::error_category& hresult_category() noexcept {
  static const hresult_category_impl category;
  return category;
}

}  // namespace opendo
