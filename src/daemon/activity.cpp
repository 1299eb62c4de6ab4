#include "daemon/activity.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <stdexcept>
#include <utility>

#include "common/libcrypto.hpp"

namespace opendo::daemon {
namespace {

using json = nlohmann::json;

// The chart's span, and how often the totals are sampled for it.
constexpr std::size_t kHistorySamples = 121;
constexpr auto kSampleInterval = std::chrono::seconds(1);

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 0xF];
  }
  return out;
}

std::string bearer_token(const http_request& request) {
  const std::string authorization = request.header("authorization");
  if (authorization.rfind("Bearer ", 0) == 0) return authorization.substr(7);
  return request.query_parameter("token");
}

http_reply refusal(const char* status) {
  return {status,
          "text/plain; charset=utf-8",
          "the activity page needs the token that 'opendo activity' prints\n",
          {{"WWW-Authenticate", "Bearer"}, {"Cache-Control", "no-store"}}};
}

// Inline script and style only, no network access but to this origin: the page loads nothing
// else, and a script injected through a job's name could not send it anywhere.
const std::vector<std::pair<std::string, std::string>>& page_headers() {
  static const std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Content-Type-Options", "nosniff"},
      {"Cache-Control", "no-store"}};
  return headers;
}

json size_json(std::uint64_t size) {
  return size == size_unknown ? json(-1) : json(size);
}

// Bytes with those received since the last checkpoint, as the jobs' progress counts them.
json totals_json(const machine_statistics& s, const source_stats& t) {
  return {{"origin", t.bytes_from_origin},      {"cache_host", t.bytes_from_cache_hosts},
          {"lan_peer", t.bytes_from_lan_peers}, {"group_peer", t.bytes_from_group_peers},
          {"uploaded", t.bytes_uploaded()},     {"files_downloaded", s.files_downloaded},
          {"download_rate", s.download_rate},   {"upload_rate", s.upload_rate}};
}

}  // namespace

std::string activity_tokens::issue(const caller& who) {
  std::array<unsigned char, 32> random{};
  if (libcrypto().RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    throw std::runtime_error("the random generator failed: no activity page token");
  }
  const auto own = [&](const entry& e) { return e.who.uid == who.uid; };
  if (static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(), own)) >= per_uid) {
    entries_.erase(std::find_if(entries_.begin(), entries_.end(), own));
  } else if (entries_.size() >= capacity) {
    entries_.pop_front();
  }
  entries_.push_back({hex(random.data(), random.size()), who});
  return entries_.back().token;
}

std::optional<caller> activity_tokens::find(std::string_view token) const {
  std::optional<caller> found;
  // Every held token is compared in full, so the time taken says nothing about how close a guess
  // came. Tokens all have the same length; a guess of another length matches none.
  for (const entry& e : entries_) {
    if (token.size() == e.token.size() &&
        libcrypto().CRYPTO_memcmp(token.data(), e.token.data(), token.size()) == 0) {
      found = e.who;
    }
  }
  return found;
}

std::string base_url_of(const std::string& listen_address, std::uint16_t port) {
  const std::string host = listen_address.substr(0, listen_address.rfind(':'));
  return "http://" + host + ":" + std::to_string(port) + "/";
}

activity_page::activity_page(manager& jobs, std::string base_url)
    : jobs_(jobs), base_url_(std::move(base_url)) {}

activity_link activity_page::issue_link(const caller& who) {
  const std::string token = tokens_.issue(who);
  return {base_url_ + "?token=" + token, token};
}

http_reply activity_page::answer(const http_request& request) {
  const char* text = "text/plain; charset=utf-8";
  if (request.method != "GET") return {"405 Method Not Allowed", text, "only GET\n", {}};
  const bool page = request.path == "/" || request.path == "/activity";
  if (!page && request.path != "/activity.json") return {"404 Not Found", text, "not found\n", {}};
  const std::string token = bearer_token(request);
  if (token.empty()) return refusal("401 Unauthorized");
  const std::optional<caller> who = tokens_.find(token);
  if (!who) return refusal("403 Forbidden");
  if (page) return {"200 OK", "text/html; charset=utf-8", activity_html, page_headers()};
  // Names are the users' own text: bytes that are not UTF-8 are replaced rather than refused.
  const std::string body = snapshot(*who).dump(-1, ' ', false, json::error_handler_t::replace);
  return {"200 OK", "application/json", body, {{"Cache-Control", "no-store"}}};
}

json activity_page::snapshot(const caller& who) {
  json list = json::array();
  for (const job_info& job : jobs_.list_jobs(who, who.admin)) {
    list.push_back({{"id", job.id},
                    {"display_name", job.display_name},
                    {"owner_uid", job.owner_uid},
                    {"state", std::string(to_string(job.state))},
                    {"priority", std::string(to_string(job.priority))},
                    {"bytes_total", size_json(job.bytes_total)},
                    {"bytes_transferred", job.bytes_transferred},
                    {"files_total", job.files_total},
                    {"files_transferred", job.files_transferred},
                    {"rate", jobs_.job_rate(job.id)}});
  }
  tick();
  return {{"uid", who.uid},
          {"all_users", who.admin},
          {"time_ms", wall_ms()},
          {"jobs", std::move(list)},
          {"totals", totals_json(jobs_.statistics(), jobs_.live_totals())},
          {"history", history_json()}};
}

void activity_page::tick() {
  const auto now = jobs::mono_clock::now();
  if (!history_.empty() && now - last_sample_ < kSampleInterval) return;
  last_sample_ = now;
  if (history_.size() >= kHistorySamples) history_.pop_front();
  history_.push_back({wall_ms(), jobs_.live_totals()});
}

// [[time_ms, origin, cache_host, lan_peer, group_peer, uploaded], ...], oldest first, and the
// totals of this moment last, so that the chart reaches "now". Compact: every poll carries it.
json activity_page::history_json() const {
  json out = json::array();
  auto add = [&out](const sample& s) {
    const source_stats& t = s.totals;
    out.push_back({s.time_ms, t.bytes_from_origin, t.bytes_from_cache_hosts, t.bytes_from_lan_peers,
                   t.bytes_from_group_peers, t.bytes_uploaded()});
  };
  for (const sample& s : history_) add(s);
  add({wall_ms(), jobs_.live_totals()});
  return out;
}

}  // namespace opendo::daemon
