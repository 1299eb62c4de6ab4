#include "daemon/self_usage.hpp"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

#include "common/numbers.hpp"

namespace opendo::daemon {
namespace {

// The `index`th (0-based) space-separated field of `text`.
std::optional<std::uint64_t> number_field(std::string_view text, std::size_t index) {
  std::size_t position = 0;
  for (std::size_t field = 0;; ++field) {
    position = text.find_first_not_of(' ', position);
    if (position == std::string_view::npos) return std::nullopt;
    const std::size_t end = std::min(text.find_first_of(" \n", position), text.size());
    if (field == index) {
      return numbers::parse_whole<std::uint64_t>(text.substr(position, end - position));
    }
    position = end;
  }
}

std::string read_all(const char* path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

std::optional<std::uint64_t> parse_cpu_time_ms(std::string_view stat, long ticks_per_second) {
  const std::size_t close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  // After "pid (comm)" come field 3 (state) onwards: utime is field 14, stime field 15.
  const std::string_view rest = stat.substr(close + 1);
  const auto user = number_field(rest, 14 - 3);
  const auto system = number_field(rest, 15 - 3);
  if (!user || !system) return std::nullopt;
  return (*user + *system) * 1000 / static_cast<std::uint64_t>(ticks_per_second);
}

std::optional<std::uint64_t> parse_rss_bytes(std::string_view statm, long page_size) {
  const auto pages = number_field(statm, 1);
  if (!pages || page_size <= 0) return std::nullopt;
  return *pages * static_cast<std::uint64_t>(page_size);
}

self_usage read_self_usage() {
  self_usage usage;
  usage.cpu_time_ms =
      parse_cpu_time_ms(read_all("/proc/self/stat"), ::sysconf(_SC_CLK_TCK)).value_or(0);
  usage.rss_bytes =
      parse_rss_bytes(read_all("/proc/self/statm"), ::sysconf(_SC_PAGESIZE)).value_or(0);
  return usage;
}

}  // namespace opendo::daemon
