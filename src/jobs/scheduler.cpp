// The job scheduler (see scheduler.hpp): a ranking of the runnable jobs, then a walk down it that
// takes jobs while the caps allow.
#include "jobs/scheduler.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include "common/text.hpp"

namespace opendo::jobs {

namespace {

bool is_runnable(job_state s) {
  return s == job_state::queued || s == job_state::connecting || s == job_state::transferring;
}

bool rotatable(const schedule_input& in, const scheduler_limits& lim) {
  return in.running && in.turn_started && in.resumable && lim.time_slice.count() > 0;
}

// The last slice boundary at or before now of a running, rotatable job.
mono_time last_boundary(const schedule_input& in, const scheduler_limits& lim, mono_time now) {
  const auto started = *in.turn_started;
  if (now <= started) return started;
  return started + ((now - started) / lim.time_slice) * lim.time_slice;
}

// A candidate and where it stands within its priority.
struct ranked {
  const schedule_input* in = nullptr;
  // Running and entitled to stay: within its first slice, still connecting, or not resumable.
  bool holds_slot = false;
  // The others: since when the job has a claim on a slot (waiting, or since the last boundary
  // of its own turn). Longest claim first; for holders it is unused.
  mono_time claim_since{};
  std::string host;
};

ranked rank(const schedule_input& in, const scheduler_limits& lim, mono_time now) {
  ranked r;
  r.in = &in;
  if (in.running) {
    r.holds_slot = !rotatable(in, lim) || now - *in.turn_started < lim.time_slice;
    if (!r.holds_slot) r.claim_since = last_boundary(in, lim, now);
  } else {
    r.claim_since = in.waiting_since.value_or(now);
  }
  const job& j = *in.j;
  if (j.current_file < j.files.size()) r.host = host_key(j.files[j.current_file].remote_url);
  return r;
}

// Priority first; then holders, then the longest claim; at equal claims running jobs stay
// (no churn); creation time and id make the order total.
bool runs_before(const ranked& a, const ranked& b) {
  const job& x = *a.in->j;
  const job& y = *b.in->j;
  return std::forward_as_tuple(x.priority, !a.holds_slot, a.claim_since, !a.in->running,
                               x.times.creation, x.id) <
         std::forward_as_tuple(y.priority, !b.holds_slot, b.claim_since, !b.in->running,
                               y.times.creation, y.id);
}

// The next slice boundary of the chosen jobs that could give their slot away.
std::optional<mono_time> next_boundary(const std::vector<const ranked*>& chosen,
                                       const scheduler_limits& lim, mono_time now) {
  std::optional<mono_time> earliest;
  for (const ranked* r : chosen) {
    if (r->in->j->priority == job_priority::foreground || !rotatable(*r->in, lim)) continue;
    const mono_time next = last_boundary(*r->in, lim, now) + lim.time_slice;
    if (!earliest || next < *earliest) earliest = next;
  }
  return earliest;
}

}  // namespace

schedule_plan choose_running(const std::vector<schedule_input>& jobs, const scheduler_limits& lim,
                             mono_time now) {
  std::vector<ranked> candidates;
  for (const auto& in : jobs) {
    if (in.j != nullptr && is_runnable(in.j->state)) candidates.push_back(rank(in, lim, now));
  }
  // FOREGROUND has the lowest value of BG_JOB_PRIORITY, so it sorts first.
  std::sort(candidates.begin(), candidates.end(), runs_before);

  std::vector<const ranked*> chosen;
  std::map<std::string, std::uint32_t> per_host;
  std::uint32_t background = 0;
  std::uint32_t connections = 0;
  bool someone_waits = false;
  for (const auto& c : candidates) {
    if (c.in->j->priority != job_priority::foreground) {
      if (background >= lim.max_active_jobs || connections >= lim.max_connections ||
          per_host[c.host] >= lim.max_connections_per_host) {
        someone_waits = true;
        continue;
      }
      ++background;
    }
    ++connections;
    ++per_host[c.host];
    chosen.push_back(&c);
  }

  schedule_plan plan;
  for (const ranked* c : chosen) plan.run.push_back(c->in->j->id);
  if (someone_waits) plan.next_decision = next_boundary(chosen, lim, now);
  return plan;
}

std::string host_key(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  std::string scheme(url.substr(0, scheme_end));
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return {};
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return {};
  scheme = text::lower(scheme);
  std::string key = text::lower(host);
  if (port.empty()) port = scheme == "https" ? "443" : scheme == "http" ? "80" : "";
  if (!port.empty()) key += ":" + std::string(port);
  return key;
}

}  // namespace opendo::jobs
