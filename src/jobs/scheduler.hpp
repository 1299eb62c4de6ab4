// Which jobs the engine should work on now: priority classes, a cap on concurrent background jobs
// and pre-emption. Pure logic on jobs::job; the daemon starts and stops transfers from the answer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "jobs/job.hpp"

namespace opendo::jobs {

struct schedule_input {
  const job* j;
  bool running;  // the engine is working on it
};

struct scheduler_limits {
  std::uint32_t max_active_jobs = 4;
};

// Which jobs should run now: every QUEUED/CONNECTING/TRANSFERRING job is a candidate; FOREGROUND
// jobs always run (they do not count against the limit); the rest are taken by priority
// (HIGH, NORMAL, LOW), then already-running first, then creation time, then id, until
// max_active_jobs are chosen. Returns the ids to run (foreground jobs first, each group in the
// order above); the caller stops running jobs not in it (pre-emption) and starts the new ones.
std::vector<std::string> choose_running(const std::vector<schedule_input>& jobs,
                                        const scheduler_limits& lim);

}  // namespace opendo::jobs
