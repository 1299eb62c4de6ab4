// Decimal numbers read from text that others wrote: configuration files, environment variables,
// command lines, HTTP headers, the job store. One place decides what counts as a number, so that
// every reader rejects the same malformed input.
#pragma once

#include <charconv>
#include <concepts>
#include <optional>
#include <string_view>
#include <system_error>

namespace opendo::numbers {

// `text` as a whole decimal number of type T: nothing when it is empty, has anything before or
// after the digits (spaces, a '+', a unit) or does not fit in T. A '-' is accepted only for a
// signed T, as std::from_chars does. `base` 16 reads hexadecimal digits (without a "0x").
template <std::integral T>
std::optional<T> parse_whole(std::string_view text, int base = 10) {
  T value{};
  const char* const last = text.data() + text.size();
  const auto [end, error] = std::from_chars(text.data(), last, value, base);
  if (text.empty() || error != std::errc() || end != last) return std::nullopt;
  return value;
}

// Reads the decimal number at the front of `text` into `value` and removes it from `text`.
// False, and `text` unchanged, when `text` does not start with a digit or the number does not
// fit in T. For parsers of structured text ("bytes 0-99/100", "0-4095,8192-9999").
template <std::integral T>
bool take_number(std::string_view& text, T& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end == text.data()) return false;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return true;
}

}  // namespace opendo::numbers
