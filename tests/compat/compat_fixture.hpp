// Shared pieces of the COM-compatible API tests: a real opendod (and nginx) per test, COM
// initialised on the test's thread, wide-string helpers, and callback objects that count what
// happens to them.
#pragma once

// The Windows names first and through the compat directory, as ported code includes them.
#include <windows.h>

#include <bits.h>
#include <deliveryoptimization.h>

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "compat/com.hpp"
#include "compat/convert.hpp"
#include "opendo/opendo.hpp"
#include "support/daemon.hpp"
#include "support/files.hpp"
#include "support/nginx.hpp"

namespace compat_test {

using opendo::compat::com_ptr;
using namespace std::chrono_literals;

inline std::wstring wide(const std::string& utf8) {
  return opendo::compat::wide_from_utf8(utf8);
}

// Takes a CoTaskMemAlloc'd string out-parameter: its UTF-8 text, and the memory freed. NULL is "".
inline std::string take(LPWSTR text) {
  if (text == nullptr) return {};
  std::string out = opendo::compat::utf8_from_wide(text, "a returned string");
  CoTaskMemFree(text);
  return out;
}

inline std::string guid_text(const GUID& g) {
  return opendo::compat::job_id_from_guid(g);
}

// The object's identity, as COM compares objects.
inline IUnknown* identity(IUnknown* p) {
  IUnknown* unknown = nullptr;
  if (p == nullptr || FAILED(p->QueryInterface(IID_IUnknown, reinterpret_cast<void**>(&unknown)))) {
    return nullptr;
  }
  unknown->Release();
  return unknown;
}

// Polls until done() or the timeout; returns done()'s last answer.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

inline BG_JOB_STATE state_of(IBackgroundCopyJob* job) {
  BG_JOB_STATE state = BG_JOB_STATE_CANCELLED;
  if (FAILED(job->GetState(&state))) ADD_FAILURE() << "GetState failed";
  return state;
}

// Waits for the job to reach `state`; returns the state it is in then.
inline BG_JOB_STATE wait_for(IBackgroundCopyJob* job, BG_JOB_STATE state,
                             std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  BG_JOB_STATE now = state_of(job);
  eventually(
      [&] {
        now = state_of(job);
        return now == state;
      },
      timeout);
  return now;
}

// A real opendod for one test, reached by CoCreateInstance through $OPENDO_SOCKET, with COM
// initialised on the test's thread. Derived fixtures add nginx.
class CompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("OPENDO_SOCKET", daemon.socket_path().c_str(), 1);
    ASSERT_EQ(CoInitializeEx(NULL, COINIT_MULTITHREADED), S_OK);
    baseline_objects = opendo::compat::live_objects();
  }
  void TearDown() override {
    CoUninitialize();
    ::unsetenv("OPENDO_SOCKET");
  }

  com_ptr<IBackgroundCopyManager> bits_manager() {
    IBackgroundCopyManager* manager = nullptr;
    const HRESULT hr =
        CoCreateInstance(__uuidof(BackgroundCopyManager), NULL, CLSCTX_LOCAL_SERVER,
                         __uuidof(IBackgroundCopyManager), reinterpret_cast<void**>(&manager));
    EXPECT_EQ(hr, S_OK) << daemon.log();
    return com_ptr<IBackgroundCopyManager>::adopt(manager);
  }

  com_ptr<IDOManager> do_manager() {
    IDOManager* manager = nullptr;
    const HRESULT hr = CoCreateInstance(CLSID_DeliveryOptimization, nullptr, CLSCTX_LOCAL_SERVER,
                                        IID_PPV_ARGS(&manager));
    EXPECT_EQ(hr, S_OK) << daemon.log();
    return com_ptr<IDOManager>::adopt(manager);
  }

  com_ptr<IBackgroundCopyJob> create_job(IBackgroundCopyManager* manager,
                                         const wchar_t* name = L"compat test") {
    GUID id{};
    IBackgroundCopyJob* job = nullptr;
    EXPECT_EQ(manager->CreateJob(name, BG_JOB_TYPE_DOWNLOAD, &id, &job), S_OK);
    return com_ptr<IBackgroundCopyJob>::adopt(job);
  }

  // The modern API on the same daemon, to check what the COM calls did.
  opendo::client modern() {
    opendo::client_options options;
    options.socket_path = daemon.socket_path().string();
    options.autostart = false;
    return opendo::client(options);
  }

  template <typename T>
  static com_ptr<T> as(IUnknown* object) {
    return opendo::compat::query<T>(object);
  }

  opendo::test::daemon_process daemon;
  opendo::test::temp_dir out{"opendo-compat-out"};
  long baseline_objects = 0;
};

// With an origin server too.
class CompatTransferTest : public CompatTest {
 protected:
  opendo::test::nginx_server origin;
};

// Counts what the application sees of an object's life: AddRef/Release, and deletion.
struct lifetime {
  std::atomic<LONG> refs{1};
  std::atomic<bool> deleted{false};
};

// A BITS callback that records every call. Implements IBackgroundCopyCallback2 unless `version` is
// 1 (IBackgroundCopyCallback only) or 0 (neither: only IUnknown). The callback methods return
// `result` (JobTransferred and JobError return failure_result for their first `failures` calls).
class test_callback final : public IBackgroundCopyCallback2 {
 public:
  explicit test_callback(std::shared_ptr<lifetime> life, int version = 2)
      : life_(std::move(life)), version_(version) {}

  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void** ppv) override {
    if (ppv == nullptr) return E_POINTER;
    *ppv = nullptr;
    if (riid == IID_IUnknown || (version_ >= 1 && riid == IID_IBackgroundCopyCallback) ||
        (version_ >= 2 && riid == IID_IBackgroundCopyCallback2)) {
      *ppv = static_cast<IBackgroundCopyCallback2*>(this);
      AddRef();
      return S_OK;
    }
    return E_NOINTERFACE;
  }
  ULONG STDMETHODCALLTYPE AddRef() override { return static_cast<ULONG>(++life_->refs); }
  ULONG STDMETHODCALLTYPE Release() override {
    const auto left = static_cast<ULONG>(--life_->refs);
    if (left == 0) {
      life_->deleted = true;
      delete this;
    }
    return left;
  }

  HRESULT STDMETHODCALLTYPE JobTransferred(IBackgroundCopyJob* job) override {
    record("transferred", job);
    if (on_transferred) on_transferred(job);
    return take_result();
  }
  HRESULT STDMETHODCALLTYPE JobError(IBackgroundCopyJob* job,
                                     IBackgroundCopyError* error) override {
    BG_ERROR_CONTEXT context = BG_ERROR_CONTEXT_NONE;
    HRESULT code = S_OK;
    if (error != nullptr) error->GetError(&context, &code);
    {
      std::lock_guard lock(mutex_);
      error_codes.push_back(code);
    }
    record("error", job);
    return take_result();
  }
  HRESULT STDMETHODCALLTYPE JobModification(IBackgroundCopyJob* job, DWORD) override {
    record("modification", job);
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE FileTransferred(IBackgroundCopyJob* job,
                                            IBackgroundCopyFile* file) override {
    LPWSTR name = nullptr;
    if (file != nullptr && SUCCEEDED(file->GetLocalName(&name))) {
      std::lock_guard lock(mutex_);
      files.push_back(take(name));
    }
    record("file", job);
    return S_OK;
  }

  int calls(const std::string& kind) {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
  bool wait_calls(const std::string& kind, int n,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      int seen = 0;
      for (const auto& e : events) seen += e.kind == kind ? 1 : 0;
      return seen >= n;
    });
  }
  std::vector<std::chrono::steady_clock::time_point> times(const std::string& kind) {
    std::lock_guard lock(mutex_);
    std::vector<std::chrono::steady_clock::time_point> out;
    for (const auto& e : events) {
      if (e.kind == kind) out.push_back(e.at);
    }
    return out;
  }

  struct event {
    std::string kind;
    std::string job_id;
    std::chrono::steady_clock::time_point at;
  };
  std::function<void(IBackgroundCopyJob*)> on_transferred;
  std::atomic<int> failures{0};
  HRESULT failure_result = E_FAIL;
  std::mutex mutex_;
  std::vector<event> events;
  std::vector<HRESULT> error_codes;
  std::vector<std::string> files;

 private:
  HRESULT take_result() {
    if (failures.load() > 0) {
      --failures;
      return failure_result;
    }
    return S_OK;
  }
  void record(const char* kind, IBackgroundCopyJob* job) {
    GUID id{};
    std::string text;
    if (job != nullptr && SUCCEEDED(job->GetId(&id))) text = guid_text(id);
    {
      std::lock_guard lock(mutex_);
      events.push_back({kind, text, std::chrono::steady_clock::now()});
    }
    changed_.notify_all();
  }

  std::shared_ptr<lifetime> life_;
  int version_;
  std::condition_variable changed_;
};

// Makes a callback whose lifetime the test can watch after it gave up its own reference.
inline test_callback* new_callback(std::shared_ptr<lifetime>& life, int version = 2) {
  life = std::make_shared<lifetime>();
  return new test_callback(life, version);
}

}  // namespace compat_test
