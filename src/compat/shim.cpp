// The COM runtime pieces that ported Windows code calls besides the BITS/DO interfaces: apartment
// bookkeeping, task memory, BSTRs, VARIANTs and byte safe arrays, with Windows' semantics.
// CoCreateInstance is not here: it belongs with the implementation of the interfaces.
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <limits>

#include "opendo/compat/objbase.h"

namespace {

// What CoInitializeEx recorded for the calling thread. There is no real apartment: opendo's objects
// are free-threaded. The model is kept only to answer RPC_E_CHANGED_MODE as Windows does.
struct apartment {
  ULONG init_count = 0;
  DWORD model = COINIT_MULTITHREADED;
};
thread_local apartment t_apartment;

constexpr DWORD known_coinit_flags =
    COINIT_APARTMENTTHREADED | COINIT_DISABLE_OLE1DDE | COINIT_SPEED_OVER_MEMORY;

// BSTR: [uint32 byte length][characters][NUL]; the BSTR points at the characters.
constexpr std::size_t bstr_prefix = sizeof(std::uint32_t);

unsigned char* bstr_block(BSTR s) {
  return reinterpret_cast<unsigned char*>(s) - bstr_prefix;
}

// SAFEARRAY: as on Windows with FADF_HAVEVARTYPE, the element VARTYPE sits in the 4 bytes just
// before the descriptor. The header keeps the descriptor 16-byte aligned.
constexpr std::size_t safearray_header = 16;

ULONG element_size(VARTYPE vt) {
  switch (vt) {
    case VT_I1:
    case VT_UI1:
      return 1;
    case VT_I2:
    case VT_UI2:
    case VT_BOOL:
      return 2;
    case VT_I4:
    case VT_UI4:
    case VT_INT:
    case VT_UINT:
    case VT_R4:
    case VT_ERROR:
      return 4;
    case VT_I8:
    case VT_UI8:
    case VT_R8:
    case VT_DATE:
      return 8;
    default:
      return 0;  // BSTR, VARIANT, interfaces: elements that need ownership; not supported
  }
}

bool is_plain_value(VARTYPE vt) {
  return vt == VT_EMPTY || vt == VT_NULL || element_size(vt) != 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Apartments

HRESULT CoInitializeEx(LPVOID pvReserved, DWORD dwCoInit) {
  if (pvReserved != nullptr || (dwCoInit & ~known_coinit_flags) != 0) return E_INVALIDARG;
  const DWORD model = dwCoInit & COINIT_APARTMENTTHREADED;
  apartment& a = t_apartment;
  if (a.init_count == 0) {
    a.model = model;
    a.init_count = 1;
    return S_OK;
  }
  if (a.model != model) return RPC_E_CHANGED_MODE;
  ++a.init_count;
  return S_FALSE;
}

HRESULT CoInitialize(LPVOID pvReserved) {
  return CoInitializeEx(pvReserved, COINIT_APARTMENTTHREADED);
}

void CoUninitialize() {
  if (t_apartment.init_count > 0) --t_apartment.init_count;
}

HRESULT CoGetApartmentType(APTTYPE* pAptType, APTTYPEQUALIFIER* pAptQualifier) {
  if (pAptType == nullptr || pAptQualifier == nullptr) return E_INVALIDARG;
  *pAptQualifier = APTTYPEQUALIFIER_NONE;
  if (t_apartment.init_count == 0) {
    *pAptType = APTTYPE_CURRENT;
    return CO_E_NOTINITIALIZED;
  }
  *pAptType = t_apartment.model == COINIT_APARTMENTTHREADED ? APTTYPE_STA : APTTYPE_MTA;
  return S_OK;
}

// ---------------------------------------------------------------------------------------------
// Locale: opendo's messages are English.

LCID GetThreadLocale() {
  return MAKELCID(MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), SORT_DEFAULT);
}

LANGID GetUserDefaultUILanguage() {
  return MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US);
}

// ---------------------------------------------------------------------------------------------
// Task memory

LPVOID CoTaskMemAlloc(SIZE_T cb) {
  // Windows returns a valid, distinct pointer for a zero-byte request.
  return std::malloc(cb == 0 ? 1 : cb);
}

LPVOID CoTaskMemRealloc(LPVOID pv, SIZE_T cb) {
  if (pv == nullptr) return CoTaskMemAlloc(cb);
  if (cb == 0) {
    std::free(pv);
    return nullptr;
  }
  return std::realloc(pv, cb);
}

void CoTaskMemFree(LPVOID pv) {
  std::free(pv);
}

// ---------------------------------------------------------------------------------------------
// BSTR

BSTR SysAllocStringLen(const OLECHAR* strIn, UINT ui) {
  constexpr std::size_t max_chars = std::numeric_limits<std::uint32_t>::max() / sizeof(OLECHAR) - 1;
  if (ui > max_chars) return nullptr;
  const std::uint32_t bytes = static_cast<std::uint32_t>(ui * sizeof(OLECHAR));
  auto* block = static_cast<unsigned char*>(std::malloc(bstr_prefix + bytes + sizeof(OLECHAR)));
  if (block == nullptr) return nullptr;
  std::memcpy(block, &bytes, sizeof bytes);
  auto* chars = reinterpret_cast<OLECHAR*>(block + bstr_prefix);
  if (strIn != nullptr) {
    std::memcpy(chars, strIn, bytes);
  } else {
    std::memset(chars, 0, bytes);  // Windows leaves them uninitialised; zero is kinder
  }
  chars[ui] = L'\0';
  return chars;
}

BSTR SysAllocString(const OLECHAR* psz) {
  if (psz == nullptr) return nullptr;
  const std::size_t length = std::wcslen(psz);
  if (length > std::numeric_limits<UINT>::max()) return nullptr;
  return SysAllocStringLen(psz, static_cast<UINT>(length));
}

void SysFreeString(BSTR bstrString) {
  if (bstrString != nullptr) std::free(bstr_block(bstrString));
}

UINT SysStringByteLen(BSTR bstr) {
  if (bstr == nullptr) return 0;
  std::uint32_t bytes = 0;
  std::memcpy(&bytes, bstr_block(bstr), sizeof bytes);
  return bytes;
}

UINT SysStringLen(BSTR pbstr) {
  return static_cast<UINT>(SysStringByteLen(pbstr) / sizeof(OLECHAR));
}

// ---------------------------------------------------------------------------------------------
// SAFEARRAY (one-dimensional arrays of plain values)

SAFEARRAY* SafeArrayCreateVector(VARTYPE vt, LONG lLbound, ULONG cElements) {
  const ULONG size = element_size(vt);
  if (size == 0) return nullptr;
  if (cElements > std::numeric_limits<SIZE_T>::max() / size) return nullptr;
  const SIZE_T data_bytes = static_cast<SIZE_T>(cElements) * size;

  auto* block = static_cast<unsigned char*>(std::calloc(1, safearray_header + sizeof(SAFEARRAY)));
  if (block == nullptr) return nullptr;
  void* data = nullptr;
  if (data_bytes != 0) {
    data = std::calloc(1, data_bytes);
    if (data == nullptr) {
      std::free(block);
      return nullptr;
    }
  }
  const DWORD stored_vt = vt;
  std::memcpy(block + safearray_header - sizeof stored_vt, &stored_vt, sizeof stored_vt);
  auto* psa = reinterpret_cast<SAFEARRAY*>(block + safearray_header);
  psa->cDims = 1;
  psa->fFeatures = FADF_HAVEVARTYPE;
  psa->cbElements = size;
  psa->cLocks = 0;
  psa->pvData = data;
  psa->rgsabound[0].cElements = cElements;
  psa->rgsabound[0].lLbound = lLbound;
  return psa;
}

HRESULT SafeArrayDestroy(SAFEARRAY* psa) {
  if (psa == nullptr) return S_OK;
  if (__atomic_load_n(&psa->cLocks, __ATOMIC_SEQ_CST) != 0) return DISP_E_ARRAYISLOCKED;
  std::free(psa->pvData);
  std::free(reinterpret_cast<unsigned char*>(psa) - safearray_header);
  return S_OK;
}

HRESULT SafeArrayAccessData(SAFEARRAY* psa, void HUGEP** ppvData) {
  if (psa == nullptr || ppvData == nullptr) return E_INVALIDARG;
  __atomic_add_fetch(&psa->cLocks, 1U, __ATOMIC_SEQ_CST);
  *ppvData = psa->pvData;
  return S_OK;
}

HRESULT SafeArrayUnaccessData(SAFEARRAY* psa) {
  if (psa == nullptr) return E_INVALIDARG;
  ULONG locks = __atomic_load_n(&psa->cLocks, __ATOMIC_SEQ_CST);
  do {
    if (locks == 0) return E_UNEXPECTED;
  } while (!__atomic_compare_exchange_n(&psa->cLocks, &locks, locks - 1, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST));
  return S_OK;
}

HRESULT SafeArrayGetVartype(SAFEARRAY* psa, VARTYPE* pvt) {
  if (psa == nullptr || pvt == nullptr) return E_INVALIDARG;
  if ((psa->fFeatures & FADF_HAVEVARTYPE) == 0) return E_INVALIDARG;
  DWORD stored_vt = 0;
  std::memcpy(&stored_vt, reinterpret_cast<unsigned char*>(psa) - sizeof stored_vt,
              sizeof stored_vt);
  *pvt = static_cast<VARTYPE>(stored_vt);
  return S_OK;
}

HRESULT SafeArrayCopy(SAFEARRAY* psa, SAFEARRAY** ppsaOut) {
  if (ppsaOut == nullptr) return E_INVALIDARG;
  *ppsaOut = nullptr;
  if (psa == nullptr) return S_OK;
  VARTYPE vt = VT_EMPTY;
  if (psa->cDims != 1 || FAILED(SafeArrayGetVartype(psa, &vt))) return E_INVALIDARG;
  SAFEARRAY* copy =
      SafeArrayCreateVector(vt, psa->rgsabound[0].lLbound, psa->rgsabound[0].cElements);
  if (copy == nullptr) return E_OUTOFMEMORY;
  if (psa->pvData != nullptr) {
    std::memcpy(copy->pvData, psa->pvData,
                static_cast<SIZE_T>(psa->rgsabound[0].cElements) * psa->cbElements);
  }
  *ppsaOut = copy;
  return S_OK;
}

HRESULT SafeArrayGetLBound(SAFEARRAY* psa, UINT nDim, LONG* plLbound) {
  if (psa == nullptr || plLbound == nullptr) return E_INVALIDARG;
  if (nDim != 1 || psa->cDims != 1) return DISP_E_BADINDEX;
  *plLbound = psa->rgsabound[0].lLbound;
  return S_OK;
}

HRESULT SafeArrayGetUBound(SAFEARRAY* psa, UINT nDim, LONG* plUbound) {
  if (psa == nullptr || plUbound == nullptr) return E_INVALIDARG;
  if (nDim != 1 || psa->cDims != 1) return DISP_E_BADINDEX;
  // Computed in 64 bits: an empty array starting at LONG_MIN has no representable upper bound.
  const long long upper = static_cast<long long>(psa->rgsabound[0].lLbound) +
                          static_cast<long long>(psa->rgsabound[0].cElements) - 1;
  if (upper > std::numeric_limits<LONG>::max() || upper < std::numeric_limits<LONG>::min()) {
    return E_UNEXPECTED;
  }
  *plUbound = static_cast<LONG>(upper);
  return S_OK;
}

UINT SafeArrayGetDim(SAFEARRAY* psa) {
  return psa == nullptr ? 0 : psa->cDims;
}

UINT SafeArrayGetElemsize(SAFEARRAY* psa) {
  return psa == nullptr ? 0 : psa->cbElements;
}

// ---------------------------------------------------------------------------------------------
// VARIANT

void VariantInit(VARIANTARG* pvarg) {
  if (pvarg == nullptr) return;
  std::memset(pvarg, 0, sizeof *pvarg);
  pvarg->vt = VT_EMPTY;
}

HRESULT VariantClear(VARIANTARG* pvarg) {
  if (pvarg == nullptr) return E_INVALIDARG;
  const VARTYPE vt = pvarg->vt;
  if ((vt & VT_BYREF) != 0) {
    // The variant does not own what a by-reference value points at.
  } else if ((vt & VT_ARRAY) != 0) {
    const HRESULT hr = SafeArrayDestroy(pvarg->parray);
    if (FAILED(hr)) return hr;
  } else if (vt == VT_BSTR) {
    SysFreeString(pvarg->bstrVal);
  } else if (vt == VT_UNKNOWN || vt == VT_DISPATCH) {
    if (pvarg->punkVal != nullptr) pvarg->punkVal->Release();
  } else if (!is_plain_value(vt)) {
    return DISP_E_BADVARTYPE;
  }
  VariantInit(pvarg);
  return S_OK;
}

HRESULT VariantCopy(VARIANTARG* pvargDest, const VARIANTARG* pvargSrc) {
  if (pvargDest == nullptr || pvargSrc == nullptr) return E_INVALIDARG;
  if (pvargDest == pvargSrc) return S_OK;
  const VARTYPE vt = pvargSrc->vt;
  const bool supported = (vt & VT_BYREF) != 0 || (vt & VT_ARRAY) != 0 || vt == VT_BSTR ||
                         vt == VT_UNKNOWN || vt == VT_DISPATCH || is_plain_value(vt);
  if (!supported) return DISP_E_BADVARTYPE;

  HRESULT hr = VariantClear(pvargDest);
  if (FAILED(hr)) return hr;

  VARIANT copy = *pvargSrc;
  if ((vt & VT_BYREF) != 0) {
    // Shallow, as on Windows: both variants point at the same value.
  } else if ((vt & VT_ARRAY) != 0) {
    hr = SafeArrayCopy(pvargSrc->parray, &copy.parray);
    if (FAILED(hr)) return hr;
  } else if (vt == VT_BSTR) {
    if (pvargSrc->bstrVal != nullptr) {
      copy.bstrVal = SysAllocStringLen(pvargSrc->bstrVal, SysStringLen(pvargSrc->bstrVal));
      if (copy.bstrVal == nullptr) return E_OUTOFMEMORY;
    }
  } else if (vt == VT_UNKNOWN || vt == VT_DISPATCH) {
    if (copy.punkVal != nullptr) copy.punkVal->AddRef();
  }
  *pvargDest = copy;
  return S_OK;
}
