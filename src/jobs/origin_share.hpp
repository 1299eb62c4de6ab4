// Sharing out the origin's work among the hosts of a LAN that fetch the same content, so that the
// fleet pulls each byte from the origin about once. Pure logic: the peer engine supplies what it
// sees (which pieces are here, which a connected peer has, which hosts take part), this decides
// which runs of pieces this host fetches over HTTP itself.
//
// The content is cut into groups of consecutive pieces (one HTTP request each). Every group has
// one owner among the hosts that take part, by rendezvous (highest random weight) hashing of
// (content, host, group): each host computes the same owner without talking to the others, and
// when a host joins or leaves only the groups it wins or held move. A host fetches the groups it
// owns that no connected peer can give it; the others arrive from their owners through the swarm.
// A group nobody delivers in time (its owner left, stalled, or is not an opendo host) is taken
// over by a host that has no work of its own left, after a grace period that grows with how long
// this host's own requests took: so the tail is covered without every idle host fetching it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job.hpp"

namespace opendo::jobs {

// The weight of `host` for `group` of the content `content_key`; the owner is the host with the
// highest. Stable across hosts, builds and runs (FNV-1a 64 with a SplitMix64 finish: not a
// security measure, only a well-spread, deterministic order).
std::uint64_t rendezvous_weight(std::string_view content_key, std::string_view host,
                                std::uint32_t group);

// The host among `hosts` that owns `group` (ties, which need equal names, go to the first).
std::size_t owner_of(std::string_view content_key, const std::vector<std::string>& hosts,
                     std::uint32_t group);

struct origin_share_policy {
  // Before the first request, so that local discovery can find the other hosts first (while it
  // is alone a host owns every group).
  std::chrono::milliseconds start_grace{2000};
  // A group owned by another host is taken over after this host had no work of its own for
  // max(min_takeover_grace, takeover_factor x its mean request time).
  std::chrono::milliseconds min_takeover_grace{5000};
  double takeover_factor = 4.0;
};

// What this host sees of one content, group by group.
struct share_view {
  // A group needs the origin when it has a piece that is neither here nor held by any connected
  // peer; a group this host is fetching is in flight.
  std::vector<bool> needs_origin;
  std::vector<bool> in_flight;
  // Groups with a piece that is not here, held by a peer or not (empty: as needs_origin). One
  // that peers hold but do not deliver is fetched from the origin once no group came from peers
  // for a while (twice the takeover grace after this host ran out of work of its own); from then
  // on at the pace of this host's requests, until a group comes from peers again.
  std::vector<bool> missing = {};
};

class origin_share {
 public:
  origin_share(std::string content_key, mono_time started, origin_share_policy policy = {});

  // The groups this host should ask the origin for now, best first, at most `max` (the caller
  // has that many requests free). `self` is this host's name and `others` those of the other
  // hosts taking part, as every host names them (their addresses).
  std::vector<std::uint32_t> choose(const std::string& self, const std::vector<std::string>& others,
                                    const share_view& view, mono_time now, std::size_t max);
  // A request of this host finished after `took`: the takeover grace follows the mean.
  void request_took(std::chrono::milliseconds took);
  // When choose() may decide differently with nothing else changing (a grace ends).
  std::optional<mono_time> next_decision() const { return next_decision_; }
  std::chrono::milliseconds takeover_grace() const;

 private:
  std::vector<std::uint32_t> own_first(const std::vector<std::string>& hosts,
                                       const std::vector<std::uint32_t>& groups,
                                       std::size_t max) const;

  std::string key_;
  mono_time started_;
  origin_share_policy policy_;
  std::optional<mono_time> idle_since_;
  // When a group last came from peers (or this host last had work of its own): a group this host
  // asked the origin for does not count, or a peer that claims every piece and sends none would
  // hold back each next group for the whole stall time again.
  mono_time progress_at_{};
  // Which groups were absent at the last choose(), and which this host asked the origin for.
  std::vector<bool> last_absent_;
  std::vector<bool> asked_;
  std::optional<mono_time> next_decision_;
  std::chrono::milliseconds total_request_time_{0};
  std::uint32_t requests_ = 0;
};

}  // namespace opendo::jobs
