// Custom HTTP request headers of a job (BITS SetCustomHeaders, DO HttpCustomHeaders and
// HttpCustomAuthHeaders): parsing the Windows CRLF block and checking every line. Pure; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace opendo::jobs {

// What the headers are for: plain custom headers are readable by the job's owner; auth headers
// are secrets (write-only) and are the only place for Authorization and Proxy-Authorization.
enum class header_kind { custom, auth };

// Windows' limit for SetCustomHeaders: 16,384 characters including the NUL terminator, i.e. the
// CRLF-terminated lines may take 16,383 bytes. Over it: BG_E_STRING_TOO_LONG.
inline constexpr std::size_t max_header_block = 16383;
// At most this many lines (E_INVALIDARG beyond): the size limit alone would allow thousands.
inline constexpr std::size_t max_header_lines = 100;

struct header_check {
  std::uint32_t code = 0;  // S_OK, E_INVALIDARG or BG_E_STRING_TOO_LONG
  std::string message;     // what is wrong, naming the header (never its value)
  bool ok() const { return code == 0; }
};

// Splits a Windows header block ("A: 1\r\nB: 2\r\n") into its lines. The last CRLF is optional;
// an empty block gives no lines. A CR or LF that is not part of a CRLF pair makes the block
// invalid (E_INVALIDARG), as does an empty line between two others.
header_check split_header_block(std::string_view block, std::vector<std::string>& lines);
// The inverse: every line followed by CRLF (as GetCustomHeaders returns them); "" for none.
std::string join_header_block(const std::vector<std::string>& lines);

// Checks lines of the form "Name: value": the name is an HTTP token, the value has no control
// characters but tab, no line holds CR, LF or NUL, the total fits max_header_block and there are
// at most max_header_lines. Headers the engine must own (Host, Range, If-Range, the other
// conditionals, Content-Length, Transfer-Encoding, Connection, Accept-Encoding...) are refused,
// and Authorization / Proxy-Authorization are allowed in auth headers only.
header_check check_headers(const std::vector<std::string>& lines, header_kind kind);

// The name of a checked line ("X-Token: a" -> "X-Token").
std::string_view header_name(std::string_view line);

}  // namespace opendo::jobs
