// Conversions between the Windows shapes of the compat layer and opendo's values (convert.hpp).
#include "compat/convert.hpp"

#include <cstdio>
#include <cstring>
#include <new>

#include "compat/com.hpp"

namespace opendo::compat {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

bool is_scalar_value(std::uint32_t c) {
  return c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF);
}

void append_utf8(std::string& out, std::uint32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses `digits` hex digits at text[at]; false when one is not a hex digit.
bool parse_hex(std::string_view text, std::size_t at, int digits, std::uint32_t& value) {
  value = 0;
  for (int i = 0; i < digits; ++i) {
    const int v = hex_value(text[at + static_cast<std::size_t>(i)]);
    if (v < 0) return false;
    value = (value << 4) | static_cast<std::uint32_t>(v);
  }
  return true;
}

}  // namespace

std::string utf8_from_wide(const wchar_t* text, const char* what) {
  if (text == nullptr) fail(E_INVALIDARG, std::string(what) + " is NULL");
  std::string out;
  for (const wchar_t* p = text; *p != L'\0'; ++p) {
    // wchar_t is a signed 32-bit UTF-32 unit here, not a byte: a negative one must become a value
    // above 0x10FFFF that is_scalar_value() rejects, so no cast through unsigned char (that would
    // keep only the low 8 bits).
    const auto c = static_cast<std::uint32_t>(*p);  // NOLINT(bugprone-signed-char-misuse)
    if (!is_scalar_value(c)) {
      char code[16];
      std::snprintf(code, sizeof code, "0x%X", c);
      fail(E_INVALIDARG, std::string(what) + " holds " + code +
                             ", which is not a Unicode character (wchar_t strings are UTF-32)");
    }
    append_utf8(out, c);
  }
  return out;
}

std::optional<std::string> optional_utf8_from_wide(const wchar_t* text, const char* what) {
  if (text == nullptr) return std::nullopt;
  return utf8_from_wide(text, what);
}

std::wstring wide_from_utf8(std::string_view text) {
  std::wstring out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    int extra = 0;
    std::uint32_t c = 0;
    if (lead < 0x80) {
      c = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1;
      c = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2;
      c = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3;
      c = lead & 0x07;
    } else {
      out.push_back(static_cast<wchar_t>(kReplacement));
      ++i;
      continue;
    }
    bool ok = i + static_cast<std::size_t>(extra) < text.size();
    for (int k = 1; ok && k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
      if ((next & 0xC0) != 0x80) {
        ok = false;
      } else {
        c = (c << 6) | (next & 0x3F);
      }
    }
    // Overlong forms and non-scalar values are as invalid as broken sequences.
    static constexpr std::uint32_t kMinimum[] = {0, 0x80, 0x800, 0x10000};
    if (!ok || c < kMinimum[extra] || !is_scalar_value(c)) {
      out.push_back(static_cast<wchar_t>(kReplacement));
      ++i;
      continue;
    }
    out.push_back(static_cast<wchar_t>(c));
    i += static_cast<std::size_t>(extra) + 1;
  }
  return out;
}

LPWSTR task_string(std::string_view utf8) {
  const std::wstring wide = wide_from_utf8(utf8);
  auto* out = static_cast<LPWSTR>(CoTaskMemAlloc((wide.size() + 1) * sizeof(wchar_t)));
  if (out == nullptr) throw std::bad_alloc();
  std::memcpy(out, wide.c_str(), (wide.size() + 1) * sizeof(wchar_t));
  return out;
}

BSTR bstr_string(std::string_view utf8) {
  const std::wstring wide = wide_from_utf8(utf8);
  BSTR out = SysAllocStringLen(wide.data(), static_cast<UINT>(wide.size()));
  if (out == nullptr) throw std::bad_alloc();
  return out;
}

std::string job_id_from_guid(const GUID& g) {
  char text[40];
  std::snprintf(text, sizeof text, "{%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
                static_cast<unsigned>(g.Data1), static_cast<unsigned>(g.Data2),
                static_cast<unsigned>(g.Data3), g.Data4[0], g.Data4[1], g.Data4[2], g.Data4[3],
                g.Data4[4], g.Data4[5], g.Data4[6], g.Data4[7]);
  return text;
}

GUID guid_from_job_id(std::string_view id) {
  GUID g{};
  std::uint32_t v = 0;
  bool ok = id.size() == 38 && id.front() == '{' && id.back() == '}' && id[9] == '-' &&
            id[14] == '-' && id[19] == '-' && id[24] == '-';
  ok = ok && parse_hex(id, 1, 8, v);
  g.Data1 = v;
  ok = ok && parse_hex(id, 10, 4, v);
  g.Data2 = static_cast<std::uint16_t>(v);
  ok = ok && parse_hex(id, 15, 4, v);
  g.Data3 = static_cast<std::uint16_t>(v);
  for (int i = 0; ok && i < 8; ++i) {
    const std::size_t at =
        i < 2 ? 20 + 2 * static_cast<std::size_t>(i) : 25 + 2 * static_cast<std::size_t>(i - 2);
    ok = parse_hex(id, at, 2, v);
    g.Data4[i] = static_cast<std::uint8_t>(v);
  }
  if (!ok) fail(E_UNEXPECTED, "opendod sent a job id that is not a GUID: " + std::string(id));
  return g;
}

FILETIME filetime_from_unix(std::int64_t seconds) {
  FILETIME out{0, 0};
  if (seconds <= 0) return out;  // not happened yet (or before 1970, which opendo never records)
  constexpr std::uint64_t kEpochDifference = 11644473600ULL;  // 1601-01-01 to 1970-01-01
  const std::uint64_t ticks =
      (static_cast<std::uint64_t>(seconds) + kEpochDifference) * 10000000ULL;
  out.dwLowDateTime = static_cast<DWORD>(ticks & 0xFFFFFFFFULL);
  out.dwHighDateTime = static_cast<DWORD>(ticks >> 32);
  return out;
}

}  // namespace opendo::compat
