// The activity page (opendod --activity-listen), the counterpart of Windows' Delivery
// Optimization Activity Monitor: a self-contained HTML page and the JSON it polls, showing the
// caller's jobs with their progress and rate, and the machine's bytes by source, served by an
// http_endpoint on a loopback address. Access needs a token that the Varlink method
// GetActivityPage gives a caller, bound to the caller's uid (see docs/security.md).
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "daemon/http_endpoint.hpp"
#include "daemon/manager.hpp"
#include "jobs/accounting.hpp"

namespace opendo::daemon {

// Random bearer tokens, each standing for the caller it was issued to. In memory only and
// bounded: a uid holding `per_uid` loses its oldest to its next one, so a caller asking again and
// again neither grows the daemon nor retires other users' tokens; past `capacity` in all (many
// users) the oldest of all goes.
class activity_tokens {
 public:
  static constexpr std::size_t per_uid = 8;
  static constexpr std::size_t capacity = 256;
  // 256 random bits (OpenSSL RAND_bytes) in hex. Throws std::runtime_error when the generator
  // fails.
  std::string issue(const caller& who);
  // The caller a token was issued to; compared in constant time with every held token.
  std::optional<caller> find(std::string_view token) const;

 private:
  struct entry {
    std::string token;
    caller who;
  };
  std::deque<entry> entries_;
};

// What GetActivityPage returns: the page's address with the token in its query.
struct activity_link {
  std::string url;
  std::string token;
};

class activity_page {
 public:
  // `base_url`: "http://127.0.0.1:PORT/", where the endpoint listens.
  activity_page(manager& jobs, std::string base_url);

  const std::string& base_url() const { return base_url_; }
  activity_link issue_link(const caller& who);
  // `GET /` (the page) and `GET /activity.json` (its data) with a valid token; 401 without one,
  // 403 with a wrong one, and no data either way.
  http_reply answer(const http_request& request);
  // The data of the page for `who`: their jobs (an administrator's: every user's), the
  // machine's totals, and the totals' history for the chart.
  nlohmann::json snapshot(const caller& who);
  // From the event loop, every turn: records the machine's totals once a second, so that a page
  // opened now draws the last two minutes at once.
  void tick();

 private:
  struct sample {
    std::int64_t time_ms;  // wall clock, for the page's time axis
    source_stats totals;   // live_totals()
  };
  nlohmann::json history_json() const;

  manager& jobs_;
  std::string base_url_;
  activity_tokens tokens_;
  std::deque<sample> history_;  // one a second at most, the last two minutes
  jobs::mono_time last_sample_{};
};

// "127.0.0.1:0" and the port actually bound -> "http://127.0.0.1:PORT/".
std::string base_url_of(const std::string& listen_address, std::uint16_t port);

// The page's source, src/daemon/activity.html, compiled in.
extern const char* const activity_html;

}  // namespace opendo::daemon
