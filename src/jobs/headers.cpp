// Checks of custom HTTP request headers. A header line reaches libcurl verbatim, so everything
// that could split a request (CR, LF, NUL) or confuse the engine's own requests (Range, Host...)
// is refused here, before the job stores it.
#include "jobs/headers.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/text.hpp"
#include "opendo/hresult.hpp"

namespace opendo::jobs {
namespace {

// RFC 9110 tchar.
bool is_token_char(unsigned char c) {
  if (std::isalnum(c) != 0) return true;
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return c < 0x80 && extra.find(static_cast<char>(c)) != std::string_view::npos;
}

// field-vchar, SP and HTAB; obs-text (0x80-0xFF) is allowed as RFC 9110 still does.
bool is_value_char(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7F);
}

// Headers that describe the request the engine makes: a caller's copy would contradict it (a
// Range the engine did not ask for, a compressed body written as the file's bytes, a
// conditional that turns the answer into a 304 or 412).
constexpr std::array<std::string_view, 18> kEngineOwned = {"Host",
                                                           "Content-Length",
                                                           "Transfer-Encoding",
                                                           "TE",
                                                           "Connection",
                                                           "Keep-Alive",
                                                           "Proxy-Connection",
                                                           "Upgrade",
                                                           "Expect",
                                                           "Trailer",
                                                           "Range",
                                                           "If-Range",
                                                           "If-Match",
                                                           "If-None-Match",
                                                           "If-Modified-Since",
                                                           "If-Unmodified-Since",
                                                           "Accept-Encoding",
                                                           "Content-Encoding"};

constexpr std::array<std::string_view, 2> kSecrets = {"Authorization", "Proxy-Authorization"};

header_check refuse(std::uint32_t code, std::string message) {
  return header_check{code, std::move(message)};
}

}  // namespace

header_check split_header_block(std::string_view block, std::vector<std::string>& lines) {
  lines.clear();
  std::size_t start = 0;
  while (start < block.size()) {
    const std::size_t cr = block.find('\r', start);
    const std::size_t lf = block.find('\n', start);
    if (lf != std::string_view::npos && (cr == std::string_view::npos || lf < cr)) {
      return refuse(value_of(hr::e_invalidarg),
                    "header line " + std::to_string(lines.size() + 1) +
                        " ends with a bare LF; each header must end with CR LF");
    }
    if (cr == std::string_view::npos) {  // the last line without its CRLF
      lines.emplace_back(block.substr(start));
      break;
    }
    if (cr + 1 >= block.size() || block[cr + 1] != '\n') {
      return refuse(value_of(hr::e_invalidarg), "header line " + std::to_string(lines.size() + 1) +
                                                    " holds a CR that is not followed by LF");
    }
    if (cr == start) {
      return refuse(value_of(hr::e_invalidarg), "the headers hold an empty line (line " +
                                                    std::to_string(lines.size() + 1) + ")");
    }
    lines.emplace_back(block.substr(start, cr - start));
    start = cr + 2;
  }
  return {};
}

std::string join_header_block(const std::vector<std::string>& lines) {
  std::string block;
  for (const auto& line : lines) block.append(line).append("\r\n");
  return block;
}

std::string_view header_name(std::string_view line) {
  return line.substr(0, line.find(':'));
}

header_check check_headers(const std::vector<std::string>& lines, header_kind kind) {
  const char* what = kind == header_kind::auth ? "custom auth header" : "custom header";
  if (lines.size() > max_header_lines) {
    return refuse(value_of(hr::e_invalidarg), std::string("a job may have at most ") +
                                                  std::to_string(max_header_lines) + " " + what +
                                                  "s, not " + std::to_string(lines.size()));
  }
  std::size_t total = 0;
  for (const auto& line : lines) total += line.size() + 2;  // each ends with CRLF on the wire
  if (total > max_header_block) {
    return refuse(value_of(hr::bg_e_string_too_long),
                  std::string("the ") + what + "s take " + std::to_string(total) +
                      " bytes with their CRLFs; at most " + std::to_string(max_header_block) +
                      " are allowed");
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::string where = std::string(what) + " " + std::to_string(i + 1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return refuse(value_of(hr::e_invalidarg), where + " is not of the form \"Name: value\"");
    }
    const std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(),
                     [](char c) { return is_token_char(static_cast<unsigned char>(c)); })) {
      // The name may hold the offending byte: describe it without echoing control characters.
      return refuse(value_of(hr::e_invalidarg),
                    where +
                        " has a name with a character that is not allowed in an HTTP "
                        "header name (letters, digits and !#$%&'*+-.^_`|~ only)");
    }
    const std::string_view value = line.substr(colon + 1);
    for (char c : value) {
      const auto byte = static_cast<unsigned char>(c);
      if (!is_value_char(byte)) {
        return refuse(value_of(hr::e_invalidarg),
                      where + " (" + std::string(name) + ") has a control character in its value" +
                          (c == '\r' || c == '\n' ? " (CR or LF)" : ""));
      }
    }
    for (std::string_view owned : kEngineOwned) {
      if (text::equals_ignoring_case(name, owned)) {
        return refuse(value_of(hr::e_invalidarg),
                      where + " (" + std::string(name) +
                          ") is set by opendo's HTTP engine itself and cannot be replaced");
      }
    }
    if (kind == header_kind::custom) {
      for (std::string_view secret : kSecrets) {
        if (text::equals_ignoring_case(name, secret)) {
          return refuse(value_of(hr::e_invalidarg),
                        where + " (" + std::string(name) +
                            ") carries a secret: give it as a custom auth header, which is "
                            "write-only, or as credentials");
        }
      }
    }
  }
  return {};
}

}  // namespace opendo::jobs
