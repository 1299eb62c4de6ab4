// IBackgroundCopyFile2, the enumerators (IEnumBackgroundCopyFiles, IEnumBackgroundCopyJobs) and
// IBackgroundCopyError against a real opendod and nginx: Next/Skip/Reset/Clone semantics, live
// file progress, GetError availability, and the ERROR -> SetRemoteName -> Resume recovery.
#include "compat/compat_fixture.hpp"
#include "compat/objects.hpp"

using namespace compat_test;

namespace {

class CompatFilesEnumsErrors : public CompatTransferTest {
 protected:
  void SetUp() override {
    CompatTransferTest::SetUp();
    manager = bits_manager();
    ASSERT_TRUE(manager);
    job = create_job(manager.get(), L"files");
    ASSERT_TRUE(job);
  }

  std::wstring local(const std::string& name) { return wide((out / name).string()); }

  std::string local_name(IBackgroundCopyFile* file) {
    LPWSTR name = nullptr;
    EXPECT_EQ(file->GetLocalName(&name), S_OK);
    return take(name);
  }

  void add(const std::string& name) {
    const std::wstring url = wide(origin.url(name));
    const std::wstring path = local(name);
    ASSERT_EQ(job->AddFile(url.c_str(), path.c_str()), S_OK);
  }

  com_ptr<IBackgroundCopyManager> manager;
  com_ptr<IBackgroundCopyJob> job;
};

}  // namespace

TEST_F(CompatFilesEnumsErrors, FileEnumeratorFollowsComRules) {
  for (const char* name : {"f0", "f1", "f2"}) add(name);
  IEnumBackgroundCopyFiles* files = nullptr;
  ASSERT_EQ(job->EnumFiles(&files), S_OK);
  ULONG count = 0;
  EXPECT_EQ(files->GetCount(&count), S_OK);
  EXPECT_EQ(count, 3U);
  EXPECT_EQ(files->GetCount(nullptr), E_POINTER);

  IBackgroundCopyFile* batch[3] = {};
  ULONG fetched = 99;
  // pceltFetched may be NULL only for one element at a time.
  EXPECT_EQ(files->Next(2, batch, nullptr), E_INVALIDARG);
  EXPECT_EQ(files->Next(1, nullptr, &fetched), E_POINTER);
  ASSERT_EQ(files->Next(1, batch, nullptr), S_OK);
  EXPECT_EQ(local_name(batch[0]), (out / "f0").string());
  batch[0]->Release();

  IEnumBackgroundCopyFiles* clone = nullptr;
  ASSERT_EQ(files->Clone(&clone), S_OK);
  EXPECT_EQ(files->Clone(nullptr), E_POINTER);

  // Fewer left than asked: S_FALSE with what there was.
  ASSERT_EQ(files->Next(3, batch, &fetched), S_FALSE);
  ASSERT_EQ(fetched, 2U);
  EXPECT_EQ(local_name(batch[0]), (out / "f1").string());
  EXPECT_EQ(local_name(batch[1]), (out / "f2").string());
  batch[0]->Release();
  batch[1]->Release();
  EXPECT_EQ(files->Next(1, batch, &fetched), S_FALSE);
  EXPECT_EQ(fetched, 0U);

  // The clone kept the position it was made at, and moves on its own.
  ASSERT_EQ(clone->Next(1, batch, &fetched), S_OK);
  EXPECT_EQ(fetched, 1U);
  EXPECT_EQ(local_name(batch[0]), (out / "f1").string());
  batch[0]->Release();

  EXPECT_EQ(files->Reset(), S_OK);
  EXPECT_EQ(files->Skip(2), S_OK);
  ASSERT_EQ(files->Next(1, batch, nullptr), S_OK);
  EXPECT_EQ(local_name(batch[0]), (out / "f2").string());
  batch[0]->Release();
  EXPECT_EQ(files->Reset(), S_OK);
  EXPECT_EQ(files->Skip(4), S_FALSE);  // past the end
  EXPECT_EQ(files->Next(1, batch, nullptr), S_FALSE);
  EXPECT_EQ(files->Skip(0), S_OK);

  // A snapshot: files added later are not in it.
  add("f3");
  EXPECT_EQ(files->GetCount(&count), S_OK);
  EXPECT_EQ(count, 3U);

  EXPECT_EQ(clone->Release(), 0U);
  EXPECT_EQ(files->Release(), 0U);
}

TEST_F(CompatFilesEnumsErrors, JobEnumeratorFollowsComRules) {
  com_ptr<IBackgroundCopyJob> second = create_job(manager.get(), L"second");
  IEnumBackgroundCopyJobs* jobs = nullptr;
  ASSERT_EQ(manager->EnumJobs(0, &jobs), S_OK);
  IBackgroundCopyJob* batch[2] = {};
  ULONG fetched = 0;
  EXPECT_EQ(jobs->Next(2, batch, nullptr), E_INVALIDARG);
  ASSERT_EQ(jobs->Next(2, batch, &fetched), S_OK);
  EXPECT_EQ(fetched, 2U);
  batch[0]->Release();
  batch[1]->Release();
  EXPECT_EQ(jobs->Next(1, batch, &fetched), S_FALSE);
  EXPECT_EQ(jobs->Skip(1), S_FALSE);
  EXPECT_EQ(jobs->Reset(), S_OK);
  EXPECT_EQ(jobs->Skip(1), S_OK);
  IEnumBackgroundCopyJobs* clone = nullptr;
  ASSERT_EQ(jobs->Clone(&clone), S_OK);
  ASSERT_EQ(clone->Next(1, batch, &fetched), S_OK);
  EXPECT_EQ(fetched, 1U);
  batch[0]->Release();
  EXPECT_EQ(clone->Next(1, batch, &fetched), S_FALSE);
  clone->Release();
  jobs->Release();
}

TEST_F(CompatFilesEnumsErrors, FileObjectsReadTheFileLive) {
  const std::string digest = origin.make_random_file("live.bin", 200000, 5);
  add("live.bin");
  IEnumBackgroundCopyFiles* files = nullptr;
  ASSERT_EQ(job->EnumFiles(&files), S_OK);
  IBackgroundCopyFile* file = nullptr;
  ASSERT_EQ(files->Next(1, &file, nullptr), S_OK);
  files->Release();

  LPWSTR remote = nullptr;
  ASSERT_EQ(file->GetRemoteName(&remote), S_OK);
  EXPECT_EQ(take(remote), origin.url("live.bin"));
  BG_FILE_PROGRESS progress{};
  ASSERT_EQ(file->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.BytesTransferred, 0U);
  EXPECT_EQ(progress.Completed, FALSE);

  IBackgroundCopyFile2* file2 = nullptr;
  ASSERT_EQ(file->QueryInterface(IID_IBackgroundCopyFile2, reinterpret_cast<void**>(&file2)), S_OK);
  DWORD count = 7;
  BG_FILE_RANGE* ranges = reinterpret_cast<BG_FILE_RANGE*>(0x1);
  EXPECT_EQ(file2->GetFileRanges(&count, &ranges), S_OK);
  EXPECT_EQ(count, 0U);
  EXPECT_EQ(ranges, nullptr);
  EXPECT_EQ(file2->SetRemoteName(nullptr), E_INVALIDARG);

  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  ASSERT_EQ(file->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.BytesTotal, 200000U);
  EXPECT_EQ(progress.BytesTransferred, 200000U);
  EXPECT_EQ(progress.Completed, TRUE);
  // A transferred file may be renamed (BITS allows it in every active state) and keeps its bytes.
  EXPECT_EQ(file2->SetRemoteName(L"http://127.0.0.1:1/other"), S_OK);
  ASSERT_EQ(file->GetRemoteName(&remote), S_OK);
  EXPECT_EQ(take(remote), "http://127.0.0.1:1/other");
  file2->Release();
  EXPECT_EQ(file->Release(), 0U);
  EXPECT_EQ(job->Complete(), S_OK);
  EXPECT_EQ(opendo::test::sha256_file(out / "live.bin"), digest);
}

// IBackgroundCopyFile3 and 4 on a file from the origin alone: the temporary file, the peer
// figures, and validation. A rejected copy puts the job in ERROR with BG_E_VALIDATION_FAILED and
// zero progress; Resume fetches it again, and Complete delivers the good copy.
TEST_F(CompatFilesEnumsErrors, File3And4TellTheTemporaryFileThePeerFiguresAndValidation) {
  const std::string digest = origin.make_random_file("judged.bin", 300000, 9);
  add("judged.bin");
  IEnumBackgroundCopyFiles* files = nullptr;
  ASSERT_EQ(job->EnumFiles(&files), S_OK);
  IBackgroundCopyFile* file = nullptr;
  ASSERT_EQ(files->Next(1, &file, nullptr), S_OK);
  files->Release();
  IBackgroundCopyFile4* file4 = nullptr;
  ASSERT_EQ(file->QueryInterface(IID_PPV_ARGS(&file4)), S_OK);
  IBackgroundCopyFile3* file3 = nullptr;
  ASSERT_EQ(file->QueryInterface(IID_PPV_ARGS(&file3)), S_OK);
  EXPECT_EQ(static_cast<IUnknown*>(file3), static_cast<IUnknown*>(file4));
  file3->Release();

  // Not transferred yet: nothing to judge.
  EXPECT_EQ(file4->SetValidationState(TRUE), E_PENDING);
  EXPECT_EQ(file4->GetTemporaryName(nullptr), E_POINTER);
  EXPECT_EQ(file4->GetPeerDownloadStats(nullptr, nullptr), E_POINTER);
  LPWSTR text = nullptr;
  ASSERT_EQ(file4->GetTemporaryName(&text), S_OK);
  const std::filesystem::path temp = take(text);
  EXPECT_EQ(temp.parent_path(), out.path());
  EXPECT_NE(temp, out / "judged.bin");

  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  // Until Complete the bytes are in the temporary file, under the name GetTemporaryName gave.
  EXPECT_EQ(opendo::test::sha256_file(temp), digest);
  EXPECT_FALSE(std::filesystem::exists(out / "judged.bin"));
  UINT64 from_origin = 1, from_peers = 1;
  ASSERT_EQ(file4->GetPeerDownloadStats(&from_origin, &from_peers), S_OK);
  EXPECT_EQ(from_origin, 300000U);
  EXPECT_EQ(from_peers, 0U);
  BOOL flag = TRUE;
  ASSERT_EQ(file4->IsDownloadedFromPeer(&flag), S_OK);
  EXPECT_EQ(flag, FALSE);
  ASSERT_EQ(file4->GetValidationState(&flag), S_OK);
  EXPECT_EQ(flag, FALSE);
  ASSERT_EQ(file4->SetValidationState(TRUE), S_OK);
  ASSERT_EQ(file4->GetValidationState(&flag), S_OK);
  EXPECT_EQ(flag, TRUE);

  // The application changes its mind: the copy came from the origin, so the job fails.
  ASSERT_EQ(file4->SetValidationState(FALSE), S_OK);
  BG_JOB_STATE state{};
  ASSERT_EQ(job->GetState(&state), S_OK);
  EXPECT_EQ(state, BG_JOB_STATE_ERROR);
  IBackgroundCopyError* error = nullptr;
  ASSERT_EQ(job->GetError(&error), S_OK);
  BG_ERROR_CONTEXT context = BG_ERROR_CONTEXT_NONE;
  HRESULT code = S_OK;
  ASSERT_EQ(error->GetError(&context, &code), S_OK);
  EXPECT_EQ(code, BG_E_VALIDATION_FAILED);
  EXPECT_EQ(context, BG_ERROR_CONTEXT_REMOTE_FILE);
  error->Release();
  BG_FILE_PROGRESS progress{};
  ASSERT_EQ(file4->GetProgress(&progress), S_OK);
  EXPECT_EQ(progress.BytesTransferred, 0U);
  EXPECT_EQ(progress.Completed, FALSE);
  ASSERT_EQ(file4->GetValidationState(&flag), S_OK);
  EXPECT_EQ(flag, FALSE);
  EXPECT_EQ(file4->SetValidationState(TRUE), E_PENDING);

  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  ASSERT_EQ(file4->GetPeerDownloadStats(&from_origin, &from_peers), S_OK);
  EXPECT_EQ(from_origin, 600000U);  // fetched twice
  EXPECT_EQ(from_peers, 0U);
  EXPECT_EQ(file4->Release(), 1U);
  EXPECT_EQ(file->Release(), 0U);
  EXPECT_EQ(job->Complete(), S_OK);
  EXPECT_EQ(opendo::test::sha256_file(out / "judged.bin"), digest);
  EXPECT_FALSE(std::filesystem::exists(temp));
}

TEST_F(CompatFilesEnumsErrors, ErrorInformationExistsInErrorStatesOnly) {
  add("missing.bin");
  IBackgroundCopyError* error = reinterpret_cast<IBackgroundCopyError*>(0x1);
  EXPECT_EQ(job->GetError(&error), BG_E_ERROR_INFORMATION_UNAVAILABLE);
  EXPECT_EQ(error, nullptr);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_ERROR), BG_JOB_STATE_ERROR) << daemon.log();

  ASSERT_EQ(job->GetError(&error), S_OK);
  ASSERT_NE(error, nullptr);
  BG_ERROR_CONTEXT context = BG_ERROR_CONTEXT_NONE;
  HRESULT code = S_OK;
  EXPECT_EQ(error->GetError(nullptr, &code), E_POINTER);
  ASSERT_EQ(error->GetError(&context, &code), S_OK);
  EXPECT_EQ(context, BG_ERROR_CONTEXT_REMOTE_FILE);
  EXPECT_EQ(code, BG_E_HTTP_ERROR_404);

  IBackgroundCopyFile* file = nullptr;
  ASSERT_EQ(error->GetFile(&file), S_OK);
  ASSERT_NE(file, nullptr);
  LPWSTR remote = nullptr;
  ASSERT_EQ(file->GetRemoteName(&remote), S_OK);
  EXPECT_EQ(take(remote), origin.url("missing.bin"));
  file->Release();

  LPWSTR text = nullptr;
  ASSERT_EQ(error->GetErrorDescription(LANG_USER_DEFAULT, &text), S_OK);
  const std::string description = take(text);
  EXPECT_NE(description.find(opendo::describe(0x80190194U)), std::string::npos) << description;
  ASSERT_EQ(error->GetErrorContextDescription(LANG_USER_DEFAULT, &text), S_OK);
  EXPECT_FALSE(take(text).empty());
  ASSERT_EQ(error->GetProtocol(&text), S_OK);
  EXPECT_EQ(take(text), "http");
  EXPECT_EQ(error->Release(), 0U);

  ULONG errors = 0;
  EXPECT_EQ(job->GetErrorCount(&errors), S_OK);
  EXPECT_GE(errors, 1U);

  // The application fixes the job and resumes it: the error goes away with the state.
  origin.make_random_file("present.bin", 1000, 1);
  IEnumBackgroundCopyFiles* files = nullptr;
  ASSERT_EQ(job->EnumFiles(&files), S_OK);
  ASSERT_EQ(files->Next(1, &file, nullptr), S_OK);
  files->Release();
  IBackgroundCopyFile2* file2 = nullptr;
  ASSERT_EQ(file->QueryInterface(IID_PPV_ARGS(&file2)), S_OK);
  file->Release();
  const std::wstring fixed = wide(origin.url("present.bin"));
  EXPECT_EQ(file2->SetRemoteName(fixed.c_str()), S_OK);
  file2->Release();
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSFERRED), BG_JOB_STATE_TRANSFERRED);
  EXPECT_EQ(job->GetError(&error), BG_E_ERROR_INFORMATION_UNAVAILABLE);
  EXPECT_EQ(job->Complete(), S_OK);
}

TEST_F(CompatFilesEnumsErrors, ConnectionFailuresAreTransient) {
  const std::wstring path = local("refused.bin");
  ASSERT_EQ(job->AddFile(L"http://127.0.0.1:1/refused.bin", path.c_str()), S_OK);
  ASSERT_EQ(job->Resume(), S_OK);
  ASSERT_EQ(wait_for(job.get(), BG_JOB_STATE_TRANSIENT_ERROR), BG_JOB_STATE_TRANSIENT_ERROR);
  IBackgroundCopyError* error = nullptr;
  ASSERT_EQ(job->GetError(&error), S_OK);
  BG_ERROR_CONTEXT context = BG_ERROR_CONTEXT_NONE;
  HRESULT code = S_OK;
  ASSERT_EQ(error->GetError(&context, &code), S_OK);
  EXPECT_EQ(context, BG_ERROR_CONTEXT_GENERAL_TRANSPORT);
  EXPECT_EQ(code, static_cast<HRESULT>(0x80072EFDU));
  error->Release();
  EXPECT_EQ(job->Cancel(), S_OK);
}

// An error that involves no file: GetFile says so, and its out-parameter is NULL.
TEST_F(CompatFilesEnumsErrors, AnErrorWithoutAFileHasNoFile) {
  GUID id{};
  ASSERT_EQ(job->GetId(&id), S_OK);
  opendo::client client = modern();
  opendo::job handle = client.open_job(guid_text(id));
  opendo::job_error without_file;
  without_file.code = 0x80200010U;  // BG_E_NETWORK_DISCONNECTED
  without_file.context = opendo::error_context::general_queue_manager;
  com_ptr<IBackgroundCopyError> error = opendo::compat::make_error(handle, without_file);
  IBackgroundCopyFile* file = reinterpret_cast<IBackgroundCopyFile*>(0x1);
  EXPECT_EQ(error->GetFile(&file), BG_E_FILE_NOT_AVAILABLE);
  EXPECT_EQ(file, nullptr);
  LPWSTR protocol = reinterpret_cast<LPWSTR>(0x1);
  EXPECT_EQ(error->GetProtocol(&protocol), static_cast<HRESULT>(0x80200005U));
  EXPECT_EQ(protocol, nullptr);
  LPWSTR text = nullptr;
  ASSERT_EQ(error->GetErrorDescription(0, &text), S_OK);
  EXPECT_EQ(take(text), opendo::describe(0x80200010U));
}
