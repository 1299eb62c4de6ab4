// CoCreateInstance and IBackgroundCopyManager against a real opendod: activation rules, CreateJob,
// GetJob, EnumJobs (with its administrator rule), GetErrorDescription and reference counts.
#include "compat/compat_fixture.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>

using namespace compat_test;

namespace {

class CompatManager : public CompatTest {};

// Runs `body` on a thread of its own (which has not called CoInitialize) and returns its HRESULT.
HRESULT on_fresh_thread(const std::function<HRESULT()>& body) {
  HRESULT result = E_UNEXPECTED;
  std::thread([&] { result = body(); }).join();
  return result;
}

}  // namespace

TEST_F(CompatManager, CoCreateInstanceNeedsCoInitializeOnTheCallingThread) {
  const HRESULT hr = on_fresh_thread([] {
    IBackgroundCopyManager* manager = reinterpret_cast<IBackgroundCopyManager*>(0x1);
    const HRESULT result =
        CoCreateInstance(CLSID_BackgroundCopyManager, nullptr, CLSCTX_LOCAL_SERVER,
                         IID_IBackgroundCopyManager, reinterpret_cast<void**>(&manager));
    EXPECT_EQ(manager, nullptr);
    return result;
  });
  EXPECT_EQ(hr, CO_E_NOTINITIALIZED);
  EXPECT_EQ(on_fresh_thread([] {
              CoInitialize(nullptr);
              IBackgroundCopyManager* manager = nullptr;
              const HRESULT result = CoCreateInstance(CLSID_BackgroundCopyManager, nullptr,
                                                      CLSCTX_ALL, IID_PPV_ARGS(&manager));
              if (manager != nullptr) manager->Release();
              CoUninitialize();
              return result;
            }),
            S_OK);
}

TEST_F(CompatManager, CoCreateInstanceChecksItsArguments) {
  EXPECT_EQ(CoCreateInstance(CLSID_BackgroundCopyManager, nullptr, CLSCTX_LOCAL_SERVER,
                             IID_IBackgroundCopyManager, nullptr),
            E_POINTER);

  void* out = reinterpret_cast<void*>(0x1);
  const CLSID unknown = {0x12345678, 0x1234, 0x1234, {1, 2, 3, 4, 5, 6, 7, 8}};
  EXPECT_EQ(CoCreateInstance(unknown, nullptr, CLSCTX_LOCAL_SERVER, IID_IUnknown, &out),
            REGDB_E_CLASSNOTREG);
  EXPECT_EQ(out, nullptr);

  com_ptr<IBackgroundCopyManager> outer = bits_manager();
  ASSERT_TRUE(outer);
  out = reinterpret_cast<void*>(0x1);
  EXPECT_EQ(CoCreateInstance(CLSID_BackgroundCopyManager, outer.get(), CLSCTX_LOCAL_SERVER,
                             IID_IUnknown, &out),
            CLASS_E_NOAGGREGATION);
  EXPECT_EQ(out, nullptr);

  // An interface the class does not implement: E_NOINTERFACE, and nothing is left alive.
  out = reinterpret_cast<void*>(0x1);
  EXPECT_EQ(CoCreateInstance(CLSID_BackgroundCopyManager, nullptr, CLSCTX_LOCAL_SERVER,
                             IID_IBackgroundCopyJob, &out),
            E_NOINTERFACE);
  EXPECT_EQ(out, nullptr);
  outer.reset();
  EXPECT_EQ(opendo::compat::live_objects(), baseline_objects);
}

TEST_F(CompatManager, TheBitsClassIsNoDoManagerButTheDoClassIsBoth) {
  com_ptr<IBackgroundCopyManager> bits = bits_manager();
  ASSERT_TRUE(bits);
  EXPECT_FALSE(as<IDOManager>(bits.get()));
  EXPECT_EQ(identity(bits.get()), identity(as<IBackgroundCopyManager>(bits.get()).get()));

  com_ptr<IDOManager> delivery = do_manager();
  ASSERT_TRUE(delivery);
  com_ptr<IBackgroundCopyManager> also_bits = as<IBackgroundCopyManager>(delivery.get());
  ASSERT_TRUE(also_bits);
  EXPECT_EQ(identity(delivery.get()), identity(also_bits.get()));
  EXPECT_EQ(delivery->QueryInterface(IID_IUnknown, nullptr), E_POINTER);
  void* out = reinterpret_cast<void*>(0x1);
  EXPECT_EQ(delivery->QueryInterface(IID_IBackgroundCopyFile, &out), E_NOINTERFACE);
  EXPECT_EQ(out, nullptr);
}

TEST_F(CompatManager, AnUnreachableDaemonIsNoService) {
  ::setenv("OPENDO_SOCKET", (out / "nobody-listens.sock").c_str(), 1);
  IBackgroundCopyManager* manager = nullptr;
  EXPECT_EQ(CoCreateInstance(CLSID_BackgroundCopyManager, nullptr, CLSCTX_LOCAL_SERVER,
                             IID_PPV_ARGS(&manager)),
            DO_E_NO_SERVICE);
  EXPECT_EQ(manager, nullptr);
  EXPECT_EQ(opendo::compat::live_objects(), baseline_objects);
}

TEST_F(CompatManager, CreateJobChecksTypeAndArguments) {
  com_ptr<IBackgroundCopyManager> manager = bits_manager();
  GUID id{};
  IBackgroundCopyJob* job = reinterpret_cast<IBackgroundCopyJob*>(0x1);
  EXPECT_EQ(manager->CreateJob(L"up", BG_JOB_TYPE_UPLOAD, &id, &job), E_NOTIMPL);
  EXPECT_EQ(job, nullptr);
  EXPECT_EQ(manager->CreateJob(L"reply", BG_JOB_TYPE_UPLOAD_REPLY, &id, &job), E_NOTIMPL);
  EXPECT_EQ(manager->CreateJob(L"odd", static_cast<BG_JOB_TYPE>(7), &id, &job), E_INVALIDARG);
  EXPECT_EQ(manager->CreateJob(nullptr, BG_JOB_TYPE_DOWNLOAD, &id, &job), E_INVALIDARG);
  EXPECT_EQ(manager->CreateJob(L"x", BG_JOB_TYPE_DOWNLOAD, nullptr, &job), E_POINTER);
  EXPECT_EQ(manager->CreateJob(L"x", BG_JOB_TYPE_DOWNLOAD, &id, nullptr), E_POINTER);
  // A lone surrogate is no character: wchar_t strings are UTF-32 on Linux.
  const wchar_t broken[] = {L'a', static_cast<wchar_t>(0xD800), L'\0'};
  EXPECT_EQ(manager->CreateJob(broken, BG_JOB_TYPE_DOWNLOAD, &id, &job), E_INVALIDARG);
  const std::wstring too_long(257, L'n');
  EXPECT_EQ(manager->CreateJob(too_long.c_str(), BG_JOB_TYPE_DOWNLOAD, &id, &job),
            BG_E_STRING_TOO_LONG);

  EXPECT_TRUE(modern().list_jobs().empty()) << "a refused CreateJob made a job";
}

TEST_F(CompatManager, CreateJobReturnsTheJobAndItsId) {
  com_ptr<IBackgroundCopyManager> manager = bits_manager();
  GUID id{};
  IBackgroundCopyJob* job = nullptr;
  const wchar_t* name = L"Ünïcødé \U0001F600 job";
  ASSERT_EQ(manager->CreateJob(name, BG_JOB_TYPE_DOWNLOAD, &id, &job), S_OK);
  ASSERT_NE(job, nullptr);
  GUID same{};
  EXPECT_EQ(job->GetId(&same), S_OK);
  EXPECT_EQ(same, id);
  LPWSTR display = nullptr;
  ASSERT_EQ(job->GetDisplayName(&display), S_OK);
  EXPECT_STREQ(display, name);
  CoTaskMemFree(display);
  EXPECT_EQ(state_of(job), BG_JOB_STATE_SUSPENDED);

  // The id is the daemon's.
  EXPECT_EQ(modern().open_job(guid_text(id)).info().display_name, "Ünïcødé \xF0\x9F\x98\x80 job");
  EXPECT_EQ(job->Release(), 0U);
}

TEST_F(CompatManager, GetJobFindsLiveJobsOnly) {
  com_ptr<IBackgroundCopyManager> manager = bits_manager();
  com_ptr<IBackgroundCopyJob> created = create_job(manager.get());
  GUID id{};
  ASSERT_EQ(created->GetId(&id), S_OK);

  IBackgroundCopyJob* found = nullptr;
  ASSERT_EQ(manager->GetJob(id, &found), S_OK);
  GUID found_id{};
  EXPECT_EQ(found->GetId(&found_id), S_OK);
  EXPECT_EQ(found_id, id);
  found->Release();

  EXPECT_EQ(manager->GetJob(id, nullptr), E_POINTER);
  GUID unknown = id;
  unknown.Data1 ^= 0xFFFFFFFFU;
  found = reinterpret_cast<IBackgroundCopyJob*>(0x1);
  EXPECT_EQ(manager->GetJob(unknown, &found), BG_E_NOT_FOUND);
  EXPECT_EQ(found, nullptr);

  // A cancelled job has left the queue.
  EXPECT_EQ(created->Cancel(), S_OK);
  EXPECT_EQ(manager->GetJob(id, &found), BG_E_NOT_FOUND);
}

TEST_F(CompatManager, EnumJobsListsTheCallersLiveJobs) {
  com_ptr<IBackgroundCopyManager> manager = bits_manager();
  com_ptr<IBackgroundCopyJob> a = create_job(manager.get(), L"a");
  com_ptr<IBackgroundCopyJob> b = create_job(manager.get(), L"b");
  com_ptr<IBackgroundCopyJob> c = create_job(manager.get(), L"c");
  ASSERT_EQ(c->Cancel(), S_OK);

  IEnumBackgroundCopyJobs* jobs = nullptr;
  EXPECT_EQ(manager->EnumJobs(0x2, &jobs), E_INVALIDARG);
  EXPECT_EQ(manager->EnumJobs(0, nullptr), E_POINTER);
  ASSERT_EQ(manager->EnumJobs(0, &jobs), S_OK);
  ULONG count = 0;
  EXPECT_EQ(jobs->GetCount(&count), S_OK);
  EXPECT_EQ(count, 2U);
  std::vector<std::string> names;
  IBackgroundCopyJob* job = nullptr;
  while (jobs->Next(1, &job, nullptr) == S_OK) {
    LPWSTR name = nullptr;
    EXPECT_EQ(job->GetDisplayName(&name), S_OK);
    names.push_back(take(name));
    job->Release();
  }
  std::sort(names.begin(), names.end());  // creation order, to the second
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(jobs->Release(), 0U);

  // root is an administrator.
  if (::geteuid() == 0) {
    ASSERT_EQ(manager->EnumJobs(BG_JOB_ENUM_ALL_USERS, &jobs), S_OK);
    EXPECT_EQ(jobs->GetCount(&count), S_OK);
    EXPECT_EQ(count, 2U);
    jobs->Release();
  }
}

TEST_F(CompatManager, GetErrorDescriptionSaysWhatTheCodeMeans) {
  com_ptr<IBackgroundCopyManager> manager = bits_manager();
  LPWSTR text = nullptr;
  ASSERT_EQ(manager->GetErrorDescription(BG_E_NOT_FOUND, LANG_USER_DEFAULT, &text), S_OK);
  EXPECT_EQ(take(text), opendo::describe(0x80200001U));
  ASSERT_EQ(manager->GetErrorDescription(BG_E_HTTP_ERROR_404, 0, &text), S_OK);
  EXPECT_EQ(take(text), opendo::describe(0x80190194U));
  EXPECT_EQ(manager->GetErrorDescription(S_OK, 0, nullptr), E_POINTER);
}

TEST_F(CompatManager, ObjectsDieAtTheirLastRelease) {
  IBackgroundCopyManager* manager = nullptr;
  ASSERT_EQ(CoCreateInstance(__uuidof(BackgroundCopyManager), NULL, CLSCTX_LOCAL_SERVER,
                             __uuidof(IBackgroundCopyManager), reinterpret_cast<void**>(&manager)),
            S_OK);
  EXPECT_EQ(opendo::compat::live_objects(), baseline_objects + 1);
  EXPECT_EQ(manager->AddRef(), 2U);
  IUnknown* unknown = nullptr;
  ASSERT_EQ(manager->QueryInterface(IID_IUnknown, reinterpret_cast<void**>(&unknown)), S_OK);
  EXPECT_EQ(unknown->Release(), 2U);
  EXPECT_EQ(manager->Release(), 1U);

  GUID id{};
  IBackgroundCopyJob* job = nullptr;
  ASSERT_EQ(manager->CreateJob(L"counted", BG_JOB_TYPE_DOWNLOAD, &id, &job), S_OK);
  IEnumBackgroundCopyJobs* jobs = nullptr;
  ASSERT_EQ(manager->EnumJobs(0, &jobs), S_OK);
  EXPECT_EQ(opendo::compat::live_objects(), baseline_objects + 4);  // manager, job, enum, its job
  // Each object is independent: the manager may go first.
  EXPECT_EQ(manager->Release(), 0U);
  EXPECT_EQ(opendo::compat::live_objects(), baseline_objects + 3);
  EXPECT_EQ(state_of(job), BG_JOB_STATE_SUSPENDED);
  EXPECT_EQ(jobs->Release(), 0U);
  EXPECT_EQ(job->Release(), 0U);
  EXPECT_EQ(opendo::compat::live_objects(), baseline_objects);
}

// A user who is not an administrator may not list everyone's jobs. As root the daemon runs as
// nobody and a forked child, also nobody, asks it.
TEST(CompatManagerAccess, EnumJobsOfAllUsersIsForAdministrators) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  opendo::test::daemon_options options;
  options.run_as = std::make_pair(uid_t{65534}, gid_t{65534});
  opendo::test::daemon_process daemon(options);
  ::setenv("OPENDO_SOCKET", daemon.socket_path().c_str(), 1);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    if (FAILED(CoInitializeEx(NULL, COINIT_MULTITHREADED))) ::_exit(11);
    IBackgroundCopyManager* manager = nullptr;
    if (CoCreateInstance(CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
                         IID_PPV_ARGS(&manager)) != S_OK) {
      ::_exit(12);
    }
    IEnumBackgroundCopyJobs* jobs = nullptr;
    if (manager->EnumJobs(0, &jobs) != S_OK) ::_exit(13);
    jobs->Release();
    const HRESULT all = manager->EnumJobs(BG_JOB_ENUM_ALL_USERS, &jobs);
    ::_exit(all == E_ACCESSDENIED && jobs == nullptr ? 0 : 14);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::unsetenv("OPENDO_SOCKET");
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << daemon.log();
}
