// The BITS job object: IBackgroundCopyJob to IBackgroundCopyJob5 and IDeliveryOptimizationJob on an
// opendo::job. Every call goes to opendod; the object caches nothing but the job's handle.
#include <chrono>
#include <utility>
#include <vector>

#include "compat/convert.hpp"
#include "compat/objects.hpp"
#include "compat/registrations.hpp"

namespace opendo::compat {
namespace {

// GetOwnerIntegrityLevel: Linux has no integrity levels. root's jobs report the level of an
// elevated administrator, everyone else's that of a standard user (winnt.h values).
constexpr ULONG kMediumIntegrity = 0x2000;  // SECURITY_MANDATORY_MEDIUM_RID
constexpr ULONG kHighIntegrity = 0x3000;    // SECURITY_MANDATORY_HIGH_RID

constexpr DWORD kKnownAclFlags = BG_COPY_FILE_ALL;
constexpr DWORD kKnownPeerCachingFlags = BG_JOB_ENABLE_PEERCACHING_CLIENT |
                                         BG_JOB_ENABLE_PEERCACHING_SERVER |
                                         BG_JOB_DISABLE_BRANCH_CACHE;
constexpr DWORD kMaxRangesPerFile = 500;

// The argument checks of AddFileWithRanges that need the caller's arrays; the daemon checks the
// ranges themselves (BG_E_INVALID_RANGE, BG_E_OVERLAPPING_RANGES, BG_E_TOO_MANY_RANGES_IN_FILE).
// IDeliveryOptimizationJob's variant also knows the file's size, and wants the ranges sorted.
std::vector<byte_range> ranges_from(DWORD count, const BG_FILE_RANGE* ranges, UINT64 file_size,
                                    bool sorted) {
  if (ranges == nullptr || count == 0) fail(E_INVALIDARG, "no byte ranges given");
  if (count > kMaxRangesPerFile) {
    fail(BG_E_TOO_MANY_RANGES_IN_FILE, "a file may have at most 500 ranges");
  }
  std::vector<byte_range> out;
  out.reserve(count);
  for (DWORD i = 0; i < count; ++i) {
    const BG_FILE_RANGE& r = ranges[i];
    const bool to_eof = r.Length == BG_LENGTH_TO_EOF;
    if (file_size != DO_UNKNOWN_FILE_SIZE && r.Length != 0 &&
        (r.InitialOffset >= file_size ||
         (!to_eof && (r.InitialOffset > file_size || r.Length > file_size - r.InitialOffset)))) {
      fail(BG_E_INVALID_RANGE, "range " + std::to_string(i) + " lies beyond the end of the file");
    }
    if (sorted && i > 0 && r.InitialOffset < ranges[i - 1].InitialOffset) {
      fail(BG_E_INVALID_RANGE, "the ranges are not sorted by offset");
    }
    out.push_back({r.InitialOffset, r.Length});
  }
  return out;
}

// IDeliveryOptimizationJob's range errors are DO's own codes.
HRESULT do_range_hresult(HRESULT code) {
  if (code == BG_E_INVALID_RANGE) return DO_E_INVALID_RANGE;
  if (code == BG_E_OVERLAPPING_RANGES) return DO_E_OVERLAPPING_RANGES;
  return code;
}

class job_object final
    : public com_object<job_object, IBackgroundCopyJob5, IDeliveryOptimizationJob> {
 public:
  explicit job_object(opendo::job handle) : handle_(std::move(handle)) {}

  IUnknown* find_interface(REFIID riid) {
    if (riid == IID_IUnknown || riid == IID_IBackgroundCopyJob) {
      return static_cast<IBackgroundCopyJob*>(this);
    }
    if (riid == IID_IBackgroundCopyJob2) return static_cast<IBackgroundCopyJob2*>(this);
    if (riid == IID_IBackgroundCopyJob3) return static_cast<IBackgroundCopyJob3*>(this);
    if (riid == IID_IBackgroundCopyJob4) return static_cast<IBackgroundCopyJob4*>(this);
    if (riid == IID_IBackgroundCopyJob5) return static_cast<IBackgroundCopyJob5*>(this);
    if (riid == IID_IDeliveryOptimizationJob) return static_cast<IDeliveryOptimizationJob*>(this);
    return nullptr;
  }

  // ---- IBackgroundCopyJob: files and life cycle

  HRESULT STDMETHODCALLTYPE AddFileSet(ULONG cFileCount, BG_FILE_INFO* pFileSet) override {
    return guard([&] {
      if (cFileCount == 0 || pFileSet == nullptr) fail(E_INVALIDARG, "no files given");
      std::vector<std::pair<std::string, std::string>> files;
      files.reserve(cFileCount);
      for (ULONG i = 0; i < cFileCount; ++i) {
        files.emplace_back(utf8_from_wide(pFileSet[i].RemoteName, "a remote name"),
                           utf8_from_wide(pFileSet[i].LocalName, "a local name"));
      }
      handle_.add_files(files);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE AddFile(LPCWSTR RemoteUrl, LPCWSTR LocalName) override {
    return guard([&] {
      handle_.add_file(utf8_from_wide(RemoteUrl, "the remote URL"),
                       utf8_from_wide(LocalName, "the local name"));
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE EnumFiles(IEnumBackgroundCopyFiles** pEnum) override {
    if (pEnum == nullptr) return E_POINTER;
    *pEnum = nullptr;
    return guard([&] {
      const job_info info = handle_.info();
      std::vector<com_ptr<IBackgroundCopyFile>> files;
      files.reserve(info.files.size());
      for (std::uint32_t i = 0; i < info.files.size(); ++i) files.push_back(make_file(handle_, i));
      *pEnum = make_file_enumerator(std::move(files)).detach();
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE Suspend() override {
    return guard([&] {
      handle_.suspend();
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE Resume() override {
    return guard([&] {
      handle_.resume();
      return S_OK;
    });
  }

  // Cancel and Complete end the job, and with it this process's notification registration.
  HRESULT STDMETHODCALLTYPE Cancel() override {
    return guard([&] {
      const hr result = handle_.cancel();
      unregister_callback(handle_.id());
      return static_cast<HRESULT>(value_of(result));
    });
  }

  HRESULT STDMETHODCALLTYPE Complete() override {
    return guard([&] {
      const hr result = handle_.complete();
      unregister_callback(handle_.id());
      return static_cast<HRESULT>(value_of(result));
    });
  }

  // ---- IBackgroundCopyJob: what the job is

  HRESULT STDMETHODCALLTYPE GetId(GUID* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    return guard([&] {
      *pVal = guid_from_job_id(handle_.id());
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetType(BG_JOB_TYPE* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    *pVal = BG_JOB_TYPE_DOWNLOAD;  // the only type opendo has
    return S_OK;
  }

  HRESULT STDMETHODCALLTYPE GetProgress(BG_JOB_PROGRESS* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    return guard([&] {
      const job_info info = handle_.info();
      pVal->BytesTotal = info.bytes_total;
      pVal->BytesTransferred = info.bytes_transferred;
      pVal->FilesTotal = info.files_total;
      pVal->FilesTransferred = info.files_transferred;
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetTimes(BG_JOB_TIMES* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    return guard([&] {
      const job_times times = handle_.info().times;
      pVal->CreationTime = filetime_from_unix(times.creation);
      pVal->ModificationTime = filetime_from_unix(times.modification);
      pVal->TransferCompletionTime = filetime_from_unix(times.transfer_completion);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetState(BG_JOB_STATE* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    return guard([&] {
      *pVal = static_cast<BG_JOB_STATE>(handle_.info().state);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetError(IBackgroundCopyError** ppError) override {
    if (ppError == nullptr) return E_POINTER;
    *ppError = nullptr;
    return guard([&] {
      const job_info info = handle_.info();
      if (!has_error_state(info.state) || !info.error) return BG_E_ERROR_INFORMATION_UNAVAILABLE;
      *ppError = make_error(handle_, *info.error).detach();
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetOwner(LPWSTR* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    *pVal = nullptr;
    return guard([&] {
      *pVal = task_string(owner_sid(handle_.info().owner_uid));
      return S_OK;
    });
  }

  // ---- IBackgroundCopyJob: properties

  HRESULT STDMETHODCALLTYPE SetDisplayName(LPCWSTR Val) override {
    return guard([&] {
      handle_.set_display_name(utf8_from_wide(Val, "the display name"));
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetDisplayName(LPWSTR* pVal) override {
    return get_string(pVal, [](const job_info& info) { return info.display_name; });
  }

  HRESULT STDMETHODCALLTYPE SetDescription(LPCWSTR Val) override {
    return guard([&] {
      handle_.set_description(utf8_from_wide(Val, "the description"));
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetDescription(LPWSTR* pVal) override {
    return get_string(pVal, [](const job_info& info) { return info.description; });
  }

  HRESULT STDMETHODCALLTYPE SetPriority(BG_JOB_PRIORITY Val) override {
    return guard([&] {
      const std::uint32_t value = raw_value(Val);
      if (value > static_cast<std::uint32_t>(job_priority::low)) {
        fail(E_INVALIDARG, "unknown priority " + std::to_string(value));
      }
      handle_.set_priority(static_cast<job_priority>(value));
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetPriority(BG_JOB_PRIORITY* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    return guard([&] {
      *pVal = static_cast<BG_JOB_PRIORITY>(handle_.info().priority);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE SetNotifyFlags(ULONG Val) override {
    return guard([&] {
      handle_.set_notify_flags(Val);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetNotifyFlags(ULONG* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    return guard([&] {
      *pVal = handle_.info().notify_flags;
      return S_OK;
    });
  }

  // IBackgroundCopyCallback2 is preferred, then IBackgroundCopyCallback; NULL removes the job's
  // registration, this process's or another's. A final job refuses both (BG_E_INVALID_STATE).
  HRESULT STDMETHODCALLTYPE SetNotifyInterface(IUnknown* Val) override {
    return guard([&] {
      if (Val == nullptr) {
        unregister_callback(handle_.id());
        handle_.remove_subscription();
        return S_OK;
      }
      com_ptr<IBackgroundCopyCallback2> callback2 = query<IBackgroundCopyCallback2>(Val);
      com_ptr<IBackgroundCopyCallback> callback;
      if (!callback2) callback = query<IBackgroundCopyCallback>(Val);
      if (!callback2 && !callback) {
        fail(E_NOINTERFACE,
             "the notify interface implements neither IBackgroundCopyCallback2 nor "
             "IBackgroundCopyCallback");
      }
      register_callback(
          registration{handle_.id(), handle_, std::move(callback), std::move(callback2), nullptr},
          dispatch_bits);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetNotifyInterface(IUnknown** pVal) override {
    if (pVal == nullptr) return E_POINTER;
    *pVal = nullptr;
    return guard([&] {
      *pVal = registered_callback(handle_.id()).detach();
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE SetMinimumRetryDelay(ULONG Seconds) override {
    return guard([&] {
      handle_.set_minimum_retry_delay(std::chrono::seconds(Seconds));
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetMinimumRetryDelay(ULONG* Seconds) override {
    if (Seconds == nullptr) return E_POINTER;
    return guard([&] {
      *Seconds = handle_.info().minimum_retry_delay;
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE SetNoProgressTimeout(ULONG Seconds) override {
    return guard([&] {
      handle_.set_no_progress_timeout(std::chrono::seconds(Seconds));
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetNoProgressTimeout(ULONG* Seconds) override {
    if (Seconds == nullptr) return E_POINTER;
    return guard([&] {
      *Seconds = handle_.info().no_progress_timeout;
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetErrorCount(ULONG* Errors) override {
    if (Errors == nullptr) return E_POINTER;
    return guard([&] {
      *Errors = handle_.info().error_count;
      return S_OK;
    });
  }

  // The lists go with BG_JOB_PROXY_USAGE_OVERRIDE only (a list is required then, the bypass list
  // is optional); with any other usage both must be NULL, as on Windows.
  HRESULT STDMETHODCALLTYPE SetProxySettings(BG_JOB_PROXY_USAGE ProxyUsage, const WCHAR* ProxyList,
                                             const WCHAR* ProxyBypassList) override {
    return guard([&] {
      const std::uint32_t usage = raw_value(ProxyUsage);
      if (usage > static_cast<std::uint32_t>(proxy_usage::autodetect)) {
        fail(E_INVALIDARG, "unknown proxy usage " + std::to_string(usage));
      }
      proxy_settings proxy;
      proxy.usage = static_cast<proxy_usage>(usage);
      if (proxy.usage == proxy_usage::override) {
        proxy.proxy_list = utf8_from_wide(ProxyList, "the proxy list");
        if (proxy.proxy_list.empty()) fail(E_INVALIDARG, "the proxy list is empty");
        proxy.bypass_list =
            optional_utf8_from_wide(ProxyBypassList, "the proxy bypass list").value_or("");
      } else if (ProxyList != nullptr || ProxyBypassList != nullptr) {
        fail(E_INVALIDARG, "proxy lists go with BG_JOB_PROXY_USAGE_OVERRIDE only");
      }
      handle_.set_proxy_settings(proxy);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetProxySettings(BG_JOB_PROXY_USAGE* pProxyUsage, LPWSTR* pProxyList,
                                             LPWSTR* pProxyBypassList) override {
    if (pProxyUsage == nullptr || pProxyList == nullptr || pProxyBypassList == nullptr) {
      return E_POINTER;
    }
    *pProxyList = nullptr;
    *pProxyBypassList = nullptr;
    return guard([&] {
      const proxy_settings proxy = handle_.info().proxy;
      LPWSTR list = proxy.proxy_list.empty() ? nullptr : task_string(proxy.proxy_list);
      LPWSTR bypass = nullptr;
      try {
        if (!proxy.bypass_list.empty()) bypass = task_string(proxy.bypass_list);
      } catch (...) {
        CoTaskMemFree(list);
        throw;
      }
      *pProxyUsage = static_cast<BG_JOB_PROXY_USAGE>(proxy.usage);
      *pProxyList = list;
      *pProxyBypassList = bypass;
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE TakeOwnership() override {
    return guard([&] {
      handle_.take_ownership();
      return S_OK;
    });
  }

  // ---- IBackgroundCopyJob2

  // NULL program removes the command (the parameters are then ignored).
  HRESULT STDMETHODCALLTYPE SetNotifyCmdLine(LPCWSTR Program, LPCWSTR Parameters) override {
    return guard([&] {
      if (Program == nullptr) {
        handle_.set_notify_command("", "");
      } else {
        handle_.set_notify_command(
            utf8_from_wide(Program, "the program"),
            optional_utf8_from_wide(Parameters, "the parameters").value_or(""));
      }
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetNotifyCmdLine(LPWSTR* pProgram, LPWSTR* pParameters) override {
    if (pProgram == nullptr || pParameters == nullptr) return E_POINTER;
    *pProgram = nullptr;
    *pParameters = nullptr;
    return guard([&] {
      const notify_command_line command = handle_.info().notify_command;
      if (command.program.empty()) return S_OK;  // none: both stay NULL
      LPWSTR program = task_string(command.program);
      try {
        *pParameters = command.parameters.empty() ? nullptr : task_string(command.parameters);
      } catch (...) {
        CoTaskMemFree(program);
        throw;
      }
      *pProgram = program;
      return S_OK;
    });
  }

  // Upload-reply jobs only: opendo has download jobs, for which Windows answers E_NOTIMPL too.
  HRESULT STDMETHODCALLTYPE GetReplyProgress(BG_JOB_REPLY_PROGRESS*) override { return E_NOTIMPL; }
  HRESULT STDMETHODCALLTYPE GetReplyData(byte** ppBuffer, UINT64* pLength) override {
    if (ppBuffer != nullptr) *ppBuffer = nullptr;
    if (pLength != nullptr) *pLength = 0;
    return E_NOTIMPL;
  }
  HRESULT STDMETHODCALLTYPE SetReplyFileName(LPCWSTR) override { return E_NOTIMPL; }
  HRESULT STDMETHODCALLTYPE GetReplyFileName(LPWSTR* pReplyFileName) override {
    if (pReplyFileName != nullptr) *pReplyFileName = nullptr;
    return E_NOTIMPL;
  }

  // The daemon accepts Basic, Digest and NTLM (E_NOTIMPL for Negotiate and Passport). NULL user
  // name or password count as empty.
  HRESULT STDMETHODCALLTYPE SetCredentials(BG_AUTH_CREDENTIALS* credentials) override {
    return guard([&] {
      if (credentials == nullptr) fail(E_INVALIDARG, "no credentials given");
      const BG_BASIC_CREDENTIALS& basic = credentials->Credentials.Basic;
      handle_.set_credentials(static_cast<auth_target>(raw_value(credentials->Target)),
                              static_cast<auth_scheme>(raw_value(credentials->Scheme)),
                              optional_utf8_from_wide(basic.UserName, "the user name").value_or(""),
                              optional_utf8_from_wide(basic.Password, "the password").value_or(""));
      return S_OK;
    });
  }

  // S_FALSE when the job held no credentials for this target and scheme.
  HRESULT STDMETHODCALLTYPE RemoveCredentials(BG_AUTH_TARGET Target,
                                              BG_AUTH_SCHEME Scheme) override {
    return guard([&] {
      const std::uint32_t target = raw_value(Target);
      const std::uint32_t scheme = raw_value(Scheme);
      if (target < 1 || target > 2 || scheme < 1 || scheme > 5) {
        fail(E_INVALIDARG, "unknown credential target or authentication scheme");
      }
      bool held = false;
      for (const credential_slot& slot : handle_.info().credentials) {
        held = held || (static_cast<std::uint32_t>(slot.target) == target &&
                        static_cast<std::uint32_t>(slot.scheme) == scheme);
      }
      handle_.remove_credentials(static_cast<auth_target>(target),
                                 static_cast<auth_scheme>(scheme));
      return held ? S_OK : S_FALSE;
    });
  }

  // ---- IBackgroundCopyJob3

  // A case-sensitive prefix match on every remote name; files already transferred keep theirs, as
  // BITS never restarts them. S_FALSE when no remote name starts with OldPrefix.
  HRESULT STDMETHODCALLTYPE ReplaceRemotePrefix(LPCWSTR OldPrefix, LPCWSTR NewPrefix) override {
    return guard([&] {
      const std::string old_prefix = utf8_from_wide(OldPrefix, "the old prefix");
      const std::string new_prefix = utf8_from_wide(NewPrefix, "the new prefix");
      if (old_prefix.empty() || new_prefix.empty()) fail(E_INVALIDARG, "a prefix is empty");
      const bool matched = handle_.replace_remote_prefix(old_prefix, new_prefix);
      return matched ? S_OK : S_FALSE;
    });
  }

  HRESULT STDMETHODCALLTYPE AddFileWithRanges(LPCWSTR RemoteUrl, LPCWSTR LocalName,
                                              DWORD RangeCount, BG_FILE_RANGE Ranges[]) override {
    return guard([&] {
      // BITS writes the ranges one after another, in the order given.
      handle_.add_file(file_spec{utf8_from_wide(RemoteUrl, "the remote URL"),
                                 utf8_from_wide(LocalName, "the local name"),
                                 ranges_from(RangeCount, Ranges, DO_UNKNOWN_FILE_SIZE, false),
                                 range_layout::concatenated,
                                 {}});
      return S_OK;
    });
  }

  // Linux files have no Windows ACLs to copy: 0 (copy none) is what opendo does.
  HRESULT STDMETHODCALLTYPE SetFileACLFlags(DWORD Flags) override {
    return guard([&] {
      if ((Flags & ~kKnownAclFlags) != 0) fail(E_INVALIDARG, "unknown ACL flags");
      if (Flags != 0) fail(E_NOTIMPL, "Linux files have no Windows ACLs to copy");
      require_not_final();
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetFileACLFlags(DWORD* Flags) override {
    if (Flags == nullptr) return E_POINTER;
    *Flags = 0;
    return S_OK;
  }

  // ---- IBackgroundCopyJob4

  // Peer caching (BranchCache) is not there: 0 is what opendo does.
  HRESULT STDMETHODCALLTYPE SetPeerCachingFlags(DWORD Flags) override {
    return guard([&] {
      if ((Flags & ~kKnownPeerCachingFlags) != 0) fail(E_INVALIDARG, "unknown peer caching flags");
      handle_.set_peer_caching_flags(Flags);
      return S_OK;
    });
  }

  // 0 while never set, as on Windows; the job then follows opendod's download mode.
  HRESULT STDMETHODCALLTYPE GetPeerCachingFlags(DWORD* pFlags) override {
    if (pFlags == nullptr) return E_POINTER;
    return guard([&] {
      *pFlags = handle_.info().peer_caching_flags.value_or(0);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetOwnerIntegrityLevel(ULONG* pLevel) override {
    if (pLevel == nullptr) return E_POINTER;
    return guard([&] {
      *pLevel = handle_.info().owner_uid == 0 ? kHighIntegrity : kMediumIntegrity;
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetOwnerElevationState(BOOL* pElevated) override {
    if (pElevated == nullptr) return E_POINTER;
    return guard([&] {
      *pElevated = handle_.info().owner_uid == 0 ? TRUE : FALSE;
      return S_OK;
    });
  }

  // Seconds in CONNECTING and TRANSFERRING before BG_E_MAXDOWNLOAD_TIMEOUT; 0 is no limit.
  HRESULT STDMETHODCALLTYPE SetMaximumDownloadTime(ULONG Timeout) override {
    return guard([&] {
      handle_.set_maximum_download_time(std::chrono::seconds(Timeout));
      return S_OK;
    });
  }
  HRESULT STDMETHODCALLTYPE GetMaximumDownloadTime(ULONG* pTimeout) override {
    if (pTimeout == nullptr) return E_POINTER;
    return guard([&] {
      *pTimeout = handle_.info().max_download_time;
      return S_OK;
    });
  }

  // ---- IBackgroundCopyJob5: MAX_DOWNLOAD_SIZE and MINIMUM_NOTIFICATION_INTERVAL_MS are job
  // properties of the daemon. Another property is accepted when its value is what opendo does
  // anyway (transfer on any network, static content...), refused with E_NOTIMPL otherwise;
  // GetProperty says what opendo does.

  HRESULT STDMETHODCALLTYPE SetProperty(BITS_JOB_PROPERTY_ID PropertyId,
                                        BITS_JOB_PROPERTY_VALUE PropertyValue) override {
    return guard([&] {
      bool what_opendo_does = false;
      const std::uint32_t id = raw_value(PropertyId);
      if (id == BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE) {
        handle_.set_maximum_download_size(PropertyValue.Uint64);
        return S_OK;
      }
      if (id == BITS_JOB_PROPERTY_DYNAMIC_CONTENT) {
        handle_.set_dynamic_content(PropertyValue.Enable != FALSE);
        return S_OK;
      }
      if (id == BITS_JOB_PROPERTY_HIGH_PERFORMANCE) {
        handle_.set_high_performance(PropertyValue.Enable != FALSE);
        return S_OK;
      }
      if (id == BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS) {
        handle_.set_minimum_notification_interval(std::chrono::milliseconds(PropertyValue.Dword));
        return S_OK;
      }
      if (id == BITS_JOB_PROPERTY_ID_COST_FLAGS) {
        handle_.set_cost_flags(PropertyValue.Dword);  // unknown bits: E_INVALIDARG
        return S_OK;
      }
      switch (id) {
        case BITS_JOB_PROPERTY_NOTIFICATION_CLSID:
          break;
        case BITS_JOB_PROPERTY_ON_DEMAND_MODE:
          what_opendo_does = PropertyValue.Enable == FALSE;
          break;
        case BITS_JOB_PROPERTY_USE_STORED_CREDENTIALS:
          what_opendo_does = raw_value(PropertyValue.Target) == 0;
          break;
        default:
          fail(E_INVALIDARG, "unknown job property " + std::to_string(id));
      }
      if (!what_opendo_does) {
        fail(E_NOTIMPL, "opendo does not support this value of job property " + std::to_string(id));
      }
      require_not_final();
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetProperty(BITS_JOB_PROPERTY_ID PropertyId,
                                        BITS_JOB_PROPERTY_VALUE* PropertyValue) override {
    if (PropertyValue == nullptr) return E_POINTER;
    const std::uint32_t id = raw_value(PropertyId);
    BITS_JOB_PROPERTY_VALUE value{};
    switch (id) {
      case BITS_JOB_PROPERTY_ID_COST_FLAGS:
        value.Dword = handle_.info().cost_flags;
        break;
      case BITS_JOB_PROPERTY_NOTIFICATION_CLSID:
        value.ClsID = GUID_NULL;
        break;
      case BITS_JOB_PROPERTY_ON_DEMAND_MODE:
        value.Enable = FALSE;
        break;
      case BITS_JOB_PROPERTY_USE_STORED_CREDENTIALS:
        value.Target = static_cast<BG_AUTH_TARGET>(0);
        break;
      case BITS_JOB_PROPERTY_DYNAMIC_CONTENT:
      case BITS_JOB_PROPERTY_HIGH_PERFORMANCE:
      case BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE:
      case BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS:
        return guard([&] {
          *PropertyValue = daemon_property(id, handle_.info());
          return S_OK;
        });
      default:
        return E_INVALIDARG;
    }
    *PropertyValue = value;
    return S_OK;
  }

  // The Job5 properties that the daemon keeps, read from one snapshot of the job.
  static BITS_JOB_PROPERTY_VALUE daemon_property(std::uint32_t id, const job_info& info) {
    BITS_JOB_PROPERTY_VALUE value{};
    if (id == BITS_JOB_PROPERTY_DYNAMIC_CONTENT) {
      value.Enable = info.dynamic_content ? TRUE : FALSE;
    } else if (id == BITS_JOB_PROPERTY_HIGH_PERFORMANCE) {
      value.Enable = info.high_performance ? TRUE : FALSE;
    } else if (id == BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE) {
      value.Uint64 = info.max_download_size;
    } else {
      value.Dword = info.minimum_notification_interval_ms;
    }
    return value;
  }

  // ---- IDeliveryOptimizationJob

  HRESULT STDMETHODCALLTYPE AddFileWithRanges(LPCWSTR fileId, LPCWSTR remoteUrl, LPCWSTR localName,
                                              DWORD rangeCount, BG_FILE_RANGE ranges[],
                                              UINT64 fileSize) override {
    return do_range_hresult(guard([&] {
      // The file id names published content (peer-to-peer); an unpublished file needs none.
      optional_utf8_from_wide(fileId, "the file id");
      file_spec file{utf8_from_wide(remoteUrl, "the remote URL"),
                     utf8_from_wide(localName, "the local name"),
                     {},
                     range_layout::concatenated,
                     {}};
      // The ranges are optional here: none means the whole file.
      if (rangeCount != 0) file.ranges = ranges_from(rangeCount, ranges, fileSize, true);
      handle_.add_file(file);
      return S_OK;
    }));
  }

 private:
  template <typename Field>
  HRESULT get_string(LPWSTR* out, Field field) {
    if (out == nullptr) return E_POINTER;
    *out = nullptr;
    return guard([&] {
      *out = task_string(field(handle_.info()));
      return S_OK;
    });
  }

  // The properties opendo accepts without storing them still refuse a final job, as BITS does.
  void require_not_final() {
    const job_state state = handle_.info().state;
    if (is_final(state)) {
      fail(BG_E_INVALID_STATE, "job " + handle_.id() + " is " + std::string(to_string(state)) +
                                   " and accepts no more changes");
    }
  }

  opendo::job handle_;
};

}  // namespace

com_ptr<IBackgroundCopyJob> make_job(const opendo::job& handle) {
  return make_object<job_object, IBackgroundCopyJob>(handle);
}

}  // namespace opendo::compat
