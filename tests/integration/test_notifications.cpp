// Notifications through the modern API (the machinery under SetNotifyInterface): delivery of
// events that already happened, re-delivery until handled, the last registration winning,
// re-entrant calls from the callback, and the notify command when no subscriber takes the event.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/helpers.hpp"
#include "ipc/framing.hpp"
#include "ipc/socket.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using namespace opendo;
using namespace opendo::test;

namespace {

// Collects notifications from the library's thread and lets the test wait for them.
class inbox {
 public:
  std::function<bool(const notification&)> handler(
      std::function<bool(const notification&)> then = nullptr) {
    return [this, then](const notification& n) {
      bool handled = then ? then(n) : true;
      std::lock_guard lock(mutex_);
      received_.push_back(n);
      changed_.notify_all();
      return handled;
    };
  }
  // Waits until `count` notifications of `kind` arrived; returns how many did.
  std::size_t wait_for(notification_kind kind, std::size_t count,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return count_locked(kind) >= count; });
    return count_locked(kind);
  }
  std::size_t count(notification_kind kind) {
    std::lock_guard lock(mutex_);
    return count_locked(kind);
  }

 private:
  std::size_t count_locked(notification_kind kind) const {
    std::size_t n = 0;
    for (const auto& r : received_) n += r.kind == kind ? 1 : 0;
    return n;
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<notification> received_;
};

class Notifications : public ::testing::Test {
 protected:
  nginx_server origin;
  daemon_process daemon;
  temp_dir out{"opendo-out"};
  client c = connect(daemon);

  job transferred_job(const std::string& name) {
    origin.make_random_file(name, 50000, 1);
    job j = c.create_job(name);
    j.add_file(origin.url(name), (out / name).string());
    j.resume();
    EXPECT_EQ(j.wait().state, job_state::transferred);
    return j;
  }
  // A subscriber on a connection of its own, speaking the wire protocol, that registers for `j`,
  // resumes it, receives its TRANSFERRED event and does not acknowledge it.
  ipc::unique_fd raw_subscriber_holding_the_event(job& j) {
    ipc::unique_fd raw = raw_subscription(j);
    ipc::frame_decoder decoder;
    EXPECT_NE(ipc::receive_message(raw.get(), decoder, std::chrono::seconds(5)).find("registered"),
              std::string::npos);
    j.resume();
    EXPECT_NE(
        ipc::receive_message(raw.get(), decoder, std::chrono::seconds(30)).find("transferred"),
        std::string::npos);
    return raw;
  }
  // A subscriber on a connection of its own, speaking the wire protocol: it registers for `j`
  // and reads what comes, but acknowledges nothing unless the test says so.
  ipc::unique_fd raw_subscription(const job& j) {
    ipc::unique_fd raw = ipc::connect_unix(daemon.socket_path().string());
    ipc::send_message(raw.get(), nlohmann::json{{"method", "org.opendo.Transfer.Subscribe"},
                                                {"parameters", {{"id", j.id()}}},
                                                {"more", true}}
                                     .dump());
    return raw;
  }
};

}  // namespace

TEST_F(Notifications, TransferredIsDeliveredOnce) {
  origin.make_random_file("a.bin", 200000, 1);
  job j = c.create_job("a");
  j.add_file(origin.url("a.bin"), (out / "a.bin").string());
  inbox box;
  auto registration = j.subscribe(box.handler());
  j.resume();
  ASSERT_EQ(box.wait_for(notification_kind::transferred, 1), 1U) << daemon.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(box.count(notification_kind::transferred), 1U);
  EXPECT_EQ(box.count(notification_kind::modification), 0U);  // not asked for by the flags
}

TEST_F(Notifications, EventThatAlreadyHappenedIsDeliveredAtRegistration) {
  job j = transferred_job("late.bin");
  inbox box;
  auto registration = j.subscribe(box.handler());
  EXPECT_EQ(box.wait_for(notification_kind::transferred, 1, std::chrono::seconds(5)), 1U);
}

TEST_F(Notifications, UnhandledTransferredIsDeliveredAgainAfterTheRetryDelay) {
  job j = transferred_job("again.bin");
  j.set_minimum_retry_delay(std::chrono::seconds(5));
  inbox box;
  std::atomic<int> calls{0};
  auto registration = j.subscribe(box.handler([&](const notification&) { return ++calls >= 2; }));
  ASSERT_EQ(box.wait_for(notification_kind::transferred, 1, std::chrono::seconds(5)), 1U);
  const auto first = std::chrono::steady_clock::now();
  ASSERT_EQ(box.wait_for(notification_kind::transferred, 2, std::chrono::seconds(15)), 2U);
  EXPECT_GE(std::chrono::steady_clock::now() - first, std::chrono::milliseconds(4500));
  std::this_thread::sleep_for(std::chrono::seconds(6));  // handled now: no third delivery
  EXPECT_EQ(box.count(notification_kind::transferred), 2U);
}

TEST_F(Notifications, ErrorIsDeliveredOnEnteringError) {
  job j = c.create_job("404");
  j.add_file(origin.url("missing.bin"), (out / "missing.bin").string());
  inbox box;
  auto registration = j.subscribe(box.handler());
  j.resume();
  ASSERT_EQ(box.wait_for(notification_kind::error, 1), 1U);
  EXPECT_EQ(box.count(notification_kind::transferred), 0U);
}

TEST_F(Notifications, CompleteFromInsideTheCallbackWorks) {
  origin.make_random_file("reentrant.bin", 100000, 1);
  job j = c.create_job("reentrant");
  j.add_file(origin.url("reentrant.bin"), (out / "reentrant.bin").string());
  inbox box;
  std::atomic<std::uint32_t> completed{0xFFFFFFFF};
  auto registration = j.subscribe(box.handler([&](const notification& n) {
    if (n.kind == notification_kind::transferred) {
      job same = c.open_job(n.job.id);
      completed = value_of(same.complete());  // a call back into the API, on the library thread
    }
    return true;
  }));
  j.resume();
  ASSERT_EQ(box.wait_for(notification_kind::transferred, 1), 1U);
  EXPECT_EQ(completed.load(), 0U);
  EXPECT_EQ(j.info().state, job_state::acknowledged);
  EXPECT_TRUE(fs::exists(out / "reentrant.bin"));
}

TEST_F(Notifications, TheLastRegistrationWins) {
  job j = c.create_job("twice");
  origin.make_random_file("twice.bin", 1000, 1);
  j.add_file(origin.url("twice.bin"), (out / "twice.bin").string());
  inbox first;
  inbox second;
  auto one = j.subscribe(first.handler());
  auto two = j.subscribe(second.handler());
  // The first registration's stream ends when the second one replaces it.
  for (int i = 0; i < 100 && one.active(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(one.active());
  j.resume();
  ASSERT_EQ(second.wait_for(notification_kind::transferred, 1), 1U);
  EXPECT_EQ(first.count(notification_kind::transferred), 0U);
}

TEST_F(Notifications, ModificationsAreCoalesced) {
  nginx_options slow;
  slow.limit_rate = 1 << 20;
  nginx_server slow_origin(slow);
  slow_origin.make_random_file("slow.bin", 3 << 20, 1);
  job j = c.create_job("modified");
  j.set_notify_flags(notify::job_transferred | notify::job_modification);
  j.add_file(slow_origin.url("slow.bin"), (out / "slow.bin").string());
  inbox box;
  auto registration = j.subscribe(box.handler());
  j.resume();
  ASSERT_EQ(box.wait_for(notification_kind::transferred, 1), 1U);
  const std::size_t modifications = box.count(notification_kind::modification);
  EXPECT_GE(modifications, 3U);   // progress was reported while it ran (about 2 s)...
  EXPECT_LE(modifications, 20U);  // ...but at most four a second
}

TEST_F(Notifications, DisableSuppressesEverything) {
  job j = c.create_job("quiet");
  j.set_notify_flags(notify::disable | notify::job_transferred | notify::job_error);
  origin.make_random_file("quiet.bin", 1000, 1);
  j.add_file(origin.url("quiet.bin"), (out / "quiet.bin").string());
  inbox box;
  auto registration = j.subscribe(box.handler());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(box.count(notification_kind::transferred), 0U);
}

TEST_F(Notifications, FinalJobsRefuseRegistration) {
  job j = c.create_job("final");
  j.cancel();
  EXPECT_EQ(hresult_of([&] { j.subscribe([](const notification&) { return true; }); }),
            0x80200002U);
}

TEST_F(Notifications, NotifyCommandRunsWhenNobodyIsSubscribed) {
  const fs::path marker = out / "command-ran";
  job j = c.create_job("command");
  j.set_notify_command("/bin/sh", "sh -c \"echo ran >> '" + marker.string() + "'\"");
  EXPECT_EQ(j.info().notify_command.program, "/bin/sh");
  origin.make_random_file("cmd.bin", 1000, 1);
  j.add_file(origin.url("cmd.bin"), (out / "cmd.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred);
  // The shell creates the file before echo writes to it: wait for the line, not the file.
  auto written = [&] { return fs::exists(marker) && read_file(marker) == "ran\n"; };
  for (int i = 0; i < 300 && !written(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fs::exists(marker)) << daemon.log();
  EXPECT_EQ(read_file(marker), "ran\n");
}

// SetNotifyCmdLine is persisted: set before opendod is killed, it runs after the restart.
TEST_F(Notifications, NotifyCommandSurvivesADaemonRestart) {
  const fs::path marker = out / "after-restart";
  job j = c.create_job("persisted command");
  j.set_notify_command("/bin/sh", "sh -c \"echo ran >> '" + marker.string() + "'\"");
  origin.make_random_file("persisted.bin", 1000, 1);
  j.add_file(origin.url("persisted.bin"), (out / "persisted.bin").string());
  daemon.kill9();
  daemon.restart();
  client again = connect(daemon);
  job same = again.open_job(j.id());
  EXPECT_EQ(same.info().notify_command.program, "/bin/sh");
  same.resume();
  ASSERT_EQ(same.wait().state, job_state::transferred);
  auto written = [&] { return fs::exists(marker) && read_file(marker) == "ran\n"; };
  for (int i = 0; i < 300 && !written(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(fs::exists(marker) ? read_file(marker) : "", "ran\n") << daemon.log();
}

TEST_F(Notifications, FailingNotifyCommandRunsAgainAfterTheRetryDelay) {
  const fs::path marker = out / "runs";
  job j = c.create_job("failing command");
  j.set_notify_command("/bin/sh", "sh -c \"echo run >> '" + marker.string() + "'; exit 3\"");
  j.set_minimum_retry_delay(std::chrono::seconds(5));
  origin.make_random_file("cmd2.bin", 1000, 1);
  j.add_file(origin.url("cmd2.bin"), (out / "cmd2.bin").string());
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred);
  std::this_thread::sleep_for(std::chrono::milliseconds(6500));
  EXPECT_EQ(read_file(marker), "run\nrun\n") << daemon.log();
  j.complete();  // a completed job's command is not run again
  std::this_thread::sleep_for(std::chrono::milliseconds(5500));
  EXPECT_EQ(read_file(marker), "run\nrun\n");
}

TEST_F(Notifications, CommandRunsWhenTheSubscriberDiesWithoutTakingTheEvent) {
  const fs::path marker = out / "fallback";
  job j = c.create_job("fallback");
  j.set_notify_command("/bin/sh", "sh -c \"echo fallback >> '" + marker.string() + "'\"");
  origin.make_random_file("fb.bin", 1000, 1);
  j.add_file(origin.url("fb.bin"), (out / "fb.bin").string());
  // A subscriber process that receives the event and dies before acknowledging it.
  ipc::unique_fd raw = raw_subscriber_holding_the_event(j);
  EXPECT_FALSE(fs::exists(marker));  // a live subscriber has the event: no command yet
  raw.reset();                       // ... and dies without acknowledging it
  for (int i = 0; i < 300 && !fs::exists(marker); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(fs::exists(marker)) << daemon.log();
}

// A subscriber that takes the event and never acknowledges it, while staying connected: the daemon
// goes on serving everyone (another job downloads meanwhile), and the event stays with the live
// subscriber (re-delivery follows a failed acknowledgement, the command a gone subscriber) until
// it goes away; then the notify command gets it.
TEST_F(Notifications, ASubscriberThatNeverAcknowledgesHoldsNothingUp) {
  const fs::path marker = out / "after";
  job j = c.create_job("never acknowledged");
  j.set_notify_command("/bin/sh", "sh -c \"echo ran >> '" + marker.string() + "'\"");
  j.set_minimum_retry_delay(std::chrono::seconds(5));
  origin.make_random_file("na.bin", 1000, 1);
  j.add_file(origin.url("na.bin"), (out / "na.bin").string());
  ipc::unique_fd raw = raw_subscriber_holding_the_event(j);
  // Not acknowledged. Everyone else is served meanwhile: another job runs to the end.
  job other = transferred_job("meanwhile.bin");
  EXPECT_EQ(other.complete(), hr::ok);
  EXPECT_TRUE(fs::exists(out / "meanwhile.bin"));
  EXPECT_EQ(j.info().state, job_state::transferred);
  std::this_thread::sleep_for(std::chrono::seconds(6));  // past the retry delay
  EXPECT_FALSE(fs::exists(marker)) << "the command ran while a live subscriber had the event";
  EXPECT_TRUE(daemon.running());
  raw.reset();  // the subscriber goes away: the event it held falls to the command
  for (int i = 0; i < 300 && !(fs::exists(marker) && read_file(marker) == "ran\n"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(fs::exists(marker) ? read_file(marker) : "", "ran\n") << daemon.log();
}

TEST_F(Notifications, RelativeNotifyProgramIsRefused) {
  job j = c.create_job("relative");
  EXPECT_EQ(hresult_of([&] { j.set_notify_command("sh", "sh -c true"); }), 0x80070057U);
}

// ---- across processes ------------------------------------------------------------------------
//
// The registering application is a separate process: this test binary run again with
// OPENDO_NOTIFY_CHILD set, which registers for the job and either exits at once ("exit") or waits
// for the transferred notification and prints it ("wait").

namespace {

class notify_child : public ::testing::Test {
 public:
  void TestBody() override {
    client_options options;
    options.socket_path = std::getenv("OPENDO_NOTIFY_SOCKET");
    options.autostart = false;
    client c(options);
    job j = c.open_job(std::getenv("OPENDO_NOTIFY_JOB"));
    inbox box;
    std::promise<job::subscription_end> ended;
    auto registration =
        j.subscribe(box.handler(), [&](job::subscription_end why) { ended.set_value(why); });
    std::cout << "child " << ::getpid() << ": registered for " << j.id() << std::endl;
    const std::string mode = std::getenv("OPENDO_NOTIFY_CHILD");
    if (mode == "exit") return;  // and the process ends
    if (mode == "until-ended") {
      // Another process removes the registration (SetNotifyInterface(NULL)): the signal comes.
      auto signal = ended.get_future();
      ASSERT_EQ(signal.wait_for(std::chrono::seconds(20)), std::future_status::ready);
      const job::subscription_end why = signal.get();
      std::cout << "child " << ::getpid() << ": registration ended: "
                << (why == job::subscription_end::removed ? "removed" : "other") << std::endl;
      EXPECT_EQ(registration.end_reason(), job::subscription_end::removed);
      return;
    }
    ASSERT_EQ(box.wait_for(notification_kind::transferred, 1, std::chrono::seconds(20)), 1U);
    std::cout << "child " << ::getpid() << ": JobTransferred delivered late, state "
              << to_string(j.info().state) << std::endl;
  }
};

const bool g_notify_child_registered = [] {
  if (std::getenv("OPENDO_NOTIFY_CHILD") == nullptr) return false;
  ::testing::RegisterTest("NotifyChild", "Run", nullptr, nullptr, __FILE__, __LINE__,
                          []() -> ::testing::Test* { return new notify_child; });
  return true;
}();

run_result run_child(const daemon_process& daemon, const std::string& job_id,
                     const std::string& mode) {
  return run({fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=NotifyChild.*"},
             std::chrono::seconds(60),
             {"OPENDO_NOTIFY_CHILD=" + mode, "OPENDO_NOTIFY_JOB=" + job_id,
              "OPENDO_NOTIFY_SOCKET=" + daemon.socket_path().string()});
}

}  // namespace

TEST_F(Notifications, AcrossProcessesRegisterExitEventReregisterLateDelivery) {
  origin.make_random_file("cross.bin", 300000, 1);
  job j = c.create_job("cross-process");
  j.add_file(origin.url("cross.bin"), (out / "cross.bin").string());
  // 1. An application registers and exits: its registration dies with it.
  const run_result first = run_child(daemon, j.id(), "exit");
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  std::cout << first.out;
  // 2. The event happens while no application is registered.
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred);
  std::cout << "parent: the job is TRANSFERRED with nobody registered" << std::endl;
  // 3. The application starts again, registers again, and is told what it missed.
  const run_result second = run_child(daemon, j.id(), "wait");
  std::cout << second.out;
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("JobTransferred delivered late, state TRANSFERRED"), std::string::npos);
}

TEST_F(Notifications, AnotherProcessRemovesTheRegistrationAndTheApplicationIsTold) {
  job j = c.create_job("removed elsewhere");
  temp_dir logs("opendo-child");
  const pid_t child =
      spawn({fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=NotifyChild.*"},
            {logs / "child.log",
             {"OPENDO_NOTIFY_CHILD=until-ended", "OPENDO_NOTIFY_JOB=" + j.id(),
              "OPENDO_NOTIFY_SOCKET=" + daemon.socket_path().string()}});
  // Once the child is registered, this process ends its registration.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (read_file(logs / "child.log").find("registered for") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(j.remove_subscription());
  const auto status = wait_for_exit(child, std::chrono::seconds(30));
  const std::string output = read_file(logs / "child.log");
  std::cout << output;
  ASSERT_TRUE(status.has_value()) << output;
  EXPECT_EQ(*status, 0) << output;
  EXPECT_NE(output.find("registration ended: removed"), std::string::npos) << output;
  EXPECT_FALSE(j.remove_subscription());  // nothing left to remove
}

TEST_F(Notifications, ASubscriptionSaysWhyItEnded) {
  origin.make_random_file("why.bin", 1000, 1);
  job j = c.create_job("why");
  j.add_file(origin.url("why.bin"), (out / "why.bin").string());
  client other = connect(daemon);  // another connection: another registrant
  job same = other.open_job(j.id());
  std::promise<job::subscription_end> first_end;
  auto first = j.subscribe([](const notification&) { return true; },
                           [&](job::subscription_end why) { first_end.set_value(why); });
  EXPECT_EQ(first.end_reason(), job::subscription_end::none);
  std::promise<job::subscription_end> second_end;
  auto second = same.subscribe([](const notification&) { return true; },
                               [&](job::subscription_end why) { second_end.set_value(why); });
  auto replaced = first_end.get_future();
  ASSERT_EQ(replaced.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(replaced.get(), job::subscription_end::replaced);
  EXPECT_EQ(first.end_reason(), job::subscription_end::replaced);
  EXPECT_FALSE(first.active());
  // The job ends: the live registration is told so.
  j.resume();
  ASSERT_EQ(j.wait().state, job_state::transferred);
  EXPECT_EQ(j.complete(), hr::ok);
  auto ended = second_end.get_future();
  ASSERT_EQ(ended.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(ended.get(), job::subscription_end::job_ended);
  // A final job has no registration to remove.
  EXPECT_EQ(hresult_of([&] { j.remove_subscription(); }), 0x80200002U);
  // This process's own reset() is not signalled, and reads as reset.
  job k = c.create_job("reset");
  std::atomic<bool> signalled{false};
  auto mine = k.subscribe([](const notification&) { return true; },
                          [&](job::subscription_end) { signalled = true; });
  mine.reset();
  EXPECT_EQ(mine.end_reason(), job::subscription_end::reset);
  EXPECT_FALSE(signalled);
}

TEST_F(Notifications, ADaemonThatGoesAwayEndsTheSubscriptionAsDisconnected) {
  job j = c.create_job("gone");
  std::promise<job::subscription_end> end;
  auto s = j.subscribe([](const notification&) { return true; },
                       [&](job::subscription_end why) { end.set_value(why); });
  daemon.kill9();
  auto why = end.get_future();
  ASSERT_EQ(why.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(why.get(), job::subscription_end::disconnected);
  daemon.restart();
}

TEST_F(Notifications, AFloodOfRegistrationsLeavesTheLastOneWorking) {
  origin.make_random_file("flood.bin", 1000, 1);
  job j = c.create_job("flood");
  j.add_file(origin.url("flood.bin"), (out / "flood.bin").string());
  // Raw subscribers that register and vanish, and a stream of replacing registrations.
  for (int i = 0; i < 100; ++i) {
    const ipc::unique_fd raw = raw_subscription(j);
  }
  std::vector<job::subscription> replaced;
  inbox box;
  for (int i = 0; i < 50; ++i) replaced.push_back(j.subscribe(box.handler()));
  auto last = j.subscribe(box.handler());
  j.resume();
  ASSERT_EQ(box.wait_for(notification_kind::transferred, 1), 1U) << daemon.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(box.count(notification_kind::transferred), 1U);  // only the last registration
  EXPECT_TRUE(daemon.running());
}
