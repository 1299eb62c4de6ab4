// The BITS job API as Windows declares it (bits.h, bits1_5.h, bits2_0.h, bits3_0.h, bits5_0.h):
// enums, structs, interfaces in Windows' vtable order, IIDs, the BackgroundCopyManager coclass.
//
// Code written for Windows compiles against this header unchanged; libopendo implements the
// interfaces and CoCreateInstance(CLSID_BackgroundCopyManager, ...) returns the manager.
#pragma once

#include "bitsmsg.h"
#include "objbase.h"

// ---------------------------------------------------------------------------------------------
// Constants

#define BG_SIZE_UNKNOWN (static_cast<UINT64>(-1))
#define BG_LENGTH_TO_EOF (static_cast<UINT64>(-1))

// IBackgroundCopyManager::EnumJobs flags
#define BG_JOB_ENUM_ALL_USERS 0x0001

// IBackgroundCopyJob::SetNotifyFlags flags
#define BG_NOTIFY_JOB_TRANSFERRED 0x0001
#define BG_NOTIFY_JOB_ERROR 0x0002
#define BG_NOTIFY_DISABLE 0x0004
#define BG_NOTIFY_JOB_MODIFICATION 0x0008
#define BG_NOTIFY_FILE_TRANSFERRED 0x0010
#define BG_NOTIFY_FILE_RANGES_TRANSFERRED 0x0020

// IBackgroundCopyJob3::SetFileACLFlags flags
#define BG_COPY_FILE_OWNER 0x0001
#define BG_COPY_FILE_GROUP 0x0002
#define BG_COPY_FILE_DACL 0x0004
#define BG_COPY_FILE_SACL 0x0008
#define BG_COPY_FILE_ALL 0x000F

// IBackgroundCopyJob4::SetPeerCachingFlags flags
#define BG_JOB_ENABLE_PEERCACHING_CLIENT 0x0001
#define BG_JOB_ENABLE_PEERCACHING_SERVER 0x0002
#define BG_JOB_DISABLE_BRANCH_CACHE 0x0004

// BITS_JOB_PROPERTY_ID_COST_FLAGS values (bits5_0.h): the network cost states a job may use.
#define BITS_COST_STATE_UNRESTRICTED 0x1
#define BITS_COST_STATE_CAPPED_USAGE_UNKNOWN 0x2
#define BITS_COST_STATE_BELOW_CAP 0x4
#define BITS_COST_STATE_NEAR_CAP 0x8
#define BITS_COST_STATE_OVERCAP_CHARGED 0x10
#define BITS_COST_STATE_OVERCAP_THROTTLED 0x20
#define BITS_COST_STATE_USAGE_BASED 0x40
#define BITS_COST_STATE_ROAMING 0x80
#define BITS_COST_OPTION_IGNORE_CONGESTION 0x80000000
#define BITS_COST_STATE_RESERVED 0x40000000
#define BITS_COST_STATE_TRANSFER_NOT_ROAMING                                                     \
  (BITS_COST_OPTION_IGNORE_CONGESTION | BITS_COST_STATE_USAGE_BASED |                            \
   BITS_COST_STATE_OVERCAP_THROTTLED | BITS_COST_STATE_OVERCAP_CHARGED |                         \
   BITS_COST_STATE_NEAR_CAP | BITS_COST_STATE_BELOW_CAP | BITS_COST_STATE_CAPPED_USAGE_UNKNOWN | \
   BITS_COST_STATE_UNRESTRICTED)
#define BITS_COST_STATE_TRANSFER_NO_SURCHARGE                                                 \
  (BITS_COST_OPTION_IGNORE_CONGESTION | BITS_COST_STATE_USAGE_BASED |                         \
   BITS_COST_STATE_OVERCAP_THROTTLED | BITS_COST_STATE_NEAR_CAP | BITS_COST_STATE_BELOW_CAP | \
   BITS_COST_STATE_CAPPED_USAGE_UNKNOWN | BITS_COST_STATE_UNRESTRICTED)
#define BITS_COST_STATE_TRANSFER_STANDARD                             \
  (BITS_COST_OPTION_IGNORE_CONGESTION | BITS_COST_STATE_USAGE_BASED | \
   BITS_COST_STATE_OVERCAP_THROTTLED | BITS_COST_STATE_BELOW_CAP |    \
   BITS_COST_STATE_CAPPED_USAGE_UNKNOWN | BITS_COST_STATE_UNRESTRICTED)
#define BITS_COST_STATE_TRANSFER_UNRESTRICTED                               \
  (BITS_COST_OPTION_IGNORE_CONGESTION | BITS_COST_STATE_OVERCAP_THROTTLED | \
   BITS_COST_STATE_UNRESTRICTED)
#define BITS_COST_STATE_TRANSFER_ALWAYS                                                          \
  (BITS_COST_OPTION_IGNORE_CONGESTION | BITS_COST_STATE_ROAMING | BITS_COST_STATE_USAGE_BASED |  \
   BITS_COST_STATE_OVERCAP_THROTTLED | BITS_COST_STATE_OVERCAP_CHARGED |                         \
   BITS_COST_STATE_NEAR_CAP | BITS_COST_STATE_BELOW_CAP | BITS_COST_STATE_CAPPED_USAGE_UNKNOWN | \
   BITS_COST_STATE_UNRESTRICTED)

// ---------------------------------------------------------------------------------------------
// Enums

enum BG_JOB_STATE {
  BG_JOB_STATE_QUEUED = 0,
  BG_JOB_STATE_CONNECTING = 1,
  BG_JOB_STATE_TRANSFERRING = 2,
  BG_JOB_STATE_SUSPENDED = 3,
  BG_JOB_STATE_ERROR = 4,
  BG_JOB_STATE_TRANSIENT_ERROR = 5,
  BG_JOB_STATE_TRANSFERRED = 6,
  BG_JOB_STATE_ACKNOWLEDGED = 7,
  BG_JOB_STATE_CANCELLED = 8,
};

enum BG_JOB_TYPE {
  BG_JOB_TYPE_DOWNLOAD = 0,
  BG_JOB_TYPE_UPLOAD = 1,
  BG_JOB_TYPE_UPLOAD_REPLY = 2,
};

enum BG_JOB_PRIORITY {
  BG_JOB_PRIORITY_FOREGROUND = 0,
  BG_JOB_PRIORITY_HIGH = 1,
  BG_JOB_PRIORITY_NORMAL = 2,
  BG_JOB_PRIORITY_LOW = 3,
};

enum BG_JOB_PROXY_USAGE {
  BG_JOB_PROXY_USAGE_PRECONFIG = 0,
  BG_JOB_PROXY_USAGE_NO_PROXY = 1,
  BG_JOB_PROXY_USAGE_OVERRIDE = 2,
  BG_JOB_PROXY_USAGE_AUTODETECT = 3,
};

enum BG_ERROR_CONTEXT {
  BG_ERROR_CONTEXT_NONE = 0,
  BG_ERROR_CONTEXT_UNKNOWN = 1,
  BG_ERROR_CONTEXT_GENERAL_QUEUE_MANAGER = 2,
  BG_ERROR_CONTEXT_QUEUE_MANAGER_NOTIFICATION = 3,
  BG_ERROR_CONTEXT_LOCAL_FILE = 4,
  BG_ERROR_CONTEXT_REMOTE_FILE = 5,
  BG_ERROR_CONTEXT_GENERAL_TRANSPORT = 6,
  BG_ERROR_CONTEXT_REMOTE_APPLICATION = 7,
};

enum BG_AUTH_TARGET {
  BG_AUTH_TARGET_SERVER = 1,
  BG_AUTH_TARGET_PROXY = 2,
};

enum BG_AUTH_SCHEME {
  BG_AUTH_SCHEME_BASIC = 1,
  BG_AUTH_SCHEME_DIGEST = 2,
  BG_AUTH_SCHEME_NTLM = 3,
  BG_AUTH_SCHEME_NEGOTIATE = 4,
  BG_AUTH_SCHEME_PASSPORT = 5,
};

enum BITS_JOB_PROPERTY_ID {
  BITS_JOB_PROPERTY_ID_COST_FLAGS = 1,
  BITS_JOB_PROPERTY_NOTIFICATION_CLSID = 2,
  BITS_JOB_PROPERTY_DYNAMIC_CONTENT = 3,
  BITS_JOB_PROPERTY_HIGH_PERFORMANCE = 4,
  BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE = 5,
  BITS_JOB_PROPERTY_USE_STORED_CREDENTIALS = 7,
  BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS = 9,
  BITS_JOB_PROPERTY_ON_DEMAND_MODE = 10,
};

// ---------------------------------------------------------------------------------------------
// Structs (the layouts of Windows x64: natural alignment, no packing pragmas)

struct BG_FILE_INFO {
  LPWSTR RemoteName;
  LPWSTR LocalName;
};

struct BG_FILE_PROGRESS {
  UINT64 BytesTotal;
  UINT64 BytesTransferred;
  BOOL Completed;
};

struct BG_JOB_PROGRESS {
  UINT64 BytesTotal;
  UINT64 BytesTransferred;
  ULONG FilesTotal;
  ULONG FilesTransferred;
};

struct BG_JOB_TIMES {
  FILETIME CreationTime;
  FILETIME ModificationTime;
  FILETIME TransferCompletionTime;
};

struct BG_JOB_REPLY_PROGRESS {
  UINT64 BytesTotal;
  UINT64 BytesTransferred;
};

struct BG_FILE_RANGE {
  UINT64 InitialOffset;
  UINT64 Length;
};

struct BG_BASIC_CREDENTIALS {
  LPWSTR UserName;
  LPWSTR Password;
};
typedef BG_BASIC_CREDENTIALS* PBG_BASIC_CREDENTIALS;

union BG_AUTH_CREDENTIALS_UNION {
  BG_BASIC_CREDENTIALS Basic;
};
typedef BG_AUTH_CREDENTIALS_UNION* PBG_AUTH_CREDENTIALS_UNION;

struct BG_AUTH_CREDENTIALS {
  BG_AUTH_TARGET Target;
  BG_AUTH_SCHEME Scheme;
  BG_AUTH_CREDENTIALS_UNION Credentials;
};
typedef BG_AUTH_CREDENTIALS* PBG_AUTH_CREDENTIALS;

union BITS_JOB_PROPERTY_VALUE {
  DWORD Dword;
  GUID ClsID;
  BOOL Enable;
  UINT64 Uint64;
  BG_AUTH_TARGET Target;
};

// ---------------------------------------------------------------------------------------------
// Interfaces. Each uuid is declared before its interface so __uuidof works on incomplete types.

struct IBackgroundCopyFile;
struct IBackgroundCopyFile2;
struct IBackgroundCopyFile3;
struct IBackgroundCopyFile4;
struct IEnumBackgroundCopyFiles;
struct IBackgroundCopyError;
struct IBackgroundCopyJob;
struct IBackgroundCopyJob2;
struct IBackgroundCopyJob3;
struct IBackgroundCopyJob4;
struct IBackgroundCopyJob5;
struct IEnumBackgroundCopyJobs;
struct IBackgroundCopyCallback;
struct IBackgroundCopyCallback2;
struct IBackgroundCopyManager;
class BackgroundCopyManager;  // the coclass: only its uuid matters

OPENDO_DECLARE_UUID(IBackgroundCopyFile, "01B7BD23-FB88-4A77-8490-5891D3E4653A");
OPENDO_DECLARE_UUID(IBackgroundCopyFile2, "83E81B93-0873-474D-8A8C-F2018B1A939C");
OPENDO_DECLARE_UUID(IBackgroundCopyFile3, "659CDEAA-489E-11D9-A9CD-000D56965251");
OPENDO_DECLARE_UUID(IBackgroundCopyFile4, "EF7E0655-7888-4960-B0E5-730846E03492");
OPENDO_DECLARE_UUID(IEnumBackgroundCopyFiles, "CA51E165-C365-424C-8D41-24AAA4FF3C40");
OPENDO_DECLARE_UUID(IBackgroundCopyError, "19C613A0-FCB8-4F28-81AE-897C3D078F81");
OPENDO_DECLARE_UUID(IBackgroundCopyJob, "37668D37-507E-4160-9316-26306D150B12");
OPENDO_DECLARE_UUID(IBackgroundCopyJob2, "54B50739-686F-45EB-9DFF-D6A9A0FAA9AF");
OPENDO_DECLARE_UUID(IBackgroundCopyJob3, "443C8934-90FF-48ED-BCDE-26F5C7450042");
OPENDO_DECLARE_UUID(IBackgroundCopyJob4, "659CDEAE-489E-11D9-A9CD-000D56965251");
OPENDO_DECLARE_UUID(IBackgroundCopyJob5, "E847030C-BBBA-4657-AF6D-484AA42BF1FE");
OPENDO_DECLARE_UUID(IEnumBackgroundCopyJobs, "1AF4F612-3B71-466F-8F58-7B6F73AC57AD");
OPENDO_DECLARE_UUID(IBackgroundCopyCallback, "97EA99C7-0186-4AD4-8DF9-C5B4E0ED6B22");
OPENDO_DECLARE_UUID(IBackgroundCopyCallback2, "659CDEAC-489E-11D9-A9CD-000D56965251");
OPENDO_DECLARE_UUID(IBackgroundCopyManager, "5CE34C0D-0DC9-4C1F-897C-DAA1B78CEE7C");
OPENDO_DECLARE_UUID(BackgroundCopyManager, "4991D34B-80A1-4291-83B6-3328366B9097");

inline constexpr IID IID_IBackgroundCopyFile = __uuidof(IBackgroundCopyFile);
inline constexpr IID IID_IBackgroundCopyFile2 = __uuidof(IBackgroundCopyFile2);
inline constexpr IID IID_IBackgroundCopyFile3 = __uuidof(IBackgroundCopyFile3);
inline constexpr IID IID_IBackgroundCopyFile4 = __uuidof(IBackgroundCopyFile4);
inline constexpr IID IID_IEnumBackgroundCopyFiles = __uuidof(IEnumBackgroundCopyFiles);
inline constexpr IID IID_IBackgroundCopyError = __uuidof(IBackgroundCopyError);
inline constexpr IID IID_IBackgroundCopyJob = __uuidof(IBackgroundCopyJob);
inline constexpr IID IID_IBackgroundCopyJob2 = __uuidof(IBackgroundCopyJob2);
inline constexpr IID IID_IBackgroundCopyJob3 = __uuidof(IBackgroundCopyJob3);
inline constexpr IID IID_IBackgroundCopyJob4 = __uuidof(IBackgroundCopyJob4);
inline constexpr IID IID_IBackgroundCopyJob5 = __uuidof(IBackgroundCopyJob5);
inline constexpr IID IID_IEnumBackgroundCopyJobs = __uuidof(IEnumBackgroundCopyJobs);
inline constexpr IID IID_IBackgroundCopyCallback = __uuidof(IBackgroundCopyCallback);
inline constexpr IID IID_IBackgroundCopyCallback2 = __uuidof(IBackgroundCopyCallback2);
inline constexpr IID IID_IBackgroundCopyManager = __uuidof(IBackgroundCopyManager);
inline constexpr CLSID CLSID_BackgroundCopyManager = __uuidof(BackgroundCopyManager);

struct IBackgroundCopyFile : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE GetRemoteName(LPWSTR* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetLocalName(LPWSTR* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetProgress(BG_FILE_PROGRESS* pVal) = 0;
};

struct IBackgroundCopyFile2 : public IBackgroundCopyFile {
  virtual HRESULT STDMETHODCALLTYPE GetFileRanges(DWORD* RangeCount, BG_FILE_RANGE** Ranges) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetRemoteName(LPCWSTR Val) = 0;
};

// BITS 3.0 (bits3_0.h).
struct IBackgroundCopyFile3 : public IBackgroundCopyFile2 {
  virtual HRESULT STDMETHODCALLTYPE GetTemporaryName(LPWSTR* pFilename) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetValidationState(BOOL state) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetValidationState(BOOL* pState) = 0;
  virtual HRESULT STDMETHODCALLTYPE IsDownloadedFromPeer(BOOL* pVal) = 0;
};

// BITS 4.0 (bits4_0.h).
struct IBackgroundCopyFile4 : public IBackgroundCopyFile3 {
  virtual HRESULT STDMETHODCALLTYPE GetPeerDownloadStats(PUINT64 pFromOrigin,
                                                         PUINT64 pFromPeers) = 0;
};

struct IEnumBackgroundCopyFiles : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE Next(ULONG celt, IBackgroundCopyFile** rgelt,
                                         ULONG* pceltFetched) = 0;
  virtual HRESULT STDMETHODCALLTYPE Skip(ULONG celt) = 0;
  virtual HRESULT STDMETHODCALLTYPE Reset() = 0;
  virtual HRESULT STDMETHODCALLTYPE Clone(IEnumBackgroundCopyFiles** ppenum) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetCount(ULONG* puCount) = 0;
};

struct IBackgroundCopyError : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE GetError(BG_ERROR_CONTEXT* pContext, HRESULT* pCode) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetFile(IBackgroundCopyFile** pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetErrorDescription(DWORD LanguageId,
                                                        LPWSTR* pErrorDescription) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetErrorContextDescription(DWORD LanguageId,
                                                               LPWSTR* pContextDescription) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetProtocol(LPWSTR* pProtocol) = 0;
};

struct IBackgroundCopyJob : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE AddFileSet(ULONG cFileCount, BG_FILE_INFO* pFileSet) = 0;
  virtual HRESULT STDMETHODCALLTYPE AddFile(LPCWSTR RemoteUrl, LPCWSTR LocalName) = 0;
  virtual HRESULT STDMETHODCALLTYPE EnumFiles(IEnumBackgroundCopyFiles** pEnum) = 0;
  virtual HRESULT STDMETHODCALLTYPE Suspend() = 0;
  virtual HRESULT STDMETHODCALLTYPE Resume() = 0;
  virtual HRESULT STDMETHODCALLTYPE Cancel() = 0;
  virtual HRESULT STDMETHODCALLTYPE Complete() = 0;
  virtual HRESULT STDMETHODCALLTYPE GetId(GUID* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetType(BG_JOB_TYPE* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetProgress(BG_JOB_PROGRESS* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetTimes(BG_JOB_TIMES* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetState(BG_JOB_STATE* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetError(IBackgroundCopyError** ppError) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetOwner(LPWSTR* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetDisplayName(LPCWSTR Val) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetDisplayName(LPWSTR* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetDescription(LPCWSTR Val) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetDescription(LPWSTR* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetPriority(BG_JOB_PRIORITY Val) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetPriority(BG_JOB_PRIORITY* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetNotifyFlags(ULONG Val) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetNotifyFlags(ULONG* pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetNotifyInterface(IUnknown* Val) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetNotifyInterface(IUnknown** pVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetMinimumRetryDelay(ULONG Seconds) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetMinimumRetryDelay(ULONG* Seconds) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetNoProgressTimeout(ULONG Seconds) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetNoProgressTimeout(ULONG* Seconds) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetErrorCount(ULONG* Errors) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetProxySettings(BG_JOB_PROXY_USAGE ProxyUsage,
                                                     const WCHAR* ProxyList,
                                                     const WCHAR* ProxyBypassList) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetProxySettings(BG_JOB_PROXY_USAGE* pProxyUsage,
                                                     LPWSTR* pProxyList,
                                                     LPWSTR* pProxyBypassList) = 0;
  virtual HRESULT STDMETHODCALLTYPE TakeOwnership() = 0;
};

struct IBackgroundCopyJob2 : public IBackgroundCopyJob {
  virtual HRESULT STDMETHODCALLTYPE SetNotifyCmdLine(LPCWSTR Program, LPCWSTR Parameters) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetNotifyCmdLine(LPWSTR* pProgram, LPWSTR* pParameters) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetReplyProgress(BG_JOB_REPLY_PROGRESS* pProgress) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetReplyData(byte** ppBuffer, UINT64* pLength) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetReplyFileName(LPCWSTR ReplyFileName) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetReplyFileName(LPWSTR* pReplyFileName) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetCredentials(BG_AUTH_CREDENTIALS* credentials) = 0;
  virtual HRESULT STDMETHODCALLTYPE RemoveCredentials(BG_AUTH_TARGET Target,
                                                      BG_AUTH_SCHEME Scheme) = 0;
};

struct IBackgroundCopyJob3 : public IBackgroundCopyJob2 {
  virtual HRESULT STDMETHODCALLTYPE ReplaceRemotePrefix(LPCWSTR OldPrefix, LPCWSTR NewPrefix) = 0;
  virtual HRESULT STDMETHODCALLTYPE AddFileWithRanges(LPCWSTR RemoteUrl, LPCWSTR LocalName,
                                                      DWORD RangeCount, BG_FILE_RANGE Ranges[]) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetFileACLFlags(DWORD Flags) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetFileACLFlags(DWORD* Flags) = 0;
};

struct IBackgroundCopyJob4 : public IBackgroundCopyJob3 {
  virtual HRESULT STDMETHODCALLTYPE SetPeerCachingFlags(DWORD Flags) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetPeerCachingFlags(DWORD* pFlags) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetOwnerIntegrityLevel(ULONG* pLevel) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetOwnerElevationState(BOOL* pElevated) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetMaximumDownloadTime(ULONG Timeout) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetMaximumDownloadTime(ULONG* pTimeout) = 0;
};

struct IBackgroundCopyJob5 : public IBackgroundCopyJob4 {
  virtual HRESULT STDMETHODCALLTYPE SetProperty(BITS_JOB_PROPERTY_ID PropertyId,
                                                BITS_JOB_PROPERTY_VALUE PropertyValue) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetProperty(BITS_JOB_PROPERTY_ID PropertyId,
                                                BITS_JOB_PROPERTY_VALUE* PropertyValue) = 0;
};

struct IEnumBackgroundCopyJobs : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE Next(ULONG celt, IBackgroundCopyJob** rgelt,
                                         ULONG* pceltFetched) = 0;
  virtual HRESULT STDMETHODCALLTYPE Skip(ULONG celt) = 0;
  virtual HRESULT STDMETHODCALLTYPE Reset() = 0;
  virtual HRESULT STDMETHODCALLTYPE Clone(IEnumBackgroundCopyJobs** ppenum) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetCount(ULONG* puCount) = 0;
};

struct IBackgroundCopyCallback : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE JobTransferred(IBackgroundCopyJob* pJob) = 0;
  virtual HRESULT STDMETHODCALLTYPE JobError(IBackgroundCopyJob* pJob,
                                             IBackgroundCopyError* pError) = 0;
  virtual HRESULT STDMETHODCALLTYPE JobModification(IBackgroundCopyJob* pJob, DWORD dwReserved) = 0;
};

struct IBackgroundCopyCallback2 : public IBackgroundCopyCallback {
  virtual HRESULT STDMETHODCALLTYPE FileTransferred(IBackgroundCopyJob* pJob,
                                                    IBackgroundCopyFile* pFile) = 0;
};

struct IBackgroundCopyManager : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE CreateJob(LPCWSTR DisplayName, BG_JOB_TYPE Type, GUID* pJobId,
                                              IBackgroundCopyJob** ppJob) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetJob(REFGUID jobID, IBackgroundCopyJob** ppJob) = 0;
  virtual HRESULT STDMETHODCALLTYPE EnumJobs(DWORD dwFlags, IEnumBackgroundCopyJobs** ppEnum) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetErrorDescription(HRESULT hResult, DWORD LanguageId,
                                                        LPWSTR* pErrorDescription) = 0;
};
