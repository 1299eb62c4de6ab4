// Small text helpers for the parsers of configuration values, command lines and HTTP headers.
// ASCII only and independent of the C locale: what counts as a blank or an upper-case letter must
// not change with the environment a daemon or a client runs in.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace opendo::text {

// Space, tab, CR, LF, vertical tab and form feed: what isspace() means in the "C" locale.
constexpr bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

constexpr char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// `text` without the blanks at either end.
constexpr std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}

// `text` with its ASCII letters in lower case; other bytes (UTF-8 included) unchanged.
inline std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = lower(c);
  return out;
}

// Whether `a` and `b` differ at most in the case of ASCII letters (HTTP header names, schemes).
constexpr bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

}  // namespace opendo::text
