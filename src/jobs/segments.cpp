// Segments of a file and the connection controller (see segments.hpp).
#include "jobs/segments.hpp"

#include <algorithm>

#include "common/numbers.hpp"

namespace opendo::jobs {

namespace {

using numbers::take_number;

bool take_char(std::string_view& text, char c) {
  if (text.empty() || text.front() != c) return false;
  text.remove_prefix(1);
  return true;
}

// An added connection that brings this share of one connection's worth or more counts as a
// whole one when the controller decides whether to try twice as many.
constexpr double kLinear = 0.75;

}  // namespace

std::string encode_segments(const std::vector<segment>& segments) {
  std::string text;
  for (const auto& s : segments) {
    if (!text.empty()) text += ',';
    text += std::to_string(s.first) + '-' + std::to_string(s.end) + ':' + std::to_string(s.done);
  }
  return text;
}

std::optional<std::vector<segment>> decode_segments(std::string_view text) {
  std::vector<segment> out;
  while (!text.empty()) {
    segment s;
    if (!out.empty() && !take_char(text, ',')) return std::nullopt;
    if (!take_number(text, s.first) || !take_char(text, '-') || !take_number(text, s.end) ||
        !take_char(text, ':') || !take_number(text, s.done) || s.first >= s.end ||
        s.done > s.end - s.first) {
      return std::nullopt;
    }
    out.push_back(s);
  }
  return out;
}

std::uint64_t segments_done(const std::vector<segment>& segments) {
  std::uint64_t done = 0;
  for (const auto& s : segments) done += s.done;
  return done;
}

bool segments_complete(const std::vector<segment>& segments) {
  return std::all_of(segments.begin(), segments.end(),
                     [](const segment& s) { return s.complete(); });
}

std::optional<std::vector<segment>> first_split(std::uint64_t size, std::uint64_t recorded,
                                                std::uint64_t live, std::uint64_t min_size) {
  if (live > size || size - live < 2 * min_size || recorded > live) return std::nullopt;
  const std::uint64_t cut = live + (size - live) / 2;
  return std::vector<segment>{{0, cut, recorded}, {cut, size, 0}};
}

std::optional<std::size_t> split_largest(std::vector<segment>& segments,
                                         const std::vector<std::uint64_t>& live_next,
                                         std::uint64_t min_size) {
  std::optional<std::size_t> best;
  std::uint64_t best_left = 0;
  for (std::size_t i = 0; i < segments.size() && i < live_next.size(); ++i) {
    const std::uint64_t at = std::max(live_next[i], segments[i].next());
    const std::uint64_t left = at < segments[i].end ? segments[i].end - at : 0;
    if (left > best_left) {
      best_left = left;
      best = i;
    }
  }
  if (!best || best_left < 2 * min_size) return std::nullopt;
  const std::uint64_t at = std::max(live_next[*best], segments[*best].next());
  const segment second{at + best_left / 2, segments[*best].end, 0};
  segments[*best].end = second.first;
  segments.push_back(second);  // after the change: push_back may move the vector
  return best;
}

void connection_controller::connections_changed(mono_time now, std::uint32_t running,
                                                std::uint64_t /*received*/) {
  running_ = running;
  changed_at_ = now;
  window_start_.reset();
  flowing_at_.reset();
  grew_at_.reset();
  bytes_at_.reset();
  gaps_since_change_ = {};
}

void connection_controller::resume_with(std::uint32_t connections) {
  target_ = std::clamp<std::uint32_t>(connections, 1, std::max(policy_.max_connections, 1U));
  settled_ = target_ > 1;  // what was learned before still holds for this server
}

void connection_controller::start_from(const learned_connections& learned) {
  target_ =
      std::clamp<std::uint32_t>(learned.connections, 1, std::max(policy_.max_connections, 1U));
  if (target_ == 1 || learned.one_connection_rate <= 0) {
    // More did not pay for this host's last file: no probe either, until the memory expires.
    settled_ = target_ == 1;
    return;
  }
  // Judged as a try from one connection to all of them; one that pays goes on to the cap.
  previous_rate_ = one_rate_ = learned.one_connection_rate;
  previous_connections_ = 1;
  full_tries_ = 1;
}

std::optional<learned_connections> connection_controller::learned() const {
  // Settled by a measurement, or still trying more after a try that paid in full (a file may
  // end before the last try is judged: what it asked for then is what the evidence supported).
  if (!one_rate_ || !(settled_ ? judged_ : paid_in_full_)) return std::nullopt;
  return learned_connections{target_, *one_rate_};
}

std::uint32_t connection_controller::target(mono_time now, std::uint64_t received,
                                            bool all_flowing) {
  if (settled_ || running_ == 0) return target_;
  // A window starts and ends where a burst starts (a turn that brings bytes after a silence at
  // least half the longest seen with this many connections; for a steady source, most turns):
  // it holds whole bursts of a
  // server that sends them (nginx's limit_rate), not one more or less by where its edges fell.
  const bool grew = received > seen_;
  const std::uint64_t before = seen_;
  const auto gap = bytes_at_ ? now - *bytes_at_ : mono_time::duration{};
  const bool burst_starts = grew && (!bytes_at_ || gap * 2 >= gaps_since_change_);
  if (grew) {
    if (bytes_at_) gaps_since_change_ = std::max(gaps_since_change_, gap);
    bytes_at_ = now;
  }
  seen_ = std::max(seen_, received);
  if (all_flowing && received > grown_to_) {
    if (grew_at_) longest_silence_ = std::max(longest_silence_, now - *grew_at_);
    grew_at_ = now;
    grown_to_ = received;
  }
  if (!window_start_) {
    if (!flowing_at_) {
      if (!all_flowing && now - changed_at_ < policy_.max_wait) return target_;
      flowing_at_ = now;
    }
    const auto settling = now - *flowing_at_;
    if (settling < policy_.settle) return target_;
    if (burst_starts) {
      window_start_ = now;
      window_bytes_ = before;  // this burst is in the window
    } else if (settling >= policy_.settle + policy_.window) {
      window_start_ = now;  // no bytes to start from: a connection that does not flow
      window_bytes_ = received;
    }
    return target_;
  }
  const auto elapsed = now - *window_start_;
  // The silence going on counts too: a window must not end before the first silence does.
  const auto silence = std::max(longest_silence_, grew_at_ ? now - *grew_at_ : elapsed);
  const auto window = std::min<mono_time::duration>(
      std::max<mono_time::duration>(policy_.window, silence * policy_.bursts),
      policy_.longest_window);
  if (elapsed < window) return target_;
  std::uint64_t counted = 0;
  if (burst_starts) {
    counted = before - window_bytes_;  // up to this burst, which is not in the window
  } else if (elapsed >= policy_.longest_window) {
    counted = received - window_bytes_;
  } else {
    return target_;
  }
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const double rate = static_cast<double>(counted) / seconds;
  window_start_.reset();
  flowing_at_.reset();
  changed_at_ = now;
  if (previous_rate_ && running_ > previous_connections_) {
    const double per_connection = *previous_rate_ / previous_connections_;
    const std::uint32_t added = running_ - previous_connections_;
    // What the added connections brought, in connections' worth. Nearly one each: the next try
    // doubles (a measured rate wobbles by a burst or two of the server's). Less: the ones that
    // brought at least min_gain each are kept, and no more are tried.
    const double worth = (rate - *previous_rate_) / per_connection;
    if (worth < kLinear * added) {
      const double paid_share = worth + 1.0 - policy_.min_gain;
      const std::uint32_t paid =
          paid_share <= 0 ? 0U : std::min(added, static_cast<std::uint32_t>(paid_share));
      settled_ = judged_ = true;
      target_ = previous_connections_ + paid;
      return target_;
    }
    ++full_tries_;
    paid_in_full_ = true;
  }
  if (running_ == 1) one_rate_ = rate;
  previous_rate_ = rate;
  previous_connections_ = running_;
  if (running_ >= policy_.max_connections) {
    settled_ = judged_ = true;
    target_ = running_;
    return target_;
  }
  // The probe (1 -> 2) is the one cautious step: once it paid in full the server evidently
  // paces each connection, and the next try asks for four times as many; one more try that
  // pays in full goes to the cap.
  std::uint32_t next = policy_.max_connections;
  if (running_ == 1) {
    next = 2;
  } else if (full_tries_ <= 1) {
    next = running_ * 4;
  }
  target_ = std::min(policy_.max_connections, next);
  return target_;
}

void connection_memory::remember(const std::string& host, const learned_connections& learned,
                                 mono_time now) {
  // Expired entries go; past kMostHosts the oldest goes too (a daemon may see many hosts).
  constexpr std::size_t kMostHosts = 256;
  std::erase_if(hosts_, [&](const auto& kv) { return now - kv.second.at >= remember_for_; });
  if (hosts_.size() >= kMostHosts && hosts_.count(host) == 0) {
    hosts_.erase(std::min_element(hosts_.begin(), hosts_.end(), [](const auto& a, const auto& b) {
      return a.second.at < b.second.at;
    }));
  }
  hosts_.insert_or_assign(host, entry{learned, now});
}

std::optional<learned_connections> connection_memory::recall(const std::string& host,
                                                             mono_time now) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return std::nullopt;
  if (now - it->second.at >= remember_for_) {
    hosts_.erase(it);
    return std::nullopt;
  }
  return it->second.learned;
}

std::size_t transfer_write_buffer(std::uint32_t connections, std::size_t file_budget,
                                  std::size_t min, std::size_t max) {
  const std::size_t share = file_budget / std::max<std::uint32_t>(connections, 1);
  return std::clamp(share, std::min(min, max), max);
}

}  // namespace opendo::jobs
