// HRESULT values shared by the modern API, the COM-compatible layer and the wire protocol.
// Every code opendo returns is listed here with a message that says what happened.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

namespace opendo {

// The numeric values are those of Windows (winerror.h, bitsmsg.h, deliveryoptimizationerrors.h).
enum class hr : std::uint32_t {
  ok = 0x00000000,
  s_false = 0x00000001,
  bg_s_partial_complete = 0x00200017,
  bg_s_unable_to_delete_files = 0x0020001A,

  e_notimpl = 0x80004001,
  e_nointerface = 0x80004002,
  e_pointer = 0x80004003,
  e_fail = 0x80004005,
  e_pending = 0x8000000A,
  e_unexpected = 0x8000FFFF,
  e_accessdenied = 0x80070005,
  e_outofmemory = 0x8007000E,
  e_invalidarg = 0x80070057,
  file_not_found = 0x80070002,  // HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)
  path_not_found = 0x80070003,  // HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND)
  disk_full = 0x80070070,       // HRESULT_FROM_WIN32(ERROR_DISK_FULL)
  file_exists = 0x80070050,     // HRESULT_FROM_WIN32(ERROR_FILE_EXISTS)
  invalid_name = 0x8007007B,    // HRESULT_FROM_WIN32(ERROR_INVALID_NAME)

  bg_e_not_found = 0x80200001,
  bg_e_invalid_state = 0x80200002,
  bg_e_empty = 0x80200003,
  bg_e_file_not_available = 0x80200004,
  bg_e_destination_locked = 0x8020000D,
  bg_e_error_information_unavailable = 0x8020000F,
  bg_e_network_disconnected = 0x80200010,
  bg_e_missing_file_size = 0x80200011,
  bg_e_insufficient_http_support = 0x80200012,
  bg_e_insufficient_range_support = 0x80200013,
  bg_e_too_many_files = 0x8020001C,
  bg_e_local_file_changed = 0x8020001D,
  bg_e_too_large = 0x80200020,
  bg_e_string_too_long = 0x80200021,
  bg_e_invalid_range = 0x8020002B,
  bg_e_overlapping_ranges = 0x8020002C,
  bg_e_too_many_jobs_per_user = 0x80200049,
  bg_e_too_many_jobs_per_machine = 0x80200050,
  bg_e_too_many_files_in_job = 0x80200051,
  bg_e_too_many_ranges_in_file = 0x80200052,
  bg_e_validation_failed = 0x80200053,
  bg_e_maxdownload_timeout = 0x80200054,
  bg_e_blocked_by_cost_transfer_policy = 0x80200059,
  bg_e_read_only_property_after_resume = 0x80200062,
  bg_e_max_download_size_limit_reached = 0x80200064,

  // WinHTTP errors (HRESULT_FROM_WIN32(ERROR_WINHTTP_*)), what BITS reports for transport failures.
  winhttp_timeout = 0x80072EE2,
  winhttp_name_not_resolved = 0x80072EE7,
  winhttp_invalid_url = 0x80072EE5,
  winhttp_unrecognized_scheme = 0x80072EE6,
  winhttp_cannot_connect = 0x80072EFD,
  winhttp_connection_error = 0x80072EFE,
  winhttp_redirect_failed = 0x80072F7C,  // ERROR_WINHTTP_REDIRECT_FAILED, 12156
  winhttp_secure_failure = 0x80072F8F,
  winhttp_invalid_server_response = 0x80072F78,

  do_e_no_service = 0x80D01001,
  do_e_download_no_progress = 0x80D02002,
  do_e_job_not_found = 0x80D02003,
  do_e_job_empty = 0x80D02004,
  do_e_no_downloads = 0x80D02005,
  do_e_file_not_available = 0x80D02010,
  do_e_unknown_property_id = 0x80D02011,
  do_e_read_only_property = 0x80D02012,
  do_e_invalid_state = 0x80D02013,
  do_e_error_information_unavailable = 0x80D02014,
  do_e_write_only_property = 0x80D02015,
  do_e_download_no_uri = 0x80D02200,
  do_e_blocked_by_cost_transfer_policy = 0x80D03801,
  do_e_blocked_by_cellular_policy = 0x80D03803,
  do_e_blocked_by_no_network = 0x80D03805,
  do_e_http_blocksize_mismatch = 0x80D05001,
  do_e_http_cert_validation = 0x80D05002,
  do_e_invalid_range = 0x80D05010,
  do_e_insufficient_range_support = 0x80D05011,
  do_e_overlapping_ranges = 0x80D05012,
  do_e_bad_piece_hash = 0x80D06805,
  do_e_peer_banned = 0x80D0680D,
};

constexpr std::uint32_t value_of(hr code) {
  return static_cast<std::uint32_t>(code);
}
constexpr bool succeeded(std::uint32_t code) {
  return (code & 0x80000000U) == 0;
}
constexpr bool failed(std::uint32_t code) {
  return !succeeded(code);
}

// An HTTP status s as BITS reports it: 0x80190000 | s (404 -> 0x80190194).
constexpr std::uint32_t hresult_from_http_status(long status) {
  return 0x80190000U | (static_cast<std::uint32_t>(status) & 0xFFFFU);
}

// HRESULT_FROM_WIN32 for an errno-like Win32 code.
constexpr std::uint32_t hresult_from_win32(std::uint32_t code) {
  return code == 0 ? 0U : ((code & 0xFFFFU) | 0x80070000U);
}

// The sentence that explains an HRESULT ("The requested job was not found."). Unknown codes get
// a generic description that names the number.
std::string describe(std::uint32_t hresult);

// The error category of HRESULT-valued std::error_codes. value() is the HRESULT as int.
const std::error_category& hresult_category() noexcept;

inline std::error_code make_error_code(hr code) noexcept {
  return {static_cast<int>(value_of(code)), hresult_category()};
}
inline std::error_code make_hresult_error(std::uint32_t code) noexcept {
  return {static_cast<int>(code), hresult_category()};
}

// Thrown by the modern API: code() is the HRESULT, what() names the thing and the reason, and
// ends with the HRESULT's own description unless the message already says it.
class error : public std::system_error {
 public:
  error(std::uint32_t hresult, const std::string& message)
      : std::system_error(make_hresult_error(hresult), message), text_(compose(hresult, message)) {}
  std::uint32_t hresult() const noexcept { return static_cast<std::uint32_t>(code().value()); }
  const char* what() const noexcept override { return text_.c_str(); }

 private:
  static std::string compose(std::uint32_t hresult, const std::string& message) {
    std::string description = describe(hresult);
    if (message.empty()) return description;
    if (message.find(description) != std::string::npos) return message;
    return message + ": " + description;
  }
  std::string text_;
};

}  // namespace opendo

template <>
struct std::is_error_code_enum<opendo::hr> : std::true_type {};
