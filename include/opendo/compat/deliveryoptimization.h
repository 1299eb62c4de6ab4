// The Delivery Optimization download API as Windows declares it (DeliveryOptimization.h): the IDO*
// interfaces, their enums and structs, CLSID_DeliveryOptimization, plus the BITS job API it reuses.
//
// libopendo implements the interfaces; CoCreateInstance(CLSID_DeliveryOptimization, ...) returns
// the IDOManager.
#pragma once

#include "bits.h"
#include "deliveryoptimizationerrors.h"
#include "objbase.h"

// ---------------------------------------------------------------------------------------------
// Constants and enums

#define DO_LENGTH_TO_EOF (static_cast<UINT64>(-1))
// The fileSize argument of IDeliveryOptimizationJob::AddFileWithRanges when the size is not known.
#define DO_UNKNOWN_FILE_SIZE (static_cast<UINT64>(-1))

enum DODownloadState {
  DODownloadState_Created = 0,
  DODownloadState_Transferring = 1,
  DODownloadState_Transferred = 2,
  DODownloadState_Finalized = 3,
  DODownloadState_Aborted = 4,
  DODownloadState_Paused = 5,
};

enum DODownloadCostPolicy {
  DODownloadCostPolicy_Always = 0,
  DODownloadCostPolicy_Unrestricted = 1,
  DODownloadCostPolicy_Standard = 2,
  DODownloadCostPolicy_NoRoaming = 3,
  DODownloadCostPolicy_NoSurcharge = 4,
  DODownloadCostPolicy_NoCellular = 5,
};

enum DODownloadProperty {
  DODownloadProperty_Id = 0,
  DODownloadProperty_Uri = 1,
  DODownloadProperty_ContentId = 2,
  DODownloadProperty_DisplayName = 3,
  DODownloadProperty_LocalPath = 4,
  DODownloadProperty_HttpCustomHeaders = 5,
  DODownloadProperty_CostPolicy = 6,
  DODownloadProperty_SecurityFlags = 7,
  DODownloadProperty_CallbackFreqPercent = 8,
  DODownloadProperty_CallbackFreqSeconds = 9,
  DODownloadProperty_NoProgressTimeoutSeconds = 10,
  DODownloadProperty_ForegroundPriority = 11,
  DODownloadProperty_BlockingMode = 12,
  DODownloadProperty_CallbackInterface = 13,
  DODownloadProperty_StreamInterface = 14,
  DODownloadProperty_SecurityContext = 15,
  DODownloadProperty_NetworkToken = 16,
  DODownloadProperty_CorrelationVector = 17,
  DODownloadProperty_DecryptionInfo = 18,
  DODownloadProperty_IntegrityCheckInfo = 19,
  DODownloadProperty_IntegrityCheckMandatory = 20,
  DODownloadProperty_TotalSizeBytes = 21,
  DODownloadProperty_DisallowOnCellular = 22,
  DODownloadProperty_HttpCustomAuthHeaders = 23,
  DODownloadProperty_HttpAllowSecureToNonSecureRedirect = 24,
  DODownloadProperty_NonVolatile = 25,
  DODownloadProperty_HttpRedirectionTarget = 26,
  DODownloadProperty_HttpResponseHeaders = 27,
  DODownloadProperty_HttpServerIPAddress = 28,
  DODownloadProperty_HttpStatusCode = 29,
};

// The DownloadMode policy values. No Windows header declares them (they are Group Policy / MDM
// settings); opendo names them in the style of the other DO enums.
enum DODownloadMode {
  DODownloadMode_HttpOnly = 0,
  DODownloadMode_Lan = 1,
  DODownloadMode_Group = 2,
  DODownloadMode_Internet = 3,
  DODownloadMode_Simple = 99,
  DODownloadMode_Bypass = 100,
};

// ---------------------------------------------------------------------------------------------
// Structs

struct DO_DOWNLOAD_STATUS {
  UINT64 BytesTotal;
  UINT64 BytesTransferred;
  DODownloadState State;
  HRESULT Error;
  HRESULT ExtendedError;
};

struct DO_DOWNLOAD_RANGE {
  UINT64 Offset;
  UINT64 Length;
};

// Variable length, as on Windows: allocate room for RangeCount entries of Ranges.
struct DO_DOWNLOAD_RANGES_INFO {
  UINT RangeCount;
  DO_DOWNLOAD_RANGE Ranges[1];
};

struct DO_DOWNLOAD_ENUM_CATEGORY {
  DODownloadProperty Property;
  LPCWSTR Value;
};

// ---------------------------------------------------------------------------------------------
// Interfaces

struct IDeliveryOptimizationJob;
struct IDODownload;
struct IDODownloadStatusCallback;
struct IDOManager;
class DeliveryOptimization;  // the coclass: only its uuid matters

OPENDO_DECLARE_UUID(IDeliveryOptimizationJob, "EE2584CF-A69C-4848-B633-2649962B3EF7");
OPENDO_DECLARE_UUID(IDODownload, "FBBD7FC0-C147-4727-A38D-827EF071EE77");
OPENDO_DECLARE_UUID(IDODownloadStatusCallback, "D166E8E3-A90E-4392-8E87-05E996D3747D");
OPENDO_DECLARE_UUID(IDOManager, "400E2D4A-1431-4C1A-A748-39CA472CFDB1");
OPENDO_DECLARE_UUID(DeliveryOptimization, "5B99FA76-721C-423C-ADAC-56D03C8A8007");

inline constexpr IID IID_IDeliveryOptimizationJob = __uuidof(IDeliveryOptimizationJob);
inline constexpr IID IID_IDODownload = __uuidof(IDODownload);
inline constexpr IID IID_IDODownloadStatusCallback = __uuidof(IDODownloadStatusCallback);
inline constexpr IID IID_IDOManager = __uuidof(IDOManager);
inline constexpr CLSID CLSID_DeliveryOptimization = __uuidof(DeliveryOptimization);

// Queried from a BITS job object of the DO job API: adds a file of which only some ranges are
// wanted. Ranges are sorted and do not overlap; fileSize is DO_UNKNOWN_FILE_SIZE when not known.
struct IDeliveryOptimizationJob : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE AddFileWithRanges(LPCWSTR fileId, LPCWSTR remoteUrl,
                                                      LPCWSTR localName, DWORD rangeCount,
                                                      BG_FILE_RANGE ranges[], UINT64 fileSize) = 0;
};

struct IDODownload : public IUnknown {
  // ranges == NULL downloads the whole file.
  virtual HRESULT STDMETHODCALLTYPE Start(const DO_DOWNLOAD_RANGES_INFO* ranges) = 0;
  virtual HRESULT STDMETHODCALLTYPE Pause() = 0;
  virtual HRESULT STDMETHODCALLTYPE Abort() = 0;
  virtual HRESULT STDMETHODCALLTYPE Finalize() = 0;
  virtual HRESULT STDMETHODCALLTYPE GetStatus(DO_DOWNLOAD_STATUS* status) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetProperty(DODownloadProperty propId, VARIANT* propVal) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetProperty(DODownloadProperty propId, VARIANT* propVal) = 0;
};

struct IDODownloadStatusCallback : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE OnStatusChange(IDODownload* download,
                                                   const DO_DOWNLOAD_STATUS* status) = 0;
};

struct IDOManager : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE CreateDownload(IDODownload** download) = 0;
  // category == NULL lists every download of the caller; only the caller's downloads are listed.
  virtual HRESULT STDMETHODCALLTYPE EnumDownloads(const DO_DOWNLOAD_ENUM_CATEGORY* category,
                                                  IEnumUnknown** ppEnum) = 0;
};
