// IDOManager and IDODownload against a real opendod and nginx: a download with an
// IDODownloadStatusCallback, the VARIANT properties and their rules, the download states, Start
// without a Uri, blocking mode, EnumDownloads and its categories, and DO's own error codes.
#include "compat/compat_fixture.hpp"
// After the fixture (which includes windows.h): the values DO's SecurityFlags takes.
#include <winhttp.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

using namespace compat_test;
namespace fs = std::filesystem;

namespace {

// Records every status it is given.
class status_callback final : public IDODownloadStatusCallback {
 public:
  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void** ppv) override {
    if (ppv == nullptr) return E_POINTER;
    *ppv = nullptr;
    if (riid != IID_IUnknown && riid != IID_IDODownloadStatusCallback) return E_NOINTERFACE;
    *ppv = static_cast<IDODownloadStatusCallback*>(this);
    AddRef();
    return S_OK;
  }
  ULONG STDMETHODCALLTYPE AddRef() override { return static_cast<ULONG>(++refs); }
  ULONG STDMETHODCALLTYPE Release() override {
    const auto left = static_cast<ULONG>(--refs);
    if (left == 0) delete this;
    return left;
  }
  HRESULT STDMETHODCALLTYPE OnStatusChange(IDODownload* download,
                                           const DO_DOWNLOAD_STATUS* status) override {
    VARIANT id;
    VariantInit(&id);
    if (download != nullptr && download->GetProperty(DODownloadProperty_Id, &id) == S_OK) {
      std::lock_guard lock(mutex);
      ids.push_back(take_bstr(id));
    }
    {
      std::lock_guard lock(mutex);
      statuses.push_back(*status);
    }
    changed.notify_all();
    return S_OK;
  }

  bool wait_for_state(DODownloadState state, HRESULT error = S_OK,
                      std::chrono::milliseconds timeout = 60s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] {
      for (const auto& s : statuses) {
        if (s.State == state && s.Error == error) return true;
      }
      return false;
    });
  }
  static std::string take_bstr(VARIANT& v) {
    std::string text = v.vt == VT_BSTR ? opendo::compat::utf8_from_wide(v.bstrVal, "id") : "";
    VariantClear(&v);
    return text;
  }

  std::atomic<LONG> refs{1};
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<DO_DOWNLOAD_STATUS> statuses;
  std::vector<std::string> ids;
};

VARIANT bstr(const std::string& text) {
  VARIANT v;
  VariantInit(&v);
  v.vt = VT_BSTR;
  v.bstrVal = SysAllocString(wide(text).c_str());
  return v;
}

VARIANT ui4(ULONG value) {
  VARIANT v;
  VariantInit(&v);
  v.vt = VT_UI4;
  v.ulVal = value;
  return v;
}

VARIANT boolean(bool value) {
  VARIANT v;
  VariantInit(&v);
  v.vt = VT_BOOL;
  v.boolVal = value ? VARIANT_TRUE : VARIANT_FALSE;
  return v;
}

VARIANT unknown(IUnknown* p) {
  VARIANT v;
  VariantInit(&v);
  v.vt = VT_UNKNOWN;
  v.punkVal = p;
  return v;
}

HRESULT set(IDODownload* download, DODownloadProperty id, VARIANT value) {
  const HRESULT hr = download->SetProperty(id, &value);
  if (value.vt == VT_BSTR) VariantClear(&value);  // the caller keeps ownership of what it passed
  return hr;
}

std::string get_string(IDODownload* download, DODownloadProperty id) {
  VARIANT v;
  VariantInit(&v);
  EXPECT_EQ(download->GetProperty(id, &v), S_OK);
  EXPECT_EQ(v.vt, VT_BSTR);
  return status_callback::take_bstr(v);
}

DO_DOWNLOAD_STATUS status_of(IDODownload* download) {
  DO_DOWNLOAD_STATUS status{};
  EXPECT_EQ(download->GetStatus(&status), S_OK);
  return status;
}

class CompatDo : public CompatTest {
 protected:
  void SetUp() override {
    CompatTest::SetUp();
    manager = do_manager();
    ASSERT_TRUE(manager);
  }

  com_ptr<IDODownload> create() {
    IDODownload* download = nullptr;
    EXPECT_EQ(manager->CreateDownload(&download), S_OK);
    return com_ptr<IDODownload>::adopt(download);
  }

  std::string path(const std::string& name) { return (out / name).string(); }

  opendo::test::nginx_server origin{[] {
    opendo::test::nginx_options options;
    options.limit_rate = 1 << 20;  // 4 MiB take about 3 s: progress is seen
    return options;
  }()};
  com_ptr<IDOManager> manager;
};

}  // namespace

TEST_F(CompatDo, DownloadsAFileWithAStatusCallback) {
  const std::string digest = origin.make_random_file("do.bin", 4 << 20, 21);
  com_ptr<IDODownload> download = create();
  ASSERT_TRUE(download);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Created);
  EXPECT_EQ(get_string(download.get(), DODownloadProperty_DisplayName), "");

  auto* callback = new status_callback;
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("do.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("do.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_DisplayName, bstr("DO download")), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_CallbackInterface, unknown(callback)), S_OK);
  EXPECT_EQ(callback->refs.load(), 2);
  VARIANT registered;
  VariantInit(&registered);
  ASSERT_EQ(download->GetProperty(DODownloadProperty_CallbackInterface, &registered), S_OK);
  EXPECT_EQ(registered.vt, VT_UNKNOWN);
  EXPECT_EQ(registered.punkVal, identity(callback));
  VariantClear(&registered);

  ASSERT_EQ(download->Start(nullptr), S_OK);
  ASSERT_TRUE(callback->wait_for_state(DODownloadState_Transferred)) << daemon.log();
  const std::string id = get_string(download.get(), DODownloadProperty_Id);
  {
    std::lock_guard lock(callback->mutex);
    bool saw_progress = false;
    for (const auto& s : callback->statuses) {
      EXPECT_EQ(s.Error, S_OK);
      saw_progress = saw_progress || (s.State == DODownloadState_Transferring &&
                                      s.BytesTransferred > 0 && s.BytesTransferred < (4u << 20));
    }
    EXPECT_TRUE(saw_progress) << "no progress was reported before the end";
    EXPECT_EQ(callback->statuses.back().BytesTransferred, 4u << 20);
    for (const auto& seen : callback->ids) EXPECT_EQ(seen, id);
  }
  const DO_DOWNLOAD_STATUS done = status_of(download.get());
  EXPECT_EQ(done.State, DODownloadState_Transferred);
  EXPECT_EQ(done.BytesTotal, 4u << 20);
  EXPECT_FALSE(fs::exists(path("do.bin")));

  EXPECT_EQ(download->Finalize(), S_OK);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Finalized);
  EXPECT_EQ(opendo::test::sha256_file(path("do.bin")), digest);
  EXPECT_TRUE(eventually([&] { return callback->refs.load() == 1; }, 10s));
  callback->Release();
}

// IDODownloadStatusCallback is told as IBackgroundCopyCallback is: a callback set after the
// download transferred still gets OnStatusChange with Transferred.
TEST_F(CompatDo, ACallbackSetAfterTheTransferIsStillTold) {
  const std::string digest = origin.make_random_file("late.bin", 1000, 22);
  com_ptr<IDODownload> download = create();
  ASSERT_TRUE(download);
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("late.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("late.bin"))), S_OK);
  ASSERT_EQ(download->Start(nullptr), S_OK);
  ASSERT_TRUE(eventually(
      [&] { return status_of(download.get()).State == DODownloadState_Transferred; }, 30s))
      << daemon.log();
  auto* callback = new status_callback;
  ASSERT_EQ(set(download.get(), DODownloadProperty_CallbackInterface, unknown(callback)), S_OK);
  EXPECT_TRUE(callback->wait_for_state(DODownloadState_Transferred, S_OK, 10s)) << daemon.log();
  {
    std::lock_guard lock(callback->mutex);
    ASSERT_FALSE(callback->statuses.empty());
    EXPECT_EQ(callback->statuses.back().BytesTransferred, 1000U);
  }
  EXPECT_EQ(download->Finalize(), S_OK);
  EXPECT_EQ(opendo::test::sha256_file(path("late.bin")), digest);
  EXPECT_TRUE(eventually([&] { return callback->refs.load() == 1; }, 10s));
  callback->Release();
}

TEST_F(CompatDo, PropertiesFollowTheirRules) {
  com_ptr<IDODownload> download = create();
  const std::string id = get_string(download.get(), DODownloadProperty_Id);
  EXPECT_EQ(id.size(), 38U);
  EXPECT_EQ(set(download.get(), DODownloadProperty_Id, bstr("{x}")), DO_E_READ_ONLY_PROPERTY);
  EXPECT_EQ(set(download.get(), DODownloadProperty_TotalSizeBytes, ui4(5)),
            DO_E_READ_ONLY_PROPERTY);
  EXPECT_EQ(set(download.get(), static_cast<DODownloadProperty>(99), ui4(5)),
            DO_E_UNKNOWN_PROPERTY_ID);
  VARIANT v;
  VariantInit(&v);
  EXPECT_EQ(download->GetProperty(static_cast<DODownloadProperty>(99), &v),
            DO_E_UNKNOWN_PROPERTY_ID);
  EXPECT_EQ(download->GetProperty(DODownloadProperty_SecurityFlags, &v), DO_E_WRITE_ONLY_PROPERTY);
  EXPECT_EQ(download->GetProperty(DODownloadProperty_Id, nullptr), E_POINTER);
  EXPECT_EQ(download->SetProperty(DODownloadProperty_Uri, nullptr), E_INVALIDARG);
  EXPECT_EQ(set(download.get(), DODownloadProperty_Uri, ui4(1)), E_INVALIDARG);  // not a BSTR

  ASSERT_EQ(download->GetProperty(DODownloadProperty_CallbackFreqSeconds, &v), S_OK);
  EXPECT_EQ(v.vt, VT_UI4);
  EXPECT_EQ(v.ulVal, 1U);  // DO's default
  EXPECT_EQ(set(download.get(), DODownloadProperty_CallbackFreqSeconds, ui4(5)), S_OK);
  ASSERT_EQ(download->GetProperty(DODownloadProperty_CallbackFreqSeconds, &v), S_OK);
  EXPECT_EQ(v.ulVal, 5U);
  EXPECT_EQ(set(download.get(), DODownloadProperty_CallbackFreqPercent, ui4(101)), E_INVALIDARG);
  EXPECT_EQ(set(download.get(), DODownloadProperty_CallbackFreqPercent, ui4(10)), S_OK);

  EXPECT_EQ(set(download.get(), DODownloadProperty_NoProgressTimeoutSeconds, ui4(59)),
            E_INVALIDARG);
  EXPECT_EQ(set(download.get(), DODownloadProperty_NoProgressTimeoutSeconds, ui4(60)), S_OK);
  ASSERT_EQ(download->GetProperty(DODownloadProperty_NoProgressTimeoutSeconds, &v), S_OK);
  EXPECT_EQ(v.ulVal, 60U);

  EXPECT_EQ(set(download.get(), DODownloadProperty_ForegroundPriority, boolean(true)), S_OK);
  EXPECT_EQ(modern().open_job(id).info().priority, opendo::job_priority::foreground);
  ASSERT_EQ(download->GetProperty(DODownloadProperty_ForegroundPriority, &v), S_OK);
  EXPECT_EQ(v.vt, VT_BOOL);
  EXPECT_EQ(v.boolVal, VARIANT_TRUE);
  EXPECT_EQ(set(download.get(), DODownloadProperty_ForegroundPriority, boolean(false)), S_OK);
  EXPECT_EQ(modern().open_job(id).info().priority, opendo::job_priority::normal);

  // CostPolicy and DisallowOnCellular are the job's (docs/compat.md): every DODownloadCostPolicy
  // value is kept and read back, by this process and through the modern API.
  ASSERT_EQ(download->GetProperty(DODownloadProperty_CostPolicy, &v), S_OK);
  EXPECT_EQ(v.ulVal, static_cast<ULONG>(DODownloadCostPolicy_Always));
  for (ULONG policy = DODownloadCostPolicy_Always; policy <= DODownloadCostPolicy_NoCellular;
       ++policy) {
    EXPECT_EQ(set(download.get(), DODownloadProperty_CostPolicy, ui4(policy)), S_OK);
    ASSERT_EQ(download->GetProperty(DODownloadProperty_CostPolicy, &v), S_OK);
    EXPECT_EQ(v.ulVal, policy);
    EXPECT_EQ(static_cast<ULONG>(modern().open_job(id).info().cost_policy), policy);
  }
  EXPECT_EQ(set(download.get(), DODownloadProperty_CostPolicy, ui4(6)), E_INVALIDARG);
  EXPECT_EQ(set(download.get(), DODownloadProperty_CostPolicy, ui4(DODownloadCostPolicy_Always)),
            S_OK);
  ASSERT_EQ(download->GetProperty(DODownloadProperty_DisallowOnCellular, &v), S_OK);
  EXPECT_EQ(v.boolVal, VARIANT_FALSE);
  EXPECT_EQ(set(download.get(), DODownloadProperty_DisallowOnCellular, boolean(true)), S_OK);
  ASSERT_EQ(download->GetProperty(DODownloadProperty_DisallowOnCellular, &v), S_OK);
  EXPECT_EQ(v.boolVal, VARIANT_TRUE);
  EXPECT_TRUE(modern().open_job(id).info().disallow_on_cellular);
  EXPECT_EQ(set(download.get(), DODownloadProperty_DisallowOnCellular, boolean(false)), S_OK);
  EXPECT_EQ(set(download.get(), DODownloadProperty_ContentId, bstr("content")), E_INVALIDARG);
  // SecurityFlags: WinHTTP's SECURITY_FLAG_IGNORE_* bits, each one certificate error accepted
  // (HttpOptions.ACertificateErrorFailsAJobUnlessItAcceptsThatVeryError proves them on the wire).
  EXPECT_EQ(set(download.get(), DODownloadProperty_SecurityFlags,
                ui4(SECURITY_FLAG_IGNORE_UNKNOWN_CA | SECURITY_FLAG_IGNORE_CERT_DATE_INVALID)),
            S_OK);
  EXPECT_EQ(modern().open_job(id).info().tls_exemptions,
            opendo::tls_exemption::unknown_ca | opendo::tls_exemption::date_invalid);
  EXPECT_EQ(set(download.get(), DODownloadProperty_SecurityFlags,
                ui4(SECURITY_FLAG_IGNORE_CERT_CN_INVALID | SECURITY_FLAG_IGNORE_CERT_WRONG_USAGE)),
            S_OK);
  EXPECT_EQ(modern().open_job(id).info().tls_exemptions,
            opendo::tls_exemption::name_mismatch | opendo::tls_exemption::wrong_usage);
  EXPECT_EQ(set(download.get(), DODownloadProperty_SecurityFlags, ui4(0x1)), E_INVALIDARG);
  EXPECT_EQ(set(download.get(), DODownloadProperty_SecurityFlags, ui4(0)), S_OK);
  EXPECT_EQ(modern().open_job(id).info().tls_exemptions, 0U);
  EXPECT_EQ(set(download.get(), DODownloadProperty_CorrelationVector, bstr("cv.1")), S_OK);
  EXPECT_EQ(get_string(download.get(), DODownloadProperty_CorrelationVector), "cv.1");
  ASSERT_EQ(download->GetProperty(DODownloadProperty_NonVolatile, &v), S_OK);
  EXPECT_EQ(v.boolVal, VARIANT_TRUE);

  // Uri and LocalPath before Start are kept for every object of this download.
  EXPECT_EQ(set(download.get(), DODownloadProperty_Uri, bstr("http://127.0.0.1:1/x")), S_OK);
  IEnumUnknown* all = nullptr;
  ASSERT_EQ(manager->EnumDownloads(nullptr, &all), S_OK);
  IUnknown* item = nullptr;
  ASSERT_EQ(all->Next(1, &item, nullptr), S_OK);
  all->Release();
  com_ptr<IDODownload> same = as<IDODownload>(item);
  item->Release();
  ASSERT_TRUE(same);
  EXPECT_EQ(get_string(same.get(), DODownloadProperty_Uri), "http://127.0.0.1:1/x");

  // A callback property needs an IDODownloadStatusCallback.
  std::shared_ptr<lifetime> life;
  test_callback* not_do = new_callback(life);
  EXPECT_EQ(set(download.get(), DODownloadProperty_CallbackInterface, unknown(not_do)),
            E_NOINTERFACE);
  EXPECT_EQ(life->refs.load(), 1);
  not_do->Release();
  VARIANT empty;
  VariantInit(&empty);
  EXPECT_EQ(download->SetProperty(DODownloadProperty_CallbackInterface, &empty), S_OK);
}

TEST_F(CompatDo, HttpHeaderPropertiesFollowTheirRules) {
  com_ptr<IDODownload> download = create();
  const std::string id = get_string(download.get(), DODownloadProperty_Id);
  // HttpCustomHeaders: a VT_BSTR of CRLF-separated lines, read back with a CRLF after each.
  EXPECT_EQ(get_string(download.get(), DODownloadProperty_HttpCustomHeaders), "");
  EXPECT_EQ(set(download.get(), DODownloadProperty_HttpCustomHeaders,
                bstr("X-Opendo-Test: do\r\nAccept-Language: en")),
            S_OK);
  EXPECT_EQ(get_string(download.get(), DODownloadProperty_HttpCustomHeaders),
            "X-Opendo-Test: do\r\nAccept-Language: en\r\n");
  EXPECT_EQ(modern().open_job(id).info().custom_headers,
            (std::vector<std::string>{"X-Opendo-Test: do", "Accept-Language: en"}));
  EXPECT_EQ(set(download.get(), DODownloadProperty_HttpCustomHeaders, ui4(1)), E_INVALIDARG);
  EXPECT_EQ(set(download.get(), DODownloadProperty_HttpCustomHeaders, bstr("X-A: 1\nX-B: 2")),
            E_INVALIDARG);
  EXPECT_EQ(set(download.get(), DODownloadProperty_HttpCustomHeaders, bstr("Range: bytes=1-")),
            E_INVALIDARG);
  EXPECT_EQ(set(download.get(), DODownloadProperty_HttpCustomHeaders,
                bstr("X-Big: " + std::string(17000, 'a'))),
            BG_E_STRING_TOO_LONG);
  EXPECT_EQ(get_string(download.get(), DODownloadProperty_HttpCustomHeaders),
            "X-Opendo-Test: do\r\nAccept-Language: en\r\n");  // unchanged by the refusals

  // HttpCustomAuthHeaders: write-only.
  EXPECT_EQ(set(download.get(), DODownloadProperty_HttpCustomAuthHeaders,
                bstr("Authorization: Bearer do-secret\r\n")),
            S_OK);
  VARIANT v;
  VariantInit(&v);
  EXPECT_EQ(download->GetProperty(DODownloadProperty_HttpCustomAuthHeaders, &v),
            DO_E_WRITE_ONLY_PROPERTY);
  EXPECT_EQ(v.vt, VT_EMPTY);
  EXPECT_TRUE(modern().open_job(id).info().has_custom_auth_headers);

  // HttpAllowSecureToNonSecureRedirect: VT_BOOL, default FALSE.
  ASSERT_EQ(download->GetProperty(DODownloadProperty_HttpAllowSecureToNonSecureRedirect, &v), S_OK);
  EXPECT_EQ(v.vt, VT_BOOL);
  EXPECT_EQ(v.boolVal, VARIANT_FALSE);
  EXPECT_EQ(set(download.get(), DODownloadProperty_HttpAllowSecureToNonSecureRedirect, ui4(1)),
            E_INVALIDARG);
  EXPECT_EQ(
      set(download.get(), DODownloadProperty_HttpAllowSecureToNonSecureRedirect, boolean(true)),
      S_OK);
  ASSERT_EQ(download->GetProperty(DODownloadProperty_HttpAllowSecureToNonSecureRedirect, &v), S_OK);
  EXPECT_EQ(v.boolVal, VARIANT_TRUE);
  EXPECT_TRUE(modern().open_job(id).info().allow_https_to_http_redirect);

  // The response properties are read-only, and empty before a response.
  for (auto property :
       {DODownloadProperty_HttpStatusCode, DODownloadProperty_HttpResponseHeaders,
        DODownloadProperty_HttpServerIPAddress, DODownloadProperty_HttpRedirectionTarget}) {
    SCOPED_TRACE(static_cast<int>(property));
    EXPECT_EQ(set(download.get(), property, bstr("x")), DO_E_READ_ONLY_PROPERTY);
  }
  ASSERT_EQ(download->GetProperty(DODownloadProperty_HttpStatusCode, &v), S_OK);
  EXPECT_EQ(v.vt, VT_UI4);
  EXPECT_EQ(v.ulVal, 0U);
  EXPECT_EQ(get_string(download.get(), DODownloadProperty_HttpServerIPAddress), "");
  EXPECT_EQ(download->Abort(), S_OK);
}

TEST_F(CompatDo, HttpResponsePropertiesDescribeTheLastResponse) {
  const std::string digest = origin.make_random_file("resp.bin", 300000, 6);
  com_ptr<IDODownload> download = create();
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("resp.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("resp.bin"))), S_OK);
  ASSERT_EQ(
      set(download.get(), DODownloadProperty_HttpCustomHeaders, bstr("X-Opendo-Test: from-do\r\n")),
      S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_BlockingMode, boolean(true)), S_OK);
  ASSERT_EQ(download->Start(nullptr), S_OK);
  VARIANT v;
  VariantInit(&v);
  ASSERT_EQ(download->GetProperty(DODownloadProperty_HttpStatusCode, &v), S_OK);
  EXPECT_EQ(v.vt, VT_UI4);
  EXPECT_EQ(v.ulVal, 200U);
  EXPECT_EQ(get_string(download.get(), DODownloadProperty_HttpServerIPAddress), "127.0.0.1");
  EXPECT_EQ(get_string(download.get(), DODownloadProperty_HttpRedirectionTarget), "");
  const std::string headers = get_string(download.get(), DODownloadProperty_HttpResponseHeaders);
  EXPECT_NE(headers.find("Content-Length: 300000\r\n"), std::string::npos) << headers;
  EXPECT_EQ(download->Finalize(), S_OK);
  EXPECT_EQ(opendo::test::sha256_file(path("resp.bin")), digest);
  const auto log = origin.wait_for_requests(1);
  EXPECT_EQ(log.back().x_opendo_test, "from-do");
}

TEST_F(CompatDo, StartNeedsAUriAndALocalPath) {
  com_ptr<IDODownload> download = create();
  EXPECT_EQ(download->Start(nullptr), DO_E_DOWNLOAD_NO_URI);
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("x.bin"))), S_OK);
  EXPECT_EQ(download->Start(nullptr), E_INVALIDARG);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("x.bin"))), S_OK);
  DO_DOWNLOAD_RANGES_INFO ranges{};
  ranges.RangeCount = 1;
  ranges.Ranges[0] = {0, 0};  // an empty range
  EXPECT_EQ(download->Start(&ranges), DO_E_INVALID_RANGE);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Created);
  origin.make_random_file("x.bin", 1000, 2);
  ranges.RangeCount = 0;  // an empty range list is the whole file
  EXPECT_EQ(download->Start(&ranges), S_OK);
  EXPECT_TRUE(
      eventually([&] { return status_of(download.get()).State == DODownloadState_Transferred; }));
  // The file is there now: its local path is fixed.
  EXPECT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("y.bin"))),
            DO_E_INVALID_STATE);
  EXPECT_EQ(get_string(download.get(), DODownloadProperty_LocalPath), path("x.bin"));
  EXPECT_EQ(download->Abort(), S_OK);
}

// DO_DOWNLOAD_RANGES_INFO ends in a one-element array: room for more is allocated behind it.
class ranges_info {
 public:
  explicit ranges_info(const std::vector<DO_DOWNLOAD_RANGE>& ranges)
      : bytes_(sizeof(DO_DOWNLOAD_RANGES_INFO) +
               sizeof(DO_DOWNLOAD_RANGE) * (ranges.empty() ? 0 : ranges.size() - 1)) {
    auto* info = get();
    info->RangeCount = static_cast<UINT>(ranges.size());
    for (std::size_t i = 0; i < ranges.size(); ++i) info->Ranges[i] = ranges[i];
  }
  DO_DOWNLOAD_RANGES_INFO* get() {
    return reinterpret_cast<DO_DOWNLOAD_RANGES_INFO*>(bytes_.data());
  }

 private:
  std::vector<std::uint64_t> bytes_;  // 8-byte aligned, as the struct needs
  static_assert(sizeof(DO_DOWNLOAD_RANGE) % sizeof(std::uint64_t) == 0);
};

TEST_F(CompatDo, StartWithRangesFetchesOnlyThoseBytesAtTheirOffsets) {
  constexpr std::uint64_t kSize = 100000;
  origin.make_random_file("r.bin", kSize, 11);
  com_ptr<IDODownload> download = create();
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("r.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("r.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_BlockingMode, boolean(true)), S_OK);
  ranges_info wanted({{60000, DO_LENGTH_TO_EOF}, {10, 20}});
  ASSERT_EQ(download->Start(wanted.get()), S_OK);
  const DO_DOWNLOAD_STATUS status = status_of(download.get());
  EXPECT_EQ(status.State, DODownloadState_Transferred);
  EXPECT_EQ(status.BytesTotal, 20U + (kSize - 60000));
  EXPECT_EQ(status.BytesTransferred, status.BytesTotal);
  // Another set of ranges for a started download is refused; the same ones, or NULL, resume.
  ranges_info other({{0, 5}});
  EXPECT_EQ(download->Start(other.get()), DO_E_INVALID_STATE);
  ranges_info same({{10, 20}, {60000, DO_LENGTH_TO_EOF}});
  EXPECT_EQ(download->Start(same.get()), S_OK);
  EXPECT_EQ(download->Finalize(), S_OK);
  const std::string local = opendo::test::read_file(path("r.bin"));
  ASSERT_EQ(local.size(), kSize);
  EXPECT_EQ(local.substr(0, 10), std::string(10, '\0'));
  EXPECT_EQ(local.substr(10, 20), opendo::test::random_bytes(11, 10, 20));
  EXPECT_EQ(local.substr(30, 60000 - 30), std::string(60000 - 30, '\0'));
  EXPECT_EQ(local.substr(60000), opendo::test::random_bytes(11, 60000, kSize - 60000));
  EXPECT_EQ(origin.total_body_bytes_sent("r.bin"), 20U + (kSize - 60000));
}

TEST_F(CompatDo, BadRangesAreRefusedWithDoCodes) {
  com_ptr<IDODownload> download = create();
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("nothing.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("nothing.bin"))), S_OK);
  ranges_info overlapping({{0, 10}, {5, 10}});
  EXPECT_EQ(download->Start(overlapping.get()), DO_E_OVERLAPPING_RANGES);
  ranges_info impossible({{DO_LENGTH_TO_EOF, 10}});
  EXPECT_EQ(download->Start(impossible.get()), DO_E_INVALID_RANGE);
  std::vector<DO_DOWNLOAD_RANGE> many(501);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = {i * 10, 5};
  ranges_info too_many(many);
  EXPECT_EQ(download->Start(too_many.get()), BG_E_TOO_MANY_RANGES_IN_FILE);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Created);
  EXPECT_EQ(download->Abort(), S_OK);
}

TEST_F(CompatDo, StatesFollowTheJob) {
  com_ptr<IDODownload> download = create();
  EXPECT_EQ(download->Finalize(), DO_E_INVALID_STATE);
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr("http://127.0.0.1:1/refused")), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("refused"))), S_OK);
  ASSERT_EQ(download->Start(nullptr), S_OK);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Transferring);
  // A transient error keeps the download transferring, and says why.
  EXPECT_TRUE(eventually([&] { return status_of(download.get()).Error != S_OK; }));
  EXPECT_EQ(status_of(download.get()).Error, static_cast<HRESULT>(0x80072EFDU));
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Transferring);
  EXPECT_EQ(download->Finalize(), DO_E_INVALID_STATE);
  EXPECT_EQ(download->Pause(), S_OK);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Paused);
  EXPECT_EQ(status_of(download.get()).Error, S_OK);
  EXPECT_EQ(download->Abort(), S_OK);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Aborted);
  EXPECT_EQ(download->Start(nullptr), DO_E_INVALID_STATE);
  EXPECT_EQ(download->Pause(), DO_E_INVALID_STATE);
  EXPECT_EQ(set(download.get(), DODownloadProperty_DisplayName, bstr("late")), DO_E_INVALID_STATE);
  // The daemon forgets ended jobs when it restarts: the download is not found then.
  daemon.restart();
  DO_DOWNLOAD_STATUS status{};
  EXPECT_EQ(download->GetStatus(&status), DO_E_JOB_NOT_FOUND);
}

TEST_F(CompatDo, AnHttpErrorPausesTheDownloadWithItsCode) {
  com_ptr<IDODownload> download = create();
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("missing"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("missing"))), S_OK);
  auto* callback = new status_callback;
  ASSERT_EQ(set(download.get(), DODownloadProperty_CallbackInterface, unknown(callback)), S_OK);
  ASSERT_EQ(download->Start(nullptr), S_OK);
  ASSERT_TRUE(callback->wait_for_state(DODownloadState_Paused, BG_E_HTTP_ERROR_404));
  const DO_DOWNLOAD_STATUS status = status_of(download.get());
  EXPECT_EQ(status.State, DODownloadState_Paused);
  EXPECT_EQ(status.Error, BG_E_HTTP_ERROR_404);
  EXPECT_EQ(download->Abort(), S_OK);
  callback->Release();
}

TEST_F(CompatDo, BlockingModeStartReturnsWhenTransferred) {
  const std::string digest = origin.make_random_file("block.bin", 500000, 4);
  com_ptr<IDODownload> download = create();
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("block.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("block.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_BlockingMode, boolean(true)), S_OK);
  ASSERT_EQ(download->Start(nullptr), S_OK);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Transferred);
  VARIANT size;
  VariantInit(&size);
  ASSERT_EQ(download->GetProperty(DODownloadProperty_TotalSizeBytes, &size), S_OK);
  EXPECT_EQ(size.vt, VT_UI8);
  EXPECT_EQ(size.ullVal, 500000U);
  EXPECT_EQ(download->Finalize(), S_OK);
  EXPECT_EQ(opendo::test::sha256_file(path("block.bin")), digest);
}

// IntegrityCheckInfo carries the SHA-256 the file must have: a right one delivers it, a wrong one
// fails the download with BG_E_VALIDATION_FAILED and Finalize has nothing to deliver.
TEST_F(CompatDo, IntegrityCheckInfoDecidesWhetherTheFileIsDelivered) {
  const std::string digest = origin.make_random_file("sure.bin", 300000, 8);
  for (const bool right : {true, false}) {
    SCOPED_TRACE(right ? "right digest" : "wrong digest");
    const std::string name = right ? "right.bin" : "wrong.bin";
    com_ptr<IDODownload> download = create();
    ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("sure.bin"))), S_OK);
    ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path(name))), S_OK);
    std::string expected = "SHA256:" + digest;  // the algorithm's case does not matter
    if (!right) expected.back() = expected.back() == '0' ? '1' : '0';
    ASSERT_EQ(set(download.get(), DODownloadProperty_IntegrityCheckInfo, bstr(expected)), S_OK);
    ASSERT_EQ(set(download.get(), DODownloadProperty_IntegrityCheckMandatory, boolean(true)), S_OK);
    ASSERT_EQ(set(download.get(), DODownloadProperty_BlockingMode, boolean(true)), S_OK);
    const HRESULT started = download->Start(nullptr);
    const std::string id = get_string(download.get(), DODownloadProperty_Id);
    EXPECT_EQ(modern().open_job(id).info().files.at(0).digest,
              "sha256:" + digest.substr(0, 63) + expected.back());
    // Write-only, and fixed once started.
    VARIANT v;
    VariantInit(&v);
    EXPECT_EQ(download->GetProperty(DODownloadProperty_IntegrityCheckInfo, &v),
              DO_E_WRITE_ONLY_PROPERTY);
    EXPECT_EQ(set(download.get(), DODownloadProperty_IntegrityCheckInfo,
                  bstr("sha256:" + std::string(64, 'a'))),
              DO_E_INVALID_STATE);
    ASSERT_EQ(download->GetProperty(DODownloadProperty_IntegrityCheckMandatory, &v), S_OK);
    EXPECT_EQ(v.boolVal, VARIANT_TRUE);
    if (right) {
      EXPECT_EQ(started, S_OK);
      EXPECT_EQ(download->Finalize(), S_OK);
      EXPECT_EQ(opendo::test::sha256_file(path(name)), digest);
    } else {
      EXPECT_EQ(started, static_cast<HRESULT>(BG_E_VALIDATION_FAILED));
      EXPECT_EQ(status_of(download.get()).Error, static_cast<HRESULT>(BG_E_VALIDATION_FAILED));
      EXPECT_EQ(download->Abort(), S_OK);
      EXPECT_FALSE(std::filesystem::exists(path(name)));
    }
  }
}

TEST_F(CompatDo, IntegrityCheckPropertiesRefuseBadValues) {
  com_ptr<IDODownload> download = create();
  for (const std::string& bad : std::vector<std::string>{
           "", "sha256:abc", "md5:" + std::string(32, '0'), "sha512:" + std::string(64, '0'),
           "sha256:" + std::string(64, 'g')}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(set(download.get(), DODownloadProperty_IntegrityCheckInfo, bstr(bad)), E_INVALIDARG);
  }
  EXPECT_EQ(set(download.get(), DODownloadProperty_IntegrityCheckInfo, ui4(1)), E_INVALIDARG);
  // Mandatory without the info: Start refuses, and the download stays as it was.
  origin.make_random_file("m.bin", 1000, 3);
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("m.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("m.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_IntegrityCheckMandatory, boolean(true)), S_OK);
  EXPECT_EQ(download->Start(nullptr), E_INVALIDARG);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Created);
  // Not mandatory any more: the download starts without a check, and cannot become mandatory.
  ASSERT_EQ(set(download.get(), DODownloadProperty_IntegrityCheckMandatory, boolean(false)), S_OK);
  ASSERT_EQ(download->Start(nullptr), S_OK);
  EXPECT_EQ(set(download.get(), DODownloadProperty_IntegrityCheckMandatory, boolean(true)),
            DO_E_INVALID_STATE);
  EXPECT_EQ(download->Abort(), S_OK);
}

TEST_F(CompatDo, EnumDownloadsListsTheCallersDownloadsByCategory) {
  com_ptr<IDODownload> first = create();
  com_ptr<IDODownload> second = create();
  ASSERT_EQ(set(first.get(), DODownloadProperty_DisplayName, bstr("first")), S_OK);
  ASSERT_EQ(set(second.get(), DODownloadProperty_DisplayName, bstr("second")), S_OK);
  ASSERT_EQ(set(second.get(), DODownloadProperty_Uri, bstr("http://127.0.0.1:1/second")), S_OK);
  // A BITS job of two files is no download.
  com_ptr<IBackgroundCopyManager> bits = as<IBackgroundCopyManager>(manager.get());
  ASSERT_TRUE(bits);
  com_ptr<IBackgroundCopyJob> job = create_job(bits.get(), L"two files");
  const std::wstring a = wide(path("a")), b = wide(path("b"));
  ASSERT_EQ(job->AddFile(L"http://127.0.0.1:1/a", a.c_str()), S_OK);
  ASSERT_EQ(job->AddFile(L"http://127.0.0.1:1/b", b.c_str()), S_OK);

  auto names = [&](const DO_DOWNLOAD_ENUM_CATEGORY* category) {
    std::vector<std::string> found;
    IEnumUnknown* downloads = nullptr;
    EXPECT_EQ(manager->EnumDownloads(category, &downloads), S_OK);
    if (downloads == nullptr) return found;
    IUnknown* item = nullptr;
    while (downloads->Next(1, &item, nullptr) == S_OK) {
      com_ptr<IDODownload> download = as<IDODownload>(item);
      item->Release();
      if (download) found.push_back(get_string(download.get(), DODownloadProperty_DisplayName));
    }
    downloads->Release();
    std::sort(found.begin(), found.end());
    return found;
  };
  EXPECT_EQ(names(nullptr), (std::vector<std::string>{"first", "second"}));
  DO_DOWNLOAD_ENUM_CATEGORY category{DODownloadProperty_DisplayName, L"second"};
  EXPECT_EQ(names(&category), (std::vector<std::string>{"second"}));
  category = {DODownloadProperty_Uri, L"http://127.0.0.1:1/second"};
  EXPECT_EQ(names(&category), (std::vector<std::string>{"second"}));
  std::string first_id = get_string(first.get(), DODownloadProperty_Id);
  for (char& c : first_id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::wstring lower_id = wide(first_id);
  category = {DODownloadProperty_Id, lower_id.c_str()};
  EXPECT_EQ(names(&category), (std::vector<std::string>{"first"}));
  category = {DODownloadProperty_ContentId, L"anything"};
  EXPECT_TRUE(names(&category).empty());
  // A started download with a ContentId is found by it, in either form and any case of its hex.
  const std::string hash(64, 'c');
  origin.make_random_file("content.bin", 1000, 4);
  ASSERT_EQ(set(second.get(), DODownloadProperty_Uri, bstr(origin.url("content.bin"))), S_OK);
  ASSERT_EQ(set(second.get(), DODownloadProperty_LocalPath, bstr(path("content.bin"))), S_OK);
  ASSERT_EQ(set(second.get(), DODownloadProperty_ContentId,
                bstr("magnet:?xt=urn:btmh:1220" + hash + "&dn=content.bin")),
            S_OK);
  ASSERT_EQ(second->Start(nullptr), S_OK);
  const std::wstring by_urn = wide("urn:btmh:1220" + std::string(64, 'C'));
  category = {DODownloadProperty_ContentId, by_urn.c_str()};
  EXPECT_EQ(names(&category), (std::vector<std::string>{"second"}));
  EXPECT_EQ(second->Abort(), S_OK);

  IEnumUnknown* downloads = nullptr;
  category = {DODownloadProperty_CostPolicy, L"0"};
  EXPECT_EQ(manager->EnumDownloads(&category, &downloads), E_INVALIDARG);
  category = {DODownloadProperty_DisplayName, nullptr};
  EXPECT_EQ(manager->EnumDownloads(&category, &downloads), E_INVALIDARG);
  EXPECT_EQ(manager->EnumDownloads(nullptr, nullptr), E_POINTER);
  EXPECT_EQ(manager->CreateDownload(nullptr), E_POINTER);
}

// ContentId: a magnet with the file's BitTorrent v2 info hash (or that hash as urn:btmh), kept
// until Start and given to the file then as its trusted content metadata; GetProperty returns it.
TEST_F(CompatDo, ContentIdGivesTheFileItsContentMetadata) {
  const std::string hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  origin.make_random_file("cid.bin", 200000, 11);
  for (const std::string& content_id :
       {"magnet:?xt=urn:btmh:1220" + hash + "&dn=cid.bin", "urn:btmh:1220" + hash}) {
    SCOPED_TRACE(content_id);
    com_ptr<IDODownload> download = create();
    EXPECT_EQ(get_string(download.get(), DODownloadProperty_ContentId), "");
    ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("cid.bin"))), S_OK);
    const std::string local = path("cid-" + std::to_string(content_id.size()) + ".bin");
    ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(local)), S_OK);
    ASSERT_EQ(set(download.get(), DODownloadProperty_ContentId, bstr(content_id)), S_OK);
    EXPECT_EQ(get_string(download.get(), DODownloadProperty_ContentId), content_id);
    ASSERT_EQ(set(download.get(), DODownloadProperty_BlockingMode, boolean(true)), S_OK);
    // The file still comes over HTTP: nothing else uses the metadata yet.
    ASSERT_EQ(download->Start(nullptr), S_OK);
    const std::string id = get_string(download.get(), DODownloadProperty_Id);
    EXPECT_EQ(modern().open_job(id).info().files.at(0).content_id, "urn:btmh:1220" + hash);
    EXPECT_EQ(get_string(download.get(), DODownloadProperty_ContentId), content_id);
    // Fixed once started: the same content is accepted, another is not.
    EXPECT_EQ(set(download.get(), DODownloadProperty_ContentId, bstr("urn:btmh:1220" + hash)),
              S_OK);
    EXPECT_EQ(set(download.get(), DODownloadProperty_ContentId,
                  bstr("urn:btmh:1220" + std::string(64, 'd'))),
              DO_E_INVALID_STATE);
    EXPECT_EQ(download->Finalize(), S_OK);
    EXPECT_EQ(opendo::test::sha256_file(local),
              opendo::test::sha256_file(origin.docroot() / "cid.bin"));
  }
}

TEST_F(CompatDo, ContentIdRefusesWhatNamesNoV2Content) {
  com_ptr<IDODownload> download = create();
  for (const std::string& bad : std::vector<std::string>{
           "", "content", "magnet:?xt=urn:btih:" + std::string(40, 'a'),
           "urn:btmh:1220" + std::string(63, 'a'), "urn:btmh:1220" + std::string(64, 'g'),
           "magnet:?xt=urn:btmh:1220" + std::string(65, 'a'),
           "magnet:?xt=urn:btmh:1220" + std::string(64, 'a') + "&dn=" + std::string(4096, 'n')}) {
    SCOPED_TRACE(bad.substr(0, 80));
    EXPECT_EQ(set(download.get(), DODownloadProperty_ContentId, bstr(bad)), E_INVALIDARG);
  }
  EXPECT_EQ(set(download.get(), DODownloadProperty_ContentId, ui4(2)), E_INVALIDARG);
  EXPECT_EQ(get_string(download.get(), DODownloadProperty_ContentId), "");
  // A magnet opendod refuses as a whole is refused at Start, which leaves the download as it was;
  // so is a ContentId with ranges (content metadata describes a whole file).
  origin.make_random_file("cid2.bin", 1000, 12);
  ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("cid2.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("cid2.bin"))), S_OK);
  ASSERT_EQ(set(download.get(), DODownloadProperty_ContentId,
                bstr("magnet:?xt=urn:btmh:1220" + std::string(64, 'a') + "&xt=urn:btih:abc")),
            S_OK);
  EXPECT_EQ(download->Start(nullptr), E_INVALIDARG);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Created);
  ASSERT_EQ(set(download.get(), DODownloadProperty_ContentId,
                bstr("urn:btmh:1220" + std::string(64, 'a'))),
            S_OK);
  DO_DOWNLOAD_RANGES_INFO ranges{1, {{0, 10}}};
  EXPECT_EQ(download->Start(&ranges), E_INVALIDARG);
  EXPECT_EQ(status_of(download.get()).State, DODownloadState_Created);
  ASSERT_EQ(download->Start(nullptr), S_OK);
  EXPECT_EQ(download->Abort(), S_OK);
}

// SecurityContext: on Linux a VT_BSTR naming a PEM file with the client certificate and its key
// (Windows' CERT_CONTEXT has no counterpart), read by the library as the caller. Against nginx
// asking for a certificate of its CA (and a server certificate of its own, which SecurityFlags
// accepts): without one the download pauses with nginx's HTTP 400, with one of its CA it gets the
// file. The property is write-only, as in Windows; bad values are E_INVALIDARG.
TEST_F(CompatTest, SecurityContextPresentsAClientCertificate) {
  opendo::test::nginx_options options;
  options.tls = true;
  options.client_certificates = true;
  opendo::test::nginx_server origin(options);
  const std::string digest = origin.make_random_file("s.bin", 200000, 9);
  const fs::path trusted = origin.make_client_certificate("trusted", true);
  com_ptr<IDOManager> manager = do_manager();
  ASSERT_TRUE(manager);
  const auto start = [&](const std::string& name, const VARIANT* context) {
    IDODownload* raw = nullptr;
    EXPECT_EQ(manager->CreateDownload(&raw), S_OK);
    com_ptr<IDODownload> download = com_ptr<IDODownload>::adopt(raw);
    EXPECT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("s.bin"))), S_OK);
    EXPECT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr((out / name).string())), S_OK);
    EXPECT_EQ(
        set(download.get(), DODownloadProperty_SecurityFlags, ui4(SECURITY_FLAG_IGNORE_UNKNOWN_CA)),
        S_OK);
    if (context != nullptr) {
      VARIANT copy = *context;
      EXPECT_EQ(download->SetProperty(DODownloadProperty_SecurityContext, &copy), S_OK);
    }
    EXPECT_EQ(download->Start(nullptr), S_OK);
    EXPECT_TRUE(eventually([&] {
      const DO_DOWNLOAD_STATUS s = status_of(download.get());
      return s.State == DODownloadState_Transferred || s.Error != S_OK;
    }));
    return download;
  };

  com_ptr<IDODownload> refused = start("refused", nullptr);
  EXPECT_EQ(status_of(refused.get()).State, DODownloadState_Paused);
  EXPECT_EQ(status_of(refused.get()).Error, BG_E_HTTP_ERROR_400);
  EXPECT_EQ(refused->Abort(), S_OK);

  VARIANT path = bstr(trusted.string());
  com_ptr<IDODownload> accepted = start("accepted", &path);
  VariantClear(&path);
  ASSERT_EQ(status_of(accepted.get()).State, DODownloadState_Transferred) << daemon.log();
  VARIANT v;
  VariantInit(&v);
  EXPECT_EQ(accepted->GetProperty(DODownloadProperty_SecurityContext, &v),
            DO_E_WRITE_ONLY_PROPERTY);
  EXPECT_EQ(v.vt, VT_EMPTY);
  EXPECT_EQ(accepted->Finalize(), S_OK);
  EXPECT_EQ(opendo::test::sha256_file(out / "accepted"), digest);

  // Bad values change nothing; VT_EMPTY and an empty string remove the certificate.
  IDODownload* raw = nullptr;
  ASSERT_EQ(manager->CreateDownload(&raw), S_OK);
  com_ptr<IDODownload> download = com_ptr<IDODownload>::adopt(raw);
  const std::string id = get_string(download.get(), DODownloadProperty_Id);
  const auto has_certificate = [&] { return modern().open_job(id).info().has_client_certificate; };
  EXPECT_EQ(set(download.get(), DODownloadProperty_SecurityContext, ui4(1)), E_INVALIDARG);
  EXPECT_EQ(
      set(download.get(), DODownloadProperty_SecurityContext, bstr((out / "missing.pem").string())),
      E_INVALIDARG);
  opendo::test::write_file(out / "garbage.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
  EXPECT_EQ(
      set(download.get(), DODownloadProperty_SecurityContext, bstr((out / "garbage.pem").string())),
      E_INVALIDARG);
  EXPECT_EQ(download->SetProperty(DODownloadProperty_SecurityContext, nullptr), E_INVALIDARG);
  EXPECT_FALSE(has_certificate());
  EXPECT_EQ(set(download.get(), DODownloadProperty_SecurityContext, bstr(trusted.string())), S_OK);
  EXPECT_TRUE(has_certificate());
  VARIANT empty;
  VariantInit(&empty);
  EXPECT_EQ(download->SetProperty(DODownloadProperty_SecurityContext, &empty), S_OK);
  EXPECT_FALSE(has_certificate());
  EXPECT_EQ(set(download.get(), DODownloadProperty_SecurityContext, bstr(trusted.string())), S_OK);
  EXPECT_EQ(set(download.get(), DODownloadProperty_SecurityContext, bstr("")), S_OK);
  EXPECT_FALSE(has_certificate());
  EXPECT_EQ(download->Abort(), S_OK);
}

namespace {

// An application's IStream that collects what is written into it, counting references; Write
// fails with `write_error` once `fail_after` bytes were written.
class collecting_stream final : public IStream {
 public:
  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void** ppv) override {
    if (ppv == nullptr) return E_POINTER;
    *ppv = nullptr;
    if (riid != IID_IUnknown && riid != IID_ISequentialStream && riid != IID_IStream) {
      return E_NOINTERFACE;
    }
    *ppv = static_cast<IStream*>(this);
    AddRef();
    return S_OK;
  }
  ULONG STDMETHODCALLTYPE AddRef() override { return static_cast<ULONG>(++refs); }
  ULONG STDMETHODCALLTYPE Release() override {
    const auto left = static_cast<ULONG>(--refs);
    if (left == 0) delete this;
    return left;
  }
  HRESULT STDMETHODCALLTYPE Read(void*, ULONG, ULONG*) override { return E_NOTIMPL; }
  HRESULT STDMETHODCALLTYPE Write(const void* pv, ULONG cb, ULONG* written) override {
    std::lock_guard lock(mutex);
    if (bytes.size() + cb > fail_after) return write_error;
    bytes.append(static_cast<const char*>(pv), cb);
    ++writes;
    if (written != nullptr) *written = cb;
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE Seek(LARGE_INTEGER, DWORD, ULARGE_INTEGER*) override {
    return E_NOTIMPL;
  }
  HRESULT STDMETHODCALLTYPE SetSize(ULARGE_INTEGER) override { return E_NOTIMPL; }
  HRESULT STDMETHODCALLTYPE CopyTo(IStream*, ULARGE_INTEGER, ULARGE_INTEGER*,
                                   ULARGE_INTEGER*) override {
    return E_NOTIMPL;
  }
  HRESULT STDMETHODCALLTYPE Commit(DWORD) override { return S_OK; }
  HRESULT STDMETHODCALLTYPE Revert() override { return E_NOTIMPL; }
  HRESULT STDMETHODCALLTYPE LockRegion(ULARGE_INTEGER, ULARGE_INTEGER, DWORD) override {
    return E_NOTIMPL;
  }
  HRESULT STDMETHODCALLTYPE UnlockRegion(ULARGE_INTEGER, ULARGE_INTEGER, DWORD) override {
    return E_NOTIMPL;
  }
  HRESULT STDMETHODCALLTYPE Stat(STATSTG*, DWORD) override { return E_NOTIMPL; }
  HRESULT STDMETHODCALLTYPE Clone(IStream**) override { return E_NOTIMPL; }

  std::string received() {
    std::lock_guard lock(mutex);
    return bytes;
  }

  std::atomic<LONG> refs{1};
  std::mutex mutex;
  std::string bytes;
  int writes = 0;
  std::size_t fail_after = static_cast<std::size_t>(-1);
  HRESULT write_error = S_OK;
};

}  // namespace

// StreamInterface: the download writes into the application's IStream instead of a LocalPath
// file: exactly the file's bytes, in order; the download reads Transferred once the stream has
// them; Finalize then ends it and releases the stream.
TEST_F(CompatDo, StreamInterfaceReceivesTheFileInOrder) {
  const std::string digest = origin.make_random_file("stream.bin", 1500000, 11);
  auto* stream = new collecting_stream;
  auto* callback = new status_callback;
  {
    com_ptr<IDODownload> download = create();
    ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("stream.bin"))), S_OK);
    ASSERT_EQ(set(download.get(), DODownloadProperty_StreamInterface, unknown(stream)), S_OK);
    EXPECT_EQ(stream->refs.load(), 2);  // the download holds it
    VARIANT v;
    VariantInit(&v);
    ASSERT_EQ(download->GetProperty(DODownloadProperty_StreamInterface, &v), S_OK);
    ASSERT_EQ(v.vt, VT_UNKNOWN);
    EXPECT_EQ(identity(v.punkVal), identity(stream));
    VariantClear(&v);
    ASSERT_EQ(set(download.get(), DODownloadProperty_CallbackInterface, unknown(callback)), S_OK);
    ASSERT_EQ(download->Start(nullptr), S_OK);
    EXPECT_EQ(set(download.get(), DODownloadProperty_StreamInterface, unknown(stream)),
              DO_E_INVALID_STATE);
    ASSERT_TRUE(callback->wait_for_state(DODownloadState_Transferred)) << daemon.log();
    // Transferred only once the stream has every byte.
    EXPECT_EQ(opendo::test::sha256_hex(stream->received()), digest);
    EXPECT_GT(stream->writes, 1);
    EXPECT_EQ(status_of(download.get()).State, DODownloadState_Transferred);
    // The bytes went through a private directory of the caller's, removed at the end.
    const fs::path local = get_string(download.get(), DODownloadProperty_LocalPath);
    ASSERT_FALSE(local.empty());
    EXPECT_EQ(fs::status(local.parent_path()).permissions() & fs::perms::all, fs::perms::owner_all);
    EXPECT_EQ(download->Finalize(), S_OK);
    EXPECT_FALSE(fs::exists(local.parent_path()));
    EXPECT_EQ(stream->refs.load(), 1);  // released when the download ended
    EXPECT_EQ(status_of(download.get()).State, DODownloadState_Finalized);
  }
  EXPECT_EQ(opendo::test::sha256_hex(stream->received()), digest);
  stream->Release();
  callback->Release();
}

// What StreamInterface refuses, and a stream whose Write fails: the download is Paused with that
// HRESULT, cannot be finalized, and Abort releases the stream.
TEST_F(CompatDo, StreamInterfaceRulesAndAFailingWrite) {
  origin.make_random_file("fail.bin", 300000, 12);
  auto* stream = new collecting_stream;
  stream->fail_after = 100000;
  stream->write_error = static_cast<HRESULT>(0x80030070);  // STG_E_MEDIUMFULL
  {
    com_ptr<IDODownload> download = create();
    ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("fail.bin"))), S_OK);
    EXPECT_EQ(set(download.get(), DODownloadProperty_StreamInterface, ui4(1)), E_INVALIDARG);
    auto* callback = new status_callback;  // no IStream
    EXPECT_EQ(set(download.get(), DODownloadProperty_StreamInterface, unknown(callback)),
              E_NOINTERFACE);
    callback->Release();
    ASSERT_EQ(set(download.get(), DODownloadProperty_StreamInterface, unknown(stream)), S_OK);
    ASSERT_EQ(set(download.get(), DODownloadProperty_LocalPath, bstr(path("both"))), S_OK);
    EXPECT_EQ(download->Start(nullptr), E_INVALIDARG);  // a LocalPath and a stream
    DO_DOWNLOAD_RANGES_INFO ranges{};
    ranges.RangeCount = 1;
    ranges.Ranges[0] = {0, 10};
    VARIANT empty;
    VariantInit(&empty);
    // Removing the stream releases it; ranges need a LocalPath.
    ASSERT_EQ(download->SetProperty(DODownloadProperty_StreamInterface, &empty), S_OK);
    EXPECT_EQ(stream->refs.load(), 1);
    EXPECT_EQ(download->Start(&ranges), S_OK);  // to the LocalPath
    EXPECT_EQ(download->Abort(), S_OK);
  }
  {
    com_ptr<IDODownload> download = create();
    ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("fail.bin"))), S_OK);
    ASSERT_EQ(set(download.get(), DODownloadProperty_StreamInterface, unknown(stream)), S_OK);
    DO_DOWNLOAD_RANGES_INFO ranges{};
    ranges.RangeCount = 1;
    ranges.Ranges[0] = {0, 10};
    EXPECT_EQ(download->Start(&ranges), E_INVALIDARG);
    ASSERT_EQ(download->Start(nullptr), S_OK);
    ASSERT_TRUE(eventually([&] { return status_of(download.get()).Error != S_OK; }))
        << daemon.log();
    const DO_DOWNLOAD_STATUS status = status_of(download.get());
    EXPECT_EQ(status.State, DODownloadState_Paused);
    EXPECT_EQ(status.Error, static_cast<HRESULT>(0x80030070));
    EXPECT_EQ(stream->received().size(), 65536U);  // the whole chunks before the failing one
    EXPECT_EQ(stream->received(),
              opendo::test::read_file(origin.docroot() / "fail.bin").substr(0, 65536));
    EXPECT_EQ(download->Finalize(), DO_E_INVALID_STATE);
    EXPECT_EQ(download->Abort(), S_OK);
  }
  EXPECT_TRUE(eventually([&] { return stream->refs.load() == 1; }));
  stream->Release();
}

// BlockingMode with a stream: Start returns once the stream has every byte.
TEST_F(CompatDo, BlockingStartReturnsWhenTheStreamHasTheBytes) {
  const std::string digest = origin.make_random_file("blocking-stream.bin", 700000, 13);
  auto* stream = new collecting_stream;
  {
    com_ptr<IDODownload> download = create();
    ASSERT_EQ(set(download.get(), DODownloadProperty_Uri, bstr(origin.url("blocking-stream.bin"))),
              S_OK);
    ASSERT_EQ(set(download.get(), DODownloadProperty_StreamInterface, unknown(stream)), S_OK);
    ASSERT_EQ(set(download.get(), DODownloadProperty_BlockingMode, boolean(true)), S_OK);
    ASSERT_EQ(download->Start(nullptr), S_OK);
    EXPECT_EQ(opendo::test::sha256_hex(stream->received()), digest);
    EXPECT_EQ(status_of(download.get()).State, DODownloadState_Transferred);
    EXPECT_EQ(download->Finalize(), S_OK);
    EXPECT_EQ(stream->refs.load(), 1);
  }
  stream->Release();
}
