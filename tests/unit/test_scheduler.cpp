// The scheduler: which runnable jobs the engine works on, by priority, with foreground jobs outside
// the limit, pre-emption of lower priorities and a total order for ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "jobs/job.hpp"
#include "jobs/scheduler.hpp"

namespace {

using namespace opendo::jobs;
using opendo::job_priority;
using opendo::job_state;
using ids = std::vector<std::string>;

job make(std::string id, job_priority priority, std::int64_t created = 100,
         job_state state = job_state::queued) {
  job j;
  j.id = std::move(id);
  j.priority = priority;
  j.state = state;
  j.times.creation = created;
  return j;
}

std::vector<schedule_input> inputs(const std::vector<job>& jobs, const ids& running = {}) {
  std::vector<schedule_input> in;
  for (const auto& j : jobs) {
    in.push_back({&j, std::find(running.begin(), running.end(), j.id) != running.end()});
  }
  return in;
}

scheduler_limits max_active(std::uint32_t n) {
  scheduler_limits lim;
  lim.max_active_jobs = n;
  return lim;
}

TEST(Scheduler, NoJobsRunsNothing) {
  EXPECT_TRUE(choose_running({}, scheduler_limits{}).empty());
}

TEST(Scheduler, DefaultLimitIsFourJobs) {
  std::vector<job> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(make("j" + std::to_string(i), job_priority::normal));
  EXPECT_EQ(choose_running(inputs(jobs), scheduler_limits{}), (ids{"j0", "j1", "j2", "j3"}));
}

TEST(Scheduler, OnlyQueuedConnectingAndTransferringJobsAreCandidates) {
  std::vector<job> jobs;
  const std::vector<job_state> states = {
      job_state::queued,      job_state::connecting,   job_state::transferring,
      job_state::suspended,   job_state::error,        job_state::transient_error,
      job_state::transferred, job_state::acknowledged, job_state::cancelled};
  for (std::size_t i = 0; i < states.size(); ++i) {
    jobs.push_back(make("j" + std::to_string(i), job_priority::foreground, 100, states[i]));
  }
  EXPECT_EQ(choose_running(inputs(jobs), max_active(100)), (ids{"j0", "j1", "j2"}));
}

TEST(Scheduler, NullEntriesAreIgnored) {
  const std::vector<job> jobs = {make("a", job_priority::normal)};
  std::vector<schedule_input> in = inputs(jobs);
  in.push_back({nullptr, true});
  EXPECT_EQ(choose_running(in, scheduler_limits{}), (ids{"a"}));
}

TEST(Scheduler, RunsAtMostMaxActiveBackgroundJobs) {
  const std::vector<job> jobs = {make("a", job_priority::normal), make("b", job_priority::normal),
                                 make("c", job_priority::normal)};
  EXPECT_EQ(choose_running(inputs(jobs), max_active(2)).size(), 2U);
}

TEST(Scheduler, HigherPriorityRunsFirst) {
  const std::vector<job> jobs = {make("low", job_priority::low, 1),
                                 make("normal", job_priority::normal, 2),
                                 make("high", job_priority::high, 3)};
  EXPECT_EQ(choose_running(inputs(jobs), max_active(1)), (ids{"high"}));
  EXPECT_EQ(choose_running(inputs(jobs), max_active(2)), (ids{"high", "normal"}));
  EXPECT_EQ(choose_running(inputs(jobs), max_active(3)), (ids{"high", "normal", "low"}));
}

TEST(Scheduler, ForegroundJobsRunBeyondTheLimit) {
  const std::vector<job> jobs = {make("f1", job_priority::foreground),
                                 make("f2", job_priority::foreground),
                                 make("f3", job_priority::foreground)};
  EXPECT_EQ(choose_running(inputs(jobs), max_active(1)), (ids{"f1", "f2", "f3"}));
}

TEST(Scheduler, ForegroundJobsDoNotCountAgainstTheLimit) {
  const std::vector<job> jobs = {make("f", job_priority::foreground), make("h", job_priority::high),
                                 make("n", job_priority::normal)};
  EXPECT_EQ(choose_running(inputs(jobs), max_active(2)), (ids{"f", "h", "n"}));
}

TEST(Scheduler, ZeroLimitRunsOnlyForegroundJobs) {
  const std::vector<job> jobs = {make("h", job_priority::high),
                                 make("f", job_priority::foreground)};
  EXPECT_EQ(choose_running(inputs(jobs), max_active(0)), (ids{"f"}));
}

TEST(Scheduler, HigherPriorityJobPreemptsARunningLowerPriorityJob) {
  const std::vector<job> jobs = {make("low", job_priority::low, 1),
                                 make("high", job_priority::high, 2)};
  EXPECT_EQ(choose_running(inputs(jobs, {"low"}), max_active(1)), (ids{"high"}));
}

TEST(Scheduler, RunningJobKeepsItsSlotOverAnOlderWaitingJobOfEqualPriority) {
  const std::vector<job> jobs = {make("old", job_priority::normal, 1),
                                 make("new", job_priority::normal, 2)};
  EXPECT_EQ(choose_running(inputs(jobs, {"new"}), max_active(1)), (ids{"new"}));
}

TEST(Scheduler, OlderJobWinsAmongWaitingJobsOfEqualPriority) {
  const std::vector<job> jobs = {make("new", job_priority::normal, 2),
                                 make("old", job_priority::normal, 1)};
  EXPECT_EQ(choose_running(inputs(jobs), max_active(1)), (ids{"old"}));
}

TEST(Scheduler, OlderJobWinsAmongRunningJobsOfEqualPriority) {
  const std::vector<job> jobs = {make("new", job_priority::normal, 2),
                                 make("old", job_priority::normal, 1)};
  EXPECT_EQ(choose_running(inputs(jobs, {"new", "old"}), max_active(1)), (ids{"old"}));
}

TEST(Scheduler, IdBreaksATieOfCreationTime) {
  const std::vector<job> jobs = {make("b", job_priority::normal, 5),
                                 make("a", job_priority::normal, 5)};
  EXPECT_EQ(choose_running(inputs(jobs), max_active(1)), (ids{"a"}));
}

TEST(Scheduler, PriorityOutranksRunningAndAge) {
  const std::vector<job> jobs = {make("old-running-low", job_priority::low, 1),
                                 make("new-waiting-normal", job_priority::normal, 9)};
  EXPECT_EQ(choose_running(inputs(jobs, {"old-running-low"}), max_active(1)),
            (ids{"new-waiting-normal"}));
}

TEST(Scheduler, AnswerDoesNotDependOnTheInputOrder) {
  std::vector<job> jobs = {make("f", job_priority::foreground, 3), make("h", job_priority::high, 4),
                           make("n1", job_priority::normal, 1), make("n2", job_priority::normal, 1),
                           make("l", job_priority::low, 0)};
  const ids running = {"n2"};
  const ids expected = {"f", "h", "n2"};
  std::sort(jobs.begin(), jobs.end(), [](const job& a, const job& b) { return a.id < b.id; });
  do {
    EXPECT_EQ(choose_running(inputs(jobs, running), max_active(2)), expected);
  } while (std::next_permutation(jobs.begin(), jobs.end(),
                                 [](const job& a, const job& b) { return a.id < b.id; }));
}

}  // namespace
