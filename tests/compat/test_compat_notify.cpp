// SetNotifyInterface against a real opendod and nginx, in process: which callbacks come and when,
// re-delivery until S_OK, registration after the fact, re-entrant Complete, the last registration
// winning, and the callback's reference held exactly as long as the registration lives.
#include "compat/compat_fixture.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "support/process.hpp"

using namespace compat_test;
namespace fs = std::filesystem;

namespace {

class CompatNotify : public CompatTransferTest {
 protected:
  void SetUp() override {
    CompatTransferTest::SetUp();
    manager = bits_manager();
    ASSERT_TRUE(manager);
    job = create_job(manager.get(), L"notified");
    ASSERT_TRUE(job);
    GUID guid{};
    ASSERT_EQ(job->GetId(&guid), S_OK);
    id = guid_text(guid);
  }

  void add(const std::string& name, std::uint64_t size = 100000) {
    origin.make_random_file(name, size, 11);
    add_url(origin.url(name), name);
  }
  void add_url(const std::string& url, const std::string& name) {
    const std::wstring remote = wide(url);
    const std::wstring path = wide((out / name).string());
    ASSERT_EQ(job->AddFile(remote.c_str(), path.c_str()), S_OK);
  }

  com_ptr<IBackgroundCopyManager> manager;
  com_ptr<IBackgroundCopyJob> job;
  std::string id;
};

}  // namespace

// The usual pattern: register, drop our own reference; the job keeps the callback alive, calls it,
// and lets it go when the job ends.
TEST_F(CompatNotify, TransferredFileAndModificationReachTheCallback) {
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life);
  add("one.bin");
  add("two.bin");
  ASSERT_EQ(job->SetNotifyFlags(BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR |
                                BG_NOTIFY_JOB_MODIFICATION | BG_NOTIFY_FILE_TRANSFERRED),
            S_OK);
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  EXPECT_EQ(life->refs.load(), 2);
  IUnknown* registered = nullptr;
  ASSERT_EQ(job->GetNotifyInterface(&registered), S_OK);
  EXPECT_EQ(registered, identity(callback));
  EXPECT_EQ(life->refs.load(), 3);  // GetNotifyInterface AddRef's what it returns
  registered->Release();
  EXPECT_EQ(life->refs.load(), 2);
  callback->Release();  // the application's reference; the job holds its own

  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_TRUE(callback->wait_calls("transferred", 1)) << daemon.log();
  EXPECT_TRUE(callback->wait_calls("file", 2));
  {
    std::lock_guard lock(callback->mutex_);
    EXPECT_EQ(callback->files,
              (std::vector<std::string>{(out / "one.bin").string(), (out / "two.bin").string()}));
    for (const auto& e : callback->events) EXPECT_EQ(e.job_id, id);
  }
  EXPECT_GE(callback->calls("modification"), 1);
  EXPECT_EQ(callback->calls("error"), 0);
  EXPECT_FALSE(life->deleted);

  EXPECT_EQ(job->Complete(), S_OK);
  EXPECT_TRUE(eventually([&] { return life->deleted.load(); }, 10s))
      << "the registration did not release the callback when the job ended";
}

TEST_F(CompatNotify, AFailedCallbackIsCalledAgainAfterTheRetryDelay) {
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life);
  callback->failures = 1;
  add("again.bin");
  ASSERT_EQ(job->SetMinimumRetryDelay(0), S_OK);  // counts as 5 s
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_TRUE(callback->wait_calls("transferred", 2, 30s)) << daemon.log();
  const auto times = callback->times("transferred");
  const auto gap = times[1] - times[0];
  std::cout << "JobTransferred returned E_FAIL, was called again after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(gap).count()
            << " ms (retry delay 5 s) and returned S_OK" << std::endl;
  EXPECT_GE(gap, 4500ms);
  EXPECT_LT(gap, 15s);
  // Handled now: no third call.
  std::this_thread::sleep_for(6s);
  EXPECT_EQ(callback->calls("transferred"), 2);
  EXPECT_EQ(job->Cancel(), S_OK);
  callback->Release();
}

// JobError too is called again until it returns S_OK, and only for entering ERROR once: the job
// stays in ERROR, so no new JobError comes after the handled one.
TEST_F(CompatNotify, AFailedJobErrorIsCalledAgainAfterTheRetryDelay) {
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life);
  callback->failures = 1;
  add_url(origin.url("absent.bin"), "absent.bin");
  ASSERT_EQ(job->SetMinimumRetryDelay(0), S_OK);  // counts as 5 s
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_TRUE(callback->wait_calls("error", 2, 30s)) << daemon.log();
  const auto times = callback->times("error");
  const auto gap = times[1] - times[0];
  std::cout << "JobError returned E_FAIL, was called again after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(gap).count()
            << " ms (retry delay 5 s) and returned S_OK" << std::endl;
  EXPECT_GE(gap, 4500ms);
  EXPECT_LT(gap, 15s);
  {
    std::lock_guard lock(callback->mutex_);
    EXPECT_EQ(callback->error_codes,
              (std::vector<HRESULT>{BG_E_HTTP_ERROR_404, BG_E_HTTP_ERROR_404}));
  }
  std::this_thread::sleep_for(6s);
  EXPECT_EQ(callback->calls("error"), 2);  // handled now: no third call
  EXPECT_EQ(callback->calls("transferred"), 0);
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_ERROR);
  EXPECT_EQ(job->Cancel(), S_OK);
  callback->Release();
}

// JobModification comes for a file added, a property changed and a state changed, not only for
// progress (MINIMUM_NOTIFICATION_INTERVAL_MS 0: every change is told).
TEST_F(CompatNotify, JobModificationComesForFilesPropertiesAndStates) {
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life);
  com_ptr<IBackgroundCopyJob5> job5 = as<IBackgroundCopyJob5>(job.get());
  ASSERT_TRUE(job5);
  BITS_JOB_PROPERTY_VALUE every{};
  every.Dword = 0;
  ASSERT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS, every), S_OK);
  ASSERT_EQ(job->SetNotifyFlags(BG_NOTIFY_JOB_MODIFICATION), S_OK);
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  std::this_thread::sleep_for(300ms);  // let anything from the calls above arrive first
  int seen = callback->calls("modification");

  origin.make_random_file("added.bin", 1000, 3);
  add_url(origin.url("added.bin"), "added.bin");
  EXPECT_TRUE(callback->wait_calls("modification", seen + 1, 10s)) << "no call for AddFile";
  seen = callback->calls("modification");
  ASSERT_EQ(job->SetDescription(L"changed"), S_OK);
  EXPECT_TRUE(callback->wait_calls("modification", seen + 1, 10s)) << "no call for a property";
  seen = callback->calls("modification");
  ASSERT_EQ(job->Resume(), S_OK);  // SUSPENDED -> QUEUED -> ...
  EXPECT_TRUE(callback->wait_calls("modification", seen + 1, 10s)) << "no call for Resume";
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  EXPECT_EQ(callback->calls("transferred"), 0);  // not in the flags
  EXPECT_EQ(job->Complete(), S_OK);
  callback->Release();
}

// BG_NOTIFY_DISABLE through the COM layer: a registered callback hears nothing.
TEST_F(CompatNotify, DisableSuppressesEveryCall) {
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life);
  add("disabled.bin");
  ASSERT_EQ(job->SetNotifyFlags(BG_NOTIFY_DISABLE | BG_NOTIFY_JOB_TRANSFERRED |
                                BG_NOTIFY_JOB_MODIFICATION | BG_NOTIFY_FILE_TRANSFERRED),
            S_OK);
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  std::this_thread::sleep_for(1s);
  {
    std::lock_guard lock(callback->mutex_);
    EXPECT_TRUE(callback->events.empty()) << callback->events.front().kind;
  }
  EXPECT_EQ(job->Complete(), S_OK);
  callback->Release();
}

TEST_F(CompatNotify, RegisteringAfterTheJobTransferredStillDelivers) {
  add("early.bin");
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life);
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  EXPECT_TRUE(callback->wait_calls("transferred", 1, 10s));
  EXPECT_EQ(job->Complete(), S_OK);
  callback->Release();
}

TEST_F(CompatNotify, RegisteringAfterTheJobFailedStillDelivers) {
  add_url(origin.url("missing.bin"), "missing.bin");
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_ERROR), BG_JOB_STATE_ERROR);
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life, 1);
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  ASSERT_TRUE(callback->wait_calls("error", 1, 10s));
  {
    std::lock_guard lock(callback->mutex_);
    EXPECT_EQ(callback->error_codes.front(), BG_E_HTTP_ERROR_404);
  }
  EXPECT_EQ(job->Cancel(), S_OK);
  callback->Release();
}

// JobError is for ERROR only: a TRANSIENT_ERROR job is retried without a call.
TEST_F(CompatNotify, TransientErrorsAreNotReported) {
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life);
  add_url("http://127.0.0.1:1/refused.bin", "refused.bin");
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSIENT_ERROR), BG_JOB_STATE_TRANSIENT_ERROR);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(callback->calls("error"), 0);
  // With no patience left the job gives up: ERROR, and that is reported.
  ASSERT_EQ(job->SetNoProgressTimeout(0), S_OK);
  ASSERT_TRUE(callback->wait_calls("error", 1, 30s)) << daemon.log();
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_ERROR);
  EXPECT_EQ(job->Cancel(), S_OK);
  callback->Release();
}

// The handler of the samples: Complete from inside JobTransferred, on the notification thread.
TEST_F(CompatNotify, CompleteFromInsideJobTransferred) {
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life);
  std::atomic<HRESULT> completed{E_PENDING};
  callback->on_transferred = [&](IBackgroundCopyJob* transferred) {
    completed = transferred->Complete();
  };
  add("inside.bin");
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  callback->Release();
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_TRUE(eventually([&] { return completed.load() != E_PENDING; }));
  EXPECT_EQ(completed.load(), S_OK);
  std::cout << "Complete called inside JobTransferred returned 0x" << std::hex
            << static_cast<unsigned>(completed.load()) << std::dec << std::endl;
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_ACKNOWLEDGED);
  EXPECT_TRUE(fs::exists(out / "inside.bin"));
  EXPECT_TRUE(eventually([&] { return life->deleted.load(); }, 10s));
}

TEST_F(CompatNotify, AnObjectThatIsNoCallbackIsRefused) {
  std::shared_ptr<lifetime> life;
  test_callback* not_a_callback = new_callback(life, 0);
  EXPECT_EQ(job->SetNotifyInterface(not_a_callback), E_NOINTERFACE);
  EXPECT_EQ(life->refs.load(), 1);
  IUnknown* registered = reinterpret_cast<IUnknown*>(0x1);
  ASSERT_EQ(job->GetNotifyInterface(&registered), S_OK);
  EXPECT_EQ(registered, nullptr);
  not_a_callback->Release();
  EXPECT_TRUE(life->deleted);
}

TEST_F(CompatNotify, NullRemovesTheRegistration) {
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life);
  add("quiet.bin");
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  ASSERT_EQ(job->SetNotifyInterface(nullptr), S_OK);
  EXPECT_EQ(life->refs.load(), 1);  // released at once
  IUnknown* registered = reinterpret_cast<IUnknown*>(0x1);
  ASSERT_EQ(job->GetNotifyInterface(&registered), S_OK);
  EXPECT_EQ(registered, nullptr);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(callback->calls("transferred"), 0);
  EXPECT_EQ(job->Complete(), S_OK);
  callback->Release();
}

// Two registrations for one job (here through two job objects): the second replaces the first,
// which is released; any object for the job reports the registration in force.
TEST_F(CompatNotify, TheLastRegistrationWins) {
  std::shared_ptr<lifetime> first_life;
  std::shared_ptr<lifetime> second_life;
  test_callback* first = new_callback(first_life);
  test_callback* second = new_callback(second_life);
  add("last.bin");
  ASSERT_EQ(job->SetNotifyInterface(first), S_OK);
  GUID guid{};
  ASSERT_EQ(job->GetId(&guid), S_OK);
  IBackgroundCopyJob* other = nullptr;
  ASSERT_EQ(manager->GetJob(guid, &other), S_OK);
  IUnknown* registered = nullptr;
  ASSERT_EQ(other->GetNotifyInterface(&registered), S_OK);
  EXPECT_EQ(registered, identity(first));
  registered->Release();

  ASSERT_EQ(other->SetNotifyInterface(second), S_OK);
  EXPECT_EQ(first_life->refs.load(), 1);
  ASSERT_EQ(job->GetNotifyInterface(&registered), S_OK);
  EXPECT_EQ(registered, identity(second));
  registered->Release();

  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_TRUE(second->wait_calls("transferred", 1)) << daemon.log();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(first->calls("transferred"), 0);
  EXPECT_EQ(other->Complete(), S_OK);
  other->Release();
  EXPECT_TRUE(eventually([&] { return second_life->refs.load() == 1; }, 10s));
  first->Release();
  second->Release();
}

// IBackgroundCopyCallback alone has no FileTransferred: the other calls still come.
TEST_F(CompatNotify, AVersionOneCallbackGetsTheVersionOneCalls) {
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life, 1);
  add("v1.bin");
  ASSERT_EQ(job->SetNotifyFlags(BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_FILE_TRANSFERRED), S_OK);
  ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_TRUE(callback->wait_calls("transferred", 1));
  EXPECT_EQ(callback->calls("file"), 0);
  EXPECT_EQ(job->Complete(), S_OK);
  callback->Release();
}

TEST_F(CompatNotify, AFinalJobTakesNoCallback) {
  ASSERT_EQ(job->Cancel(), S_OK);
  std::shared_ptr<lifetime> life;
  test_callback* callback = new_callback(life);
  EXPECT_EQ(job->SetNotifyInterface(callback), BG_E_INVALID_STATE);
  EXPECT_EQ(life->refs.load(), 1);
  callback->Release();
}

// A process that exits with a live registration: the registry stops its thread and releases the
// callback during exit, and the process ends normally. The child is this test binary again.
TEST_F(CompatNotify, AProcessExitsCleanlyWithALiveRegistration) {
  const auto result = opendo::test::run(
      {fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=CompatNotifyExitChild.*"}, 30s,
      {"OPENDO_SOCKET=" + daemon.socket_path().string(), "OPENDO_TEST_EXIT_CHILD=1"});
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
}

namespace {
std::shared_ptr<lifetime> g_child_life;
}

// The child's side of the test above. It exists only in the child (OPENDO_TEST_EXIT_CHILD set),
// so ctest never lists it as a test of its own.
class ExitChild : public ::testing::Test {
 public:
  void TestBody() override {
    // Registered before the registry exists, so it runs after the registry's destructor.
    std::atexit([] { ::_exit(g_child_life && g_child_life->deleted ? 0 : 3); });
    ASSERT_EQ(CoInitializeEx(NULL, COINIT_MULTITHREADED), S_OK);
    IBackgroundCopyManager* manager = nullptr;
    ASSERT_EQ(CoCreateInstance(CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
                               IID_PPV_ARGS(&manager)),
              S_OK);
    GUID id{};
    IBackgroundCopyJob* job = nullptr;
    ASSERT_EQ(manager->CreateJob(L"exits", BG_JOB_TYPE_DOWNLOAD, &id, &job), S_OK);
    test_callback* callback = new_callback(g_child_life);
    ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
    callback->Release();
    job->Release();
    manager->Release();
    std::exit(5);  // the atexit handler decides the status
  }
};

const bool g_exit_child_registered = [] {
  if (std::getenv("OPENDO_TEST_EXIT_CHILD") == nullptr) return false;
  ::testing::RegisterTest("CompatNotifyExitChild", "RegistersAndExits", nullptr, nullptr, __FILE__,
                          __LINE__, []() -> ::testing::Test* { return new ExitChild; });
  return true;
}();

// ---- across processes, through the COM layer ---------------------------------------------------
//
// What a Windows application that restarts lives through: a process registers and exits; the job
// transfers while nobody is registered; a new process gets the job by its GUID, registers, is
// told JobTransferred late, and calls Complete from inside the callback. The processes are this
// test binary again with OPENDO_COM_CHILD set, using nothing but the COM API.

namespace {

class ComChild : public ::testing::Test {
 public:
  void TestBody() override {
    ASSERT_EQ(CoInitializeEx(NULL, COINIT_APARTMENTTHREADED), S_OK);
    IBackgroundCopyManager* manager = nullptr;
    ASSERT_EQ(
        CoCreateInstance(__uuidof(BackgroundCopyManager), NULL, CLSCTX_LOCAL_SERVER,
                         __uuidof(IBackgroundCopyManager), reinterpret_cast<void**>(&manager)),
        S_OK);
    const GUID id = opendo::compat::guid_from_job_id(std::getenv("OPENDO_COM_CHILD_JOB"));
    IBackgroundCopyJob* job = nullptr;
    ASSERT_EQ(manager->GetJob(id, &job), S_OK);
    std::shared_ptr<lifetime> life;
    test_callback* callback = new_callback(life);
    std::atomic<HRESULT> completed{E_PENDING};
    const std::string mode = std::getenv("OPENDO_COM_CHILD");
    callback->on_transferred = [&](IBackgroundCopyJob* transferred) {
      if (mode == "die") {
        // Dies inside the callback, before it returns: the event is never acknowledged.
        std::cout << "child " << ::getpid() << ": dies inside JobTransferred" << std::endl;
        ::_exit(7);
      }
      completed = transferred->Complete();
    };
    ASSERT_EQ(job->SetNotifyInterface(callback), S_OK);
    callback->Release();
    std::cout << "child " << ::getpid() << ": registered for " << guid_text(id) << std::endl;
    if (mode == "die") {
      std::this_thread::sleep_for(30s);
      FAIL() << "JobTransferred never came";
    }
    if (mode == "complete") {
      ASSERT_TRUE(eventually([&] { return completed.load() != E_PENDING; }, 30s));
      char result[16];
      std::snprintf(result, sizeof result, "0x%08X", static_cast<unsigned>(completed.load()));
      std::cout << "child " << ::getpid() << ": JobTransferred delivered late; Complete returned "
                << result << std::endl;
    }
    job->Release();
    manager->Release();
    CoUninitialize();  // with a live registration in "exit" mode: it ends with the process
  }
};

const bool g_com_child_registered = [] {
  if (std::getenv("OPENDO_COM_CHILD") == nullptr) return false;
  ::testing::RegisterTest("ComChild", "Run", nullptr, nullptr, __FILE__, __LINE__,
                          []() -> ::testing::Test* { return new ComChild; });
  return true;
}();

}  // namespace

namespace {

// The job's notify command appends a line to `marker`: it runs only when no live registration
// took the transferred event, so a line proves that nobody was registered.
void set_marker_command(IBackgroundCopyJob* job, const fs::path& marker) {
  com_ptr<IBackgroundCopyJob2> job2 = opendo::compat::query<IBackgroundCopyJob2>(job);
  ASSERT_TRUE(job2);
  const std::wstring parameters = wide("sh -c \"echo ran >> '" + marker.string() + "'\"");
  ASSERT_EQ(job2->SetNotifyCmdLine(L"/bin/sh", parameters.c_str()), S_OK);
}

// Waits until the command has run `times` times.
bool ran(const fs::path& marker, int times) {
  std::string lines;
  for (int i = 0; i < times; ++i) lines += "ran\n";
  // The shell creates the file before echo writes to it: wait for the lines, not the file.
  return eventually([&] { return fs::exists(marker) && opendo::test::read_file(marker) == lines; },
                    15s);
}

}  // namespace

TEST_F(CompatNotify, AcrossProcessesRegisterExitEventReregisterLateDelivery) {
  add("cross.bin");
  const fs::path marker = out / "command-ran";
  set_marker_command(job.get(), marker);
  auto child = [&](const std::string& mode) {
    return opendo::test::run(
        {fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=ComChild.*"}, 60s,
        {"OPENDO_SOCKET=" + daemon.socket_path().string(), "OPENDO_COM_CHILD=" + mode,
         "OPENDO_COM_CHILD_JOB=" + id});
  };
  // 1. An application registers and exits: its registration dies with it.
  const auto first = child("exit");
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  std::cout << first.out;
  // 2. The event happens while no application is registered. The notify command running proves
  //    it: the daemon runs it only when no live registration took the event.
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  std::cout << "parent: the job is TRANSFERRED with nobody registered" << std::endl;
  ASSERT_TRUE(ran(marker, 1)) << daemon.log();
  std::cout << "parent: the notify command ran, so the exited child's registration was gone"
            << std::endl;
  // 3. The application starts again, registers again, is told, and completes the job.
  const auto second = child("complete");
  std::cout << second.out;
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("JobTransferred delivered late; Complete returned 0x00000000"),
            std::string::npos);
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_ACKNOWLEDGED);
  EXPECT_TRUE(fs::exists(out / "cross.bin"));
}

// A client that dies inside JobTransferred: the daemon goes on, the event it never acknowledged
// goes to the notify command, and the next application to register is told and completes.
TEST_F(CompatNotify, AProcessThatDiesInsideTheCallbackLeavesTheEventToTheNextOne) {
  add("dies.bin");
  const fs::path marker = out / "command-ran";
  set_marker_command(job.get(), marker);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  ASSERT_TRUE(ran(marker, 1)) << daemon.log();  // nobody registered yet: the command took it
  auto child = [&](const std::string& mode) {
    return opendo::test::run(
        {fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=ComChild.*"}, 60s,
        {"OPENDO_SOCKET=" + daemon.socket_path().string(), "OPENDO_COM_CHILD=" + mode,
         "OPENDO_COM_CHILD_JOB=" + id});
  };
  const auto dying = child("die");
  std::cout << dying.out;
  ASSERT_EQ(dying.exit_code, 7) << dying.out << dying.err;
  ASSERT_TRUE(ran(marker, 2)) << daemon.log();
  std::cout << "parent: the notify command ran for the event the dead child never acknowledged"
            << std::endl;
  EXPECT_TRUE(daemon.running());
  const auto next = child("complete");
  std::cout << next.out;
  ASSERT_EQ(next.exit_code, 0) << next.out << next.err;
  EXPECT_NE(next.out.find("JobTransferred delivered late; Complete returned 0x00000000"),
            std::string::npos);
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_ACKNOWLEDGED);
  EXPECT_TRUE(fs::exists(out / "dies.bin"));
}
