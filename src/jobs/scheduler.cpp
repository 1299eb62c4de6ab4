// The job scheduler (see scheduler.hpp): a sort of the runnable jobs and a cut at the limit.
#include "jobs/scheduler.hpp"

#include <algorithm>
#include <tuple>

namespace opendo::jobs {

namespace {

bool is_runnable(job_state s) {
  return s == job_state::queued || s == job_state::connecting || s == job_state::transferring;
}

// Running jobs win ties of priority so that equal jobs do not take turns pre-empting each other;
// creation time and id make the order total, hence the answer independent of the input order.
bool runs_before(const schedule_input& a, const schedule_input& b) {
  return std::forward_as_tuple(a.j->priority, !a.running, a.j->times.creation, a.j->id) <
         std::forward_as_tuple(b.j->priority, !b.running, b.j->times.creation, b.j->id);
}

}  // namespace

std::vector<std::string> choose_running(const std::vector<schedule_input>& jobs,
                                        const scheduler_limits& lim) {
  std::vector<schedule_input> candidates;
  for (const auto& in : jobs) {
    if (in.j != nullptr && is_runnable(in.j->state)) candidates.push_back(in);
  }
  // FOREGROUND has the lowest value of BG_JOB_PRIORITY, so it sorts first.
  std::sort(candidates.begin(), candidates.end(), runs_before);

  std::vector<std::string> chosen;
  std::uint32_t background = 0;
  for (const auto& c : candidates) {
    if (c.j->priority != job_priority::foreground) {
      if (background >= lim.max_active_jobs) break;
      ++background;
    }
    chosen.push_back(c.j->id);
  }
  return chosen;
}

}  // namespace opendo::jobs
