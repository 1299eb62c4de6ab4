// A BITS download written the way Microsoft's BITS samples are written, built on Linux against
// opendo with only the include lines changed: create a job, add a file, register a callback whose
// JobTransferred completes the job, resume it, and poll its state and progress until it is done.
//
//   bits_download URL LOCAL_PATH
//
// The daemon is the user's own opendod (started if none runs), or the one at $OPENDO_SOCKET.
// Build: g++ -std=c++20 $(pkg-config --cflags opendo) bits_download.cpp $(pkg-config --libs opendo)
#include <windows.h>

#include <bits.h>

#include <chrono>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

// Win32's Sleep is not part of opendo's COM shim; the standard library does the same.
static void Sleep(DWORD dwMilliseconds) {
  std::this_thread::sleep_for(std::chrono::milliseconds(dwMilliseconds));
}

static const char* JobStates[] = {"QUEUED",      "CONNECTING",   "TRANSFERRING",
                                  "SUSPENDED",   "ERROR",        "TRANSIENT_ERROR",
                                  "TRANSFERRED", "ACKNOWLEDGED", "CANCELLED"};

// The notification callback. `final` because Release deletes the object: GCC warns about
// `delete this` in a polymorphic class whose destructor is not virtual (MSVC does not).
class CNotifyInterface final : public IBackgroundCopyCallback {
  LONG m_lRefCount;
  LONG m_lTransferred;

 public:
  CNotifyInterface() : m_lRefCount(1), m_lTransferred(0) {}
  ~CNotifyInterface() {}

  // IUnknown
  HRESULT __stdcall QueryInterface(REFIID riid, LPVOID* ppvObj);
  ULONG __stdcall AddRef();
  ULONG __stdcall Release();

  // IBackgroundCopyCallback
  HRESULT __stdcall JobTransferred(IBackgroundCopyJob* pJob);
  HRESULT __stdcall JobError(IBackgroundCopyJob* pJob, IBackgroundCopyError* pError);
  HRESULT __stdcall JobModification(IBackgroundCopyJob* pJob, DWORD dwReserved);

  BOOL Transferred() { return InterlockedCompareExchange(&m_lTransferred, 0, 0) != 0; }
};

HRESULT CNotifyInterface::QueryInterface(REFIID riid, LPVOID* ppvObj) {
  if (ppvObj == NULL) return E_POINTER;
  *ppvObj = NULL;
  if (IsEqualIID(riid, __uuidof(IUnknown)) || IsEqualIID(riid, __uuidof(IBackgroundCopyCallback))) {
    *ppvObj = this;
  }
  if (NULL != *ppvObj) {
    AddRef();
    return NOERROR;
  }
  return E_NOINTERFACE;
}

ULONG CNotifyInterface::AddRef() {
  return InterlockedIncrement(&m_lRefCount);
}

ULONG CNotifyInterface::Release() {
  ULONG ulCount = InterlockedDecrement(&m_lRefCount);
  if (0 == ulCount) {
    delete this;
  }
  return ulCount;
}

HRESULT CNotifyInterface::JobTransferred(IBackgroundCopyJob* pJob) {
  HRESULT hr;

  // Keep this short: it runs on the notification thread. Complete makes the file appear under
  // its final name.
  hr = pJob->Complete();
  if (FAILED(hr)) {
    std::printf("JobTransferred: Complete failed, 0x%08X\n", static_cast<unsigned>(hr));
  } else {
    std::printf("JobTransferred: job completed%s\n",
                hr == BG_S_PARTIAL_COMPLETE ? " (partially)" : "");
    InterlockedExchange(&m_lTransferred, 1);
  }

  // Anything but S_OK and the service calls again later.
  return S_OK;
}

HRESULT CNotifyInterface::JobError(IBackgroundCopyJob* pJob, IBackgroundCopyError* pError) {
  HRESULT hr;
  BG_ERROR_CONTEXT Context;
  HRESULT ErrorCode = S_OK;
  WCHAR* pszJobName = NULL;
  WCHAR* pszErrorDescription = NULL;

  hr = pError->GetError(&Context, &ErrorCode);
  if (SUCCEEDED(hr)) {
    pJob->GetDisplayName(&pszJobName);
    pError->GetErrorDescription(LANGIDFROMLCID(GetThreadLocale()), &pszErrorDescription);
    if (pszJobName && pszErrorDescription) {
      std::printf("JobError: %ls failed (context %d, 0x%08X): %ls\n", pszJobName,
                  static_cast<int>(Context), static_cast<unsigned>(ErrorCode), pszErrorDescription);
    }
    CoTaskMemFree(pszJobName);
    CoTaskMemFree(pszErrorDescription);
  }
  return S_OK;
}

HRESULT CNotifyInterface::JobModification(IBackgroundCopyJob* pJob, DWORD dwReserved) {
  (void)pJob;
  (void)dwReserved;
  return S_OK;
}

// argv is UTF-8 on Linux; BITS takes wide strings.
static std::wstring Widen(const char* text) {
  std::wstring out(std::mbstowcs(NULL, text, 0) + 1, L'\0');
  size_t length = std::mbstowcs(&out[0], text, out.size());
  out.resize(length == static_cast<size_t>(-1) ? 0 : length);
  return out;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s URL LOCAL_PATH\n", argv[0]);
    return 2;
  }
  std::setlocale(LC_ALL, "");
  const std::wstring RemoteUrl = Widen(argv[1]);
  const std::wstring LocalName = Widen(argv[2]);

  HRESULT hr;
  IBackgroundCopyManager* pQueueMgr = NULL;
  IBackgroundCopyJob* pJob = NULL;
  CNotifyInterface* pNotify = NULL;
  GUID JobId;
  BG_JOB_STATE State = BG_JOB_STATE_QUEUED;
  BG_JOB_STATE LastState = BG_JOB_STATE_CANCELLED;
  BG_JOB_PROGRESS Progress;
  int TransferredPolls = 0;
  int ExitCode = 1;

  hr = CoInitializeEx(NULL, COINIT_APARTMENTTHREADED);
  if (FAILED(hr)) {
    std::fprintf(stderr, "CoInitializeEx failed, 0x%08X\n", static_cast<unsigned>(hr));
    return 1;
  }

  hr = CoCreateInstance(__uuidof(BackgroundCopyManager), NULL, CLSCTX_LOCAL_SERVER,
                        __uuidof(IBackgroundCopyManager), (void**)&pQueueMgr);
  if (FAILED(hr)) {
    std::fprintf(stderr, "CoCreateInstance failed, 0x%08X\n", static_cast<unsigned>(hr));
    goto cleanup;
  }

  hr = pQueueMgr->CreateJob(L"opendo BITS sample", BG_JOB_TYPE_DOWNLOAD, &JobId, &pJob);
  if (FAILED(hr)) {
    std::fprintf(stderr, "CreateJob failed, 0x%08X\n", static_cast<unsigned>(hr));
    goto cleanup;
  }

  hr = pJob->AddFile(RemoteUrl.c_str(), LocalName.c_str());
  if (FAILED(hr)) {
    std::fprintf(stderr, "AddFile failed, 0x%08X\n", static_cast<unsigned>(hr));
    pJob->Cancel();
    goto cleanup;
  }

  // The job keeps its own reference to the callback; ours goes once it is registered.
  pNotify = new CNotifyInterface();
  hr = pJob->SetNotifyFlags(BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR);
  if (SUCCEEDED(hr)) hr = pJob->SetNotifyInterface(pNotify);
  if (FAILED(hr)) {
    std::fprintf(stderr, "SetNotifyInterface failed, 0x%08X\n", static_cast<unsigned>(hr));
  }

  hr = pJob->Resume();
  if (FAILED(hr)) {
    std::fprintf(stderr, "Resume failed, 0x%08X\n", static_cast<unsigned>(hr));
    pJob->Cancel();
    goto cleanup;
  }

  // Poll the state and progress, as a user interface would on a timer.
  do {
    Sleep(100);
    hr = pJob->GetState(&State);
    if (FAILED(hr)) {
      std::fprintf(stderr, "GetState failed, 0x%08X\n", static_cast<unsigned>(hr));
      goto cleanup;
    }
    if (State != LastState) {
      std::printf("state: %s\n", JobStates[State]);
      LastState = State;
    }
    if (BG_JOB_STATE_TRANSFERRING == State && SUCCEEDED(pJob->GetProgress(&Progress))) {
      std::printf("progress: %llu of %llu bytes\n",
                  static_cast<unsigned long long>(Progress.BytesTransferred),
                  static_cast<unsigned long long>(Progress.BytesTotal));
    } else if (BG_JOB_STATE_TRANSFERRED == State && ++TransferredPolls == 50) {
      // The callback completes the job; should it not come, complete it here.
      hr = pJob->Complete();
      std::printf("completed by the polling loop, 0x%08X\n", static_cast<unsigned>(hr));
    }
  } while (BG_JOB_STATE_ACKNOWLEDGED != State && BG_JOB_STATE_ERROR != State &&
           BG_JOB_STATE_CANCELLED != State);

  if (BG_JOB_STATE_ACKNOWLEDGED == State) {
    std::printf("saved %ls%s\n", LocalName.c_str(),
                pNotify->Transferred() ? " (completed in JobTransferred)" : "");
    ExitCode = 0;
  } else if (BG_JOB_STATE_ERROR == State) {
    IBackgroundCopyError* pError = NULL;
    WCHAR* pszDescription = NULL;
    if (SUCCEEDED(pJob->GetError(&pError))) {
      if (SUCCEEDED(
              pError->GetErrorDescription(LANGIDFROMLCID(GetThreadLocale()), &pszDescription))) {
        std::fprintf(stderr, "the download failed: %ls\n", pszDescription);
        CoTaskMemFree(pszDescription);
      }
      pError->Release();
    }
    pJob->Cancel();
  }

cleanup:
  if (pNotify) pNotify->Release();
  if (pJob) pJob->Release();
  if (pQueueMgr) pQueueMgr->Release();
  CoUninitialize();
  return ExitCode;
}
