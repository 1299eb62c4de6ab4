#include "jobs/accounting.hpp"

namespace opendo::jobs {

namespace {

std::uint64_t source_stats::*bytes_counter(byte_source source) {
  switch (source) {
    case byte_source::cache_host:
      return &source_stats::bytes_from_cache_hosts;
    case byte_source::lan_peer:
      return &source_stats::bytes_from_lan_peers;
    case byte_source::group_peer:
      return &source_stats::bytes_from_group_peers;
    case byte_source::origin:
      break;
  }
  return &source_stats::bytes_from_origin;
}

std::uint64_t source_stats::*request_counter(byte_source source) {
  switch (source) {
    case byte_source::cache_host:
      return &source_stats::cache_host_connections;
    case byte_source::lan_peer:
      return &source_stats::lan_peer_connections;
    case byte_source::group_peer:
      return &source_stats::group_peer_connections;
    case byte_source::origin:
      break;
  }
  return &source_stats::origin_connections;
}

}  // namespace

void add_received(source_stats& stats, byte_source source, std::uint64_t bytes) {
  stats.*bytes_counter(source) += bytes;
}

void add_request(source_stats& stats, byte_source source) {
  ++(stats.*request_counter(source));
}

void rate_window::sample(mono_time now, std::uint64_t total) {
  if (points_.size() >= 2 && now - points_[points_.size() - 2].when < step_) {
    points_.back() = {now, total};
  } else {
    points_.push_back({now, total});
  }
  while (points_.size() > 2 && now - points_[1].when >= window_) points_.pop_front();
}

std::uint64_t rate_window::per_second() const {
  if (points_.size() < 2) return 0;
  const point& first = points_.front();
  const point& last = points_.back();
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(last.when - first.when).count();
  if (elapsed <= 0 || last.total < first.total) return 0;
  return (last.total - first.total) * 1000 / static_cast<std::uint64_t>(elapsed);
}

}  // namespace opendo::jobs
