// Bandwidth policy: which download caps apply now (absolute, a percentage of the measured link
// capacity, business-hours windows in local time), how a class's cap is shared by its transfers,
// and how the link capacity is estimated. Pure logic: the caller passes the time.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "jobs/job.hpp"

namespace opendo::jobs {

// A download cap: none, bytes per second, or a percentage of the measured link capacity.
struct bandwidth_cap {
  enum class unit { none, bytes_per_second, percent_of_link };
  unit kind = unit::none;
  std::uint64_t value = 0;  // bytes per second, or 1..100 percent

  static bandwidth_cap bytes(std::uint64_t per_second) {
    return per_second == 0 ? bandwidth_cap{} : bandwidth_cap{unit::bytes_per_second, per_second};
  }
  static bandwidth_cap percent(std::uint64_t p) { return {unit::percent_of_link, p}; }
  bool operator==(const bandwidth_cap&) const = default;
};

// Hours of some days of the week, in local time: [start_hour, end_hour), wrapping past midnight
// when end_hour <= start_hour (22-6 is a night window). A wrapped window belongs to the day it
// starts on: with days = mon, 22-6 covers Monday 22:00 to Tuesday 06:00.
struct hours_window {
  int start_hour = 0;  // 0..23
  int end_hour = 24;   // 1..24
  // Bit d for weekday d, 0 = Sunday (struct tm's tm_wday).
  std::uint8_t days = 0x7F;
  bool operator==(const hours_window&) const = default;
};

// The local time a window is evaluated at (from localtime_r in the daemon; injected in tests).
struct local_time {
  int weekday = 0;  // 0 = Sunday .. 6 = Saturday
  int hour = 0;     // 0..23
};

struct bandwidth_policy {
  bandwidth_cap foreground;
  bandwidth_cap background;
  // Business hours: while the window holds, its caps replace the ones above (a class without a
  // cap of its own in the window keeps the one above).
  std::optional<hours_window> business_hours;
  std::optional<bandwidth_cap> business_foreground;
  std::optional<bandwidth_cap> business_background;
  // Link capacity in bytes per second for percentage caps; 0: measured (link_capacity_estimator).
  std::uint64_t link_capacity = 0;
  bool operator==(const bandwidth_policy&) const = default;
};

bool in_window(const hours_window& window, local_time now);

// Caps in bytes per second for each class of download; 0: no cap.
struct class_caps {
  std::uint64_t foreground = 0;
  std::uint64_t background = 0;
  bool operator==(const class_caps&) const = default;
};

// The caps in force at `now`. A percentage cap needs a capacity (the configured one, else
// `measured`); without either it does not limit yet.
class_caps caps_at(const bandwidth_policy& policy, local_time now,
                   std::optional<std::uint64_t> measured);

// One transfer's share of a class cap held by `running` transfers (at least 1 byte/s); 0 (no
// cap) stays 0.
std::uint64_t share_of(std::uint64_t cap, std::size_t running);

// The link capacity as the highest total download rate seen over a recent window. Only samples
// taken while no cap limited any transfer count: a capped rate measures the cap, not the link.
// When the window holds no such sample the last estimate is kept.
class link_capacity_estimator {
 public:
  explicit link_capacity_estimator(std::chrono::seconds window = std::chrono::minutes(10))
      : window_(window) {}
  // Total body bytes received from time `from` to time `to` by transfers that ran the whole
  // interval; `capped` when a cap limited any of them then. Intervals under 500 ms are noise.
  void add_sample(mono_time from, mono_time to, std::uint64_t bytes, bool capped);
  std::optional<std::uint64_t> estimate(mono_time now);

 private:
  struct sample {
    mono_time at;
    std::uint64_t rate;
  };
  std::chrono::seconds window_;
  std::deque<sample> samples_;
  std::optional<std::uint64_t> last_;
};

// "2000000", "2M" (10^6), "500k", "1G", "4MiB" (2^20), "0"/"unlimited" (no cap), "50%".
// Returns nullopt for anything else; `percent_allowed` false refuses the percentage form.
std::optional<bandwidth_cap> parse_cap(const std::string& text, bool percent_allowed = true);
// "8-17" (hours, end exclusive, 24 allowed as an end); nullopt when malformed.
std::optional<hours_window> parse_hours(const std::string& text);
// "mon-fri", "sat,sun", "mon,wed-fri", "all"; nullopt when malformed. Sets window.days.
std::optional<std::uint8_t> parse_days(const std::string& text);

}  // namespace opendo::jobs
