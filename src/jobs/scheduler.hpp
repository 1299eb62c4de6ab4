// Which jobs the engine should work on now: priority classes, round-robin time slices among jobs
// of equal priority, caps on concurrent jobs and on connections per host and in total. Pure logic
// on jobs::job and an injected clock; the daemon starts and stops transfers from the answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job.hpp"

namespace opendo::jobs {

struct schedule_input {
  const job* j = nullptr;
  bool running = false;  // the engine is working on it
  // Running: when the current turn's transfer actually started (its first response arrived);
  // nullopt while it is still connecting, which is no time used.
  std::optional<mono_time> turn_started;
  // Not running: since when the job has waited for a slot (nullopt: from now on).
  std::optional<mono_time> waiting_since;
  // Running: stopping the transfer loses no bytes (the server takes ranges and the size is
  // known). Only such a job gives its slot away at the end of a slice; others keep it until they
  // finish or a higher priority takes it, since every turn would fetch the file from 0 again.
  bool resumable = true;
};

struct scheduler_limits {
  // Background (HIGH, NORMAL, LOW) jobs that transfer at the same time.
  std::uint32_t max_active_jobs = 4;
  // How long a background job may keep its slot while a job of the same priority waits for one;
  // zero: until it finishes (no rotation). A minute makes the cost of a rotation (one new request,
  // a connection if it is not reused) negligible beside the transfer.
  std::chrono::milliseconds time_slice = std::chrono::seconds(60);
  // Transfers to one host (host and port of the current file's URL) and in all. Each running job
  // is one transfer. FOREGROUND jobs are not held back by either cap, but they count: background
  // jobs only get the connections they leave.
  std::uint32_t max_connections_per_host = 6;
  std::uint32_t max_connections = 32;
};

struct schedule_plan {
  // The jobs to run: foreground jobs first, then the others in the order they were taken. The
  // caller stops running jobs not in it (pre-emption, rotation) and starts the new ones.
  std::vector<std::string> run;
  // When the answer may change with no other event (a running job's slice ends while another
  // job is left waiting); the caller asks again then.
  std::optional<mono_time> next_decision;
};

// The plan at `now`. Candidates are the QUEUED, CONNECTING and TRANSFERRING jobs.
// - FOREGROUND jobs all run, side by side, outside every cap (BITS: foreground is immediate).
// - The others are taken by priority (HIGH, NORMAL, LOW), a higher one pre-empting a lower one.
// - Within a priority, a running job keeps its slot for its first slice. After that, at each
//   slice boundary (turn_started + k * time_slice), a job that has waited since before the
//   boundary goes first: the longest-waiting job takes the slot, and the job that had it queues
//   as of that boundary (round-robin). A job that is not resumable, or still connecting, keeps
//   its slot. Remaining ties: creation time, then id, so the answer does not depend on the
//   input order.
// - A job is skipped (it waits) while its current file's host has max_connections_per_host
//   transfers; jobs of other hosts may still start. No job starts past max_active_jobs
//   background jobs or past max_connections transfers in all.
schedule_plan choose_running(const std::vector<schedule_input>& jobs, const scheduler_limits& lim,
                             mono_time now);

// The key the per-host cap counts by: lower-case host and port of a URL ("example.com:443"; the
// scheme's port when none is given), or "" when the URL has no host.
std::string host_key(std::string_view url);

}  // namespace opendo::jobs
