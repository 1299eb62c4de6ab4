// What opendod itself costs: its CPU time and resident memory, read from /proc/self, for
// `opendo perfsnap`. The parsing is separate from the reading so that it is tested on fixed text.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace opendo::daemon {

struct self_usage {
  std::uint64_t cpu_time_ms = 0;  // user + system
  std::uint64_t rss_bytes = 0;
};

// The user and system time of /proc/PID/stat (fields 14 and 15, in clock ticks; the command name
// in field 2 may hold spaces and parentheses, so fields are counted after its last ')').
std::optional<std::uint64_t> parse_cpu_time_ms(std::string_view stat, long ticks_per_second);
// The resident pages of /proc/PID/statm (its second field) in bytes.
std::optional<std::uint64_t> parse_rss_bytes(std::string_view statm, long page_size);

// Reads /proc/self/stat and /proc/self/statm; a figure that cannot be read is 0.
self_usage read_self_usage();

}  // namespace opendo::daemon
