#include "jobs/network_cost.hpp"

#include <fnmatch.h>

#include <charconv>
#include <cstdint>
#include <sstream>

namespace opendo::jobs {

namespace {

constexpr std::size_t kMaxGlobs = 32;
constexpr std::size_t kMaxGlobLength = 64;
constexpr unsigned kRouteUp = 0x1;        // RTF_UP
constexpr unsigned kRouteReject = 0x200;  // RTF_REJECT

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool glob_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '@' || c == '-' || c == '*' || c == '?';
}

bool matches_any(std::string_view interface, const std::vector<std::string>& globs) {
  const std::string name(interface);
  for (const auto& glob : globs) {
    if (::fnmatch(glob.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

std::optional<std::uint64_t> hex_field(const std::string& text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string_view to_string(network_cost cost) {
  switch (cost) {
    case network_cost::unrestricted:
      return "unrestricted";
    case network_cost::metered:
      return "metered";
    case network_cost::cellular:
      return "cellular";
  }
  return "unrestricted";
}

std::optional<std::vector<std::string>> parse_interface_globs(std::string_view text) {
  std::vector<std::string> globs;
  if (trim(text).empty()) return globs;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view one = trim(text.substr(0, comma));
    if (one.empty() || one.size() > kMaxGlobLength || globs.size() == kMaxGlobs) {
      return std::nullopt;
    }
    for (const char c : one) {
      if (!glob_character(c)) return std::nullopt;
    }
    globs.emplace_back(one);
    if (comma == std::string_view::npos) return globs;
    text.remove_prefix(comma + 1);
  }
}

network_cost classify(std::string_view interface, const network_cost_rules& rules) {
  if (interface.empty()) return network_cost::unrestricted;
  if (matches_any(interface, rules.cellular_interfaces)) return network_cost::cellular;
  if (matches_any(interface, rules.metered_interfaces)) return network_cost::metered;
  return network_cost::unrestricted;
}

std::optional<std::string> default_route_interface(std::string_view proc_net_route) {
  std::istringstream lines{std::string(proc_net_route)};
  std::string line;
  if (!std::getline(lines, line) || line.rfind("Iface", 0) != 0) return std::nullopt;
  std::optional<std::string> best;
  std::uint64_t best_metric = 0;
  while (std::getline(lines, line)) {
    // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
    std::istringstream fields(line);
    std::string iface, destination, gateway, flags, refcnt, use, metric, mask;
    if (!(fields >> iface >> destination >> gateway >> flags >> refcnt >> use >> metric >> mask)) {
      continue;
    }
    const auto dest = hex_field(destination);
    const auto netmask = hex_field(mask);
    const auto route_flags = hex_field(flags);
    std::uint64_t route_metric = 0;
    const auto [end, ec] =
        std::from_chars(metric.data(), metric.data() + metric.size(), route_metric);
    if (!dest || !netmask || !route_flags || ec != std::errc{} ||
        end != metric.data() + metric.size()) {
      continue;
    }
    if (*dest != 0 || *netmask != 0 || (*route_flags & kRouteUp) == 0) continue;
    if (!best || route_metric < best_metric) {
      best = iface;
      best_metric = route_metric;
    }
  }
  return best;
}

std::optional<std::string> default_route_interface_v6(std::string_view proc_net_ipv6_route) {
  std::istringstream lines{std::string(proc_net_ipv6_route)};
  std::string line;
  std::optional<std::string> best;
  std::uint64_t best_metric = 0;
  while (std::getline(lines, line)) {
    // destination prefix source prefix next-hop metric refcnt use flags iface (no header line)
    std::istringstream fields(line);
    std::string destination, prefix, source, source_prefix, next_hop, metric, refcnt, use, flags,
        iface;
    if (!(fields >> destination >> prefix >> source >> source_prefix >> next_hop >> metric >>
          refcnt >> use >> flags >> iface)) {
      continue;
    }
    const auto route_metric = hex_field(metric);
    const auto route_flags = hex_field(flags);
    if (destination.size() != 32 || destination.find_first_not_of('0') != std::string::npos ||
        prefix != "00" || !route_metric || !route_flags) {
      continue;
    }
    if ((*route_flags & kRouteUp) == 0 || (*route_flags & kRouteReject) != 0) continue;
    if (!best || *route_metric < best_metric) {
      best = iface;
      best_metric = *route_metric;
    }
  }
  return best;
}

network_cost costlier(network_cost a, network_cost b) {
  auto rank = [](network_cost c) {
    switch (c) {
      case network_cost::cellular:
        return 2;
      case network_cost::metered:
        return 1;
      case network_cost::unrestricted:
        break;
    }
    return 0;
  };
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace opendo::jobs
