#include "jobs/bandwidth.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <string_view>
#include <utility>

#include "common/numbers.hpp"
#include "common/text.hpp"

namespace opendo::jobs {
namespace {

std::uint64_t to_bytes(const bandwidth_cap& cap, std::optional<std::uint64_t> capacity) {
  switch (cap.kind) {
    case bandwidth_cap::unit::none:
      return 0;
    case bandwidth_cap::unit::bytes_per_second:
      return cap.value;
    case bandwidth_cap::unit::percent_of_link:
      if (!capacity || *capacity == 0) return 0;  // nothing measured yet: no cap
      return std::max<std::uint64_t>(
          1, *capacity / 100 * cap.value + *capacity % 100 * cap.value / 100);
  }
  return 0;
}

using text::lower;
using text::trim;

std::optional<int> weekday(std::string_view name) {
  static constexpr std::array<std::string_view, 7> kNames = {"sun", "mon", "tue", "wed",
                                                             "thu", "fri", "sat"};
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (name == kNames[i]) return static_cast<int>(i);
  }
  return std::nullopt;
}

}  // namespace

bool in_window(const hours_window& window, local_time now) {
  const auto day_in = [&](int day) { return (window.days >> ((day + 7) % 7) & 1) != 0; };
  if (window.start_hour < window.end_hour) {
    return day_in(now.weekday) && now.hour >= window.start_hour && now.hour < window.end_hour;
  }
  // Past midnight: the evening belongs to today's window, the early hours to yesterday's.
  if (now.hour >= window.start_hour) return day_in(now.weekday);
  if (now.hour < window.end_hour) return day_in(now.weekday - 1);
  return false;
}

class_caps caps_at(const bandwidth_policy& policy, local_time now,
                   std::optional<std::uint64_t> measured) {
  const std::optional<std::uint64_t> capacity =
      policy.link_capacity != 0 ? std::optional<std::uint64_t>(policy.link_capacity) : measured;
  bandwidth_cap foreground = policy.foreground;
  bandwidth_cap background = policy.background;
  if (policy.business_hours && in_window(*policy.business_hours, now)) {
    foreground = policy.business_foreground.value_or(foreground);
    background = policy.business_background.value_or(background);
  }
  return {to_bytes(foreground, capacity), to_bytes(background, capacity)};
}

std::uint64_t share_of(std::uint64_t cap, std::size_t running) {
  if (cap == 0) return 0;
  if (running <= 1) return cap;
  return std::max<std::uint64_t>(1, cap / running);
}

void link_capacity_estimator::add_sample(mono_time from, mono_time to, std::uint64_t bytes,
                                         bool capped) {
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(to - from);
  if (capped || elapsed < std::chrono::milliseconds(500)) return;
  const long double rate =
      static_cast<long double>(bytes) * 1e6L / static_cast<long double>(elapsed.count());
  samples_.push_back({to, static_cast<std::uint64_t>(rate)});
}

std::optional<std::uint64_t> link_capacity_estimator::estimate(mono_time now) {
  while (!samples_.empty() && now - samples_.front().at > window_) samples_.pop_front();
  if (samples_.empty()) return last_;
  std::uint64_t best = 0;
  for (const sample& s : samples_) best = std::max(best, s.rate);
  if (best > 0) last_ = best;
  return last_;
}

std::optional<bandwidth_cap> parse_cap(const std::string& text, bool percent_allowed) {
  const std::string value = lower(trim(text));
  if (value == "unlimited" || value == "none") return bandwidth_cap{};
  if (!value.empty() && value.back() == '%') {
    if (!percent_allowed) return std::nullopt;
    const auto percent = numbers::parse_whole<std::uint64_t>(
        trim(std::string_view(value).substr(0, value.size() - 1)));
    if (!percent || *percent < 1 || *percent > 100) return std::nullopt;
    return bandwidth_cap::percent(*percent);
  }
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 7> kSuffixes = {{
      {"kib", 1024ULL},
      {"mib", 1024ULL * 1024},
      {"gib", 1024ULL * 1024 * 1024},
      {"k", 1000ULL},
      {"m", 1000ULL * 1000},
      {"g", 1000ULL * 1000 * 1000},
      {"", 1ULL},
  }};
  for (const auto& [suffix, multiplier] : kSuffixes) {
    if (value.size() < suffix.size() ||
        std::string_view(value).substr(value.size() - suffix.size()) != suffix) {
      continue;
    }
    const auto number = numbers::parse_whole<std::uint64_t>(
        trim(std::string_view(value).substr(0, value.size() - suffix.size())));
    if (!number) return std::nullopt;
    if (*number > std::numeric_limits<std::uint64_t>::max() / multiplier) return std::nullopt;
    return bandwidth_cap::bytes(*number * multiplier);
  }
  return std::nullopt;
}

std::optional<hours_window> parse_hours(const std::string& text) {
  const std::string_view value = trim(text);
  const auto dash = value.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto start = numbers::parse_whole<std::uint64_t>(trim(value.substr(0, dash)));
  const auto end = numbers::parse_whole<std::uint64_t>(trim(value.substr(dash + 1)));
  if (!start || !end || *start > 23 || *end < 1 || *end > 24 || *start == *end) {
    return std::nullopt;
  }
  hours_window window;
  window.start_hour = static_cast<int>(*start);
  window.end_hour = static_cast<int>(*end);
  return window;
}

std::optional<std::uint8_t> parse_days(const std::string& text) {
  const std::string value = lower(trim(text));
  if (value == "all") return std::uint8_t{0x7F};
  std::uint8_t days = 0;
  std::string_view rest = value;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (comma != std::string_view::npos && rest.empty()) return std::nullopt;  // "mon,"
    const auto dash = item.find('-');
    const auto first = weekday(trim(item.substr(0, dash)));
    const auto last = dash == std::string_view::npos ? first : weekday(trim(item.substr(dash + 1)));
    if (!first || !last) return std::nullopt;
    // "fri-mon" wraps over the weekend.
    for (int d = *first;; d = (d + 1) % 7) {
      days = static_cast<std::uint8_t>(days | (1U << d));
      if (d == *last) break;
    }
  }
  if (days == 0) return std::nullopt;
  return days;
}

}  // namespace opendo::jobs
