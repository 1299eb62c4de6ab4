// IBackgroundCopyJob to IBackgroundCopyJob5 and IDeliveryOptimizationJob against a real opendod and
// nginx: every method's documented return codes, the state rules, and a download end to end.
#include "compat/compat_fixture.hpp"

#include <unistd.h>

#include <ctime>
#include <filesystem>

using namespace compat_test;
namespace fs = std::filesystem;

namespace {

class CompatJob : public CompatTransferTest {
 protected:
  void SetUp() override {
    CompatTransferTest::SetUp();
    manager = bits_manager();
    ASSERT_TRUE(manager);
    job = create_job(manager.get(), L"job test");
    ASSERT_TRUE(job);
  }

  std::wstring local(const std::string& name) { return wide((out / name).string()); }

  // The job as the modern API sees it, through a connection of its own.
  opendo::job_info modern_info() {
    GUID id{};
    EXPECT_EQ(job->GetId(&id), S_OK);
    return modern().open_job(guid_text(id)).info();
  }

  com_ptr<IBackgroundCopyManager> manager;
  com_ptr<IBackgroundCopyJob> job;
};

// The calls that change a job; each must say BG_E_INVALID_STATE once the job is final.
void expect_every_change_refused(IBackgroundCopyJob* job, const std::wstring& url,
                                 const std::wstring& path) {
  com_ptr<IBackgroundCopyJob5> job5 = opendo::compat::query<IBackgroundCopyJob5>(job);
  ASSERT_TRUE(job5);
  EXPECT_EQ(job->AddFile(url.c_str(), path.c_str()), BG_E_INVALID_STATE);
  BG_FILE_INFO file{const_cast<LPWSTR>(url.c_str()), const_cast<LPWSTR>(path.c_str())};
  EXPECT_EQ(job->AddFileSet(1, &file), BG_E_INVALID_STATE);
  EXPECT_EQ(job->Resume(), BG_E_INVALID_STATE);
  EXPECT_EQ(job->Suspend(), BG_E_INVALID_STATE);
  EXPECT_EQ(job->Cancel(), BG_E_INVALID_STATE);
  EXPECT_EQ(job->Complete(), BG_E_INVALID_STATE);
  EXPECT_EQ(job->SetDisplayName(L"late"), BG_E_INVALID_STATE);
  EXPECT_EQ(job->SetDescription(L"late"), BG_E_INVALID_STATE);
  EXPECT_EQ(job->SetPriority(BG_JOB_PRIORITY_HIGH), BG_E_INVALID_STATE);
  EXPECT_EQ(job->SetNotifyFlags(BG_NOTIFY_JOB_TRANSFERRED), BG_E_INVALID_STATE);
  EXPECT_EQ(job->SetNotifyInterface(nullptr), BG_E_INVALID_STATE);
  EXPECT_EQ(job->SetMinimumRetryDelay(60), BG_E_INVALID_STATE);
  EXPECT_EQ(job->SetNoProgressTimeout(60), BG_E_INVALID_STATE);
  EXPECT_EQ(job->SetProxySettings(BG_JOB_PROXY_USAGE_NO_PROXY, nullptr, nullptr),
            BG_E_INVALID_STATE);
  EXPECT_EQ(job5->SetNotifyCmdLine(nullptr, nullptr), BG_E_INVALID_STATE);
  EXPECT_EQ(job5->ReplaceRemotePrefix(L"http://", L"https://"), BG_E_INVALID_STATE);
  EXPECT_EQ(job5->SetFileACLFlags(0), BG_E_INVALID_STATE);
  EXPECT_EQ(job5->SetPeerCachingFlags(0), BG_E_INVALID_STATE);
  BITS_JOB_PROPERTY_VALUE value{};
  value.Enable = FALSE;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_DYNAMIC_CONTENT, value), BG_E_INVALID_STATE);
  EXPECT_EQ(job5->SetMaximumDownloadTime(60), BG_E_INVALID_STATE);
  value.Uint64 = 0;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE, value), BG_E_INVALID_STATE);
  value.Dword = 1000;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS, value),
            BG_E_INVALID_STATE);
}

}  // namespace

TEST_F(CompatJob, ANewJobIsASuspendedEmptyDownload) {
  BG_JOB_TYPE type = BG_JOB_TYPE_UPLOAD;
  EXPECT_EQ(job->GetType(&type), S_OK);
  EXPECT_EQ(type, BG_JOB_TYPE_DOWNLOAD);
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_SUSPENDED);
  BG_JOB_PROGRESS progress{1, 1, 1, 1};
  ASSERT_EQ(job->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.BytesTransferred, 0U);
  EXPECT_EQ(progress.FilesTotal, 0U);
  EXPECT_EQ(progress.FilesTransferred, 0U);
  // Resume without files: BG_E_EMPTY, and the job stays as it was.
  EXPECT_EQ(job->Resume(), BG_E_EMPTY);
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_SUSPENDED);
  ULONG flags = 0;
  EXPECT_EQ(job->GetNotifyFlags(&flags), S_OK);
  EXPECT_EQ(flags, static_cast<ULONG>(BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR));
  IUnknown* notify = reinterpret_cast<IUnknown*>(0x1);
  EXPECT_EQ(job->GetNotifyInterface(&notify), S_OK);
  EXPECT_EQ(notify, nullptr);
  IBackgroundCopyError* error = reinterpret_cast<IBackgroundCopyError*>(0x1);
  EXPECT_EQ(job->GetError(&error), BG_E_ERROR_INFORMATION_UNAVAILABLE);
  EXPECT_EQ(error, nullptr);
  ULONG errors = 1;
  EXPECT_EQ(job->GetErrorCount(&errors), S_OK);
  EXPECT_EQ(errors, 0U);
}

TEST_F(CompatJob, EveryOutPointerMayNotBeNull) {
  com_ptr<IBackgroundCopyJob5> job5 = as<IBackgroundCopyJob5>(job.get());
  EXPECT_EQ(job->EnumFiles(nullptr), E_POINTER);
  EXPECT_EQ(job->GetId(nullptr), E_POINTER);
  EXPECT_EQ(job->GetType(nullptr), E_POINTER);
  EXPECT_EQ(job->GetProgress(nullptr), E_POINTER);
  EXPECT_EQ(job->GetTimes(nullptr), E_POINTER);
  EXPECT_EQ(job->GetState(nullptr), E_POINTER);
  EXPECT_EQ(job->GetError(nullptr), E_POINTER);
  EXPECT_EQ(job->GetOwner(nullptr), E_POINTER);
  EXPECT_EQ(job->GetDisplayName(nullptr), E_POINTER);
  EXPECT_EQ(job->GetDescription(nullptr), E_POINTER);
  EXPECT_EQ(job->GetPriority(nullptr), E_POINTER);
  EXPECT_EQ(job->GetNotifyFlags(nullptr), E_POINTER);
  EXPECT_EQ(job->GetNotifyInterface(nullptr), E_POINTER);
  EXPECT_EQ(job->GetMinimumRetryDelay(nullptr), E_POINTER);
  EXPECT_EQ(job->GetNoProgressTimeout(nullptr), E_POINTER);
  EXPECT_EQ(job->GetErrorCount(nullptr), E_POINTER);
  BG_JOB_PROXY_USAGE usage{};
  LPWSTR list = nullptr;
  EXPECT_EQ(job->GetProxySettings(&usage, &list, nullptr), E_POINTER);
  EXPECT_EQ(job5->GetNotifyCmdLine(&list, nullptr), E_POINTER);
  EXPECT_EQ(job5->GetFileACLFlags(nullptr), E_POINTER);
  EXPECT_EQ(job5->GetPeerCachingFlags(nullptr), E_POINTER);
  EXPECT_EQ(job5->GetOwnerIntegrityLevel(nullptr), E_POINTER);
  EXPECT_EQ(job5->GetOwnerElevationState(nullptr), E_POINTER);
  EXPECT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_ID_COST_FLAGS, nullptr), E_POINTER);
  EXPECT_EQ(job5->GetMaximumDownloadTime(nullptr), E_POINTER);
  EXPECT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE, nullptr), E_POINTER);
  EXPECT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS, nullptr),
            E_POINTER);
  // NULL inputs are invalid arguments.
  EXPECT_EQ(job->AddFile(nullptr, L"/tmp/x"), E_INVALIDARG);
  EXPECT_EQ(job->AddFile(L"http://127.0.0.1/x", nullptr), E_INVALIDARG);
  EXPECT_EQ(job->AddFileSet(1, nullptr), E_INVALIDARG);
  EXPECT_EQ(job->SetDisplayName(nullptr), E_INVALIDARG);
  EXPECT_EQ(job->SetDescription(nullptr), E_INVALIDARG);
  EXPECT_EQ(job5->SetCredentials(nullptr), E_INVALIDARG);
}

TEST_F(CompatJob, QueryInterfaceServesEveryJobInterface) {
  IUnknown* identity_pointer = identity(job.get());
  ASSERT_NE(identity_pointer, nullptr);
  const IID iids[] = {IID_IBackgroundCopyJob,  IID_IBackgroundCopyJob2,
                      IID_IBackgroundCopyJob3, IID_IBackgroundCopyJob4,
                      IID_IBackgroundCopyJob5, IID_IDeliveryOptimizationJob};
  for (const IID& iid : iids) {
    void* p = nullptr;
    ASSERT_EQ(job->QueryInterface(iid, &p), S_OK);
    auto* unknown = static_cast<IUnknown*>(p);
    EXPECT_EQ(identity(unknown), identity_pointer);
    unknown->Release();
  }
  void* p = reinterpret_cast<void*>(0x1);
  EXPECT_EQ(job->QueryInterface(IID_IBackgroundCopyFile, &p), E_NOINTERFACE);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(job->QueryInterface(IID_IBackgroundCopyJob, nullptr), E_POINTER);
}

TEST_F(CompatJob, AJobObjectDiesAtItsLastRelease) {
  const long with_job = opendo::compat::live_objects();
  IBackgroundCopyJob* raw = job.detach();
  IBackgroundCopyJob3* job3 = nullptr;
  ASSERT_EQ(raw->QueryInterface(IID_IBackgroundCopyJob3, reinterpret_cast<void**>(&job3)), S_OK);
  EXPECT_EQ(raw->Release(), 1U);
  EXPECT_EQ(opendo::compat::live_objects(), with_job);
  EXPECT_EQ(job3->Release(), 0U);
  EXPECT_EQ(opendo::compat::live_objects(), with_job - 1);
}

TEST_F(CompatJob, PropertiesRoundTrip) {
  EXPECT_EQ(job->SetDisplayName(L"renamed"), S_OK);
  LPWSTR text = nullptr;
  ASSERT_EQ(job->GetDisplayName(&text), S_OK);
  EXPECT_EQ(take(text), "renamed");
  EXPECT_EQ(job->SetDescription(L"what it is for"), S_OK);
  ASSERT_EQ(job->GetDescription(&text), S_OK);
  EXPECT_EQ(take(text), "what it is for");
  EXPECT_EQ(job->SetDescription(std::wstring(1025, L'd').c_str()), BG_E_STRING_TOO_LONG);

  EXPECT_EQ(job->SetPriority(BG_JOB_PRIORITY_LOW), S_OK);
  BG_JOB_PRIORITY priority = BG_JOB_PRIORITY_FOREGROUND;
  EXPECT_EQ(job->GetPriority(&priority), S_OK);
  EXPECT_EQ(priority, BG_JOB_PRIORITY_LOW);
  EXPECT_EQ(job->SetPriority(static_cast<BG_JOB_PRIORITY>(4)), E_INVALIDARG);

  EXPECT_EQ(job->SetNotifyFlags(BG_NOTIFY_JOB_MODIFICATION | BG_NOTIFY_FILE_TRANSFERRED), S_OK);
  ULONG flags = 0;
  EXPECT_EQ(job->GetNotifyFlags(&flags), S_OK);
  EXPECT_EQ(flags, static_cast<ULONG>(BG_NOTIFY_JOB_MODIFICATION | BG_NOTIFY_FILE_TRANSFERRED));
  EXPECT_EQ(job->SetNotifyFlags(0x40), E_NOTIMPL);  // an unknown bit

  ULONG seconds = 0;
  EXPECT_EQ(job->SetMinimumRetryDelay(30), S_OK);
  EXPECT_EQ(job->GetMinimumRetryDelay(&seconds), S_OK);
  EXPECT_EQ(seconds, 30U);
  EXPECT_EQ(job->SetNoProgressTimeout(0), S_OK);
  EXPECT_EQ(job->GetNoProgressTimeout(&seconds), S_OK);
  EXPECT_EQ(seconds, 0U);

  LPWSTR owner = nullptr;
  ASSERT_EQ(job->GetOwner(&owner), S_OK);
  EXPECT_EQ(take(owner), "S-1-22-1-" + std::to_string(::geteuid()));

  // FILETIME counts 100 ns from 1601; the transfer has not completed, so its time is 0.
  BG_JOB_TIMES times{};
  ASSERT_EQ(job->GetTimes(&times), S_OK);
  const ULONGLONG created = (static_cast<ULONGLONG>(times.CreationTime.dwHighDateTime) << 32) |
                            times.CreationTime.dwLowDateTime;
  const auto now_filetime =
      (static_cast<ULONGLONG>(std::time(nullptr)) + 11644473600ULL) * 10000000ULL;
  EXPECT_LE(created, now_filetime);
  EXPECT_GT(created, now_filetime - 600ULL * 10000000ULL);
  EXPECT_EQ(created % 10000000ULL, 0U);  // whole seconds, as the daemon records them
  EXPECT_EQ(times.TransferCompletionTime.dwLowDateTime, 0U);
  EXPECT_EQ(times.TransferCompletionTime.dwHighDateTime, 0U);
}

TEST_F(CompatJob, ProxySettingsFollowTheUsage) {
  BG_JOB_PROXY_USAGE usage = BG_JOB_PROXY_USAGE_AUTODETECT;
  LPWSTR list = reinterpret_cast<LPWSTR>(0x1);
  LPWSTR bypass = reinterpret_cast<LPWSTR>(0x1);
  ASSERT_EQ(job->GetProxySettings(&usage, &list, &bypass), S_OK);
  EXPECT_EQ(usage, BG_JOB_PROXY_USAGE_PRECONFIG);
  EXPECT_EQ(list, nullptr);  // empty lists come back as NULL
  EXPECT_EQ(bypass, nullptr);

  EXPECT_EQ(job->SetProxySettings(BG_JOB_PROXY_USAGE_OVERRIDE, L"http://proxy:3128",
                                  L"localhost;127.0.0.1"),
            S_OK);
  ASSERT_EQ(job->GetProxySettings(&usage, &list, &bypass), S_OK);
  EXPECT_EQ(usage, BG_JOB_PROXY_USAGE_OVERRIDE);
  EXPECT_EQ(take(list), "http://proxy:3128");
  EXPECT_EQ(take(bypass), "localhost;127.0.0.1");

  EXPECT_EQ(job->SetProxySettings(BG_JOB_PROXY_USAGE_OVERRIDE, nullptr, nullptr), E_INVALIDARG);
  EXPECT_EQ(job->SetProxySettings(BG_JOB_PROXY_USAGE_NO_PROXY, L"http://proxy:3128", nullptr),
            E_INVALIDARG);
  EXPECT_EQ(job->SetProxySettings(static_cast<BG_JOB_PROXY_USAGE>(9), nullptr, nullptr),
            E_INVALIDARG);
  EXPECT_EQ(job->SetProxySettings(BG_JOB_PROXY_USAGE_NO_PROXY, nullptr, nullptr), S_OK);
  ASSERT_EQ(job->GetProxySettings(&usage, &list, &bypass), S_OK);
  EXPECT_EQ(usage, BG_JOB_PROXY_USAGE_NO_PROXY);
  EXPECT_EQ(list, nullptr);
  EXPECT_EQ(bypass, nullptr);
}

TEST_F(CompatJob, NotifyCommandLineAndCredentials) {
  com_ptr<IBackgroundCopyJob2> job2 = as<IBackgroundCopyJob2>(job.get());
  ASSERT_TRUE(job2);
  LPWSTR program = reinterpret_cast<LPWSTR>(0x1);
  LPWSTR parameters = reinterpret_cast<LPWSTR>(0x1);
  ASSERT_EQ(job2->GetNotifyCmdLine(&program, &parameters), S_OK);
  EXPECT_EQ(program, nullptr);
  EXPECT_EQ(parameters, nullptr);
  EXPECT_EQ(job2->SetNotifyCmdLine(L"/bin/true", L"/bin/true --done"), S_OK);
  ASSERT_EQ(job2->GetNotifyCmdLine(&program, &parameters), S_OK);
  EXPECT_EQ(take(program), "/bin/true");
  EXPECT_EQ(take(parameters), "/bin/true --done");
  EXPECT_EQ(job2->SetNotifyCmdLine(L"relative/program", nullptr), E_INVALIDARG);
  EXPECT_EQ(job2->SetNotifyCmdLine(nullptr, nullptr), S_OK);
  ASSERT_EQ(job2->GetNotifyCmdLine(&program, &parameters), S_OK);
  EXPECT_EQ(program, nullptr);

  BG_AUTH_CREDENTIALS credentials{};
  credentials.Target = BG_AUTH_TARGET_SERVER;
  credentials.Scheme = BG_AUTH_SCHEME_BASIC;
  credentials.Credentials.Basic.UserName = const_cast<LPWSTR>(L"user");
  credentials.Credentials.Basic.Password = const_cast<LPWSTR>(L"secret");
  EXPECT_EQ(job2->SetCredentials(&credentials), S_OK);
  credentials.Scheme = BG_AUTH_SCHEME_NTLM;
  EXPECT_EQ(job2->SetCredentials(&credentials), S_OK);
  EXPECT_EQ(job2->RemoveCredentials(BG_AUTH_TARGET_SERVER, BG_AUTH_SCHEME_NTLM), S_OK);
  credentials.Scheme = BG_AUTH_SCHEME_NEGOTIATE;
  EXPECT_EQ(job2->SetCredentials(&credentials), E_NOTIMPL);
  credentials.Scheme = BG_AUTH_SCHEME_PASSPORT;
  EXPECT_EQ(job2->SetCredentials(&credentials), E_NOTIMPL);
  EXPECT_EQ(job2->RemoveCredentials(BG_AUTH_TARGET_SERVER, BG_AUTH_SCHEME_BASIC), S_OK);
  EXPECT_EQ(job2->RemoveCredentials(BG_AUTH_TARGET_SERVER, BG_AUTH_SCHEME_BASIC), S_FALSE);
  EXPECT_EQ(job2->RemoveCredentials(static_cast<BG_AUTH_TARGET>(3), BG_AUTH_SCHEME_BASIC),
            E_INVALIDARG);

  // Reply methods are for upload-reply jobs.
  BG_JOB_REPLY_PROGRESS reply{};
  EXPECT_EQ(job2->GetReplyProgress(&reply), E_NOTIMPL);
  byte* data = nullptr;
  UINT64 length = 0;
  EXPECT_EQ(job2->GetReplyData(&data, &length), E_NOTIMPL);
  EXPECT_EQ(job2->SetReplyFileName(L"/tmp/reply"), E_NOTIMPL);
  LPWSTR reply_name = nullptr;
  EXPECT_EQ(job2->GetReplyFileName(&reply_name), E_NOTIMPL);
  EXPECT_EQ(reply_name, nullptr);
}

TEST_F(CompatJob, AddFileSetAddsAllOrNone) {
  const std::wstring url = wide(origin.url("a.bin"));
  const std::wstring a = local("a.bin");
  const std::wstring bad = L"relative/b.bin";
  BG_FILE_INFO files[2] = {{const_cast<LPWSTR>(url.c_str()), const_cast<LPWSTR>(a.c_str())},
                           {const_cast<LPWSTR>(url.c_str()), const_cast<LPWSTR>(bad.c_str())}};
  EXPECT_EQ(job->AddFileSet(2, files), E_INVALIDARG);
  BG_JOB_PROGRESS progress{};
  ASSERT_EQ(job->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.FilesTotal, 0U);
  EXPECT_EQ(job->AddFileSet(0, files), E_INVALIDARG);
  files[1].LocalName = const_cast<LPWSTR>(a.c_str());
  const std::wstring b = local("b.bin");
  files[1].LocalName = const_cast<LPWSTR>(b.c_str());
  EXPECT_EQ(job->AddFileSet(2, files), S_OK);
  ASSERT_EQ(job->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.FilesTotal, 2U);
}

TEST_F(CompatJob, DownloadsAndCompletes) {
  const std::string digest = origin.make_random_file("file.bin", 300000, 7);
  const std::wstring url = wide(origin.url("file.bin"));
  const std::wstring path = local("file.bin");
  ASSERT_EQ(job->AddFile(url.c_str(), path.c_str()), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED)
      << daemon.log();
  BG_JOB_PROGRESS progress{};
  ASSERT_EQ(job->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.BytesTotal, 300000U);
  EXPECT_EQ(progress.BytesTransferred, 300000U);
  EXPECT_EQ(progress.FilesTransferred, 1U);
  BG_JOB_TIMES times{};
  ASSERT_EQ(job->GetTimes(&times), S_OK);
  EXPECT_NE(times.TransferCompletionTime.dwHighDateTime, 0U);
  EXPECT_FALSE(fs::exists(out / "file.bin"));  // not before Complete

  EXPECT_EQ(job->Complete(), S_OK);
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_ACKNOWLEDGED);
  EXPECT_EQ(opendo::test::sha256_file(out / "file.bin"), digest);
  expect_every_change_refused(job.get(), url, local("again.bin"));
}

// Suspend stops a transfer where it is and keeps its bytes; Resume goes on from there.
TEST_F(CompatJob, SuspendStopsATransferAndResumeGoesOn) {
  opendo::test::nginx_options slow;
  slow.limit_rate = 256 << 10;
  opendo::test::nginx_server slow_origin(slow);
  const std::string digest = slow_origin.make_random_file("paused.bin", 2 << 20, 5);
  const std::wstring url = wide(slow_origin.url("paused.bin"));
  const std::wstring path = local("paused.bin");
  ASSERT_EQ(job->AddFile(url.c_str(), path.c_str()), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  BG_JOB_PROGRESS progress{};
  ASSERT_TRUE(eventually([&] {
    return SUCCEEDED(job->GetProgress(&progress)) && progress.BytesTransferred > 0;
  })) << daemon.log();
  ASSERT_EQ(job->Suspend(), S_OK);
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_SUSPENDED);
  ASSERT_EQ(job->GetProgress(&progress), S_OK);
  const UINT64 kept = progress.BytesTransferred;
  EXPECT_GT(kept, 0U);
  EXPECT_LT(kept, UINT64{2 << 20});
  // Suspended, it stays where it is.
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(job->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.BytesTransferred, kept);
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_SUSPENDED);
  EXPECT_EQ(job->Suspend(), S_OK);  // already suspended: nothing to do
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED)
      << daemon.log();
  EXPECT_EQ(job->Complete(), S_OK);
  EXPECT_EQ(opendo::test::sha256_file(out / "paused.bin"), digest);
}

// Complete with a file that did not arrive: the others are delivered, BG_S_PARTIAL_COMPLETE.
TEST_F(CompatJob, CompleteOfAJobInErrorIsPartial) {
  const std::string digest = origin.make_random_file("good.bin", 5000, 3);
  const std::wstring good = wide(origin.url("good.bin"));
  const std::wstring missing = wide(origin.url("missing.bin"));
  const std::wstring good_path = local("good.bin");
  const std::wstring missing_path = local("missing.bin");
  ASSERT_EQ(job->AddFile(good.c_str(), good_path.c_str()), S_OK);
  ASSERT_EQ(job->AddFile(missing.c_str(), missing_path.c_str()), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_ERROR), BG_JOB_STATE_ERROR) << daemon.log();
  EXPECT_EQ(job->Complete(), BG_S_PARTIAL_COMPLETE);
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_ACKNOWLEDGED);
  EXPECT_EQ(opendo::test::sha256_file(out / "good.bin"), digest);
  EXPECT_FALSE(fs::exists(out / "missing.bin"));
}

TEST_F(CompatJob, CancelEndsTheJobOnce) {
  const std::wstring url = wide(origin.url("never.bin"));
  const std::wstring path = local("never.bin");
  ASSERT_EQ(job->AddFile(url.c_str(), path.c_str()), S_OK);
  EXPECT_EQ(job->Cancel(), S_OK);
  EXPECT_EQ(state_of(job.get()), BG_JOB_STATE_CANCELLED);
  expect_every_change_refused(job.get(), url, path);
}

TEST_F(CompatJob, ReplaceRemotePrefixChangesMatchingFiles) {
  com_ptr<IBackgroundCopyJob3> job3 = as<IBackgroundCopyJob3>(job.get());
  ASSERT_TRUE(job3);
  const std::wstring a = local("a");
  const std::wstring b = local("b");
  ASSERT_EQ(job->AddFile(L"http://old.example/a", a.c_str()), S_OK);
  ASSERT_EQ(job->AddFile(L"http://other.example/b", b.c_str()), S_OK);
  EXPECT_EQ(job3->ReplaceRemotePrefix(L"http://nothing.example", L"http://new.example"), S_FALSE);
  EXPECT_EQ(job3->ReplaceRemotePrefix(L"http://OLD.example", L"http://new.example"), S_FALSE);
  EXPECT_EQ(job3->ReplaceRemotePrefix(L"http://old.example", L"http://new.example"), S_OK);
  EXPECT_EQ(job3->ReplaceRemotePrefix(L"", L"http://x"), E_INVALIDARG);
  EXPECT_EQ(job3->ReplaceRemotePrefix(L"http://x", nullptr), E_INVALIDARG);

  const opendo::job_info info = modern()
                                    .open_job([&] {
                                      GUID id{};
                                      job->GetId(&id);
                                      return guid_text(id);
                                    }())
                                    .info();
  ASSERT_EQ(info.files.size(), 2U);
  EXPECT_EQ(info.files[0].remote_url, "http://new.example/a");
  EXPECT_EQ(info.files[1].remote_url, "http://other.example/b");
}

TEST_F(CompatJob, AddFileWithRangesChecksItsArgumentsWithTheDocumentedCodes) {
  com_ptr<IBackgroundCopyJob3> job3 = as<IBackgroundCopyJob3>(job.get());
  com_ptr<IDeliveryOptimizationJob> dojob = as<IDeliveryOptimizationJob>(job.get());
  ASSERT_TRUE(job3 && dojob);
  const std::wstring path = local("ranged");
  const wchar_t* url = L"http://127.0.0.1:1/ranged";
  BG_FILE_RANGE ranges[3] = {{0, 100}, {200, 100}, {400, BG_LENGTH_TO_EOF}};
  EXPECT_EQ(dojob->AddFileWithRanges(L"id", nullptr, path.c_str(), 3, ranges, 1000), E_INVALIDARG);
  EXPECT_EQ(dojob->AddFileWithRanges(L"id", url, nullptr, 3, ranges, 1000), E_INVALIDARG);
  EXPECT_EQ(dojob->AddFileWithRanges(L"id", url, path.c_str(), 3, nullptr, 1000), E_INVALIDARG);
  EXPECT_EQ(job3->AddFileWithRanges(url, path.c_str(), 0, ranges), E_INVALIDARG);
  EXPECT_EQ(job3->AddFileWithRanges(url, path.c_str(), 3, nullptr), E_INVALIDARG);
  EXPECT_EQ(job3->AddFileWithRanges(url, L"relative", 3, ranges), E_INVALIDARG);

  // IDeliveryOptimizationJob wants them sorted and answers with DO's codes.
  BG_FILE_RANGE unsorted[2] = {{200, 10}, {0, 10}};
  EXPECT_EQ(dojob->AddFileWithRanges(L"id", url, path.c_str(), 2, unsorted, 1000),
            DO_E_INVALID_RANGE);
  BG_FILE_RANGE overlapping[2] = {{0, 100}, {50, 100}};
  EXPECT_EQ(dojob->AddFileWithRanges(L"id", url, path.c_str(), 2, overlapping, 1000),
            DO_E_OVERLAPPING_RANGES);
  EXPECT_EQ(job3->AddFileWithRanges(url, path.c_str(), 2, overlapping), BG_E_OVERLAPPING_RANGES);
  BG_FILE_RANGE beyond[1] = {{990, 20}};
  EXPECT_EQ(dojob->AddFileWithRanges(L"id", url, path.c_str(), 1, beyond, 1000),
            DO_E_INVALID_RANGE);
  BG_FILE_RANGE empty[1] = {{0, 0}};
  EXPECT_EQ(dojob->AddFileWithRanges(L"id", url, path.c_str(), 1, empty, 1000), DO_E_INVALID_RANGE);
  EXPECT_EQ(job3->AddFileWithRanges(url, path.c_str(), 1, empty), BG_E_INVALID_RANGE);
  BG_FILE_RANGE offset_eof[1] = {{BG_LENGTH_TO_EOF, 5}};
  EXPECT_EQ(job3->AddFileWithRanges(url, path.c_str(), 1, offset_eof), BG_E_INVALID_RANGE);
  std::vector<BG_FILE_RANGE> many(501);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = {i * 10, 5};
  EXPECT_EQ(
      dojob->AddFileWithRanges(L"id", url, path.c_str(), 501, many.data(), DO_UNKNOWN_FILE_SIZE),
      BG_E_TOO_MANY_RANGES_IN_FILE);
  EXPECT_EQ(job3->AddFileWithRanges(url, path.c_str(), 501, many.data()),
            BG_E_TOO_MANY_RANGES_IN_FILE);
  BG_JOB_PROGRESS progress{};
  ASSERT_EQ(job->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.FilesTotal, 0U);  // nothing was added

  // BITS takes any order (the bytes follow the order given); 500 ranges are allowed.
  EXPECT_EQ(job3->AddFileWithRanges(url, path.c_str(), 2, unsorted), S_OK);
  EXPECT_EQ(dojob->AddFileWithRanges(L"id", url, local("many").c_str(), 500, many.data(),
                                     DO_UNKNOWN_FILE_SIZE),
            S_OK);
  // No ranges at all is the whole file for IDeliveryOptimizationJob.
  EXPECT_EQ(dojob->AddFileWithRanges(nullptr, url, local("whole").c_str(), 0, nullptr,
                                     DO_UNKNOWN_FILE_SIZE),
            S_OK);
  ASSERT_EQ(job->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.FilesTotal, 3U);
}

TEST_F(CompatJob, AddFileWithRangesTransfersOnlyTheRangesAndGetFileRangesReportsThem) {
  origin.make_random_file("src.bin", 1 << 20, 21);
  com_ptr<IBackgroundCopyJob3> job3 = as<IBackgroundCopyJob3>(job.get());
  ASSERT_TRUE(job3);
  const std::wstring url = wide(origin.url("src.bin"));
  // BITS's example: remote bytes 100-199, 900-999 and 400-499 make a 300-byte local file.
  BG_FILE_RANGE ranges[3] = {{100, 100}, {900, 100}, {400, 100}};
  ASSERT_EQ(job3->AddFileWithRanges(url.c_str(), local("part.bin").c_str(), 3, ranges), S_OK);

  IEnumBackgroundCopyFiles* files = nullptr;
  ASSERT_EQ(job->EnumFiles(&files), S_OK);
  IBackgroundCopyFile* raw_file = nullptr;
  ASSERT_EQ(files->Next(1, &raw_file, nullptr), S_OK);
  files->Release();
  auto file = com_ptr<IBackgroundCopyFile>::adopt(raw_file);
  com_ptr<IBackgroundCopyFile2> file2 = as<IBackgroundCopyFile2>(file.get());
  ASSERT_TRUE(file2);
  DWORD count = 0;
  BG_FILE_RANGE* got = nullptr;
  ASSERT_EQ(file2->GetFileRanges(&count, &got), S_OK);
  ASSERT_EQ(count, 3U);
  ASSERT_NE(got, nullptr);
  for (DWORD i = 0; i < count; ++i) {
    EXPECT_EQ(got[i].InitialOffset, ranges[i].InitialOffset);
    EXPECT_EQ(got[i].Length, ranges[i].Length);
  }
  CoTaskMemFree(got);
  EXPECT_EQ(file2->GetFileRanges(nullptr, &got), E_POINTER);

  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  BG_FILE_PROGRESS progress{};
  ASSERT_EQ(file->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.BytesTotal, 300U);
  EXPECT_EQ(progress.BytesTransferred, 300U);
  ASSERT_EQ(job->Complete(), S_OK);
  EXPECT_EQ(opendo::test::read_file(out / "part.bin"),
            opendo::test::random_bytes(21, 100, 100) + opendo::test::random_bytes(21, 900, 100) +
                opendo::test::random_bytes(21, 400, 100));
}

TEST_F(CompatJob, WindowsOnlyFeaturesAcceptWhatOpendoDoes) {
  com_ptr<IBackgroundCopyJob5> job5 = as<IBackgroundCopyJob5>(job.get());
  ASSERT_TRUE(job5);
  DWORD flags = 1;
  EXPECT_EQ(job5->SetFileACLFlags(0), S_OK);
  EXPECT_EQ(job5->SetFileACLFlags(BG_COPY_FILE_OWNER), E_NOTIMPL);
  EXPECT_EQ(job5->SetFileACLFlags(0x100), E_INVALIDARG);
  EXPECT_EQ(job5->GetFileACLFlags(&flags), S_OK);
  EXPECT_EQ(flags, 0U);

  ULONG level = 0;
  EXPECT_EQ(job5->GetOwnerIntegrityLevel(&level), S_OK);
  EXPECT_EQ(level, ::geteuid() == 0 ? 0x3000U : 0x2000U);
  BOOL elevated = 2;
  EXPECT_EQ(job5->GetOwnerElevationState(&elevated), S_OK);
  EXPECT_EQ(elevated, ::geteuid() == 0 ? TRUE : FALSE);

  BITS_JOB_PROPERTY_VALUE value{};
  value.Dword = BITS_COST_STATE_TRANSFER_ALWAYS;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_ID_COST_FLAGS, value), S_OK);
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_ID_COST_FLAGS, &value), S_OK);
  EXPECT_EQ(value.Dword, static_cast<DWORD>(BITS_COST_STATE_TRANSFER_ALWAYS));
  // The cost flags are the job's (docs/compat.md): each documented policy is kept and read back;
  // bits outside the BITS_COST_STATE_* and BITS_COST_OPTION_* flags are E_INVALIDARG.
  for (const DWORD flags :
       {static_cast<DWORD>(BITS_COST_STATE_TRANSFER_UNRESTRICTED),
        static_cast<DWORD>(BITS_COST_STATE_TRANSFER_STANDARD),
        static_cast<DWORD>(BITS_COST_STATE_TRANSFER_NO_SURCHARGE),
        static_cast<DWORD>(BITS_COST_STATE_TRANSFER_NOT_ROAMING),
        static_cast<DWORD>(BITS_COST_STATE_USAGE_BASED | BITS_COST_STATE_UNRESTRICTED)}) {
    value.Dword = flags;
    EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_ID_COST_FLAGS, value), S_OK);
    value.Dword = 0;
    ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_ID_COST_FLAGS, &value), S_OK);
    EXPECT_EQ(value.Dword, flags);
    EXPECT_EQ(modern_info().cost_flags, flags);
  }
  value.Dword = BITS_COST_STATE_RESERVED;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_ID_COST_FLAGS, value), E_INVALIDARG);
  value.Dword = BITS_COST_STATE_TRANSFER_ALWAYS;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_ID_COST_FLAGS, value), S_OK);
  value.Enable = TRUE;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_DYNAMIC_CONTENT, value), S_OK);
  value.Enable = FALSE;
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_DYNAMIC_CONTENT, &value), S_OK);
  EXPECT_EQ(value.Enable, TRUE);
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_HIGH_PERFORMANCE, &value), S_OK);
  EXPECT_EQ(value.Enable, FALSE);  // the default
  value.Enable = TRUE;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_HIGH_PERFORMANCE, value), S_OK);
  value.Enable = FALSE;
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_HIGH_PERFORMANCE, &value), S_OK);
  EXPECT_EQ(value.Enable, TRUE);
  value.Enable = FALSE;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_HIGH_PERFORMANCE, value), S_OK);
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_HIGH_PERFORMANCE, &value), S_OK);
  EXPECT_EQ(value.Enable, FALSE);
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_NOTIFICATION_CLSID, &value), S_OK);
  EXPECT_EQ(value.ClsID, GUID_NULL);
  value.ClsID = CLSID_BackgroundCopyManager;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_NOTIFICATION_CLSID, value), E_NOTIMPL);
  EXPECT_EQ(job5->SetProperty(static_cast<BITS_JOB_PROPERTY_ID>(6), value), E_INVALIDARG);
  EXPECT_EQ(job5->GetProperty(static_cast<BITS_JOB_PROPERTY_ID>(99), &value), E_INVALIDARG);
}

// SetPeerCachingFlags / GetPeerCachingFlags (docs/peers.md): 0 until set, as on Windows; every
// combination of the three flags is kept, by this process and as another client sees it; other
// bits are E_INVALIDARG and change nothing.
TEST_F(CompatJob, PeerCachingFlagsRoundTrip) {
  com_ptr<IBackgroundCopyJob5> job5 = as<IBackgroundCopyJob5>(job.get());
  ASSERT_TRUE(job5);
  DWORD flags = 1;
  ASSERT_EQ(job5->GetPeerCachingFlags(&flags), S_OK);
  EXPECT_EQ(flags, 0U);
  EXPECT_FALSE(modern_info().peer_caching_flags.has_value()) << "never set";
  for (DWORD set = 0; set <= 7; ++set) {
    SCOPED_TRACE(set);
    ASSERT_EQ(job5->SetPeerCachingFlags(set), S_OK);
    ASSERT_EQ(job5->GetPeerCachingFlags(&flags), S_OK);
    EXPECT_EQ(flags, set);
    EXPECT_EQ(modern_info().peer_caching_flags, set);
  }
  ASSERT_EQ(job5->SetPeerCachingFlags(BG_JOB_ENABLE_PEERCACHING_CLIENT |
                                      BG_JOB_ENABLE_PEERCACHING_SERVER),
            S_OK);
  for (const DWORD bad : {0x8UL, 0x80UL, 0xFUL, 0x80000000UL}) {
    EXPECT_EQ(job5->SetPeerCachingFlags(bad), E_INVALIDARG);
  }
  ASSERT_EQ(job5->GetPeerCachingFlags(&flags), S_OK);
  EXPECT_EQ(flags, static_cast<DWORD>(BG_JOB_ENABLE_PEERCACHING_CLIENT |
                                      BG_JOB_ENABLE_PEERCACHING_SERVER));
}

TEST_F(CompatJob, LimitsRoundTripWithTheDocumentedCodes) {
  com_ptr<IBackgroundCopyJob5> job5 = as<IBackgroundCopyJob5>(job.get());
  ASSERT_TRUE(job5);
  // IBackgroundCopyJob4::Set/GetMaximumDownloadTime: 90 days by default, as on Windows.
  ULONG timeout = 1;
  ASSERT_EQ(job5->GetMaximumDownloadTime(&timeout), S_OK);
  EXPECT_EQ(timeout, 7776000U);
  EXPECT_EQ(job5->SetMaximumDownloadTime(3600), S_OK);
  ASSERT_EQ(job5->GetMaximumDownloadTime(&timeout), S_OK);
  EXPECT_EQ(timeout, 3600U);
  EXPECT_EQ(job5->SetMaximumDownloadTime(0), S_OK);  // no limit
  ASSERT_EQ(job5->GetMaximumDownloadTime(&timeout), S_OK);
  EXPECT_EQ(timeout, 0U);
  EXPECT_EQ(job5->SetMaximumDownloadTime(0xFFFFFFFFU), S_OK);
  ASSERT_EQ(job5->GetMaximumDownloadTime(&timeout), S_OK);
  EXPECT_EQ(timeout, 0xFFFFFFFFU);

  // BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS: 500 ms by default, as on Windows.
  BITS_JOB_PROPERTY_VALUE value{};
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS, &value), S_OK);
  EXPECT_EQ(value.Dword, 500U);
  value.Dword = 2000;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS, value), S_OK);
  value = {};
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS, &value), S_OK);
  EXPECT_EQ(value.Dword, 2000U);

  // BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE: none by default; only before the first Resume.
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE, &value), S_OK);
  EXPECT_EQ(value.Uint64, 0U);
  value.Uint64 = 0x100000000ULL;  // more than 32 bits
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE, value), S_OK);
  value = {};
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE, &value), S_OK);
  EXPECT_EQ(value.Uint64, 0x100000000ULL);
  origin.make_random_file("limits.bin", 1000, 1);
  const std::wstring url = wide(origin.url("limits.bin"));
  const std::wstring path = local("limits.bin");
  ASSERT_EQ(job->AddFile(url.c_str(), path.c_str()), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  value.Uint64 = 10;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE, value),
            BG_E_READ_ONLY_PROPERTY_AFTER_RESUME);
  ASSERT_EQ(job5->GetProperty(BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE, &value), S_OK);
  EXPECT_EQ(value.Uint64, 0x100000000ULL);
  // The others may change at any time until the job is final.
  EXPECT_EQ(job5->SetMaximumDownloadTime(60), S_OK);
  value.Dword = 100;
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS, value), S_OK);
  ASSERT_EQ(job->Cancel(), S_OK);
  EXPECT_EQ(job5->SetMaximumDownloadTime(60), BG_E_INVALID_STATE);
  EXPECT_EQ(job5->SetProperty(BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS, value),
            BG_E_INVALID_STATE);
  ASSERT_EQ(job5->GetMaximumDownloadTime(&timeout), S_OK);  // a final job still answers
  EXPECT_EQ(timeout, 60U);
}

TEST_F(CompatJob, MaximumDownloadTimePutsASlowJobInError) {
  opendo::test::nginx_options slow;
  slow.limit_rate = 256 << 10;
  opendo::test::nginx_server slow_origin(slow);
  slow_origin.make_random_file("slow.bin", 8 << 20, 2);
  com_ptr<IBackgroundCopyJob4> job4 = as<IBackgroundCopyJob4>(job.get());
  ASSERT_TRUE(job4);
  ASSERT_EQ(job4->SetMaximumDownloadTime(1), S_OK);
  const std::wstring url = wide(slow_origin.url("slow.bin"));
  const std::wstring path = local("slow.bin");
  ASSERT_EQ(job->AddFile(url.c_str(), path.c_str()), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_ERROR), BG_JOB_STATE_ERROR) << daemon.log();
  IBackgroundCopyError* raw_error = nullptr;
  ASSERT_EQ(job->GetError(&raw_error), S_OK);
  ASSERT_NE(raw_error, nullptr);
  auto error = com_ptr<IBackgroundCopyError>::adopt(raw_error);
  BG_ERROR_CONTEXT context{};
  HRESULT code = S_OK;
  ASSERT_EQ(error->GetError(&context, &code), S_OK);
  EXPECT_EQ(code, BG_E_MAXDOWNLOAD_TIMEOUT);
  EXPECT_EQ(context, BG_ERROR_CONTEXT_GENERAL_QUEUE_MANAGER);
  IBackgroundCopyFile* file = reinterpret_cast<IBackgroundCopyFile*>(1);
  EXPECT_EQ(error->GetFile(&file), BG_E_FILE_NOT_AVAILABLE);
  EXPECT_EQ(file, nullptr);
  EXPECT_EQ(job->Complete(), BG_S_PARTIAL_COMPLETE);
  EXPECT_FALSE(fs::exists(out / "slow.bin"));
}

// TakeOwnership is for administrators; root is one. It clears the notify command, which would
// otherwise run as the new owner with the old owner's choice.
TEST_F(CompatJob, TakeOwnershipIsForAdministrators) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (an administrator)";
  com_ptr<IBackgroundCopyJob2> job2 = as<IBackgroundCopyJob2>(job.get());
  ASSERT_EQ(job2->SetNotifyCmdLine(L"/bin/true", nullptr), S_OK);
  EXPECT_EQ(job->TakeOwnership(), S_OK);
  LPWSTR owner = nullptr;
  ASSERT_EQ(job->GetOwner(&owner), S_OK);
  EXPECT_EQ(take(owner), "S-1-22-1-0");
  LPWSTR program = reinterpret_cast<LPWSTR>(0x1);
  LPWSTR parameters = nullptr;
  ASSERT_EQ(job2->GetNotifyCmdLine(&program, &parameters), S_OK);
  EXPECT_EQ(program, nullptr);
}
