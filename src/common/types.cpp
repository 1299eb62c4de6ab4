// Names of the enum values of include/opendo/types.hpp, as the CLI and the wire protocol spell
// them, and the percentages of source_stats.
#include <array>

#include "opendo/types.hpp"

namespace opendo {
namespace {

constexpr std::array<std::string_view, 9> kStateNames{
    "QUEUED",          "CONNECTING",  "TRANSFERRING", "SUSPENDED", "ERROR",
    "TRANSIENT_ERROR", "TRANSFERRED", "ACKNOWLEDGED", "CANCELLED"};
constexpr std::array<std::string_view, 4> kPriorityNames{"FOREGROUND", "HIGH", "NORMAL", "LOW"};
constexpr std::array<std::string_view, 4> kProxyNames{"PRECONFIG", "NO_PROXY", "OVERRIDE",
                                                      "AUTODETECT"};
constexpr std::array<std::string_view, 8> kContextNames{
    "NONE",       "UNKNOWN",     "GENERAL_QUEUE_MANAGER", "QUEUE_MANAGER_NOTIFICATION",
    "LOCAL_FILE", "REMOTE_FILE", "GENERAL_TRANSPORT",     "REMOTE_APPLICATION"};

template <std::size_t N>
std::string_view name_at(const std::array<std::string_view, N>& names, std::uint32_t index) {
  return index < N ? names[index] : std::string_view("UNKNOWN_VALUE");
}

template <typename Enum, std::size_t N>
std::optional<Enum> find_name(const std::array<std::string_view, N>& names, std::string_view text) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == text) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(job_state state) {
  return name_at(kStateNames, static_cast<std::uint32_t>(state));
}
std::string_view to_string(job_priority priority) {
  return name_at(kPriorityNames, static_cast<std::uint32_t>(priority));
}
std::string_view to_string(error_context context) {
  return name_at(kContextNames, static_cast<std::uint32_t>(context));
}
std::string_view to_string(proxy_usage usage) {
  return name_at(kProxyNames, static_cast<std::uint32_t>(usage));
}
std::optional<proxy_usage> proxy_usage_from_string(std::string_view text) {
  return find_name<proxy_usage>(kProxyNames, text);
}
std::uint32_t percent_hundredths(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return 0;
  if (part >= whole) return 10000;
  // In 128 bits: part * 10000 does not fit 64 for parts above 2^50 bytes.
  return static_cast<std::uint32_t>(static_cast<unsigned __int128>(part) * 10000U / whole);
}

std::uint32_t source_stats::percent_from_peers() const {
  return percent_hundredths(bytes_from_peers(), bytes_downloaded());
}

std::uint32_t source_stats::percent_from_cache_hosts() const {
  return percent_hundredths(bytes_from_cache_hosts, bytes_downloaded());
}

std::string owner_sid(std::uint32_t uid) {
  return "S-1-22-1-" + std::to_string(uid);
}
std::optional<job_state> job_state_from_string(std::string_view text) {
  return find_name<job_state>(kStateNames, text);
}
std::optional<job_priority> job_priority_from_string(std::string_view text) {
  return find_name<job_priority>(kPriorityNames, text);
}

}  // namespace opendo
