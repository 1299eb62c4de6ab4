// The scheduler: which runnable jobs the engine works on, by priority, with foreground jobs outside
// the limits, pre-emption of lower priorities, round-robin time slices within a priority, caps on
// connections per host and in total, and a total order for ties. The clock is a parameter.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
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

using std::chrono::milliseconds;
using std::chrono::seconds;

job make(std::string id, job_priority priority, std::int64_t created = 100,
         job_state state = job_state::queued, const std::string& url = "http://origin/file") {
  job j;
  j.id = std::move(id);
  j.priority = priority;
  j.state = state;
  j.times.creation = created;
  file_record f;
  f.remote_url = url;
  j.files.push_back(f);
  return j;
}

job on_host(std::string id, const std::string& host, job_priority priority = job_priority::normal,
            std::int64_t created = 100) {
  return make(std::move(id), priority, created, job_state::queued, "http://" + host + "/f");
}

std::vector<schedule_input> inputs(const std::vector<job>& jobs, const ids& running = {}) {
  std::vector<schedule_input> in;
  for (const auto& j : jobs) {
    schedule_input one;
    one.j = &j;
    one.running = std::find(running.begin(), running.end(), j.id) != running.end();
    in.push_back(one);
  }
  return in;
}

const mono_time t0 = mono_time{} + std::chrono::hours(1);

ids choose(const std::vector<schedule_input>& in, const scheduler_limits& lim) {
  return choose_running(in, lim, t0).run;
}

scheduler_limits max_active(std::uint32_t n) {
  scheduler_limits lim;
  lim.max_active_jobs = n;
  return lim;
}

TEST(Scheduler, NoJobsRunsNothing) {
  EXPECT_TRUE(choose({}, scheduler_limits{}).empty());
}

TEST(Scheduler, DefaultLimitIsFourJobs) {
  std::vector<job> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(make("j" + std::to_string(i), job_priority::normal));
  EXPECT_EQ(choose(inputs(jobs), scheduler_limits{}), (ids{"j0", "j1", "j2", "j3"}));
}

TEST(Scheduler, DefaultsAreTheDocumentedOnes) {
  const scheduler_limits lim;
  EXPECT_EQ(lim.max_active_jobs, 4U);
  EXPECT_EQ(lim.time_slice, seconds(60));
  EXPECT_EQ(lim.max_connections_per_host, 6U);
  EXPECT_EQ(lim.max_connections, 32U);
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
  EXPECT_EQ(choose(inputs(jobs), max_active(100)), (ids{"j0", "j1", "j2"}));
}

TEST(Scheduler, NullEntriesAreIgnored) {
  const std::vector<job> jobs = {make("a", job_priority::normal)};
  std::vector<schedule_input> in = inputs(jobs);
  schedule_input null_entry;
  null_entry.running = true;
  in.push_back(null_entry);
  EXPECT_EQ(choose(in, scheduler_limits{}), (ids{"a"}));
}

TEST(Scheduler, RunsAtMostMaxActiveBackgroundJobs) {
  const std::vector<job> jobs = {make("a", job_priority::normal), make("b", job_priority::normal),
                                 make("c", job_priority::normal)};
  EXPECT_EQ(choose(inputs(jobs), max_active(2)).size(), 2U);
}

TEST(Scheduler, HigherPriorityRunsFirst) {
  const std::vector<job> jobs = {make("low", job_priority::low, 1),
                                 make("normal", job_priority::normal, 2),
                                 make("high", job_priority::high, 3)};
  EXPECT_EQ(choose(inputs(jobs), max_active(1)), (ids{"high"}));
  EXPECT_EQ(choose(inputs(jobs), max_active(2)), (ids{"high", "normal"}));
  EXPECT_EQ(choose(inputs(jobs), max_active(3)), (ids{"high", "normal", "low"}));
}

TEST(Scheduler, ForegroundJobsRunBeyondTheLimit) {
  const std::vector<job> jobs = {make("f1", job_priority::foreground),
                                 make("f2", job_priority::foreground),
                                 make("f3", job_priority::foreground)};
  EXPECT_EQ(choose(inputs(jobs), max_active(1)), (ids{"f1", "f2", "f3"}));
}

TEST(Scheduler, ForegroundJobsDoNotCountAgainstTheLimit) {
  const std::vector<job> jobs = {make("f", job_priority::foreground), make("h", job_priority::high),
                                 make("n", job_priority::normal)};
  EXPECT_EQ(choose(inputs(jobs), max_active(2)), (ids{"f", "h", "n"}));
}

TEST(Scheduler, ZeroLimitRunsOnlyForegroundJobs) {
  const std::vector<job> jobs = {make("h", job_priority::high),
                                 make("f", job_priority::foreground)};
  EXPECT_EQ(choose(inputs(jobs), max_active(0)), (ids{"f"}));
}

TEST(Scheduler, HigherPriorityJobPreemptsARunningLowerPriorityJob) {
  const std::vector<job> jobs = {make("low", job_priority::low, 1),
                                 make("high", job_priority::high, 2)};
  EXPECT_EQ(choose(inputs(jobs, {"low"}), max_active(1)), (ids{"high"}));
}

TEST(Scheduler, RunningJobKeepsItsSlotOverAnOlderWaitingJobOfEqualPriority) {
  const std::vector<job> jobs = {make("old", job_priority::normal, 1),
                                 make("new", job_priority::normal, 2)};
  EXPECT_EQ(choose(inputs(jobs, {"new"}), max_active(1)), (ids{"new"}));
}

TEST(Scheduler, OlderJobWinsAmongWaitingJobsOfEqualPriority) {
  const std::vector<job> jobs = {make("new", job_priority::normal, 2),
                                 make("old", job_priority::normal, 1)};
  EXPECT_EQ(choose(inputs(jobs), max_active(1)), (ids{"old"}));
}

TEST(Scheduler, OlderJobWinsAmongRunningJobsOfEqualPriority) {
  const std::vector<job> jobs = {make("new", job_priority::normal, 2),
                                 make("old", job_priority::normal, 1)};
  EXPECT_EQ(choose(inputs(jobs, {"new", "old"}), max_active(1)), (ids{"old"}));
}

TEST(Scheduler, IdBreaksATieOfCreationTime) {
  const std::vector<job> jobs = {make("b", job_priority::normal, 5),
                                 make("a", job_priority::normal, 5)};
  EXPECT_EQ(choose(inputs(jobs), max_active(1)), (ids{"a"}));
}

TEST(Scheduler, PriorityOutranksRunningAndAge) {
  const std::vector<job> jobs = {make("old-running-low", job_priority::low, 1),
                                 make("new-waiting-normal", job_priority::normal, 9)};
  EXPECT_EQ(choose(inputs(jobs, {"old-running-low"}), max_active(1)), (ids{"new-waiting-normal"}));
}

TEST(Scheduler, AnswerDoesNotDependOnTheInputOrder) {
  std::vector<job> jobs = {make("f", job_priority::foreground, 3), make("h", job_priority::high, 4),
                           make("n1", job_priority::normal, 1), make("n2", job_priority::normal, 1),
                           make("l", job_priority::low, 0)};
  const ids running = {"n2"};
  const ids expected = {"f", "h", "n2"};
  std::sort(jobs.begin(), jobs.end(), [](const job& a, const job& b) { return a.id < b.id; });
  do {
    EXPECT_EQ(choose(inputs(jobs, running), max_active(2)), expected);
  } while (std::next_permutation(jobs.begin(), jobs.end(),
                                 [](const job& a, const job& b) { return a.id < b.id; }));
}

// ---- time slices ------------------------------------------------------------------------------

scheduler_limits sliced(std::uint32_t max_jobs, milliseconds slice = seconds(1)) {
  scheduler_limits lim;
  lim.max_active_jobs = max_jobs;
  lim.time_slice = slice;
  return lim;
}

// Plays the daemon's part over time: stops the jobs the plan drops (they wait from then on) and
// starts the jobs it adds (their transfer starts at once, so their slice starts then too).
class simulation {
 public:
  simulation(std::vector<job> jobs, scheduler_limits lim) : jobs_(std::move(jobs)), lim_(lim) {
    for (const auto& j : jobs_) waiting_since_[j.id] = now;
  }

  // Applies the plan at `now`, then asks again, as the daemon does when the new turns start:
  // the answer must not change, and says when to ask next.
  ids step() {
    const schedule_plan plan = choose_running(inputs_now(), lim_, now);
    for (auto it = running_.begin(); it != running_.end();) {
      if (std::find(plan.run.begin(), plan.run.end(), *it) != plan.run.end()) {
        ++it;
        continue;
      }
      waiting_since_[*it] = now;
      turn_started_.erase(*it);
      it = running_.erase(it);
    }
    for (const auto& id : plan.run) {
      if (running_.insert(id).second) turn_started_[id] = now;
    }
    const schedule_plan again = choose_running(inputs_now(), lim_, now);
    EXPECT_EQ(again.run, plan.run);
    next_decision = again.next_decision;
    return plan.run;
  }

  // Steps at each decision time the plan asks for; returns who ran in each of `turns` turns.
  ids turns(int count) {
    ids owners;
    for (int i = 0; i < count; ++i) {
      const ids run = step();
      EXPECT_EQ(run.size(), 1U);
      owners.push_back(run.empty() ? "" : run.front());
      EXPECT_TRUE(next_decision.has_value());
      if (!next_decision) break;
      now = *next_decision;
    }
    return owners;
  }

  void add(job j) {
    waiting_since_[j.id] = now;
    jobs_.push_back(std::move(j));
  }

  mono_time now = t0;
  std::optional<mono_time> next_decision;

 private:
  std::vector<schedule_input> inputs_now() const {
    std::vector<schedule_input> in;
    for (const auto& j : jobs_) {
      schedule_input one;
      one.j = &j;
      one.running = running_.count(j.id) != 0;
      if (one.running) one.turn_started = turn_started_.at(j.id);
      if (!one.running) one.waiting_since = waiting_since_.at(j.id);
      in.push_back(one);
    }
    return in;
  }

  std::vector<job> jobs_;
  scheduler_limits lim_;
  std::set<std::string> running_;
  std::map<std::string, mono_time> turn_started_;
  std::map<std::string, mono_time> waiting_since_;
};

TEST(SchedulerSlices, ThreeJobsShareOneSlotInTurnsOfOneSlice) {
  simulation sim({make("a", job_priority::normal, 1), make("b", job_priority::normal, 2),
                  make("c", job_priority::normal, 3)},
                 sliced(1));
  EXPECT_EQ(sim.turns(7), (ids{"a", "b", "c", "a", "b", "c", "a"}));
}

TEST(SchedulerSlices, TheSlotChangesHandsAtTheEndOfTheSliceAndNotBefore) {
  simulation sim({make("a", job_priority::normal, 1), make("b", job_priority::normal, 2)},
                 sliced(1));
  EXPECT_EQ(sim.step(), (ids{"a"}));
  EXPECT_EQ(sim.next_decision, t0 + seconds(1));
  sim.now = t0 + milliseconds(999);
  EXPECT_EQ(sim.step(), (ids{"a"}));
  sim.now = t0 + seconds(1);
  EXPECT_EQ(sim.step(), (ids{"b"}));
  EXPECT_EQ(sim.next_decision, t0 + seconds(2));
}

TEST(SchedulerSlices, AJobThatArrivesMidSliceQueuesBehindThoseWaitingLonger) {
  simulation sim({make("a", job_priority::normal, 1), make("b", job_priority::normal, 2),
                  make("c", job_priority::normal, 3)},
                 sliced(1));
  EXPECT_EQ(sim.step(), (ids{"a"}));
  sim.now = t0 + seconds(1);
  EXPECT_EQ(sim.step(), (ids{"b"}));  // a waits from t0 + 1 s
  sim.now = t0 + milliseconds(1500);
  sim.add(make("d", job_priority::normal, 0));  // the oldest job, but it waits from now
  EXPECT_EQ(sim.step(), (ids{"b"}));            // b's slice is not over
  sim.now = t0 + seconds(2);
  // c has waited since t0, a since 1 s, d since 1.5 s, b (rotated out now) since 2 s.
  EXPECT_EQ(sim.turns(5), (ids{"c", "a", "d", "b", "c"}));
}

TEST(SchedulerSlices, NoRotationWhenEveryJobHasASlot) {
  const std::vector<job> jobs = {make("a", job_priority::normal), make("b", job_priority::normal),
                                 make("c", job_priority::normal)};
  auto in = inputs(jobs, {"a", "b", "c"});
  for (auto& one : in) one.turn_started = t0 - seconds(3600);  // an hour of slices
  const schedule_plan plan = choose_running(in, sliced(3), t0);
  EXPECT_EQ(plan.run, (ids{"a", "b", "c"}));
  EXPECT_FALSE(plan.next_decision.has_value());  // nothing waits: no reason to wake up
}

TEST(SchedulerSlices, ARunningJobPastManySlicesYieldsAtTheNextBoundaryToANewcomer) {
  const std::vector<job> jobs = {make("old", job_priority::normal, 1),
                                 make("new", job_priority::normal, 2)};
  auto in = inputs(jobs, {"old"});
  in[0].turn_started = t0 - milliseconds(10500);  // alone for ten and a half slices
  in[1].waiting_since = t0 - milliseconds(200);   // arrived after the last boundary
  schedule_plan plan = choose_running(in, sliced(1), t0);
  EXPECT_EQ(plan.run, (ids{"old"}));
  EXPECT_EQ(plan.next_decision, t0 + milliseconds(500));
  plan = choose_running(in, sliced(1), t0 + milliseconds(500));
  EXPECT_EQ(plan.run, (ids{"new"}));
}

TEST(SchedulerSlices, ASliceCountsFromTheFirstResponseNotFromTheStart) {
  const std::vector<job> jobs = {make("a", job_priority::normal, 1),
                                 make("b", job_priority::normal, 2)};
  auto in = inputs(jobs, {"a"});
  in[1].waiting_since = t0 - seconds(60);
  // Still connecting after a minute: no time used, no rotation, no wake-up for it.
  schedule_plan plan = choose_running(in, sliced(1), t0);
  EXPECT_EQ(plan.run, (ids{"a"}));
  EXPECT_FALSE(plan.next_decision.has_value());
  in[0].turn_started = t0 - milliseconds(300);  // the response came
  plan = choose_running(in, sliced(1), t0);
  EXPECT_EQ(plan.run, (ids{"a"}));
  EXPECT_EQ(plan.next_decision, t0 + milliseconds(700));
}

TEST(SchedulerSlices, AJobThatCannotResumeIsNotRotatedOut) {
  const std::vector<job> jobs = {make("a", job_priority::normal, 1),
                                 make("b", job_priority::normal, 2)};
  auto in = inputs(jobs, {"a"});
  in[0].turn_started = t0 - seconds(10);
  in[0].resumable = false;
  in[1].waiting_since = t0 - seconds(10);
  EXPECT_EQ(choose_running(in, sliced(1), t0).run, (ids{"a"}));
}

TEST(SchedulerSlices, ZeroSliceMeansNoRotation) {
  const std::vector<job> jobs = {make("a", job_priority::normal, 1),
                                 make("b", job_priority::normal, 2)};
  auto in = inputs(jobs, {"a"});
  in[0].turn_started = t0 - seconds(10);
  in[1].waiting_since = t0 - seconds(10);
  const schedule_plan plan = choose_running(in, sliced(1, milliseconds(0)), t0);
  EXPECT_EQ(plan.run, (ids{"a"}));
  EXPECT_FALSE(plan.next_decision.has_value());
}

TEST(SchedulerSlices, AWaitingJobOfLowerPriorityDoesNotRotateAnything) {
  const std::vector<job> jobs = {make("normal", job_priority::normal, 2),
                                 make("low", job_priority::low, 1)};
  auto in = inputs(jobs, {"normal"});
  in[0].turn_started = t0 - seconds(10);
  in[1].waiting_since = t0 - seconds(100);
  EXPECT_EQ(choose_running(in, sliced(1), t0).run, (ids{"normal"}));
}

TEST(SchedulerSlices, AHigherPriorityPreemptsAtOnceWithinTheSlice) {
  simulation sim({make("normal", job_priority::normal, 1)}, sliced(1));
  EXPECT_EQ(sim.step(), (ids{"normal"}));
  sim.now = t0 + milliseconds(10);
  sim.add(make("high", job_priority::high, 2));
  EXPECT_EQ(sim.step(), (ids{"high"}));
  sim.now = t0 + seconds(5);  // high keeps the slot while it runs: normal is lower
  EXPECT_EQ(sim.step(), (ids{"high"}));
}

TEST(SchedulerSlices, ForegroundJobsAreNeverRotatedOut) {
  simulation sim({make("f1", job_priority::foreground, 1), make("f2", job_priority::foreground, 2),
                  make("n1", job_priority::normal, 3), make("n2", job_priority::normal, 4)},
                 sliced(1));
  for (int slice = 0; slice < 4; ++slice) {
    const ids run = sim.step();
    ASSERT_EQ(run.size(), 3U);
    EXPECT_EQ(run[0], "f1");
    EXPECT_EQ(run[1], "f2");
    EXPECT_EQ(run[2], slice % 2 == 0 ? "n1" : "n2");  // the background slot rotates
    ASSERT_TRUE(sim.next_decision.has_value());
    sim.now = *sim.next_decision;
  }
}

// ---- connections ----------------------------------------------------------------------------

scheduler_limits connections(std::uint32_t per_host, std::uint32_t total) {
  scheduler_limits lim;
  lim.max_active_jobs = 100;
  lim.max_connections_per_host = per_host;
  lim.max_connections = total;
  return lim;
}

TEST(SchedulerConnections, AHostAtItsCapStartsNoMoreJobs) {
  const std::vector<job> jobs = {on_host("a", "x.test", job_priority::normal, 1),
                                 on_host("b", "x.test", job_priority::normal, 2),
                                 on_host("c", "x.test", job_priority::normal, 3)};
  EXPECT_EQ(choose(inputs(jobs), connections(2, 100)), (ids{"a", "b"}));
}

TEST(SchedulerConnections, AJobOfAnotherHostStartsWhileOneHostIsAtItsCap) {
  const std::vector<job> jobs = {on_host("x1", "x.test", job_priority::high, 1),
                                 on_host("x2", "x.test", job_priority::high, 2),
                                 on_host("y1", "y.test", job_priority::low, 3)};
  EXPECT_EQ(choose(inputs(jobs, {"x1"}), connections(1, 100)), (ids{"x1", "y1"}));
}

TEST(SchedulerConnections, TheHostIsThatOfTheCurrentFile) {
  job j = on_host("a", "x.test");
  file_record second;
  second.remote_url = "http://y.test/second";
  j.files.push_back(second);
  j.current_file = 1;
  const std::vector<job> jobs = {j, on_host("b", "x.test")};
  EXPECT_EQ(choose(inputs(jobs), connections(1, 100)), (ids{"a", "b"}));
}

TEST(SchedulerConnections, TheTotalCapHoldsAcrossHosts) {
  const std::vector<job> jobs = {on_host("a", "a.test", job_priority::normal, 1),
                                 on_host("b", "b.test", job_priority::normal, 2),
                                 on_host("c", "c.test", job_priority::normal, 3)};
  EXPECT_EQ(choose(inputs(jobs), connections(10, 2)), (ids{"a", "b"}));
}

TEST(SchedulerConnections, AHigherPriorityTakesTheHostsLastConnection) {
  const std::vector<job> jobs = {on_host("normal", "x.test", job_priority::normal, 1),
                                 on_host("high", "x.test", job_priority::high, 2)};
  EXPECT_EQ(choose(inputs(jobs, {"normal"}), connections(1, 100)), (ids{"high"}));
}

TEST(SchedulerConnections, ForegroundJobsPassTheCapsButBackgroundJobsGetOnlyWhatIsLeft) {
  const std::vector<job> jobs = {on_host("f1", "x.test", job_priority::foreground, 1),
                                 on_host("f2", "x.test", job_priority::foreground, 2),
                                 on_host("f3", "x.test", job_priority::foreground, 3),
                                 on_host("bx", "x.test", job_priority::high, 4),
                                 on_host("by", "y.test", job_priority::high, 5)};
  // Three foreground transfers to x although its cap is 2; none left for background there.
  EXPECT_EQ(choose(inputs(jobs, {"bx"}), connections(2, 100)), (ids{"f1", "f2", "f3", "by"}));
  // The total is used up by foreground jobs: no background job runs.
  EXPECT_EQ(choose(inputs(jobs, {"bx"}), connections(2, 3)), (ids{"f1", "f2", "f3"}));
}

TEST(SchedulerConnections, HostKeysAreLowerCaseHostAndPort) {
  EXPECT_EQ(host_key("http://Example.COM/a"), "example.com:80");
  EXPECT_EQ(host_key("HTTPS://example.com/a"), "example.com:443");
  EXPECT_EQ(host_key("http://user:pw@example.com:8080/a?b#c"), "example.com:8080");
  EXPECT_EQ(host_key("http://[::1]:81/x"), "[::1]:81");
  EXPECT_EQ(host_key("https://[::1]"), "[::1]:443");
  EXPECT_EQ(host_key("http://127.0.0.1:9"), "127.0.0.1:9");
  EXPECT_EQ(host_key("not a url"), "");
  EXPECT_EQ(host_key("http:///path"), "");
}

}  // namespace
