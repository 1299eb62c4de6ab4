#include "jobs/cache_hosts.hpp"

#include <algorithm>
#include <cctype>

#include "common/numbers.hpp"
#include "common/text.hpp"

namespace opendo::jobs {
namespace {

using text::lower;
using text::trim;

bool valid_port(std::string_view port) {
  const std::optional<unsigned> value = numbers::parse_whole<unsigned>(port);
  return value && *value >= 1 && *value <= 65535;
}

// A DNS name or an IPv4 address: what a cache host list may name without brackets.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.front() == '-' || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.';
  });
}

bool valid_ipv6(std::string_view address) {
  return !address.empty() && std::all_of(address.begin(), address.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
  });
}

// An authority split into host (brackets kept for IPv6) and port ("" when none is given).
struct host_port {
  std::string_view host;
  std::string_view port;
};

std::optional<host_port> split_authority(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    return host_port{authority.substr(0, close + 1), rest.empty() ? rest : rest.substr(1)};
  }
  const auto colon = authority.find(':');
  if (colon == std::string_view::npos) return host_port{authority, {}};
  return host_port{authority.substr(0, colon), authority.substr(colon + 1)};
}

bool valid_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') return valid_ipv6(host.substr(1, host.size() - 2));
  return valid_name(host);
}

}  // namespace

std::optional<std::string> parse_cache_host(std::string_view text) {
  const auto parts = split_authority(text);
  if (!parts || !valid_host(parts->host)) return std::nullopt;
  const bool port_given = text.size() > parts->host.size();
  if (port_given && !valid_port(parts->port)) return std::nullopt;
  return lower(text);
}

std::optional<std::vector<std::string>> parse_cache_host_list(std::string_view text) {
  std::vector<std::string> hosts;
  if (trim(text).empty()) return hosts;
  for (;;) {
    const auto comma = text.find(',');
    const auto host = parse_cache_host(trim(text.substr(0, comma)));
    if (!host) return std::nullopt;
    hosts.push_back(*host);
    if (comma == std::string_view::npos) return hosts;
    text.remove_prefix(comma + 1);
  }
}

std::optional<std::string> cache_host_url(std::string_view origin_url,
                                          std::string_view cache_host) {
  constexpr std::string_view kScheme = "http://";
  if (origin_url.size() < kScheme.size() ||
      lower(origin_url.substr(0, kScheme.size())) != kScheme) {
    return std::nullopt;
  }
  std::string_view rest = origin_url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('#'));  // a fragment is never sent
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  rest.remove_prefix(authority.size());
  const auto parts = split_authority(authority);
  if (!parts || parts->host.empty() || authority.find('@') != std::string_view::npos) {
    return std::nullopt;
  }
  std::string origin = lower(parts->host);
  if (!parts->port.empty() && parts->port != "80") origin += ":" + std::string(parts->port);
  const auto query_start = rest.find('?');
  std::string_view path = rest.substr(0, query_start);
  const std::string_view query =
      query_start == std::string_view::npos ? std::string_view() : rest.substr(query_start + 1);
  if (path.empty()) path = "/";
  std::string url = "http://" + std::string(cache_host) + std::string(path) + "?";
  if (!query.empty()) url += std::string(query) + "&";
  return url + "cacheHostOrigin=" + origin;
}

void cache_host_bans::ban(const std::string& host, mono_time until, std::uint32_t code,
                          std::string reason) {
  bans_[host] = cache_host_ban{until, code, std::move(reason)};
}

const cache_host_ban* cache_host_bans::find(const std::string& host, mono_time now) const {
  const auto it = bans_.find(host);
  return it != bans_.end() && now < it->second.until ? &it->second : nullptr;
}

const cache_host_ban* cache_host_bans::last(const std::string& host) const {
  const auto it = bans_.find(host);
  return it != bans_.end() ? &it->second : nullptr;
}

source_choice choose_source(const cache_host_policy& policy, const cache_host_bans& bans,
                            cache_host_attempt& attempt, mono_time now) {
  if (policy.hosts.empty()) return {source_choice::kind::origin, {}, {}};
  if (!attempt.first_try) attempt.first_try = now;
  for (const std::string& host : policy.hosts) {
    const bool failed_here =
        std::find(attempt.failed.begin(), attempt.failed.end(), host) != attempt.failed.end();
    if (!failed_here && bans.find(host, now) == nullptr) {
      return {source_choice::kind::cache_host, host, {}};
    }
  }
  const mono_time origin_from = *attempt.first_try + policy.fallback_delay;
  if (now >= origin_from) return {source_choice::kind::origin, {}, {}};
  return {source_choice::kind::wait, {}, origin_from};
}

}  // namespace opendo::jobs
