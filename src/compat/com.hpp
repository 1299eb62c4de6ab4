// What every COM object of the compat layer shares: atomic reference counts, QueryInterface over
// the interfaces an object implements, a smart pointer, and the guard that turns exceptions into
// HRESULTs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "opendo/hresult.hpp"
// After the opendo headers: the compat headers define macros (S_OK, FAILED...) they must not see.
#include "opendo/compat/objbase.h"

namespace opendo::compat {

// Test hook: how many objects of this layer (managers, jobs, files, enumerators, errors,
// downloads) are alive in the process. Every object counts itself from construction to deletion.
long live_objects() noexcept;

namespace detail {
void count_object(long delta) noexcept;
}

// An owning interface pointer: Release()s what it holds. adopt() takes over a reference the caller
// already has (a new object, an out-parameter); share() adds one.
template <typename T>
class com_ptr {
 public:
  com_ptr() = default;
  com_ptr(std::nullptr_t) {}  // NOLINT: as convertible as a raw pointer
  static com_ptr adopt(T* p) noexcept {
    com_ptr out;
    out.p_ = p;
    return out;
  }
  static com_ptr share(T* p) noexcept {
    if (p != nullptr) p->AddRef();
    return adopt(p);
  }
  com_ptr(const com_ptr& other) noexcept : p_(other.p_) {
    if (p_ != nullptr) p_->AddRef();
  }
  com_ptr(com_ptr&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  com_ptr& operator=(com_ptr other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  ~com_ptr() { reset(); }

  void reset() noexcept {
    if (T* p = std::exchange(p_, nullptr)) p->Release();
  }
  // Hands the reference to the caller (an out-parameter).
  T* detach() noexcept { return std::exchange(p_, nullptr); }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

// QueryInterface for T on any interface pointer; null when the object does not implement it.
template <typename T>
com_ptr<T> query(IUnknown* from) {
  void* out = nullptr;
  if (from == nullptr || FAILED(from->QueryInterface(__uuidof(T), &out)) || out == nullptr) {
    return nullptr;
  }
  return com_ptr<T>::adopt(static_cast<T*>(out));
}

// The base of every object: Derived lists its interfaces in find_interface(riid), which returns the
// interface pointer (as IUnknown*) or null. The count starts at 1 for the creator's reference; the
// last Release deletes the object. Objects are free-threaded, as opendo has no apartments.
template <typename Derived, typename... Interfaces>
class com_object : public Interfaces... {
 public:
  com_object(const com_object&) = delete;
  com_object& operator=(const com_object&) = delete;

  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void** ppv) override {
    if (ppv == nullptr) return E_POINTER;
    *ppv = nullptr;
    IUnknown* found = static_cast<Derived*>(this)->find_interface(riid);
    if (found == nullptr) return E_NOINTERFACE;
    found->AddRef();
    *ppv = found;
    return S_OK;
  }
  ULONG STDMETHODCALLTYPE AddRef() override {
    return refs_.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  ULONG STDMETHODCALLTYPE Release() override {
    const ULONG left = refs_.fetch_sub(1, std::memory_order_acq_rel) - 1;
    if (left == 0) delete static_cast<Derived*>(this);
    return left;
  }

 protected:
  com_object() noexcept { detail::count_object(1); }
  virtual ~com_object() { detail::count_object(-1); }

 private:
  std::atomic<ULONG> refs_{1};
};

// Creates an object with its first reference, returned as interface I.
template <typename Object, typename I, typename... Args>
com_ptr<I> make_object(Args&&... args) {
  Object* object = new Object(std::forward<Args>(args)...);
  return com_ptr<I>::adopt(static_cast<I*>(object));
}

// The value of an enum argument as the caller passed it. Windows' enums have no fixed underlying
// type, so a value outside their enumerators (a caller's mistake the method must refuse) may not be
// read as the enum type itself: that would be undefined behaviour.
template <typename Enum>
std::uint32_t raw_value(const Enum& value) noexcept {
  static_assert(std::is_enum_v<Enum> && sizeof(Enum) == sizeof(std::uint32_t));
  std::uint32_t out = 0;
  std::memcpy(&out, &value, sizeof out);
  return out;
}

// Throws the opendo::error that guard() turns into `code`.
[[noreturn]] inline void fail(HRESULT code, const std::string& message) {
  throw opendo::error(static_cast<std::uint32_t>(code), message);
}

// Runs a method body and turns what it throws into the HRESULT to return: no C++ exception crosses
// the COM boundary. opendo::error carries its HRESULT; std::bad_alloc is E_OUTOFMEMORY; anything
// else is E_UNEXPECTED.
template <typename Body>
HRESULT guard(Body&& body) noexcept {
  try {
    return body();
  } catch (const opendo::error& e) {
    return static_cast<HRESULT>(e.hresult());
  } catch (const std::bad_alloc&) {
    return E_OUTOFMEMORY;
  } catch (...) {
    return E_UNEXPECTED;
  }
}

}  // namespace opendo::compat
