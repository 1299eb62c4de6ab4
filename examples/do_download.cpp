// A Delivery Optimization download written the way Windows samples are written, built on Linux
// against opendo with only the include lines changed: create a download, set its properties as
// VARIANTs, watch it through IDODownloadStatusCallback and GetStatus, and finalize it.
//
//   do_download URL LOCAL_PATH
//
// The daemon is the user's own opendod (started if none runs), or the one at $OPENDO_SOCKET.
// Build: g++ -std=c++20 $(pkg-config --cflags opendo) do_download.cpp $(pkg-config --libs opendo)
#include <windows.h>

#include <deliveryoptimization.h>

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

static const char* DownloadStates[] = {"Created",   "Transferring", "Transferred",
                                       "Finalized", "Aborted",      "Paused"};

// The status callback. `final` because Release deletes the object (see bits_download.cpp).
class CDownloadCallback final : public IDODownloadStatusCallback {
  LONG m_lRefCount;
  LONG m_lCalls;

 public:
  CDownloadCallback() : m_lRefCount(1), m_lCalls(0) {}
  ~CDownloadCallback() {}

  // IUnknown
  HRESULT __stdcall QueryInterface(REFIID riid, LPVOID* ppvObj);
  ULONG __stdcall AddRef();
  ULONG __stdcall Release();

  // IDODownloadStatusCallback
  HRESULT __stdcall OnStatusChange(IDODownload* download, const DO_DOWNLOAD_STATUS* status);

  LONG Calls() { return InterlockedCompareExchange(&m_lCalls, 0, 0); }
};

HRESULT CDownloadCallback::QueryInterface(REFIID riid, LPVOID* ppvObj) {
  if (ppvObj == NULL) return E_POINTER;
  *ppvObj = NULL;
  if (IsEqualIID(riid, __uuidof(IUnknown)) ||
      IsEqualIID(riid, __uuidof(IDODownloadStatusCallback))) {
    *ppvObj = this;
  }
  if (NULL != *ppvObj) {
    AddRef();
    return NOERROR;
  }
  return E_NOINTERFACE;
}

ULONG CDownloadCallback::AddRef() {
  return InterlockedIncrement(&m_lRefCount);
}

ULONG CDownloadCallback::Release() {
  ULONG ulCount = InterlockedDecrement(&m_lRefCount);
  if (0 == ulCount) {
    delete this;
  }
  return ulCount;
}

HRESULT CDownloadCallback::OnStatusChange(IDODownload* download, const DO_DOWNLOAD_STATUS* status) {
  (void)download;
  InterlockedIncrement(&m_lCalls);
  std::printf(
      "OnStatusChange: %s, %llu of %llu bytes, error 0x%08X\n", DownloadStates[status->State],
      static_cast<unsigned long long>(status->BytesTransferred),
      static_cast<unsigned long long>(status->BytesTotal), static_cast<unsigned>(status->Error));
  return S_OK;
}

static std::wstring Widen(const char* text) {
  std::wstring out(std::mbstowcs(NULL, text, 0) + 1, L'\0');
  size_t length = std::mbstowcs(&out[0], text, out.size());
  out.resize(length == static_cast<size_t>(-1) ? 0 : length);
  return out;
}

static HRESULT SetStringProperty(IDODownload* pDownload, DODownloadProperty Property,
                                 const std::wstring& Value) {
  VARIANT var;
  VariantInit(&var);
  var.vt = VT_BSTR;
  var.bstrVal = SysAllocString(Value.c_str());
  HRESULT hr = pDownload->SetProperty(Property, &var);
  VariantClear(&var);
  return hr;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s URL LOCAL_PATH\n", argv[0]);
    return 2;
  }
  std::setlocale(LC_ALL, "");

  HRESULT hr;
  IDOManager* pManager = NULL;
  IDODownload* pDownload = NULL;
  CDownloadCallback* pCallback = NULL;
  DO_DOWNLOAD_STATUS Status = {};
  VARIANT var;
  int ExitCode = 1;

  hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
  if (FAILED(hr)) {
    std::fprintf(stderr, "CoInitializeEx failed, 0x%08X\n", static_cast<unsigned>(hr));
    return 1;
  }

  hr = CoCreateInstance(__uuidof(DeliveryOptimization), NULL, CLSCTX_LOCAL_SERVER,
                        __uuidof(IDOManager), (void**)&pManager);
  if (FAILED(hr)) {
    std::fprintf(stderr, "CoCreateInstance failed, 0x%08X\n", static_cast<unsigned>(hr));
    goto cleanup;
  }

  hr = pManager->CreateDownload(&pDownload);
  if (FAILED(hr)) {
    std::fprintf(stderr, "CreateDownload failed, 0x%08X\n", static_cast<unsigned>(hr));
    goto cleanup;
  }

  hr = SetStringProperty(pDownload, DODownloadProperty_Uri, Widen(argv[1]));
  if (SUCCEEDED(hr))
    hr = SetStringProperty(pDownload, DODownloadProperty_LocalPath, Widen(argv[2]));
  if (SUCCEEDED(hr)) {
    hr = SetStringProperty(pDownload, DODownloadProperty_DisplayName, L"opendo DO sample");
  }
  if (FAILED(hr)) {
    std::fprintf(stderr, "SetProperty failed, 0x%08X\n", static_cast<unsigned>(hr));
    pDownload->Abort();
    goto cleanup;
  }

  // The download keeps its own reference to the callback.
  pCallback = new CDownloadCallback();
  VariantInit(&var);
  var.vt = VT_UNKNOWN;
  var.punkVal = pCallback;
  hr = pDownload->SetProperty(DODownloadProperty_CallbackInterface, &var);
  if (FAILED(hr)) {
    std::fprintf(stderr, "SetProperty(CallbackInterface) failed, 0x%08X\n",
                 static_cast<unsigned>(hr));
  }

  hr = pDownload->Start(NULL);
  if (FAILED(hr)) {
    std::fprintf(stderr, "Start failed, 0x%08X\n", static_cast<unsigned>(hr));
    pDownload->Abort();
    goto cleanup;
  }

  // Poll the status until the file is there or the download stopped on an error.
  do {
    Sleep(100);
    hr = pDownload->GetStatus(&Status);
    if (FAILED(hr)) {
      std::fprintf(stderr, "GetStatus failed, 0x%08X\n", static_cast<unsigned>(hr));
      goto cleanup;
    }
  } while (Status.State != DODownloadState_Transferred &&
           !(Status.State == DODownloadState_Paused && FAILED(Status.Error)));

  if (Status.State == DODownloadState_Transferred) {
    hr = pDownload->Finalize();
    if (SUCCEEDED(hr)) {
      std::printf("saved %s (%llu bytes, %ld status callbacks)\n", argv[2],
                  static_cast<unsigned long long>(Status.BytesTransferred),
                  static_cast<long>(pCallback->Calls()));
      ExitCode = 0;
    } else {
      std::fprintf(stderr, "Finalize failed, 0x%08X\n", static_cast<unsigned>(hr));
    }
  } else {
    std::fprintf(stderr, "the download failed, 0x%08X\n", static_cast<unsigned>(Status.Error));
    pDownload->Abort();
  }

cleanup:
  if (pCallback) pCallback->Release();
  if (pDownload) pDownload->Release();
  if (pManager) pManager->Release();
  CoUninitialize();
  return ExitCode;
}
