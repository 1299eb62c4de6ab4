// Cache hosts (Delivery Optimization's Connected Cache model on any HTTP caching proxy): how an
// origin URL is asked of a cache host, and which source a file's next request goes to, given
// the hosts' bans and the fallback delay. Pure logic with the clock as a parameter.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job.hpp"

namespace opendo::jobs {

// The daemon's cache host settings (the [cache_hosts] section of opendod.conf).
struct cache_host_policy {
  // "host" or "host:port" (an IPv6 address in brackets), tried in this order. Empty: none.
  std::vector<std::string> hosts;
  // How long after a file first went to a cache host the origin may be used; 0: at once, as soon
  // as no cache host is left to try (DO's DOCacheHostFallback).
  std::chrono::seconds fallback_delay{0};
  // How long a cache host that failed is not asked again, by any file.
  std::chrono::seconds ban_time{300};
  bool operator==(const cache_host_policy&) const = default;
};

// "host", "host:port" or "[v6]:port", as a cache host list holds it; nullopt when it is not
// one (a URL, a path, a bad port, characters a host name cannot have).
std::optional<std::string> parse_cache_host(std::string_view text);
// A comma-separated list of those ("a, b:8080"); spaces around items are ignored; nullopt when an
// item is bad or empty. An empty text is the empty list.
std::optional<std::vector<std::string>> parse_cache_host_list(std::string_view text);

// The URL that asks `cache_host` for `origin_url`:
// http://CACHEHOST/PATH?QUERY&cacheHostOrigin=ORIGINHOST[:PORT], the port kept when it is not
// the scheme's default. nullopt for a URL a cache host must not see: not plain http (an https
// origin is fetched from the origin only, see docs/architecture.md), with user info, or without
// a host.
std::optional<std::string> cache_host_url(std::string_view origin_url, std::string_view cache_host);

// Why a cache host is not asked until a time.
struct cache_host_ban {
  mono_time until;
  std::uint32_t code = 0;  // the HRESULT of the failure
  std::string reason;
};

// Cache hosts that failed recently, for every file of the daemon.
class cache_host_bans {
 public:
  void ban(const std::string& host, mono_time until, std::uint32_t code, std::string reason);
  // The host's ban when it holds at `now`; nullptr otherwise.
  const cache_host_ban* find(const std::string& host, mono_time now) const;
  // The host's last ban, over or not (why it failed); nullptr when it never failed.
  const cache_host_ban* last(const std::string& host) const;

 private:
  std::map<std::string, cache_host_ban> bans_;
};

// What the daemon remembers of one file's use of cache hosts (not persisted: a restarted daemon
// starts afresh).
struct cache_host_attempt {
  // When the file first wanted a cache host: the fallback delay counts from there.
  std::optional<mono_time> first_try;
  // Cache hosts that failed this file since its job last started (a host whose ban ran out is
  // not asked again within one start, so that a chain of failures always ends).
  std::vector<std::string> failed;
  bool fell_back_logged = false;  // the fallback to the origin was logged
};

struct source_choice {
  enum class kind {
    cache_host,  // ask `host`
    origin,      // ask the origin
    wait,        // no cache host is usable and the origin not yet: a transient error
  };
  kind what = kind::origin;
  std::string host;
  mono_time origin_from{};  // wait: when the origin may be used
};

// Where a file's next request goes at `now`: the first cache host in order that is neither
// banned nor failed this file; else the origin once the fallback delay since the file first
// wanted a cache host has passed; else wait. Without cache hosts: the origin. Sets
// attempt.first_try on the first call that has cache hosts to try.
source_choice choose_source(const cache_host_policy& policy, const cache_host_bans& bans,
                            cache_host_attempt& attempt, mono_time now);

}  // namespace opendo::jobs
