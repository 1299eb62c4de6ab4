// The Windows-compatible headers: code written against bits.h / DeliveryOptimization.h sees the
// same types, values, uuids, signatures and vtable order as on Windows; the COM shim acts as COM.
//
// The Windows header names come first and through the compat include directory, as ported code
// includes them.
#include <windows.h>

#include <bits.h>
#include <deliveryoptimization.h>
#include <unknwn.h>
#include <winhttp.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cwchar>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

// ---------------------------------------------------------------------------------------------
// Types and struct layouts (Windows x64)

static_assert(sizeof(GUID) == 16);
static_assert(sizeof(BYTE) == 1 && sizeof(WORD) == 2 && sizeof(DWORD) == 4);
static_assert(sizeof(LONG) == 4 && std::is_signed_v<LONG>);
static_assert(sizeof(ULONG) == 4 && std::is_unsigned_v<ULONG>);
static_assert(sizeof(HRESULT) == 4 && std::is_signed_v<HRESULT>);
static_assert(std::is_same_v<HRESULT, LONG>);  // as on Windows, where both are `long`
static_assert(std::is_same_v<DWORD, ULONG>);
static_assert(sizeof(BOOL) == 4 && sizeof(UINT) == 4 && sizeof(INT) == 4);
static_assert(sizeof(UINT64) == 8 && sizeof(ULONGLONG) == 8 && sizeof(LONGLONG) == 8);
static_assert(sizeof(LANGID) == 2 && sizeof(LCID) == 4);
static_assert(sizeof(VARTYPE) == 2 && sizeof(VARIANT_BOOL) == 2);
static_assert(std::is_same_v<WCHAR, wchar_t> && std::is_same_v<BSTR, wchar_t*>);
static_assert(std::is_same_v<REFIID, const GUID&> && std::is_same_v<REFCLSID, const GUID&>);
static_assert(sizeof(FILETIME) == 8);

static_assert(sizeof(BG_FILE_INFO) == 2 * sizeof(void*));
// DO SecurityFlags values (winhttp.h).
static_assert(SECURITY_FLAG_IGNORE_UNKNOWN_CA == 0x100 &&
              SECURITY_FLAG_IGNORE_CERT_WRONG_USAGE == 0x200 &&
              SECURITY_FLAG_IGNORE_CERT_CN_INVALID == 0x1000 &&
              SECURITY_FLAG_IGNORE_CERT_DATE_INVALID == 0x2000);
static_assert(sizeof(BG_FILE_PROGRESS) == 24 && offsetof(BG_FILE_PROGRESS, Completed) == 16);
static_assert(sizeof(BG_JOB_PROGRESS) == 24 && offsetof(BG_JOB_PROGRESS, FilesTotal) == 16 &&
              offsetof(BG_JOB_PROGRESS, FilesTransferred) == 20);
static_assert(sizeof(BG_JOB_TIMES) == 24 && offsetof(BG_JOB_TIMES, TransferCompletionTime) == 16);
static_assert(sizeof(BG_JOB_REPLY_PROGRESS) == 16);
static_assert(sizeof(BG_FILE_RANGE) == 16 && offsetof(BG_FILE_RANGE, Length) == 8);
static_assert(sizeof(BG_BASIC_CREDENTIALS) == 2 * sizeof(void*));
static_assert(offsetof(BG_AUTH_CREDENTIALS, Credentials) == 8);
static_assert(sizeof(BITS_JOB_PROPERTY_VALUE) == 16);
static_assert(sizeof(DO_DOWNLOAD_STATUS) == 32 && offsetof(DO_DOWNLOAD_STATUS, State) == 16 &&
              offsetof(DO_DOWNLOAD_STATUS, Error) == 20 &&
              offsetof(DO_DOWNLOAD_STATUS, ExtendedError) == 24);
static_assert(sizeof(DO_DOWNLOAD_RANGE) == 16);
static_assert(sizeof(DO_DOWNLOAD_RANGES_INFO) == 24 &&
              offsetof(DO_DOWNLOAD_RANGES_INFO, Ranges) == 8);
static_assert(offsetof(DO_DOWNLOAD_ENUM_CATEGORY, Value) == sizeof(void*));
static_assert(offsetof(VARIANT, vt) == 0 && offsetof(VARIANT, wReserved3) == 6 &&
              offsetof(VARIANT, lVal) == 8 && offsetof(VARIANT, bstrVal) == 8);
static_assert(sizeof(SAFEARRAYBOUND) == 8);

static_assert(BG_SIZE_UNKNOWN == 0xFFFFFFFFFFFFFFFFULL && BG_LENGTH_TO_EOF == BG_SIZE_UNKNOWN &&
              DO_LENGTH_TO_EOF == BG_SIZE_UNKNOWN);
static_assert(INFINITE == 0xFFFFFFFFU);

// ---------------------------------------------------------------------------------------------
// Enum values and flags, from the reference

static_assert(BG_JOB_STATE_QUEUED == 0 && BG_JOB_STATE_CONNECTING == 1 &&
              BG_JOB_STATE_TRANSFERRING == 2 && BG_JOB_STATE_SUSPENDED == 3 &&
              BG_JOB_STATE_ERROR == 4 && BG_JOB_STATE_TRANSIENT_ERROR == 5 &&
              BG_JOB_STATE_TRANSFERRED == 6 && BG_JOB_STATE_ACKNOWLEDGED == 7 &&
              BG_JOB_STATE_CANCELLED == 8);
static_assert(BG_JOB_TYPE_DOWNLOAD == 0 && BG_JOB_TYPE_UPLOAD == 1 &&
              BG_JOB_TYPE_UPLOAD_REPLY == 2);
static_assert(BG_JOB_PRIORITY_FOREGROUND == 0 && BG_JOB_PRIORITY_HIGH == 1 &&
              BG_JOB_PRIORITY_NORMAL == 2 && BG_JOB_PRIORITY_LOW == 3);
static_assert(BG_JOB_PROXY_USAGE_PRECONFIG == 0 && BG_JOB_PROXY_USAGE_NO_PROXY == 1 &&
              BG_JOB_PROXY_USAGE_OVERRIDE == 2 && BG_JOB_PROXY_USAGE_AUTODETECT == 3);
static_assert(BG_ERROR_CONTEXT_NONE == 0 && BG_ERROR_CONTEXT_UNKNOWN == 1 &&
              BG_ERROR_CONTEXT_GENERAL_QUEUE_MANAGER == 2 &&
              BG_ERROR_CONTEXT_QUEUE_MANAGER_NOTIFICATION == 3 &&
              BG_ERROR_CONTEXT_LOCAL_FILE == 4 && BG_ERROR_CONTEXT_REMOTE_FILE == 5 &&
              BG_ERROR_CONTEXT_GENERAL_TRANSPORT == 6 && BG_ERROR_CONTEXT_REMOTE_APPLICATION == 7);
static_assert(BG_NOTIFY_JOB_TRANSFERRED == 0x1 && BG_NOTIFY_JOB_ERROR == 0x2 &&
              BG_NOTIFY_DISABLE == 0x4 && BG_NOTIFY_JOB_MODIFICATION == 0x8 &&
              BG_NOTIFY_FILE_TRANSFERRED == 0x10 && BG_NOTIFY_FILE_RANGES_TRANSFERRED == 0x20);
static_assert(BG_JOB_ENUM_ALL_USERS == 0x1);
static_assert(BG_AUTH_TARGET_SERVER == 1 && BG_AUTH_TARGET_PROXY == 2);
static_assert(BG_AUTH_SCHEME_BASIC == 1 && BG_AUTH_SCHEME_DIGEST == 2 && BG_AUTH_SCHEME_NTLM == 3 &&
              BG_AUTH_SCHEME_NEGOTIATE == 4 && BG_AUTH_SCHEME_PASSPORT == 5);
static_assert(BITS_JOB_PROPERTY_ID_COST_FLAGS == 1 && BITS_JOB_PROPERTY_NOTIFICATION_CLSID == 2 &&
              BITS_JOB_PROPERTY_DYNAMIC_CONTENT == 3 && BITS_JOB_PROPERTY_HIGH_PERFORMANCE == 4 &&
              BITS_JOB_PROPERTY_MAX_DOWNLOAD_SIZE == 5 &&
              BITS_JOB_PROPERTY_USE_STORED_CREDENTIALS == 7 &&
              BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS == 9 &&
              BITS_JOB_PROPERTY_ON_DEMAND_MODE == 10);
static_assert(BITS_COST_STATE_TRANSFER_NOT_ROAMING == 0x8000007FU &&
              BITS_COST_STATE_TRANSFER_NO_SURCHARGE == 0x8000006FU &&
              BITS_COST_STATE_TRANSFER_STANDARD == 0x80000067U &&
              BITS_COST_STATE_TRANSFER_UNRESTRICTED == 0x80000021U &&
              BITS_COST_STATE_TRANSFER_ALWAYS == 0x800000FFU);

static_assert(DODownloadState_Created == 0 && DODownloadState_Transferring == 1 &&
              DODownloadState_Transferred == 2 && DODownloadState_Finalized == 3 &&
              DODownloadState_Aborted == 4 && DODownloadState_Paused == 5);
static_assert(DODownloadCostPolicy_Always == 0 && DODownloadCostPolicy_Unrestricted == 1 &&
              DODownloadCostPolicy_Standard == 2 && DODownloadCostPolicy_NoRoaming == 3 &&
              DODownloadCostPolicy_NoSurcharge == 4 && DODownloadCostPolicy_NoCellular == 5);
static_assert(
    DODownloadProperty_Id == 0 && DODownloadProperty_Uri == 1 &&
    DODownloadProperty_ContentId == 2 && DODownloadProperty_DisplayName == 3 &&
    DODownloadProperty_LocalPath == 4 && DODownloadProperty_HttpCustomHeaders == 5 &&
    DODownloadProperty_CostPolicy == 6 && DODownloadProperty_SecurityFlags == 7 &&
    DODownloadProperty_CallbackFreqPercent == 8 && DODownloadProperty_CallbackFreqSeconds == 9 &&
    DODownloadProperty_NoProgressTimeoutSeconds == 10 &&
    DODownloadProperty_ForegroundPriority == 11 && DODownloadProperty_BlockingMode == 12 &&
    DODownloadProperty_CallbackInterface == 13 && DODownloadProperty_StreamInterface == 14 &&
    DODownloadProperty_SecurityContext == 15 && DODownloadProperty_NetworkToken == 16 &&
    DODownloadProperty_CorrelationVector == 17 && DODownloadProperty_DecryptionInfo == 18 &&
    DODownloadProperty_IntegrityCheckInfo == 19 &&
    DODownloadProperty_IntegrityCheckMandatory == 20 && DODownloadProperty_TotalSizeBytes == 21 &&
    DODownloadProperty_DisallowOnCellular == 22 && DODownloadProperty_HttpCustomAuthHeaders == 23 &&
    DODownloadProperty_HttpAllowSecureToNonSecureRedirect == 24 &&
    DODownloadProperty_NonVolatile == 25 && DODownloadProperty_HttpRedirectionTarget == 26 &&
    DODownloadProperty_HttpResponseHeaders == 27 && DODownloadProperty_HttpServerIPAddress == 28 &&
    DODownloadProperty_HttpStatusCode == 29);
static_assert(DODownloadMode_HttpOnly == 0 && DODownloadMode_Lan == 1 &&
              DODownloadMode_Group == 2 && DODownloadMode_Internet == 3 &&
              DODownloadMode_Simple == 99 && DODownloadMode_Bypass == 100);
static_assert(VT_EMPTY == 0 && VT_I4 == 3 && VT_BSTR == 8 && VT_BOOL == 11 && VT_UNKNOWN == 13 &&
              VT_UI1 == 17 && VT_UI4 == 19 && VT_UI8 == 21 && VT_ARRAY == 0x2000);
static_assert(COINIT_APARTMENTTHREADED == 0x2 && COINIT_MULTITHREADED == 0x0);
static_assert(CLSCTX_INPROC_SERVER == 0x1 && CLSCTX_LOCAL_SERVER == 0x4 && CLSCTX_ALL == 0x17);

// ---------------------------------------------------------------------------------------------
// HRESULTs

struct NamedCode {
  HRESULT value;
  std::uint32_t expected;
  const char* name;
};
#define CODE(name, expected) \
  { name, expected, #name }

const NamedCode kCodes[] = {
    CODE(S_OK, 0x00000000U),
    CODE(S_FALSE, 0x00000001U),
    CODE(NOERROR, 0x00000000U),
    CODE(E_NOTIMPL, 0x80004001U),
    CODE(E_NOINTERFACE, 0x80004002U),
    CODE(E_POINTER, 0x80004003U),
    CODE(E_FAIL, 0x80004005U),
    CODE(E_UNEXPECTED, 0x8000FFFFU),
    CODE(E_ACCESSDENIED, 0x80070005U),
    CODE(E_OUTOFMEMORY, 0x8007000EU),
    CODE(E_INVALIDARG, 0x80070057U),
    CODE(RPC_E_CHANGED_MODE, 0x80010106U),
    CODE(CO_E_NOTINITIALIZED, 0x800401F0U),
    CODE(REGDB_E_CLASSNOTREG, 0x80040154U),
    CODE(BG_S_PARTIAL_COMPLETE, 0x00200017U),
    CODE(BG_S_UNABLE_TO_DELETE_FILES, 0x0020001AU),
    CODE(BG_E_NOT_FOUND, 0x80200001U),
    CODE(BG_E_INVALID_STATE, 0x80200002U),
    CODE(BG_E_EMPTY, 0x80200003U),
    CODE(BG_E_FILE_NOT_AVAILABLE, 0x80200004U),
    CODE(BG_E_DESTINATION_LOCKED, 0x8020000DU),
    CODE(BG_E_ERROR_INFORMATION_UNAVAILABLE, 0x8020000FU),
    CODE(BG_E_NETWORK_DISCONNECTED, 0x80200010U),
    CODE(BG_E_MISSING_FILE_SIZE, 0x80200011U),
    CODE(BG_E_INSUFFICIENT_HTTP_SUPPORT, 0x80200012U),
    CODE(BG_E_INSUFFICIENT_RANGE_SUPPORT, 0x80200013U),
    CODE(BG_E_TOO_MANY_FILES, 0x8020001CU),
    CODE(BG_E_LOCAL_FILE_CHANGED, 0x8020001DU),
    CODE(BG_E_TOO_LARGE, 0x80200020U),
    CODE(BG_E_STRING_TOO_LONG, 0x80200021U),
    CODE(BG_E_INVALID_RANGE, 0x8020002BU),
    CODE(BG_E_OVERLAPPING_RANGES, 0x8020002CU),
    CODE(BG_E_TOO_MANY_JOBS_PER_USER, 0x80200049U),
    CODE(BG_E_TOO_MANY_JOBS_PER_MACHINE, 0x80200050U),
    CODE(BG_E_TOO_MANY_FILES_IN_JOB, 0x80200051U),
    CODE(BG_E_TOO_MANY_RANGES_IN_FILE, 0x80200052U),
    CODE(BG_E_VALIDATION_FAILED, 0x80200053U),
    CODE(BG_E_MAXDOWNLOAD_TIMEOUT, 0x80200054U),
    CODE(BG_E_READ_ONLY_PROPERTY_AFTER_RESUME, 0x80200062U),
    CODE(BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED, 0x80200064U),
    CODE(BG_E_HTTP_ERROR_404, 0x80190194U),
    CODE(BG_E_HTTP_ERROR_503, 0x801901F7U),
    CODE(DO_E_NO_SERVICE, 0x80D01001U),
    CODE(DO_E_DOWNLOAD_NO_PROGRESS, 0x80D02002U),
    CODE(DO_E_JOB_NOT_FOUND, 0x80D02003U),
    CODE(DO_E_JOB_EMPTY, 0x80D02004U),
    CODE(DO_E_NO_DOWNLOADS, 0x80D02005U),
    CODE(DO_E_FILE_NOT_AVAILABLE, 0x80D02010U),
    CODE(DO_E_UNKNOWN_PROPERTY_ID, 0x80D02011U),
    CODE(DO_E_READ_ONLY_PROPERTY, 0x80D02012U),
    CODE(DO_E_INVALID_STATE, 0x80D02013U),
    CODE(DO_E_ERROR_INFORMATION_UNAVAILABLE, 0x80D02014U),
    CODE(DO_E_WRITE_ONLY_PROPERTY, 0x80D02015U),
    CODE(DO_E_DOWNLOAD_NO_URI, 0x80D02200U),
    CODE(DO_E_BLOCKED_BY_NO_NETWORK, 0x80D03805U),
    CODE(DO_E_HTTP_BLOCKSIZE_MISMATCH, 0x80D05001U),
    CODE(DO_E_HTTP_CERT_VALIDATION, 0x80D05002U),
    CODE(DO_E_INVALID_RANGE, 0x80D05010U),
    CODE(DO_E_INSUFFICIENT_RANGE_SUPPORT, 0x80D05011U),
    CODE(DO_E_OVERLAPPING_RANGES, 0x80D05012U),
    CODE(DO_E_BAD_PIECE_HASH, 0x80D06805U),
    CODE(DO_E_PEER_BANNED, 0x80D0680DU),
};
#undef CODE

TEST(CompatHresult, ValuesMatchTheReference) {
  for (const NamedCode& code : kCodes) {
    EXPECT_EQ(static_cast<std::uint32_t>(code.value), code.expected) << code.name;
  }
}

TEST(CompatHresult, CodesAreTypedHresultAndCompareWithoutCasts) {
  static_assert(std::is_same_v<decltype(BG_E_NOT_FOUND), HRESULT>);
  static_assert(std::is_same_v<decltype(DO_E_JOB_NOT_FOUND), HRESULT>);
  static_assert(std::is_same_v<decltype(E_FAIL), HRESULT>);
  HRESULT hr = BG_E_NOT_FOUND;
  EXPECT_TRUE(hr == BG_E_NOT_FOUND);
  EXPECT_TRUE(hr != S_OK);
  EXPECT_TRUE(FAILED(hr));
  EXPECT_FALSE(SUCCEEDED(hr));
  EXPECT_TRUE(SUCCEEDED(S_FALSE));
  EXPECT_TRUE(SUCCEEDED(BG_S_PARTIAL_COMPLETE));
  switch (hr) {  // usable as case labels, as Windows code does
    case BG_E_NOT_FOUND:
      break;
    default:
      ADD_FAILURE() << "switch on an HRESULT";
  }
}

TEST(CompatHresult, MacrosComposeAndDecompose) {
  EXPECT_EQ(HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED), E_ACCESSDENIED);
  EXPECT_EQ(HRESULT_FROM_WIN32(ERROR_INVALID_PARAMETER), E_INVALIDARG);
  EXPECT_EQ(HRESULT_FROM_WIN32(ERROR_SUCCESS), S_OK);
  EXPECT_EQ(MAKE_HRESULT(SEVERITY_ERROR, FACILITY_HTTP, 404), BG_E_HTTP_ERROR_404);
  EXPECT_EQ(HRESULT_CODE(BG_E_HTTP_ERROR_404), 404);
  EXPECT_EQ(HRESULT_FACILITY(BG_E_NOT_FOUND), FACILITY_BITS);
  EXPECT_EQ(HRESULT_FACILITY(DO_E_NO_SERVICE), FACILITY_DELIVERY_OPTIMIZATION);
  EXPECT_EQ(HRESULT_FACILITY(E_ACCESSDENIED), FACILITY_WIN32);
  EXPECT_EQ(HRESULT_SEVERITY(E_FAIL), SEVERITY_ERROR);
  EXPECT_EQ(HRESULT_SEVERITY(S_FALSE), SEVERITY_SUCCESS);
}

TEST(CompatLocale, LanguageMacrosAndTheEnglishLocale) {
  EXPECT_EQ(MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT), 0x0400);
  EXPECT_EQ(MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), 0x0409);
  EXPECT_EQ(GetThreadLocale(), 0x0409U);
  EXPECT_EQ(LANGIDFROMLCID(GetThreadLocale()), 0x0409);
  EXPECT_EQ(GetUserDefaultUILanguage(), 0x0409);
  EXPECT_EQ(PRIMARYLANGID(GetUserDefaultUILanguage()), LANG_ENGLISH);
  EXPECT_EQ(SUBLANGID(GetUserDefaultUILanguage()), SUBLANG_ENGLISH_US);
}

// ---------------------------------------------------------------------------------------------
// uuids: each constant against the reference's string, parsed here independently of the headers'
// constexpr parser.

struct NamedGuid {
  const char* name;
  const GUID* guid;
  const char* text;
};

const NamedGuid kGuids[] = {
    {"IID_IUnknown", &IID_IUnknown, "00000000-0000-0000-C000-000000000046"},
    {"IID_IEnumUnknown", &IID_IEnumUnknown, "00000100-0000-0000-C000-000000000046"},
    {"IID_IBackgroundCopyManager", &IID_IBackgroundCopyManager,
     "5CE34C0D-0DC9-4C1F-897C-DAA1B78CEE7C"},
    {"IID_IBackgroundCopyJob", &IID_IBackgroundCopyJob, "37668D37-507E-4160-9316-26306D150B12"},
    {"IID_IBackgroundCopyJob2", &IID_IBackgroundCopyJob2, "54B50739-686F-45EB-9DFF-D6A9A0FAA9AF"},
    {"IID_IBackgroundCopyJob3", &IID_IBackgroundCopyJob3, "443C8934-90FF-48ED-BCDE-26F5C7450042"},
    {"IID_IBackgroundCopyJob4", &IID_IBackgroundCopyJob4, "659CDEAE-489E-11D9-A9CD-000D56965251"},
    {"IID_IBackgroundCopyJob5", &IID_IBackgroundCopyJob5, "E847030C-BBBA-4657-AF6D-484AA42BF1FE"},
    {"IID_IBackgroundCopyCallback", &IID_IBackgroundCopyCallback,
     "97EA99C7-0186-4AD4-8DF9-C5B4E0ED6B22"},
    {"IID_IBackgroundCopyCallback2", &IID_IBackgroundCopyCallback2,
     "659CDEAC-489E-11D9-A9CD-000D56965251"},
    {"IID_IBackgroundCopyError", &IID_IBackgroundCopyError, "19C613A0-FCB8-4F28-81AE-897C3D078F81"},
    {"IID_IBackgroundCopyFile", &IID_IBackgroundCopyFile, "01B7BD23-FB88-4A77-8490-5891D3E4653A"},
    {"IID_IBackgroundCopyFile2", &IID_IBackgroundCopyFile2, "83E81B93-0873-474D-8A8C-F2018B1A939C"},
    {"IID_IBackgroundCopyFile3", &IID_IBackgroundCopyFile3, "659CDEAA-489E-11D9-A9CD-000D56965251"},
    {"IID_IBackgroundCopyFile4", &IID_IBackgroundCopyFile4, "EF7E0655-7888-4960-B0E5-730846E03492"},
    {"IID_IEnumBackgroundCopyFiles", &IID_IEnumBackgroundCopyFiles,
     "CA51E165-C365-424C-8D41-24AAA4FF3C40"},
    {"IID_IEnumBackgroundCopyJobs", &IID_IEnumBackgroundCopyJobs,
     "1AF4F612-3B71-466F-8F58-7B6F73AC57AD"},
    {"IID_IDeliveryOptimizationJob", &IID_IDeliveryOptimizationJob,
     "EE2584CF-A69C-4848-B633-2649962B3EF7"},
    {"IID_IDOManager", &IID_IDOManager, "400E2D4A-1431-4C1A-A748-39CA472CFDB1"},
    {"IID_IDODownload", &IID_IDODownload, "FBBD7FC0-C147-4727-A38D-827EF071EE77"},
    {"IID_IDODownloadStatusCallback", &IID_IDODownloadStatusCallback,
     "D166E8E3-A90E-4392-8E87-05E996D3747D"},
    {"CLSID_BackgroundCopyManager", &CLSID_BackgroundCopyManager,
     "4991D34B-80A1-4291-83B6-3328366B9097"},
    {"CLSID_DeliveryOptimization", &CLSID_DeliveryOptimization,
     "5B99FA76-721C-423C-ADAC-56D03C8A8007"},
};

GUID ParseGuid(const char* text) {
  GUID g{};
  unsigned data1 = 0;
  unsigned short data2 = 0;
  unsigned short data3 = 0;
  unsigned char b[8] = {};
  int n = 0;
  const int fields =
      std::sscanf(text, "%8x-%4hx-%4hx-%2hhx%2hhx-%2hhx%2hhx%2hhx%2hhx%2hhx%2hhx%n", &data1, &data2,
                  &data3, &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7], &n);
  EXPECT_EQ(fields, 11) << text;
  EXPECT_EQ(n, 36) << text;
  g.Data1 = data1;
  g.Data2 = data2;
  g.Data3 = data3;
  std::memcpy(g.Data4, b, sizeof b);
  return g;
}

TEST(CompatUuids, EveryIidAndClsidMatchesTheReferenceByteForByte) {
  for (const NamedGuid& entry : kGuids) {
    const GUID expected = ParseGuid(entry.text);
    EXPECT_EQ(std::memcmp(&expected, entry.guid, sizeof(GUID)), 0) << entry.name;
  }
  // The in-memory form of a GUID is Windows' (Data1..3 in host order, little-endian on x86):
  // {37668D37-507E-4160-9316-26306D150B12}.
  const unsigned char job_bytes[16] = {0x37, 0x8D, 0x66, 0x37, 0x7E, 0x50, 0x60, 0x41,
                                       0x93, 0x16, 0x26, 0x30, 0x6D, 0x15, 0x0B, 0x12};
  if constexpr (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
    EXPECT_EQ(std::memcmp(&IID_IBackgroundCopyJob, job_bytes, 16), 0);
  }
}

TEST(CompatUuids, UuidofWorksOnTypesPointersAndObjects) {
  static_assert(__uuidof(IUnknown) == IID_IUnknown);
  static_assert(__uuidof(IBackgroundCopyJob) == IID_IBackgroundCopyJob);
  static_assert(__uuidof(IBackgroundCopyJob5) == IID_IBackgroundCopyJob5);
  static_assert(__uuidof(IBackgroundCopyCallback2) == IID_IBackgroundCopyCallback2);
  static_assert(__uuidof(BackgroundCopyManager) == CLSID_BackgroundCopyManager);
  static_assert(__uuidof(DeliveryOptimization) == CLSID_DeliveryOptimization);
  static_assert(__uuidof(IDOManager) == IID_IDOManager);
  static_assert(__uuidof(IBackgroundCopyJob) != __uuidof(IBackgroundCopyJob2));
  IBackgroundCopyJob* job = nullptr;
  const IBackgroundCopyJob* const_job = nullptr;
  EXPECT_TRUE(__uuidof(job) == IID_IBackgroundCopyJob);
  EXPECT_TRUE(__uuidof(const_job) == IID_IBackgroundCopyJob);
  EXPECT_TRUE(__uuidof(*job) == IID_IBackgroundCopyJob);  // unevaluated: nothing is dereferenced
  EXPECT_TRUE(IsEqualIID(__uuidof(IBackgroundCopyManager), IID_IBackgroundCopyManager));
  EXPECT_TRUE(IsEqualCLSID(CLSID_BackgroundCopyManager, __uuidof(BackgroundCopyManager)));
  EXPECT_FALSE(IsEqualGUID(IID_IBackgroundCopyJob4, IID_IBackgroundCopyCallback2));
  EXPECT_TRUE(GUID_NULL == GUID{});
}

// An application's own interface gets its uuid the opendo way (DECLSPEC_UUID cannot carry it).
struct IApplicationThing : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE Frob() = 0;
};
}  // namespace
OPENDO_DECLARE_UUID(IApplicationThing, "{0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9}");
DEFINE_GUID(CLSID_ApplicationThing, 0x0a1b2c3d, 0x4e5f, 0x6071, 0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7,
            0xe8, 0xf9);
namespace {

TEST(CompatUuids, ApplicationsDeclareUuidsForTheirOwnInterfaces) {
  static_assert(__uuidof(IApplicationThing) == CLSID_ApplicationThing);
  EXPECT_EQ(__uuidof(IApplicationThing).Data1, 0x0A1B2C3DU);
  EXPECT_EQ(__uuidof(IApplicationThing).Data4[7], 0xF9);
}

// ---------------------------------------------------------------------------------------------
// Signatures and vtable order.
//
// How the order is checked, without calling through guessed function-pointer types: on the
// Itanium C++ ABI (GCC and Clang on Linux) a pointer to a *virtual* member function holds no code
// address but the function's byte offset in the vtable (stored as offset + 1 on x86 and most
// targets; on 32- and 64-bit ARM the offset is stored as is and the "virtual" flag is bit 0 of the
// this-adjustment). So the compiler that lays out the vtable tells us each method's slot. Each
// method's pointer is taken with an explicitly written type, which also checks its exact Windows
// signature (member-function pointers do not convert between signatures). Methods are listed
// once, in the reference's order, as X-macros; the same lists generate mock classes that override
// every method and are instantiated, which proves an interface has no method the list lacks.
// Together: every listed method is at its slot and there is nothing else in the vtable.
// One runtime cross-check validates the decoding itself: the argument-less methods are called the
// way a C client calls them (lpVtbl[slot](This)) and must land in the method of that name.

#if !defined(__GXX_ABI_VERSION)
#error "the vtable-order checks decode Itanium C++ ABI member pointers"
#endif

template <typename MemberPointer>
std::ptrdiff_t VtableSlot(MemberPointer method) {
  struct Representation {
    std::uintptr_t ptr;
    std::ptrdiff_t adj;
  };
  static_assert(sizeof(MemberPointer) == sizeof(Representation));
  Representation r;
  std::memcpy(&r, &method, sizeof r);
#if defined(__arm__) || defined(__aarch64__)
  if ((r.adj & 1) == 0) return -1;  // not virtual
  return static_cast<std::ptrdiff_t>(r.ptr / sizeof(void*));
#else
  if ((r.ptr & 1) == 0) return -1;  // not virtual
  return static_cast<std::ptrdiff_t>((r.ptr - 1) / sizeof(void*));
#endif
}

#define UNKNOWN_METHODS(X)                     \
  X(HRESULT, QueryInterface, (REFIID, void**)) \
  X(ULONG, AddRef, ())                         \
  X(ULONG, Release, ())

#define ENUM_UNKNOWN_METHODS(X)                 \
  X(HRESULT, Next, (ULONG, IUnknown**, ULONG*)) \
  X(HRESULT, Skip, (ULONG))                     \
  X(HRESULT, Reset, ())                         \
  X(HRESULT, Clone, (IEnumUnknown**))

#define MANAGER_METHODS(X)                                                   \
  X(HRESULT, CreateJob, (LPCWSTR, BG_JOB_TYPE, GUID*, IBackgroundCopyJob**)) \
  X(HRESULT, GetJob, (REFGUID, IBackgroundCopyJob**))                        \
  X(HRESULT, EnumJobs, (DWORD, IEnumBackgroundCopyJobs**))                   \
  X(HRESULT, GetErrorDescription, (HRESULT, DWORD, LPWSTR*))

#define JOB_METHODS(X)                                                           \
  X(HRESULT, AddFileSet, (ULONG, BG_FILE_INFO*))                                 \
  X(HRESULT, AddFile, (LPCWSTR, LPCWSTR))                                        \
  X(HRESULT, EnumFiles, (IEnumBackgroundCopyFiles**))                            \
  X(HRESULT, Suspend, ())                                                        \
  X(HRESULT, Resume, ())                                                         \
  X(HRESULT, Cancel, ())                                                         \
  X(HRESULT, Complete, ())                                                       \
  X(HRESULT, GetId, (GUID*))                                                     \
  X(HRESULT, GetType, (BG_JOB_TYPE*))                                            \
  X(HRESULT, GetProgress, (BG_JOB_PROGRESS*))                                    \
  X(HRESULT, GetTimes, (BG_JOB_TIMES*))                                          \
  X(HRESULT, GetState, (BG_JOB_STATE*))                                          \
  X(HRESULT, GetError, (IBackgroundCopyError**))                                 \
  X(HRESULT, GetOwner, (LPWSTR*))                                                \
  X(HRESULT, SetDisplayName, (LPCWSTR))                                          \
  X(HRESULT, GetDisplayName, (LPWSTR*))                                          \
  X(HRESULT, SetDescription, (LPCWSTR))                                          \
  X(HRESULT, GetDescription, (LPWSTR*))                                          \
  X(HRESULT, SetPriority, (BG_JOB_PRIORITY))                                     \
  X(HRESULT, GetPriority, (BG_JOB_PRIORITY*))                                    \
  X(HRESULT, SetNotifyFlags, (ULONG))                                            \
  X(HRESULT, GetNotifyFlags, (ULONG*))                                           \
  X(HRESULT, SetNotifyInterface, (IUnknown*))                                    \
  X(HRESULT, GetNotifyInterface, (IUnknown**))                                   \
  X(HRESULT, SetMinimumRetryDelay, (ULONG))                                      \
  X(HRESULT, GetMinimumRetryDelay, (ULONG*))                                     \
  X(HRESULT, SetNoProgressTimeout, (ULONG))                                      \
  X(HRESULT, GetNoProgressTimeout, (ULONG*))                                     \
  X(HRESULT, GetErrorCount, (ULONG*))                                            \
  X(HRESULT, SetProxySettings, (BG_JOB_PROXY_USAGE, const WCHAR*, const WCHAR*)) \
  X(HRESULT, GetProxySettings, (BG_JOB_PROXY_USAGE*, LPWSTR*, LPWSTR*))          \
  X(HRESULT, TakeOwnership, ())

#define JOB2_METHODS(X)                                  \
  X(HRESULT, SetNotifyCmdLine, (LPCWSTR, LPCWSTR))       \
  X(HRESULT, GetNotifyCmdLine, (LPWSTR*, LPWSTR*))       \
  X(HRESULT, GetReplyProgress, (BG_JOB_REPLY_PROGRESS*)) \
  X(HRESULT, GetReplyData, (byte**, UINT64*))            \
  X(HRESULT, SetReplyFileName, (LPCWSTR))                \
  X(HRESULT, GetReplyFileName, (LPWSTR*))                \
  X(HRESULT, SetCredentials, (BG_AUTH_CREDENTIALS*))     \
  X(HRESULT, RemoveCredentials, (BG_AUTH_TARGET, BG_AUTH_SCHEME))

#define JOB3_METHODS(X)                                                    \
  X(HRESULT, ReplaceRemotePrefix, (LPCWSTR, LPCWSTR))                      \
  X(HRESULT, AddFileWithRanges, (LPCWSTR, LPCWSTR, DWORD, BG_FILE_RANGE*)) \
  X(HRESULT, SetFileACLFlags, (DWORD))                                     \
  X(HRESULT, GetFileACLFlags, (DWORD*))

#define JOB4_METHODS(X)                        \
  X(HRESULT, SetPeerCachingFlags, (DWORD))     \
  X(HRESULT, GetPeerCachingFlags, (DWORD*))    \
  X(HRESULT, GetOwnerIntegrityLevel, (ULONG*)) \
  X(HRESULT, GetOwnerElevationState, (BOOL*))  \
  X(HRESULT, SetMaximumDownloadTime, (ULONG))  \
  X(HRESULT, GetMaximumDownloadTime, (ULONG*))

#define JOB5_METHODS(X)                                                    \
  X(HRESULT, SetProperty, (BITS_JOB_PROPERTY_ID, BITS_JOB_PROPERTY_VALUE)) \
  X(HRESULT, GetProperty, (BITS_JOB_PROPERTY_ID, BITS_JOB_PROPERTY_VALUE*))

#define FILE_METHODS(X)                \
  X(HRESULT, GetRemoteName, (LPWSTR*)) \
  X(HRESULT, GetLocalName, (LPWSTR*))  \
  X(HRESULT, GetProgress, (BG_FILE_PROGRESS*))

#define FILE2_METHODS(X)                               \
  X(HRESULT, GetFileRanges, (DWORD*, BG_FILE_RANGE**)) \
  X(HRESULT, SetRemoteName, (LPCWSTR))

#define FILE3_METHODS(X)                  \
  X(HRESULT, GetTemporaryName, (LPWSTR*)) \
  X(HRESULT, SetValidationState, (BOOL))  \
  X(HRESULT, GetValidationState, (BOOL*)) \
  X(HRESULT, IsDownloadedFromPeer, (BOOL*))

#define FILE4_METHODS(X) X(HRESULT, GetPeerDownloadStats, (PUINT64, PUINT64))

#define ENUM_FILES_METHODS(X)                              \
  X(HRESULT, Next, (ULONG, IBackgroundCopyFile**, ULONG*)) \
  X(HRESULT, Skip, (ULONG))                                \
  X(HRESULT, Reset, ())                                    \
  X(HRESULT, Clone, (IEnumBackgroundCopyFiles**))          \
  X(HRESULT, GetCount, (ULONG*))

#define ENUM_JOBS_METHODS(X)                              \
  X(HRESULT, Next, (ULONG, IBackgroundCopyJob**, ULONG*)) \
  X(HRESULT, Skip, (ULONG))                               \
  X(HRESULT, Reset, ())                                   \
  X(HRESULT, Clone, (IEnumBackgroundCopyJobs**))          \
  X(HRESULT, GetCount, (ULONG*))

#define ERROR_METHODS(X)                                   \
  X(HRESULT, GetError, (BG_ERROR_CONTEXT*, HRESULT*))      \
  X(HRESULT, GetFile, (IBackgroundCopyFile**))             \
  X(HRESULT, GetErrorDescription, (DWORD, LPWSTR*))        \
  X(HRESULT, GetErrorContextDescription, (DWORD, LPWSTR*)) \
  X(HRESULT, GetProtocol, (LPWSTR*))

#define CALLBACK_METHODS(X)                                          \
  X(HRESULT, JobTransferred, (IBackgroundCopyJob*))                  \
  X(HRESULT, JobError, (IBackgroundCopyJob*, IBackgroundCopyError*)) \
  X(HRESULT, JobModification, (IBackgroundCopyJob*, DWORD))

#define CALLBACK2_METHODS(X) \
  X(HRESULT, FileTransferred, (IBackgroundCopyJob*, IBackgroundCopyFile*))

#define DO_JOB_METHODS(X) \
  X(HRESULT, AddFileWithRanges, (LPCWSTR, LPCWSTR, LPCWSTR, DWORD, BG_FILE_RANGE*, UINT64))

#define DO_DOWNLOAD_METHODS(X)                            \
  X(HRESULT, Start, (const DO_DOWNLOAD_RANGES_INFO*))     \
  X(HRESULT, Pause, ())                                   \
  X(HRESULT, Abort, ())                                   \
  X(HRESULT, Finalize, ())                                \
  X(HRESULT, GetStatus, (DO_DOWNLOAD_STATUS*))            \
  X(HRESULT, GetProperty, (DODownloadProperty, VARIANT*)) \
  X(HRESULT, SetProperty, (DODownloadProperty, VARIANT*))

#define DO_CALLBACK_METHODS(X) X(HRESULT, OnStatusChange, (IDODownload*, const DO_DOWNLOAD_STATUS*))

#define DO_MANAGER_METHODS(X)                 \
  X(HRESULT, CreateDownload, (IDODownload**)) \
  X(HRESULT, EnumDownloads, (const DO_DOWNLOAD_ENUM_CATEGORY*, IEnumUnknown**))

// Mocks: every method records its name. Each layer adds one interface's methods.
#define MOCK_RECORDING(Ret, Name, Params)      \
  Ret STDMETHODCALLTYPE Name Params override { \
    this->called = #Name;                      \
    return Ret{};                              \
  }

template <class Interface>
struct MockUnknown : public Interface {
  const char* called = nullptr;
  UNKNOWN_METHODS(MOCK_RECORDING)
};

#define MOCK_LAYER(Layer, Below, METHODS)  \
  template <class Interface>               \
  struct Layer : public Below<Interface> { \
    METHODS(MOCK_RECORDING)                \
  }

MOCK_LAYER(MockJob, MockUnknown, JOB_METHODS);
MOCK_LAYER(MockJob2, MockJob, JOB2_METHODS);
MOCK_LAYER(MockJob3, MockJob2, JOB3_METHODS);
MOCK_LAYER(MockJob4, MockJob3, JOB4_METHODS);
MOCK_LAYER(MockJob5, MockJob4, JOB5_METHODS);
MOCK_LAYER(MockFile, MockUnknown, FILE_METHODS);
MOCK_LAYER(MockFile2, MockFile, FILE2_METHODS);
MOCK_LAYER(MockFile3, MockFile2, FILE3_METHODS);
MOCK_LAYER(MockFile4, MockFile3, FILE4_METHODS);
MOCK_LAYER(MockCallback, MockUnknown, CALLBACK_METHODS);
MOCK_LAYER(MockCallback2, MockCallback, CALLBACK2_METHODS);
MOCK_LAYER(MockEnumUnknown, MockUnknown, ENUM_UNKNOWN_METHODS);
MOCK_LAYER(MockManager, MockUnknown, MANAGER_METHODS);
MOCK_LAYER(MockEnumFiles, MockUnknown, ENUM_FILES_METHODS);
MOCK_LAYER(MockEnumJobs, MockUnknown, ENUM_JOBS_METHODS);
MOCK_LAYER(MockError, MockUnknown, ERROR_METHODS);
MOCK_LAYER(MockDOJob, MockUnknown, DO_JOB_METHODS);
MOCK_LAYER(MockDODownload, MockUnknown, DO_DOWNLOAD_METHODS);
MOCK_LAYER(MockDOCallback, MockUnknown, DO_CALLBACK_METHODS);
MOCK_LAYER(MockDOManager, MockUnknown, DO_MANAGER_METHODS);

// Complete mocks are concrete: the interface has no pure virtual beyond the listed methods.
static_assert(!std::is_abstract_v<MockEnumUnknown<IEnumUnknown>>);
static_assert(!std::is_abstract_v<MockManager<IBackgroundCopyManager>>);
static_assert(!std::is_abstract_v<MockJob<IBackgroundCopyJob>>);
static_assert(!std::is_abstract_v<MockJob2<IBackgroundCopyJob2>>);
static_assert(!std::is_abstract_v<MockJob3<IBackgroundCopyJob3>>);
static_assert(!std::is_abstract_v<MockJob4<IBackgroundCopyJob4>>);
static_assert(!std::is_abstract_v<MockJob5<IBackgroundCopyJob5>>);
static_assert(!std::is_abstract_v<MockFile<IBackgroundCopyFile>>);
static_assert(!std::is_abstract_v<MockFile2<IBackgroundCopyFile2>>);
static_assert(!std::is_abstract_v<MockFile3<IBackgroundCopyFile3>>);
static_assert(!std::is_abstract_v<MockFile4<IBackgroundCopyFile4>>);
static_assert(!std::is_abstract_v<MockEnumFiles<IEnumBackgroundCopyFiles>>);
static_assert(!std::is_abstract_v<MockEnumJobs<IEnumBackgroundCopyJobs>>);
static_assert(!std::is_abstract_v<MockError<IBackgroundCopyError>>);
static_assert(!std::is_abstract_v<MockCallback<IBackgroundCopyCallback>>);
static_assert(!std::is_abstract_v<MockCallback2<IBackgroundCopyCallback2>>);
static_assert(!std::is_abstract_v<MockDOJob<IDeliveryOptimizationJob>>);
static_assert(!std::is_abstract_v<MockDODownload<IDODownload>>);
static_assert(!std::is_abstract_v<MockDOCallback<IDODownloadStatusCallback>>);
static_assert(!std::is_abstract_v<MockDOManager<IDOManager>>);

// Inside a test body: `Iface` names the interface, `slot` counts from 0.
#define EXPECT_NEXT_SLOT(Ret, Name, Params)                                              \
  EXPECT_EQ(VtableSlot(static_cast<Ret(Iface::*) Params>(&Iface::Name)), slot) << #Name; \
  ++slot;

TEST(CompatVtable, UnknownAndEnumUnknown) {
  using Iface = IEnumUnknown;
  std::ptrdiff_t slot = 0;
  UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
  ENUM_UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 7);
}

TEST(CompatVtable, BackgroundCopyManager) {
  using Iface = IBackgroundCopyManager;
  std::ptrdiff_t slot = 0;
  UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
  MANAGER_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 7);
}

TEST(CompatVtable, BackgroundCopyJobThroughJob5) {
  using Iface = IBackgroundCopyJob5;
  std::ptrdiff_t slot = 0;
  UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
  JOB_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 35);
  JOB2_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 43);
  JOB3_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 47);
  JOB4_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 53);
  JOB5_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 55);
}

TEST(CompatVtable, BackgroundCopyFileThroughFile4) {
  using Iface = IBackgroundCopyFile4;
  std::ptrdiff_t slot = 0;
  UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
  FILE_METHODS(EXPECT_NEXT_SLOT)
  FILE2_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 8);
  FILE3_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 12);
  FILE4_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 13);
}

TEST(CompatVtable, Enumerators) {
  {
    using Iface = IEnumBackgroundCopyFiles;
    std::ptrdiff_t slot = 0;
    UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
    ENUM_FILES_METHODS(EXPECT_NEXT_SLOT)
  }
  {
    using Iface = IEnumBackgroundCopyJobs;
    std::ptrdiff_t slot = 0;
    UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
    ENUM_JOBS_METHODS(EXPECT_NEXT_SLOT)
  }
}

TEST(CompatVtable, BackgroundCopyError) {
  using Iface = IBackgroundCopyError;
  std::ptrdiff_t slot = 0;
  UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
  ERROR_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 8);
}

TEST(CompatVtable, BackgroundCopyCallbackAndCallback2) {
  using Iface = IBackgroundCopyCallback2;
  std::ptrdiff_t slot = 0;
  UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
  CALLBACK_METHODS(EXPECT_NEXT_SLOT)
  CALLBACK2_METHODS(EXPECT_NEXT_SLOT)
  EXPECT_EQ(slot, 7);
}

TEST(CompatVtable, DeliveryOptimizationInterfaces) {
  {
    using Iface = IDeliveryOptimizationJob;
    std::ptrdiff_t slot = 0;
    UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
    DO_JOB_METHODS(EXPECT_NEXT_SLOT)
  }
  {
    using Iface = IDODownload;
    std::ptrdiff_t slot = 0;
    UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
    DO_DOWNLOAD_METHODS(EXPECT_NEXT_SLOT)
    EXPECT_EQ(slot, 10);
  }
  {
    using Iface = IDODownloadStatusCallback;
    std::ptrdiff_t slot = 0;
    UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
    DO_CALLBACK_METHODS(EXPECT_NEXT_SLOT)
  }
  {
    using Iface = IDOManager;
    std::ptrdiff_t slot = 0;
    UNKNOWN_METHODS(EXPECT_NEXT_SLOT)
    DO_MANAGER_METHODS(EXPECT_NEXT_SLOT)
  }
}

// What a C client does: This->lpVtbl->Method(This). Only for methods whose sole argument is the
// object, so the call needs no guess about how other arguments are passed.
template <class Object>
void CallThroughVtable(Object* object, std::ptrdiff_t slot) {
  void* const* vtable = *reinterpret_cast<void* const* const*>(object);
  reinterpret_cast<void (*)(Object*)>(vtable[slot])(object);
}

TEST(CompatVtable, CStyleCallsThroughTheVtableReachTheNamedMethod) {
  MockJob5<IBackgroundCopyJob5> mock;
  IBackgroundCopyJob5* job = &mock;
  const struct {
    std::ptrdiff_t slot;
    const char* name;
  } calls[] = {
      {VtableSlot(&IBackgroundCopyJob5::AddRef), "AddRef"},
      {VtableSlot(&IBackgroundCopyJob5::Release), "Release"},
      {VtableSlot(&IBackgroundCopyJob5::Suspend), "Suspend"},
      {VtableSlot(&IBackgroundCopyJob5::Resume), "Resume"},
      {VtableSlot(&IBackgroundCopyJob5::Cancel), "Cancel"},
      {VtableSlot(&IBackgroundCopyJob5::Complete), "Complete"},
      {VtableSlot(&IBackgroundCopyJob5::TakeOwnership), "TakeOwnership"},
  };
  for (const auto& call : calls) {
    mock.called = nullptr;
    CallThroughVtable(job, call.slot);
    EXPECT_STREQ(mock.called, call.name);
  }

  MockDODownload<IDODownload> download_mock;
  IDODownload* download = &download_mock;
  CallThroughVtable(download, 4);
  EXPECT_STREQ(download_mock.called, "Pause");
  CallThroughVtable(download, 6);
  EXPECT_STREQ(download_mock.called, "Finalize");

  MockEnumJobs<IEnumBackgroundCopyJobs> enum_mock;
  CallThroughVtable(static_cast<IEnumBackgroundCopyJobs*>(&enum_mock), 5);
  EXPECT_STREQ(enum_mock.called, "Reset");
}

// ---------------------------------------------------------------------------------------------
// BSTR, task memory, VARIANT, SAFEARRAY

std::uint32_t BstrPrefix(BSTR s) {
  std::uint32_t prefix = 0;
  std::memcpy(&prefix, reinterpret_cast<const unsigned char*>(s) - sizeof prefix, sizeof prefix);
  return prefix;
}

TEST(CompatBstr, LengthPrefixInBytesThenCharactersThenNul) {
  BSTR s = SysAllocString(L"hello");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(SysStringLen(s), 5U);
  EXPECT_EQ(SysStringByteLen(s), 5 * sizeof(OLECHAR));
  EXPECT_EQ(BstrPrefix(s), 5 * sizeof(OLECHAR));
  EXPECT_EQ(std::wstring(s), L"hello");
  EXPECT_EQ(s[5], L'\0');
  SysFreeString(s);

  const OLECHAR with_nul[] = {L'a', L'\0', L'b'};
  BSTR embedded = SysAllocStringLen(with_nul, 3);
  EXPECT_EQ(SysStringLen(embedded), 3U);
  EXPECT_EQ(embedded[2], L'b');
  EXPECT_EQ(embedded[3], L'\0');
  SysFreeString(embedded);

  BSTR blank = SysAllocStringLen(nullptr, 4);
  EXPECT_EQ(SysStringLen(blank), 4U);
  EXPECT_EQ(blank[4], L'\0');
  SysFreeString(blank);

  EXPECT_EQ(SysAllocString(nullptr), nullptr);
  EXPECT_EQ(SysStringLen(nullptr), 0U);
  SysFreeString(nullptr);
}

TEST(CompatTaskMem, AllocReallocFree) {
  void* p = CoTaskMemAlloc(0);
  EXPECT_NE(p, nullptr);
  p = CoTaskMemRealloc(p, 64);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xAB, 64);
  EXPECT_EQ(CoTaskMemRealloc(p, 0), nullptr);  // frees
  auto* name = static_cast<LPWSTR>(CoTaskMemAlloc(6 * sizeof(WCHAR)));
  std::wcscpy(name, L"file1");
  CoTaskMemFree(name);
  CoTaskMemFree(nullptr);
}

// Counts references, to see VariantClear release and VariantCopy add one.
struct CountedUnknown : public IUnknown {
  LONG refs = 1;
  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void** ppv) override {
    if (ppv == nullptr) return E_POINTER;
    *ppv = nullptr;
    if (riid != IID_IUnknown) return E_NOINTERFACE;
    *ppv = static_cast<IUnknown*>(this);
    AddRef();
    return S_OK;
  }
  ULONG STDMETHODCALLTYPE AddRef() override { return InterlockedIncrement(&refs); }
  ULONG STDMETHODCALLTYPE Release() override { return InterlockedDecrement(&refs); }
};

TEST(CompatVariant, WindowsMemberNamesAndClearReleasesWhatItOwns) {
  VARIANT var;
  VariantInit(&var);
  EXPECT_EQ(var.vt, VT_EMPTY);

  var.vt = VT_BSTR;
  var.bstrVal = SysAllocString(L"https://example.com/file.bin");
  EXPECT_EQ(VariantClear(&var), S_OK);  // frees the BSTR (the sanitizer build sees leaks)
  EXPECT_EQ(var.vt, VT_EMPTY);

  CountedUnknown unknown;
  var.vt = VT_UNKNOWN;
  var.punkVal = &unknown;
  unknown.AddRef();
  EXPECT_EQ(unknown.refs, 2);
  EXPECT_EQ(VariantClear(&var), S_OK);
  EXPECT_EQ(unknown.refs, 1);
  EXPECT_EQ(var.vt, VT_EMPTY);

  var.vt = VT_UI8;
  var.ullVal = 1ULL << 40;
  EXPECT_EQ(var.ullVal, 1ULL << 40);
  var.vt = VT_BOOL;
  var.boolVal = VARIANT_TRUE;
  EXPECT_EQ(var.boolVal, -1);
  var.vt = VT_UI4;
  var.ulVal = 60;
  var.vt = VT_I4;
  var.lVal = -5;
  EXPECT_EQ(VariantClear(&var), S_OK);

  var.vt = 0x0FFF;  // no such type
  EXPECT_EQ(VariantClear(&var), DISP_E_BADVARTYPE);
  VariantInit(&var);
}

TEST(CompatVariant, CopyIsDeep) {
  VARIANT source;
  VariantInit(&source);
  source.vt = VT_BSTR;
  source.bstrVal = SysAllocString(L"display name");
  VARIANT copy;
  VariantInit(&copy);
  ASSERT_EQ(VariantCopy(&copy, &source), S_OK);
  EXPECT_EQ(copy.vt, VT_BSTR);
  EXPECT_NE(copy.bstrVal, source.bstrVal);
  EXPECT_EQ(std::wstring(copy.bstrVal), L"display name");
  EXPECT_EQ(SysStringLen(copy.bstrVal), SysStringLen(source.bstrVal));

  CountedUnknown unknown;
  VARIANT with_interface;
  VariantInit(&with_interface);
  with_interface.vt = VT_UNKNOWN;
  with_interface.punkVal = &unknown;
  ASSERT_EQ(VariantCopy(&copy, &with_interface), S_OK);  // also clears copy's BSTR first
  EXPECT_EQ(copy.punkVal, &unknown);
  EXPECT_EQ(unknown.refs, 2);
  EXPECT_EQ(VariantClear(&copy), S_OK);
  EXPECT_EQ(unknown.refs, 1);

  VARIANT bytes;
  VariantInit(&bytes);
  bytes.vt = VT_ARRAY | VT_UI1;
  bytes.parray = SafeArrayCreateVector(VT_UI1, 0, 3);
  ASSERT_NE(bytes.parray, nullptr);
  static_cast<BYTE*>(bytes.parray->pvData)[2] = 0x7F;
  ASSERT_EQ(VariantCopy(&copy, &bytes), S_OK);
  EXPECT_NE(copy.parray, bytes.parray);
  EXPECT_EQ(static_cast<BYTE*>(copy.parray->pvData)[2], 0x7F);

  EXPECT_EQ(VariantClear(&copy), S_OK);
  EXPECT_EQ(VariantClear(&bytes), S_OK);
  EXPECT_EQ(VariantClear(&source), S_OK);
}

TEST(CompatSafeArray, ByteVectorsForVariantProperties) {
  SAFEARRAY* array = SafeArrayCreateVector(VT_UI1, 0, 4);
  ASSERT_NE(array, nullptr);
  EXPECT_EQ(SafeArrayGetDim(array), 1U);
  EXPECT_EQ(SafeArrayGetElemsize(array), 1U);
  VARTYPE vt = VT_EMPTY;
  EXPECT_EQ(SafeArrayGetVartype(array, &vt), S_OK);
  EXPECT_EQ(vt, VT_UI1);
  LONG lower = -1;
  LONG upper = -1;
  EXPECT_EQ(SafeArrayGetLBound(array, 1, &lower), S_OK);
  EXPECT_EQ(SafeArrayGetUBound(array, 1, &upper), S_OK);
  EXPECT_EQ(lower, 0);
  EXPECT_EQ(upper, 3);
  EXPECT_EQ(SafeArrayGetUBound(array, 2, &upper), DISP_E_BADINDEX);

  BYTE* data = nullptr;
  ASSERT_EQ(SafeArrayAccessData(array, reinterpret_cast<void**>(&data)), S_OK);
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data[0], 0);  // zero-initialised
  std::memcpy(data, "\x01\x02\x03\x04", 4);
  VARIANT var;
  VariantInit(&var);
  var.vt = VT_ARRAY | VT_UI1;
  var.parray = array;
  EXPECT_EQ(SafeArrayDestroy(array), DISP_E_ARRAYISLOCKED);
  EXPECT_EQ(VariantClear(&var), DISP_E_ARRAYISLOCKED);  // leaves the variant as it was
  EXPECT_EQ(var.parray, array);
  EXPECT_EQ(SafeArrayUnaccessData(array), S_OK);
  EXPECT_EQ(SafeArrayUnaccessData(array), E_UNEXPECTED);
  EXPECT_EQ(VariantClear(&var), S_OK);

  EXPECT_EQ(SafeArrayCreateVector(VT_BSTR, 0, 1), nullptr);  // elements with ownership: unsupported
  EXPECT_EQ(SafeArrayDestroy(nullptr), S_OK);
  SAFEARRAY* empty = SafeArrayCreateVector(VT_UI1, 0, 0);
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(SafeArrayGetUBound(empty, 1, &upper), S_OK);
  EXPECT_EQ(upper, -1);
  EXPECT_EQ(SafeArrayDestroy(empty), S_OK);
}

// ---------------------------------------------------------------------------------------------
// Interlocked* and CoInitializeEx

TEST(CompatInterlocked, ReturnTheValuesWindowsReturns) {
  LONG value = 5;
  EXPECT_EQ(InterlockedIncrement(&value), 6);
  EXPECT_EQ(InterlockedDecrement(&value), 5);
  EXPECT_EQ(InterlockedExchange(&value, 42), 5);
  EXPECT_EQ(value, 42);
  EXPECT_EQ(InterlockedExchangeAdd(&value, 8), 42);
  EXPECT_EQ(InterlockedCompareExchange(&value, 7, 50), 50);
  EXPECT_EQ(value, 7);
  EXPECT_EQ(InterlockedCompareExchange(&value, 9, 1), 7);  // no match: unchanged
  EXPECT_EQ(value, 7);
  ULONG unsigned_count = 0;
  EXPECT_EQ(InterlockedIncrement(&unsigned_count), 1U);
  LONG volatile counted = 0;
  EXPECT_EQ(InterlockedDecrement(&counted), -1);
}

TEST(CompatInterlocked, IncrementsFromManyThreadsAreNotLost) {
  LONG counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counter] {
      for (int i = 0; i < 100000; ++i) InterlockedIncrement(&counter);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(counter, 400000);
}

// Each scenario runs on a fresh thread: COM initialisation is per thread.
template <typename Body>
std::vector<HRESULT> OnNewThread(Body body) {
  std::vector<HRESULT> results;
  std::thread([&] { body(results); }).join();
  return results;
}

TEST(CompatCoInitialize, FirstCallOkThenFalseThenChangedMode) {
  const auto results = OnNewThread([](std::vector<HRESULT>& r) {
    APTTYPE type = APTTYPE_STA;
    APTTYPEQUALIFIER qualifier = APTTYPEQUALIFIER_NONE;
    r.push_back(CoGetApartmentType(&type, &qualifier));
    r.push_back(CoInitializeEx(NULL, COINIT_MULTITHREADED));
    r.push_back(CoInitializeEx(NULL, COINIT_MULTITHREADED | COINIT_DISABLE_OLE1DDE));
    r.push_back(CoInitializeEx(NULL, COINIT_APARTMENTTHREADED));
    r.push_back(CoGetApartmentType(&type, &qualifier));
    r.push_back(type == APTTYPE_MTA ? S_OK : E_FAIL);
    CoUninitialize();
    CoUninitialize();
    r.push_back(CoGetApartmentType(&type, &qualifier));
    r.push_back(CoInitialize(NULL));  // apartment-threaded, now allowed again
    r.push_back(CoInitializeEx(NULL, COINIT_APARTMENTTHREADED));
    r.push_back(CoInitializeEx(NULL, COINIT_MULTITHREADED));
    CoUninitialize();
    CoUninitialize();
    int reserved = 0;
    r.push_back(CoInitializeEx(&reserved, COINIT_MULTITHREADED));
  });
  const std::vector<HRESULT> expected = {
      CO_E_NOTINITIALIZED, S_OK, S_FALSE, RPC_E_CHANGED_MODE, S_OK,        S_OK,
      CO_E_NOTINITIALIZED, S_OK, S_FALSE, RPC_E_CHANGED_MODE, E_INVALIDARG};
  EXPECT_EQ(results, expected);
}

TEST(CompatCoInitialize, ThreadsAreIndependent) {
  const auto first = OnNewThread(
      [](std::vector<HRESULT>& r) { r.push_back(CoInitializeEx(NULL, COINIT_APARTMENTTHREADED)); });
  const auto second = OnNewThread(
      [](std::vector<HRESULT>& r) { r.push_back(CoInitializeEx(NULL, COINIT_MULTITHREADED)); });
  EXPECT_EQ(first, std::vector<HRESULT>{S_OK});
  EXPECT_EQ(second, std::vector<HRESULT>{S_OK});
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// A notification class written the way Microsoft's BITS samples write it ("Registering a COM
// callback"): __stdcall, LPVOID*, NOERROR, C-style casts, InterlockedIncrement on a LONG member,
// `delete this`. Two changes: the wprintf calls are left out and the destructor counts its runs.
//
// GCC and Clang warn about `delete this` in a non-final class whose destructor is not virtual
// (MSVC does not). IUnknown cannot declare a virtual destructor without adding vtable slots, so
// ported code sees this warning; the sample silences it locally rather than the header globally.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdelete-non-virtual-dtor"
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Wdelete-non-abstract-non-virtual-dtor"
#endif

int g_notify_destroyed = 0;

class CNotifyInterface : public IBackgroundCopyCallback {
  LONG m_lRefCount;

 public:
  // Constructor, Destructor
  CNotifyInterface() { m_lRefCount = 1; }
  ~CNotifyInterface() { ++g_notify_destroyed; }

  // IUnknown
  HRESULT __stdcall QueryInterface(REFIID riid, LPVOID* ppvObj);
  ULONG __stdcall AddRef();
  ULONG __stdcall Release();

  // IBackgroundCopyCallback methods
  HRESULT __stdcall JobTransferred(IBackgroundCopyJob* pJob);
  HRESULT __stdcall JobError(IBackgroundCopyJob* pJob, IBackgroundCopyError* pError);
  HRESULT __stdcall JobModification(IBackgroundCopyJob* pJob, DWORD dwReserved);
};

HRESULT CNotifyInterface::QueryInterface(REFIID riid, LPVOID* ppvObj) {
  *ppvObj = NULL;
  if (riid == __uuidof(IUnknown) || riid == __uuidof(IBackgroundCopyCallback)) {
    *ppvObj = (IBackgroundCopyCallback*)(this);
  }

  if (*ppvObj != NULL) {
    ((LPUNKNOWN)*ppvObj)->AddRef();
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

  // Add logic that will not block the callback thread. If you need to perform
  // extensive logic at this time, consider creating a separate thread to perform
  // the work.

  hr = pJob->Complete();
  if (FAILED(hr)) {
    // Handle error. BITS probably was unable to rename one or more of the
    // temporary files. See the Remarks section of the IBackgroundCopyJob::Complete
    // method for more details.
  }

  // If you do not return S_OK, BITS continues to call this callback.
  return S_OK;
}

HRESULT CNotifyInterface::JobError(IBackgroundCopyJob* pJob, IBackgroundCopyError* pError) {
  HRESULT hr;
  BG_FILE_PROGRESS Progress;
  BG_ERROR_CONTEXT Context;
  HRESULT ErrorCode = S_OK;
  WCHAR* pszJobName = NULL;
  WCHAR* pszErrorDescription = NULL;
  BOOL IsError = TRUE;

  // Use pJob and pError to retrieve information of interest. For example,
  // if the job is an upload reply, call the IBackgroundCopyError::GetError method
  // to determine the context in which the job failed. If the context is
  // BG_JOB_CONTEXT_REMOTE_APPLICATION, the server application that received the
  // upload file failed.

  hr = pError->GetError(&Context, &ErrorCode);

  // If the proxy or server does not support the Content-Range header or if
  // antivirus software removes the range requests, BITS returns BG_E_INSUFFICIENT_RANGE_SUPPORT.
  // This implementation tries to switch the job to foreground priority, so
  // the content has a better chance of being successfully downloaded.
  if (BG_E_INSUFFICIENT_RANGE_SUPPORT == ErrorCode) {
    IBackgroundCopyFile* pFile = NULL;
    hr = pError->GetFile(&pFile);
    if (SUCCEEDED(hr) && pFile != NULL) {
      hr = pFile->GetProgress(&Progress);
      if (BG_SIZE_UNKNOWN == Progress.BytesTotal) {
        // The content is dynamic, do not change priority. Handle as an error.
      } else if (Progress.BytesTotal > 0x7FFFFFFF) {
        // BITS does not use range requests if the content is less than 2 GB.
        // However, if the content is greater than 2 GB, BITS
        // uses 2 GB ranges to download the file, so switching to foreground
        // priority will not help.
      } else {
        hr = pJob->SetPriority(BG_JOB_PRIORITY_FOREGROUND);
        hr = pJob->Resume();
        IsError = FALSE;
      }
      pFile->Release();
    }
  }

  if (TRUE == IsError) {
    hr = pJob->GetDisplayName(&pszJobName);
    hr = pError->GetErrorDescription(LANGIDFROMLCID(GetThreadLocale()), &pszErrorDescription);

    if (pszJobName && pszErrorDescription) {
      // Do something with the job name and description.
    }

    CoTaskMemFree(pszJobName);
    CoTaskMemFree(pszErrorDescription);
  }

  // If you do not return S_OK, BITS continues to call this callback.
  return S_OK;
}

HRESULT CNotifyInterface::JobModification(IBackgroundCopyJob* pJob, DWORD dwReserved) {
  (void)pJob;
  (void)dwReserved;
  return S_OK;
}

#pragma GCC diagnostic pop

namespace {

TEST(CompatSample, MicrosoftStyleCallbackCountsReferencesAndDeletesItself) {
  g_notify_destroyed = 0;
  CNotifyInterface* pNotify = new CNotifyInterface();
  EXPECT_EQ(pNotify->AddRef(), 2U);

  IUnknown* pUnknown = NULL;
  EXPECT_EQ(pNotify->QueryInterface(IID_IUnknown, (void**)&pUnknown), S_OK);
  EXPECT_EQ(pUnknown, static_cast<IUnknown*>(pNotify));

  IBackgroundCopyCallback* pCallback = NULL;
  EXPECT_EQ(pUnknown->QueryInterface(IID_PPV_ARGS(&pCallback)), S_OK);
  EXPECT_EQ(pCallback, pNotify);
  IBackgroundCopyCallback* pTyped = NULL;
  EXPECT_EQ(pUnknown->QueryInterface(&pTyped), S_OK);  // unknwn.h's typed helper

  IBackgroundCopyCallback2* pCallback2 = reinterpret_cast<IBackgroundCopyCallback2*>(pNotify);
  EXPECT_EQ(pNotify->QueryInterface(IID_PPV_ARGS(&pCallback2)), E_NOINTERFACE);
  EXPECT_EQ(pCallback2, nullptr);

  // The job calls back; the sample completes the job.
  MockJob<IBackgroundCopyJob> job;
  EXPECT_EQ(pCallback->JobTransferred(&job), S_OK);
  EXPECT_STREQ(job.called, "Complete");

  EXPECT_EQ(pTyped->Release(), 4U);
  EXPECT_EQ(pCallback->Release(), 3U);
  EXPECT_EQ(pUnknown->Release(), 2U);
  EXPECT_EQ(pNotify->Release(), 1U);
  EXPECT_EQ(g_notify_destroyed, 0);
  EXPECT_EQ(pNotify->Release(), 0U);
  EXPECT_EQ(g_notify_destroyed, 1);
}

TEST(CompatSample, ActivationCompilesAsOnWindows) {
  // CoCreateInstance is implemented with the interfaces (libopendo); here the calls only have to
  // compile exactly as Windows code writes them, so they stay unevaluated.
  IBackgroundCopyManager* pQueueMgr = NULL;
  IDOManager* pDoManager = NULL;
  static_assert(std::is_same_v<decltype(CoCreateInstance(
                                   __uuidof(BackgroundCopyManager), NULL, CLSCTX_LOCAL_SERVER,
                                   __uuidof(IBackgroundCopyManager), (void**)&pQueueMgr)),
                               HRESULT>);
  static_assert(std::is_same_v<decltype(CoCreateInstance(CLSID_BackgroundCopyManager, NULL,
                                                         CLSCTX_ALL, IID_PPV_ARGS(&pQueueMgr))),
                               HRESULT>);
  static_assert(
      std::is_same_v<decltype(CoCreateInstance(CLSID_DeliveryOptimization, nullptr,
                                               CLSCTX_LOCAL_SERVER, IID_PPV_ARGS(&pDoManager))),
                     HRESULT>);
  EXPECT_EQ(pQueueMgr, nullptr);
  EXPECT_EQ(pDoManager, nullptr);

  // Typical use of the types with the manager and a job, compiled against the mocks.
  MockManager<IBackgroundCopyManager> manager;
  GUID JobId{};
  IBackgroundCopyJob* pJob = NULL;
  HRESULT hr = manager.CreateJob(L"MyJobName", BG_JOB_TYPE_DOWNLOAD, &JobId, &pJob);
  EXPECT_TRUE(SUCCEEDED(hr));
  EXPECT_STREQ(manager.called, "CreateJob");
  hr = manager.GetJob(JobId, &pJob);
  EXPECT_EQ(hr, S_OK);
  EXPECT_STREQ(manager.called, "GetJob");

  MockJob5<IBackgroundCopyJob5> job5;
  BITS_JOB_PROPERTY_VALUE value;
  value.Dword = BITS_COST_STATE_TRANSFER_NOT_ROAMING;
  EXPECT_EQ(job5.SetProperty(BITS_JOB_PROPERTY_ID_COST_FLAGS, value), S_OK);
  BG_FILE_RANGE ranges[] = {{0, 100}, {200, BG_LENGTH_TO_EOF}};
  EXPECT_EQ(job5.AddFileWithRanges(L"https://example.com/a", L"/tmp/a", ARRAYSIZE(ranges), ranges),
            S_OK);
  EXPECT_EQ(job5.SetProxySettings(BG_JOB_PROXY_USAGE_OVERRIDE, L"proxy:8080", NULL), S_OK);
  EXPECT_EQ(job5.SetNotifyFlags(BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR), S_OK);

  MockDODownload<IDODownload> download;
  VARIANT var;
  VariantInit(&var);
  var.vt = VT_BSTR;
  var.bstrVal = SysAllocString(L"https://example.com/file.bin");
  EXPECT_EQ(download.SetProperty(DODownloadProperty_Uri, &var), S_OK);
  VariantClear(&var);
  DO_DOWNLOAD_STATUS status;
  ZeroMemory(&status, sizeof(status));
  EXPECT_EQ(download.GetStatus(&status), S_OK);
  EXPECT_EQ(status.State, DODownloadState_Created);
  EXPECT_EQ(download.Start(NULL), S_OK);
}

}  // namespace
