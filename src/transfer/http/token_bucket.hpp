// A token bucket that paces one transfer's body bytes to a rate. libcurl's own
// CURLOPT_MAX_RECV_SPEED_LARGE is not documented to follow a change on a running handle, and
// changing it mid-transfer is reported not to work (curl issues #6162, #11857), while a share of
// a class cap changes whenever a transfer starts or stops. So the engine paces in its write
// callback instead: a chunk is taken
// while the bucket is not in debt (it may go into debt by one chunk, repaid before the next), and
// otherwise the transfer is paused until the debt is repaid. Pure logic: the caller passes the
// time.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace opendo::transfer::http {

class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  // Bytes per second; 0: unlimited. A change keeps the debt (bytes already taken are paid for).
  void set_rate(std::uint64_t bytes_per_second, clock::time_point now) {
    refill(now);
    rate_ = bytes_per_second;
    if (rate_ == 0) tokens_ = 0;
    tokens_ = std::min(tokens_, burst());
  }
  std::uint64_t rate() const { return rate_; }
  bool limited() const { return rate_ != 0; }

  // May a chunk be taken now? (The bucket is not in debt.)
  bool ready(clock::time_point now) {
    if (rate_ == 0) return true;
    refill(now);
    return tokens_ >= 0;
  }
  void take(std::uint64_t bytes) {
    if (rate_ != 0) tokens_ -= static_cast<double>(bytes);
  }
  // When the debt is repaid (now when it is not in debt).
  clock::time_point ready_at(clock::time_point now) {
    if (rate_ == 0) return now;
    refill(now);
    if (tokens_ >= 0) return now;
    const double seconds = -tokens_ / static_cast<double>(rate_);
    return now +
           std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
  }

 private:
  // A quarter second of bytes: saved while the transfer waits for the event loop, so that a loop
  // that wakes late does not lose throughput, and small enough to bound a burst.
  double burst() const { return static_cast<double>(rate_) / 4; }
  void refill(clock::time_point now) {
    if (now > last_) {
      const double seconds = std::chrono::duration<double>(now - last_).count();
      tokens_ = std::min(burst(), tokens_ + seconds * static_cast<double>(rate_));
    }
    last_ = now;
  }

  std::uint64_t rate_ = 0;
  double tokens_ = 0;
  clock::time_point last_{};
};

}  // namespace opendo::transfer::http
