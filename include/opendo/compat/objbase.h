// The COM shim of opendo's Windows-compatible layer: the Windows types, HRESULTs, GUIDs, IUnknown,
// BSTR/VARIANT helpers and Co* functions used by code written for bits.h / DeliveryOptimization.h.
//
// It stands alone (no other opendo header) so that ported code can include it first. Put
// <prefix>/include/opendo/compat on the include path and `#include <windows.h>` / <objbase.h> /
// <unknwn.h> resolve here. Everything lives in the global namespace, as on Windows.
//
// Deliberate differences from Windows, all forced by the platform:
// - LONG and HRESULT are int32_t, ULONG and DWORD uint32_t (Windows' `long` is 32-bit, Linux's is
//   64-bit), so a printf format such as "%lx" for an HRESULT becomes "%x".
// - WCHAR is wchar_t, which is 4 bytes (UTF-32) on Linux. Strings are still L"..." literals.
// - __uuidof() works for the interfaces and coclasses declared by these headers; an application
//   declaring its own interface gives it a uuid with OPENDO_DECLARE_UUID(Type, "xxxxxxxx-...") at
//   global scope (DECLSPEC_UUID / MIDL_INTERFACE cannot attach one and expand to nothing).
// - There are no calling conventions: STDMETHODCALLTYPE, __stdcall, WINAPI expand to nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "sal.h"

// ---------------------------------------------------------------------------------------------
// Base types (windef.h, winnt.h, wtypes.h)

typedef unsigned char BYTE;
typedef unsigned char byte;  // rpcndr.h; GetReplyData() is declared with it
typedef std::uint16_t WORD;
typedef std::uint32_t DWORD;
typedef std::int32_t LONG;
typedef std::uint32_t ULONG;
typedef std::int16_t SHORT;
typedef std::uint16_t USHORT;
typedef char CHAR;
typedef unsigned char UCHAR;
typedef int INT;
typedef unsigned int UINT;
typedef int BOOL;
typedef float FLOAT;
typedef double DOUBLE;
typedef long long LONGLONG;
typedef unsigned long long ULONGLONG;
typedef long long INT64;
typedef unsigned long long UINT64;
typedef UINT64* PUINT64;
typedef unsigned long long DWORD64;
typedef unsigned long long ULONG64;
typedef std::size_t SIZE_T;
typedef std::uintptr_t ULONG_PTR;
typedef std::intptr_t LONG_PTR;
typedef std::uintptr_t DWORD_PTR;
typedef std::int32_t HRESULT;
typedef std::int32_t SCODE;
typedef wchar_t WCHAR;
typedef WCHAR* LPWSTR;
typedef const WCHAR* LPCWSTR;
typedef char* LPSTR;
typedef const char* LPCSTR;
typedef void* LPVOID;
typedef const void* LPCVOID;
typedef void* PVOID;
typedef BYTE* LPBYTE;
typedef DWORD* LPDWORD;
typedef LONG* LPLONG;
typedef DWORD LCID;
typedef WORD LANGID;
typedef WCHAR OLECHAR;
typedef OLECHAR* LPOLESTR;
typedef const OLECHAR* LPCOLESTR;
typedef WCHAR TCHAR;  // opendo assumes UNICODE builds, the only kind BITS samples are written for
typedef LPWSTR LPTSTR;
typedef LPCWSTR LPCTSTR;
typedef OLECHAR* BSTR;
typedef short VARIANT_BOOL;
typedef unsigned short VARTYPE;
typedef double DATE;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#define VARIANT_TRUE (static_cast<VARIANT_BOOL>(-1))
#define VARIANT_FALSE (static_cast<VARIANT_BOOL>(0))
#define INFINITE 0xFFFFFFFFU
#define TEXT(quote) L##quote
// The Windows SDK's own name, which ported code spells this way: it cannot be renamed.
// NOLINTBEGIN(bugprone-reserved-identifier)
#define __TEXT(quote) L##quote
// NOLINTEND(bugprone-reserved-identifier)

struct FILETIME {
  DWORD dwLowDateTime;
  DWORD dwHighDateTime;
};
typedef FILETIME* PFILETIME;
typedef FILETIME* LPFILETIME;

// ---------------------------------------------------------------------------------------------
// Declaration macros (objbase.h, combaseapi.h, winnt.h). No calling conventions on Linux.

// The Windows SDK's own names, which ported code spells this way: they cannot be renamed.
// NOLINTBEGIN(bugprone-reserved-identifier)
#ifndef __stdcall
#define __stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif
// NOLINTEND(bugprone-reserved-identifier)
#define STDMETHODCALLTYPE
#define STDMETHODVCALLTYPE
#define STDAPICALLTYPE
#define WINAPI
#define WINAPIV
#define CALLBACK
#define APIENTRY
#define EXTERN_C extern "C"
#define STDAPI EXTERN_C HRESULT STDAPICALLTYPE
#define STDAPI_(type) EXTERN_C type STDAPICALLTYPE
#define STDMETHOD(method) virtual HRESULT STDMETHODCALLTYPE method
#define STDMETHOD_(type, method) virtual type STDMETHODCALLTYPE method
#define STDMETHODIMP HRESULT STDMETHODCALLTYPE
#define STDMETHODIMP_(type) type STDMETHODCALLTYPE
#define IFACEMETHOD(method) STDMETHOD(method)
#define IFACEMETHOD_(type, method) STDMETHOD_(type, method)
#define IFACEMETHODIMP STDMETHODIMP
#define IFACEMETHODIMP_(type) STDMETHODIMP_(type)
#define PURE = 0
#define THIS_
#define THIS void
#define DECLSPEC_UUID(x)
#define DECLSPEC_NOVTABLE
#define DECLSPEC_SELECTANY
#define MIDL_INTERFACE(x) struct
#define DECLARE_INTERFACE(iface) struct iface
#define DECLARE_INTERFACE_(iface, baseiface) struct iface : public baseiface
#define HUGEP

// ---------------------------------------------------------------------------------------------
// GUIDs (guiddef.h) and __uuidof

struct GUID {
  std::uint32_t Data1;
  std::uint16_t Data2;
  std::uint16_t Data3;
  std::uint8_t Data4[8];
};
typedef GUID IID;
typedef GUID CLSID;
typedef GUID* LPGUID;
typedef IID* LPIID;
typedef CLSID* LPCLSID;
typedef const GUID& REFGUID;
typedef const IID& REFIID;
typedef const CLSID& REFCLSID;

constexpr bool operator==(const GUID& a, const GUID& b) {
  if (a.Data1 != b.Data1 || a.Data2 != b.Data2 || a.Data3 != b.Data3) return false;
  for (int i = 0; i < 8; ++i) {
    if (a.Data4[i] != b.Data4[i]) return false;
  }
  return true;
}
constexpr bool operator!=(const GUID& a, const GUID& b) {
  return !(a == b);
}
constexpr BOOL IsEqualGUID(REFGUID a, REFGUID b) {
  return a == b ? TRUE : FALSE;
}
constexpr BOOL InlineIsEqualGUID(REFGUID a, REFGUID b) {
  return IsEqualGUID(a, b);
}
#define IsEqualIID(riid1, riid2) IsEqualGUID(riid1, riid2)
#define IsEqualCLSID(rclsid1, rclsid2) IsEqualGUID(rclsid1, rclsid2)

inline constexpr GUID GUID_NULL = {0, 0, 0, {0, 0, 0, 0, 0, 0, 0, 0}};
#define IID_NULL GUID_NULL
#define CLSID_NULL GUID_NULL

// DEFINE_GUID always defines the constant (inline, so every translation unit may see it): there is
// no INITGUID dance to do.
#define DEFINE_GUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) \
  inline constexpr GUID name = {l, w1, w2, {b1, b2, b3, b4, b5, b6, b7, b8}}

// Reached only when a uuid string given to OPENDO_DECLARE_UUID is malformed: it is not constexpr,
// so the declaration fails to compile instead of producing a wrong GUID.
inline unsigned opendo_malformed_uuid_string() {
  return 0;
}

constexpr unsigned opendo_uuid_hex_digit(char c) {
  return c >= '0' && c <= '9'   ? static_cast<unsigned>(c - '0')
         : c >= 'a' && c <= 'f' ? static_cast<unsigned>(c - 'a' + 10)
         : c >= 'A' && c <= 'F' ? static_cast<unsigned>(c - 'A' + 10)
                                : opendo_malformed_uuid_string();
}

constexpr std::uint32_t opendo_uuid_hex(const char* s, int digits) {
  std::uint32_t v = 0;
  for (int i = 0; i < digits; ++i) v = (v << 4) | opendo_uuid_hex_digit(s[i]);
  return v;
}

// "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX", with or without the registry braces.
template <std::size_t N>
constexpr GUID opendo_guid_from_string(const char (&text)[N]) {
  static_assert(N == 37 || N == 39,
                "a uuid string has the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX");
  const char* s = N == 39 ? text + 1 : text;
  if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') opendo_malformed_uuid_string();
  if (N == 39 && (text[0] != '{' || text[37] != '}')) opendo_malformed_uuid_string();
  GUID g{};
  g.Data1 = opendo_uuid_hex(s, 8);
  g.Data2 = static_cast<std::uint16_t>(opendo_uuid_hex(s + 9, 4));
  g.Data3 = static_cast<std::uint16_t>(opendo_uuid_hex(s + 14, 4));
  g.Data4[0] = static_cast<std::uint8_t>(opendo_uuid_hex(s + 19, 2));
  g.Data4[1] = static_cast<std::uint8_t>(opendo_uuid_hex(s + 21, 2));
  for (int i = 0; i < 6; ++i) {
    g.Data4[2 + i] = static_cast<std::uint8_t>(opendo_uuid_hex(s + 24 + std::ptrdiff_t{2} * i, 2));
  }
  return g;
}

// The uuid of an interface or coclass; specialised by OPENDO_DECLARE_UUID. Using __uuidof on a type
// without one fails to compile (incomplete type), as MSVC refuses a type without __declspec(uuid).
template <typename T>
struct opendo_uuid_of;

#define OPENDO_DECLARE_UUID(type, uuid_string)                          \
  template <>                                                           \
  struct opendo_uuid_of<type> {                                         \
    static constexpr GUID value = opendo_guid_from_string(uuid_string); \
  }

// MSVC's __uuidof accepts a type or an expression (an object, pointer or reference). The
// __typeof__ of GCC and Clang accepts both too, which lets one macro serve `__uuidof(IUnknown)` and
// the `__uuidof(**(ppType))` inside IID_PPV_ARGS.
template <typename T>
using opendo_uuid_subject_t = std::remove_cv_t<std::remove_pointer_t<std::remove_reference_t<T>>>;
// The Windows SDK's own name, which ported code spells this way: it cannot be renamed.
// NOLINTBEGIN(bugprone-reserved-identifier)
#define __uuidof(x) (opendo_uuid_of<opendo_uuid_subject_t<__typeof__(x)>>::value)
// NOLINTEND(bugprone-reserved-identifier)

// ---------------------------------------------------------------------------------------------
// HRESULTs (winerror.h). Every code is typed HRESULT so `hr == E_FAIL` compares int32 with int32.

#define OPENDO_HRESULT(value) (static_cast<HRESULT>(value##U))
// The Windows SDK's own name, which ported code spells this way: it cannot be renamed.
// NOLINTBEGIN(bugprone-reserved-identifier)
#define _HRESULT_TYPEDEF_(sc) (static_cast<HRESULT>(sc))
// NOLINTEND(bugprone-reserved-identifier)

#define SEVERITY_SUCCESS 0
#define SEVERITY_ERROR 1
#define FACILITY_NULL 0
#define FACILITY_RPC 1
#define FACILITY_DISPATCH 2
#define FACILITY_STORAGE 3
#define FACILITY_ITF 4
#define FACILITY_WIN32 7
#define FACILITY_HTTP 25
#define FACILITY_BITS 32
#define FACILITY_DELIVERY_OPTIMIZATION 208

#define SUCCEEDED(hr) (static_cast<HRESULT>(hr) >= 0)
#define FAILED(hr) (static_cast<HRESULT>(hr) < 0)
#define IS_ERROR(status) (static_cast<std::uint32_t>(status) >> 31 == SEVERITY_ERROR)
#define HRESULT_CODE(hr) (static_cast<HRESULT>(static_cast<std::uint32_t>(hr) & 0xFFFFU))
#define HRESULT_FACILITY(hr) \
  (static_cast<HRESULT>((static_cast<std::uint32_t>(hr) >> 16) & 0x1FFFU))
#define HRESULT_SEVERITY(hr) (static_cast<HRESULT>((static_cast<std::uint32_t>(hr) >> 31) & 0x1U))
#define SCODE_CODE(sc) HRESULT_CODE(sc)
#define SCODE_FACILITY(sc) HRESULT_FACILITY(sc)
#define MAKE_HRESULT(sev, fac, code)                              \
  (static_cast<HRESULT>((static_cast<std::uint32_t>(sev) << 31) | \
                        (static_cast<std::uint32_t>(fac) << 16) | \
                        static_cast<std::uint32_t>(code)))
#define MAKE_SCODE(sev, fac, code) MAKE_HRESULT(sev, fac, code)

// Win32 error codes become HRESULTs in FACILITY_WIN32; 0 (and anything already negative) maps to
// itself, as the inline version in winerror.h does.
constexpr HRESULT HRESULT_FROM_WIN32(unsigned long x) {
  return static_cast<HRESULT>(x) <= 0
             ? static_cast<HRESULT>(x)
             : static_cast<HRESULT>((x & 0x0000FFFFUL) | (FACILITY_WIN32 << 16) | 0x80000000UL);
}

#define ERROR_SUCCESS 0L
#define NO_ERROR 0L
#define ERROR_FILE_NOT_FOUND 2L
#define ERROR_PATH_NOT_FOUND 3L
#define ERROR_ACCESS_DENIED 5L
#define ERROR_INVALID_HANDLE 6L
#define ERROR_NOT_ENOUGH_MEMORY 8L
#define ERROR_OUTOFMEMORY 14L
#define ERROR_FILE_EXISTS 80L
#define ERROR_INVALID_PARAMETER 87L
#define ERROR_DISK_FULL 112L
#define ERROR_INSUFFICIENT_BUFFER 122L
#define ERROR_ALREADY_EXISTS 183L
#define ERROR_NOT_FOUND 1168L
#define ERROR_CANCELLED 1223L

#define S_OK OPENDO_HRESULT(0x00000000)
#define S_FALSE OPENDO_HRESULT(0x00000001)
#define NOERROR S_OK
#define E_NOTIMPL OPENDO_HRESULT(0x80004001)
#define E_NOINTERFACE OPENDO_HRESULT(0x80004002)
#define E_POINTER OPENDO_HRESULT(0x80004003)
#define E_ABORT OPENDO_HRESULT(0x80004004)
#define E_FAIL OPENDO_HRESULT(0x80004005)
#define E_PENDING OPENDO_HRESULT(0x8000000A)
#define E_BOUNDS OPENDO_HRESULT(0x8000000B)
#define E_UNEXPECTED OPENDO_HRESULT(0x8000FFFF)
#define E_ACCESSDENIED OPENDO_HRESULT(0x80070005)
#define E_HANDLE OPENDO_HRESULT(0x80070006)
#define E_OUTOFMEMORY OPENDO_HRESULT(0x8007000E)
#define E_INVALIDARG OPENDO_HRESULT(0x80070057)
#define RPC_E_CHANGED_MODE OPENDO_HRESULT(0x80010106)
#define DISP_E_TYPEMISMATCH OPENDO_HRESULT(0x80020005)
#define DISP_E_BADVARTYPE OPENDO_HRESULT(0x80020008)
#define DISP_E_BADINDEX OPENDO_HRESULT(0x8002000B)
#define DISP_E_ARRAYISLOCKED OPENDO_HRESULT(0x8002000D)
#define CLASS_E_NOAGGREGATION OPENDO_HRESULT(0x80040110)
#define CLASS_E_CLASSNOTAVAILABLE OPENDO_HRESULT(0x80040111)
#define REGDB_E_CLASSNOTREG OPENDO_HRESULT(0x80040154)
#define CO_E_NOTINITIALIZED OPENDO_HRESULT(0x800401F0)

// ---------------------------------------------------------------------------------------------
// Languages and locales (winnt.h)

#define LANG_NEUTRAL 0x00
#define LANG_INVARIANT 0x7F
#define LANG_ENGLISH 0x09
#define SUBLANG_NEUTRAL 0x00
#define SUBLANG_DEFAULT 0x01
#define SUBLANG_SYS_DEFAULT 0x02
#define SUBLANG_ENGLISH_US 0x01
#define SORT_DEFAULT 0x0
#define MAKELANGID(p, s) (static_cast<LANGID>((static_cast<WORD>(s) << 10) | static_cast<WORD>(p)))
#define PRIMARYLANGID(lgid) (static_cast<WORD>(lgid) & 0x3FF)
#define SUBLANGID(lgid) (static_cast<WORD>(lgid) >> 10)
#define MAKELCID(lgid, srtid)                                               \
  (static_cast<LCID>((static_cast<DWORD>(static_cast<WORD>(srtid)) << 16) | \
                     static_cast<WORD>(lgid)))
#define LANGIDFROMLCID(lcid) (static_cast<LANGID>(lcid))
#define LANG_SYSTEM_DEFAULT MAKELANGID(LANG_NEUTRAL, SUBLANG_SYS_DEFAULT)
#define LANG_USER_DEFAULT MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT)
#define LOCALE_SYSTEM_DEFAULT MAKELCID(LANG_SYSTEM_DEFAULT, SORT_DEFAULT)
#define LOCALE_USER_DEFAULT MAKELCID(LANG_USER_DEFAULT, SORT_DEFAULT)

// opendo speaks English only for now: both return en-US (0x0409).
LCID GetThreadLocale();
LANGID GetUserDefaultUILanguage();

// ---------------------------------------------------------------------------------------------
// Atomic reference counting (winnt.h). Each returns what Windows returns: Increment/Decrement the
// new value, Exchange/ExchangeAdd/CompareExchange the previous one. The ULONG overloads exist on
// Windows too (for `ULONG m_cRef;` members).

inline LONG InterlockedIncrement(LONG volatile* addend) {
  return __atomic_add_fetch(addend, 1, __ATOMIC_SEQ_CST);
}
inline LONG InterlockedDecrement(LONG volatile* addend) {
  return __atomic_sub_fetch(addend, 1, __ATOMIC_SEQ_CST);
}
inline LONG InterlockedExchange(LONG volatile* target, LONG value) {
  return __atomic_exchange_n(target, value, __ATOMIC_SEQ_CST);
}
inline LONG InterlockedExchangeAdd(LONG volatile* addend, LONG value) {
  return __atomic_fetch_add(addend, value, __ATOMIC_SEQ_CST);
}
inline LONG InterlockedCompareExchange(LONG volatile* destination, LONG exchange, LONG comparand) {
  __atomic_compare_exchange_n(destination, &comparand, exchange, false, __ATOMIC_SEQ_CST,
                              __ATOMIC_SEQ_CST);
  return comparand;  // on failure the builtin stored the current value here
}
inline ULONG InterlockedIncrement(ULONG volatile* addend) {
  return __atomic_add_fetch(addend, 1U, __ATOMIC_SEQ_CST);
}
inline ULONG InterlockedDecrement(ULONG volatile* addend) {
  return __atomic_sub_fetch(addend, 1U, __ATOMIC_SEQ_CST);
}
inline LONGLONG InterlockedIncrement64(LONGLONG volatile* addend) {
  return __atomic_add_fetch(addend, 1, __ATOMIC_SEQ_CST);
}
inline LONGLONG InterlockedDecrement64(LONGLONG volatile* addend) {
  return __atomic_sub_fetch(addend, 1, __ATOMIC_SEQ_CST);
}
inline LONGLONG InterlockedExchange64(LONGLONG volatile* target, LONGLONG value) {
  return __atomic_exchange_n(target, value, __ATOMIC_SEQ_CST);
}
inline PVOID InterlockedExchangePointer(PVOID volatile* target, PVOID value) {
  return __atomic_exchange_n(target, value, __ATOMIC_SEQ_CST);
}

// ---------------------------------------------------------------------------------------------
// IUnknown and IEnumUnknown (unknwn.h, objidl.h). Methods are declared in Windows' vtable order.

struct IUnknown;
OPENDO_DECLARE_UUID(IUnknown, "00000000-0000-0000-C000-000000000046");
inline constexpr IID IID_IUnknown = __uuidof(IUnknown);

struct IUnknown {
  virtual HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void** ppvObject) = 0;
  virtual ULONG STDMETHODCALLTYPE AddRef() = 0;
  virtual ULONG STDMETHODCALLTYPE Release() = 0;

  // The typed helper of unknwn.h: p->QueryInterface(&pJob). Not virtual, so not in the vtable.
  template <class Q>
  HRESULT STDMETHODCALLTYPE QueryInterface(Q** pp) {
    return QueryInterface(__uuidof(Q), reinterpret_cast<void**>(pp));
  }
};
typedef IUnknown* LPUNKNOWN;

struct IEnumUnknown;
OPENDO_DECLARE_UUID(IEnumUnknown, "00000100-0000-0000-C000-000000000046");
inline constexpr IID IID_IEnumUnknown = __uuidof(IEnumUnknown);

struct IEnumUnknown : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE Next(ULONG celt, IUnknown** rgelt, ULONG* pceltFetched) = 0;
  virtual HRESULT STDMETHODCALLTYPE Skip(ULONG celt) = 0;
  virtual HRESULT STDMETHODCALLTYPE Reset() = 0;
  virtual HRESULT STDMETHODCALLTYPE Clone(IEnumUnknown** ppenum) = 0;
};
typedef IEnumUnknown* LPENUMUNKNOWN;

// ---------------------------------------------------------------------------------------------
// ISequentialStream and IStream (objidl.h), enough for DO's StreamInterface: an application's
// stream object that a download writes into. Methods in Windows' vtable order.

// The Windows SDK's own tag names, which ported code spells this way: they cannot be renamed.
// NOLINTBEGIN(bugprone-reserved-identifier)
typedef union _LARGE_INTEGER {
  struct {
    DWORD LowPart;
    LONG HighPart;
  } u;
  LONGLONG QuadPart;
} LARGE_INTEGER;
typedef union _ULARGE_INTEGER {
  struct {
    DWORD LowPart;
    DWORD HighPart;
  } u;
  ULONGLONG QuadPart;
} ULARGE_INTEGER;
// NOLINTEND(bugprone-reserved-identifier)
typedef LARGE_INTEGER* PLARGE_INTEGER;
typedef ULARGE_INTEGER* PULARGE_INTEGER;

typedef enum tagSTREAM_SEEK {
  STREAM_SEEK_SET = 0,
  STREAM_SEEK_CUR = 1,
  STREAM_SEEK_END = 2
} STREAM_SEEK;
typedef enum tagSTGTY {
  STGTY_STORAGE = 1,
  STGTY_STREAM = 2,
  STGTY_LOCKBYTES = 3,
  STGTY_PROPERTY = 4
} STGTY;
typedef enum tagSTATFLAG {
  STATFLAG_DEFAULT = 0,
  STATFLAG_NONAME = 1,
  STATFLAG_NOOPEN = 2
} STATFLAG;
typedef enum tagSTGC {
  STGC_DEFAULT = 0,
  STGC_OVERWRITE = 1,
  STGC_ONLYIFCURRENT = 2,
  STGC_DANGEROUSLYCOMMITMERELYTODISKCACHE = 4,
  STGC_CONSOLIDATE = 8
} STGC;

typedef struct tagSTATSTG {
  LPOLESTR pwcsName;
  DWORD type;
  ULARGE_INTEGER cbSize;
  FILETIME mtime;
  FILETIME ctime;
  FILETIME atime;
  DWORD grfMode;
  DWORD grfLocksSupported;
  CLSID clsid;
  DWORD grfStateBits;
  DWORD reserved;
} STATSTG;

struct ISequentialStream;
OPENDO_DECLARE_UUID(ISequentialStream, "0c733a30-2a1c-11ce-ade5-00aa0044773d");
inline constexpr IID IID_ISequentialStream = __uuidof(ISequentialStream);

struct ISequentialStream : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE Read(void* pv, ULONG cb, ULONG* pcbRead) = 0;
  virtual HRESULT STDMETHODCALLTYPE Write(const void* pv, ULONG cb, ULONG* pcbWritten) = 0;
};

struct IStream;
OPENDO_DECLARE_UUID(IStream, "0000000c-0000-0000-C000-000000000046");
inline constexpr IID IID_IStream = __uuidof(IStream);

struct IStream : public ISequentialStream {
  virtual HRESULT STDMETHODCALLTYPE Seek(LARGE_INTEGER dlibMove, DWORD dwOrigin,
                                         ULARGE_INTEGER* plibNewPosition) = 0;
  virtual HRESULT STDMETHODCALLTYPE SetSize(ULARGE_INTEGER libNewSize) = 0;
  virtual HRESULT STDMETHODCALLTYPE CopyTo(IStream* pstm, ULARGE_INTEGER cb,
                                           ULARGE_INTEGER* pcbRead, ULARGE_INTEGER* pcbWritten) = 0;
  virtual HRESULT STDMETHODCALLTYPE Commit(DWORD grfCommitFlags) = 0;
  virtual HRESULT STDMETHODCALLTYPE Revert() = 0;
  virtual HRESULT STDMETHODCALLTYPE LockRegion(ULARGE_INTEGER libOffset, ULARGE_INTEGER cb,
                                               DWORD dwLockType) = 0;
  virtual HRESULT STDMETHODCALLTYPE UnlockRegion(ULARGE_INTEGER libOffset, ULARGE_INTEGER cb,
                                                 DWORD dwLockType) = 0;
  virtual HRESULT STDMETHODCALLTYPE Stat(STATSTG* pstatstg, DWORD grfStatFlag) = 0;
  virtual HRESULT STDMETHODCALLTYPE Clone(IStream** ppstm) = 0;
};
typedef IStream* LPSTREAM;

// CoCreateInstance(clsid, nullptr, CLSCTX_LOCAL_SERVER, IID_PPV_ARGS(&pManager)): the uuid comes
// from the pointer's type, and the pointer must point to an interface.
template <typename T>
void** IID_PPV_ARGS_Helper(T** pp) {
  static_assert(std::is_base_of_v<IUnknown, T>, "IID_PPV_ARGS needs a pointer to an interface");
  return reinterpret_cast<void**>(pp);
}
#define IID_PPV_ARGS(ppType) __uuidof(**(ppType)), IID_PPV_ARGS_Helper(ppType)

// ---------------------------------------------------------------------------------------------
// Task memory and BSTRs (combaseapi.h, oleauto.h). Strings that the BITS and DO interfaces return
// (LPWSTR out-parameters) are allocated with CoTaskMemAlloc; the caller frees them with
// CoTaskMemFree. A BSTR is laid out as on Windows: a 4-byte length prefix holding the length in
// bytes (excluding the terminator), then the characters, then a NUL.

LPVOID CoTaskMemAlloc(SIZE_T cb);
LPVOID CoTaskMemRealloc(LPVOID pv, SIZE_T cb);
void CoTaskMemFree(LPVOID pv);

BSTR SysAllocString(const OLECHAR* psz);
BSTR SysAllocStringLen(const OLECHAR* strIn, UINT ui);
void SysFreeString(BSTR bstrString);
UINT SysStringLen(BSTR pbstr);
UINT SysStringByteLen(BSTR bstr);

// ---------------------------------------------------------------------------------------------
// SAFEARRAY and VARIANT (oaidl.h, oleauto.h): enough for the IDODownload properties. Safe arrays
// hold plain values (VT_UI1 byte arrays and the other fixed-size number types); arrays of BSTR,
// VARIANT or interface pointers are not supported (SafeArrayCreateVector returns NULL).

enum VARENUM {
  VT_EMPTY = 0,
  VT_NULL = 1,
  VT_I2 = 2,
  VT_I4 = 3,
  VT_R4 = 4,
  VT_R8 = 5,
  VT_DATE = 7,
  VT_BSTR = 8,
  VT_DISPATCH = 9,
  VT_ERROR = 10,
  VT_BOOL = 11,
  VT_VARIANT = 12,
  VT_UNKNOWN = 13,
  VT_I1 = 16,
  VT_UI1 = 17,
  VT_UI2 = 18,
  VT_UI4 = 19,
  VT_I8 = 20,
  VT_UI8 = 21,
  VT_INT = 22,
  VT_UINT = 23,
  VT_ARRAY = 0x2000,
  VT_BYREF = 0x4000,
  VT_TYPEMASK = 0xFFF,
};

struct SAFEARRAYBOUND {
  ULONG cElements;
  LONG lLbound;
};
typedef SAFEARRAYBOUND* LPSAFEARRAYBOUND;

#define FADF_AUTO 0x0001
#define FADF_STATIC 0x0002
#define FADF_EMBEDDED 0x0004
#define FADF_FIXEDSIZE 0x0010
#define FADF_HAVEVARTYPE 0x0080

struct SAFEARRAY {
  USHORT cDims;
  USHORT fFeatures;
  ULONG cbElements;
  ULONG cLocks;
  PVOID pvData;
  SAFEARRAYBOUND rgsabound[1];
};
typedef SAFEARRAY* LPSAFEARRAY;

SAFEARRAY* SafeArrayCreateVector(VARTYPE vt, LONG lLbound, ULONG cElements);
HRESULT SafeArrayDestroy(SAFEARRAY* psa);
HRESULT SafeArrayAccessData(SAFEARRAY* psa, void HUGEP** ppvData);
HRESULT SafeArrayUnaccessData(SAFEARRAY* psa);
HRESULT SafeArrayCopy(SAFEARRAY* psa, SAFEARRAY** ppsaOut);
HRESULT SafeArrayGetVartype(SAFEARRAY* psa, VARTYPE* pvt);
HRESULT SafeArrayGetLBound(SAFEARRAY* psa, UINT nDim, LONG* plLbound);
HRESULT SafeArrayGetUBound(SAFEARRAY* psa, UINT nDim, LONG* plUbound);
UINT SafeArrayGetDim(SAFEARRAY* psa);
UINT SafeArrayGetElemsize(SAFEARRAY* psa);

// Windows nests the value union in an anonymous struct inside an anonymous union (a Microsoft
// extension); a plain struct with an anonymous union gives the same member names in standard C++.
struct VARIANT {
  VARTYPE vt;
  WORD wReserved1;
  WORD wReserved2;
  WORD wReserved3;
  union {
    LONGLONG llVal;
    LONG lVal;
    BYTE bVal;
    SHORT iVal;
    FLOAT fltVal;
    DOUBLE dblVal;
    VARIANT_BOOL boolVal;
    SCODE scode;
    DATE date;
    BSTR bstrVal;
    IUnknown* punkVal;
    SAFEARRAY* parray;
    BYTE* pbVal;
    SHORT* piVal;
    LONG* plVal;
    LONGLONG* pllVal;
    VARIANT_BOOL* pboolVal;
    BSTR* pbstrVal;
    IUnknown** ppunkVal;
    SAFEARRAY** pparray;
    VARIANT* pvarVal;
    PVOID byref;
    CHAR cVal;
    USHORT uiVal;
    ULONG ulVal;
    ULONGLONG ullVal;
    INT intVal;
    UINT uintVal;
    ULONG* pulVal;
    ULONGLONG* pullVal;
  };
};
typedef VARIANT VARIANTARG;
typedef VARIANT* LPVARIANT;
typedef VARIANT* LPVARIANTARG;

void VariantInit(VARIANTARG* pvarg);
HRESULT VariantClear(VARIANTARG* pvarg);  // frees a BSTR, releases an interface, destroys an array
HRESULT VariantCopy(VARIANTARG* pvargDest, const VARIANTARG* pvargSrc);  // deep copy

// ---------------------------------------------------------------------------------------------
// COM initialisation and activation (combaseapi.h, objbase.h)

enum CLSCTX {
  CLSCTX_INPROC_SERVER = 0x1,
  CLSCTX_INPROC_HANDLER = 0x2,
  CLSCTX_LOCAL_SERVER = 0x4,
  CLSCTX_REMOTE_SERVER = 0x10,
};
#define CLSCTX_INPROC (CLSCTX_INPROC_SERVER | CLSCTX_INPROC_HANDLER)
#define CLSCTX_SERVER (CLSCTX_INPROC_SERVER | CLSCTX_LOCAL_SERVER | CLSCTX_REMOTE_SERVER)
#define CLSCTX_ALL \
  (CLSCTX_INPROC_SERVER | CLSCTX_INPROC_HANDLER | CLSCTX_LOCAL_SERVER | CLSCTX_REMOTE_SERVER)

enum COINIT {
  COINIT_MULTITHREADED = 0x0,
  COINIT_APARTMENTTHREADED = 0x2,
  COINIT_DISABLE_OLE1DDE = 0x4,
  COINIT_SPEED_OVER_MEMORY = 0x8,
};

enum APTTYPE {
  APTTYPE_CURRENT = -1,
  APTTYPE_STA = 0,
  APTTYPE_MTA = 1,
  APTTYPE_NA = 2,
  APTTYPE_MAINSTA = 3,
};
enum APTTYPEQUALIFIER {
  APTTYPEQUALIFIER_NONE = 0,
};

// Per thread, as on Windows: the first call returns S_OK, later calls with the same model S_FALSE
// (each must still be balanced by CoUninitialize), a call asking for the other model
// RPC_E_CHANGED_MODE (and must not be balanced). CoInitialize(p) is
// CoInitializeEx(p, COINIT_APARTMENTTHREADED).
HRESULT CoInitializeEx(LPVOID pvReserved, DWORD dwCoInit);
HRESULT CoInitialize(LPVOID pvReserved);
void CoUninitialize();
// CO_E_NOTINITIALIZED when the calling thread has not called CoInitialize(Ex).
HRESULT CoGetApartmentType(APTTYPE* pAptType, APTTYPEQUALIFIER* pAptQualifier);

// Declared here, defined by opendo's implementation of the interfaces (libopendo).
HRESULT CoCreateInstance(REFCLSID rclsid, LPUNKNOWN pUnkOuter, DWORD dwClsContext, REFIID riid,
                         LPVOID* ppv);
