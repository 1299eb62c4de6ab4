// Per-source accounting: which source a request fetches from, how received bytes and requests
// add to a file's counters and to the machine's totals, and the current rate. Pure logic; the
// manager feeds it and the store keeps what it counts (the percentages are source_stats's own).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string_view>
#include <utility>

#include "jobs/job.hpp"
#include "opendo/types.hpp"

namespace opendo::jobs {

// Where the bytes of one request come from. The origin and cache hosts are fed today; peers add
// to their own counters when they arrive.
enum class byte_source : std::uint8_t { origin, cache_host, lan_peer, group_peer };

// `bytes` more were received from `source` and recorded.
void add_received(source_stats& stats, byte_source source, std::uint64_t bytes);
// One more request was made to `source`.
void add_request(source_stats& stats, byte_source source);

// What the machine has done since its store was created: the totals of `opendo perfsnap`.
struct machine_totals {
  std::uint64_t files_downloaded = 0;
  std::uint64_t files_uploaded = 0;
  source_stats sources;
  friend bool operator==(const machine_totals&, const machine_totals&) = default;
};

// The counters of machine_totals by name, as the store keeps them (one row each, so that a new
// counter needs no schema change) and as metrics name them.
inline constexpr std::array<std::pair<std::string_view, std::uint64_t machine_totals::*>, 2>
    kTotalFileCounters{{{"files_downloaded", &machine_totals::files_downloaded},
                        {"files_uploaded", &machine_totals::files_uploaded}}};
inline constexpr std::array<std::pair<std::string_view, std::uint64_t source_stats::*>, 11>
    kSourceCounters{{{"bytes_from_origin", &source_stats::bytes_from_origin},
                     {"bytes_from_cache_hosts", &source_stats::bytes_from_cache_hosts},
                     {"bytes_from_lan_peers", &source_stats::bytes_from_lan_peers},
                     {"bytes_from_group_peers", &source_stats::bytes_from_group_peers},
                     {"bytes_to_lan_peers", &source_stats::bytes_to_lan_peers},
                     {"bytes_to_group_peers", &source_stats::bytes_to_group_peers},
                     {"origin_connections", &source_stats::origin_connections},
                     {"cache_host_connections", &source_stats::cache_host_connections},
                     {"lan_peer_connections", &source_stats::lan_peer_connections},
                     {"group_peer_connections", &source_stats::group_peer_connections},
                     {"download_duration_ms", &source_stats::download_duration_ms}}};

// The rate of a growing counter (bytes received, all sources) over the last few seconds: the
// "current rate" of `opendo perfsnap`. Time is given, so tests need no clock.
class rate_window {
 public:
  // A sample less than window / kSteps after the point before the newest replaces the newest,
  // so every second point is a step apart: a sample per event-loop turn keeps at most
  // 2 x kSteps + 3 points however often it comes, kSteps + 3 when it comes evenly.
  static constexpr int kSteps = 50;
  static constexpr std::chrono::milliseconds kDefaultWindow{5000};
  // The spacing of the points of a default window: sampling more often only replaces the newest.
  static constexpr std::chrono::milliseconds kDefaultStep = kDefaultWindow / kSteps;

  explicit rate_window(std::chrono::milliseconds window = kDefaultWindow)
      : window_(window), step_(window / kSteps) {}
  // The counter is `total` at `now`; samples older than the window are dropped, but the newest
  // of them stays as the start, so that a counter that stopped growing reads 0, not nothing.
  void sample(mono_time now, std::uint64_t total);
  // Growth per second from the oldest kept sample to the newest; 0 before two samples, or when
  // the counter went down (a restart of the count).
  std::uint64_t per_second() const;
  std::size_t points() const { return points_.size(); }

 private:
  struct point {
    mono_time when;
    std::uint64_t total;
  };
  std::chrono::milliseconds window_;
  std::chrono::milliseconds step_;
  std::deque<point> points_;
};

}  // namespace opendo::jobs
