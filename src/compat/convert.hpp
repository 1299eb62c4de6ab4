// Conversions between the Windows shapes of the compat layer and opendo's values: UTF-32 wchar_t
// strings and UTF-8, task-memory and BSTR strings, GUIDs and job ids, FILETIMEs and Unix seconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "opendo/compat/objbase.h"

namespace opendo::compat {

// UTF-8 of a NUL-terminated wchar_t (UTF-32) string. Throws E_INVALIDARG, naming `what`, for a
// value that is not a Unicode scalar value (a surrogate, or above U+10FFFF), and for NULL.
std::string utf8_from_wide(const wchar_t* text, const char* what);
// As above, but NULL gives nullopt.
std::optional<std::string> optional_utf8_from_wide(const wchar_t* text, const char* what);

// UTF-32 of UTF-8 text from the daemon. Invalid sequences (none are expected: the protocol is
// JSON) become U+FFFD rather than failing a read.
std::wstring wide_from_utf8(std::string_view text);

// A CoTaskMemAlloc'd wide copy of UTF-8 text, for LPWSTR out-parameters (the caller frees it with
// CoTaskMemFree). Throws std::bad_alloc.
LPWSTR task_string(std::string_view utf8);
// A BSTR copy of UTF-8 text (SysFreeString). Throws std::bad_alloc.
BSTR bstr_string(std::string_view utf8);

// A job id in registry format, "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}" with upper-case digits,
// as opendod writes them.
std::string job_id_from_guid(const GUID& guid);
// Throws E_UNEXPECTED when the daemon sent an id that is not a GUID.
GUID guid_from_job_id(std::string_view id);

// Unix seconds to FILETIME (100 ns since 1601-01-01); 0 (the moment has not happened) stays 0.
FILETIME filetime_from_unix(std::int64_t seconds);

}  // namespace opendo::compat
