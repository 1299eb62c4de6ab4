#include "jobs/origin_share.hpp"

#include <algorithm>
#include <utility>

namespace opendo::jobs {

namespace {

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t fnv1a(std::uint64_t h, std::string_view bytes) {
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return h;
}

// SplitMix64's finaliser: FNV alone leaves nearby group numbers with nearby weights.
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// `groups` sorted by `host`'s weight, highest first, cut to `max`.
std::vector<std::uint32_t> best_for(std::string_view key, std::string_view host,
                                    const std::vector<std::uint32_t>& groups, std::size_t max) {
  std::vector<std::pair<std::uint64_t, std::uint32_t>> ranked;
  ranked.reserve(groups.size());
  for (const auto g : groups) ranked.emplace_back(rendezvous_weight(key, host, g), g);
  std::sort(ranked.begin(), ranked.end(), std::greater<>());
  if (ranked.size() > max) ranked.resize(max);
  std::vector<std::uint32_t> out;
  out.reserve(ranked.size());
  for (const auto& [weight, g] : ranked) out.push_back(g);
  return out;
}

// The highest weight among the hosts after hosts[0]: that of the host that would own `group`
// if hosts[0] were not there.
std::uint64_t runner_up_weight(std::string_view key, const std::vector<std::string>& hosts,
                               std::uint32_t group) {
  std::uint64_t best = 0;
  for (std::size_t i = 1; i < hosts.size(); ++i) {
    best = std::max(best, rendezvous_weight(key, hosts[i], group));
  }
  return best;
}

}  // namespace

std::vector<std::uint32_t> origin_share::own_first(const std::vector<std::string>& hosts,
                                                   const std::vector<std::uint32_t>& groups,
                                                   std::size_t max) const {
  if (hosts.size() == 1) return best_for(key_, hosts[0], groups, max);
  // Hosts that met later disagree for a moment about who owns what, and a host fetches its own
  // groups in its order of preference. So this host begins with the groups that the host next in
  // line would have fetched last: if that one started before this host was known to it, those
  // are the ones it has most likely not reached.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> ranked;
  ranked.reserve(groups.size());
  for (const auto g : groups) ranked.emplace_back(runner_up_weight(key_, hosts, g), g);
  std::sort(ranked.begin(), ranked.end());
  if (ranked.size() > max) ranked.resize(max);
  std::vector<std::uint32_t> out;
  out.reserve(ranked.size());
  for (const auto& [weight, g] : ranked) out.push_back(g);
  return out;
}

std::uint64_t rendezvous_weight(std::string_view content_key, std::string_view host,
                                std::uint32_t group) {
  std::uint64_t h = fnv1a(kFnvOffset, content_key);
  h = fnv1a(h, std::string_view("\0", 1));
  h = fnv1a(h, host);
  h = fnv1a(h, std::string_view("\0", 1));
  for (int shift = 0; shift < 32; shift += 8) {
    h ^= (group >> shift) & 0xffU;
    h *= kFnvPrime;
  }
  return mix(h);
}

std::size_t owner_of(std::string_view content_key, const std::vector<std::string>& hosts,
                     std::uint32_t group) {
  std::size_t best = 0;
  std::uint64_t best_weight = 0;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const std::uint64_t w = rendezvous_weight(content_key, hosts[i], group);
    if (i == 0 || w > best_weight) {
      best = i;
      best_weight = w;
    }
  }
  return best;
}

origin_share::origin_share(std::string content_key, mono_time started, origin_share_policy policy)
    : key_(std::move(content_key)), started_(started), policy_(policy) {}

std::chrono::milliseconds origin_share::takeover_grace() const {
  if (requests_ == 0) return policy_.min_takeover_grace;
  const auto mean = total_request_time_ / requests_;
  const auto scaled = std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(mean.count()) * policy_.takeover_factor));
  return std::max(policy_.min_takeover_grace, scaled);
}

void origin_share::request_took(std::chrono::milliseconds took) {
  total_request_time_ += took;
  ++requests_;
}

std::vector<std::uint32_t> origin_share::choose(const std::string& self,
                                                const std::vector<std::string>& others,
                                                const share_view& view, mono_time now,
                                                std::size_t max) {
  next_decision_.reset();
  if (now < started_ + policy_.start_grace) {
    next_decision_ = started_ + policy_.start_grace;
    return {};
  }
  std::vector<std::string> hosts;
  hosts.reserve(others.size() + 1);
  hosts.push_back(self);
  hosts.insert(hosts.end(), others.begin(), others.end());

  std::vector<std::uint32_t> own_free;
  std::vector<std::uint32_t> others_free;
  std::vector<std::uint32_t> stalled;
  bool own_in_flight = false;
  bool from_peers = last_absent_.empty();  // the first look starts the clock
  const auto groups = static_cast<std::uint32_t>(view.needs_origin.size());
  std::vector<bool> absent_now(groups, false);
  asked_.resize(groups, false);
  for (std::uint32_t g = 0; g < groups; ++g) {
    const bool flying = g < view.in_flight.size() && view.in_flight[g];
    const bool absent = view.needs_origin[g] || (g < view.missing.size() && view.missing[g]);
    absent_now[g] = absent;
    if (!absent && g < last_absent_.size() && last_absent_[g] && !asked_[g]) from_peers = true;
    if (!view.needs_origin[g]) {
      if (absent && !flying) stalled.push_back(g);
      continue;
    }
    const bool mine = owner_of(key_, hosts, g) == 0;
    if (mine && flying) own_in_flight = true;
    if (flying) continue;
    (mine ? own_free : others_free).push_back(g);
  }
  last_absent_ = std::move(absent_now);
  if (from_peers) progress_at_ = now;
  auto asking = [&](std::vector<std::uint32_t> chosen) {
    for (const auto g : chosen) asked_[g] = true;
    return chosen;
  };
  if (!own_free.empty() || own_in_flight) {
    idle_since_.reset();
    progress_at_ = now;  // the stall is counted from when this host runs out of work of its own
    return asking(own_first(hosts, own_free, max));
  }
  if (others_free.empty() && stalled.empty()) return {};
  if (!idle_since_) idle_since_ = now;
  const auto grace = takeover_grace();
  const mono_time take_over_at = *idle_since_ + grace;
  // A peer may announce pieces and never send them: when nothing arrived for twice the grace,
  // what peers hold is fetched from the origin too.
  const mono_time unstall_at = std::max(take_over_at, progress_at_ + 2 * grace);
  std::vector<std::uint32_t> out;
  // Taken over in this host's own order of preference: two idle hosts start on different groups.
  if (now >= take_over_at) out = best_for(key_, self, others_free, max);
  if (out.size() < max && now >= unstall_at) {
    for (const auto g : best_for(key_, self, stalled, max - out.size())) {
      out.push_back(g);
    }
  }
  if (out.empty()) {
    next_decision_ = now < take_over_at && !others_free.empty() ? take_over_at : unstall_at;
  }
  return asking(std::move(out));
}

}  // namespace opendo::jobs
