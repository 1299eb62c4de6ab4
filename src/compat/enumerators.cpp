// IEnumBackgroundCopyJobs, IEnumBackgroundCopyFiles and IEnumUnknown: COM enumerators over a
// snapshot taken when the enumerator was made. Clones share the snapshot and copy the position.
#include <memory>
#include <mutex>

#include "compat/objects.hpp"

namespace opendo::compat {
namespace {

// Enum is the enumerator interface, Item the element interface. The position is guarded by a
// mutex: objects are free-threaded.
template <typename Enum, typename Item>
class enumerator final : public com_object<enumerator<Enum, Item>, Enum> {
 public:
  using items = std::vector<com_ptr<Item>>;

  enumerator(std::shared_ptr<const items> snapshot, std::size_t position)
      : snapshot_(std::move(snapshot)), position_(position) {}

  IUnknown* find_interface(REFIID riid) {
    if (riid == IID_IUnknown || riid == __uuidof(Enum)) return static_cast<Enum*>(this);
    return nullptr;
  }

  // Next: up to celt AddRef'd items; S_FALSE when fewer than celt were left. pceltFetched may be
  // NULL only when celt is 1.
  HRESULT STDMETHODCALLTYPE Next(ULONG celt, Item** rgelt, ULONG* pceltFetched) override {
    if (pceltFetched == nullptr && celt != 1) return E_INVALIDARG;
    if (rgelt == nullptr) return E_POINTER;
    ULONG fetched = 0;
    {
      std::lock_guard lock(mutex_);
      while (fetched < celt && position_ < snapshot_->size()) {
        rgelt[fetched++] = com_ptr<Item>((*snapshot_)[position_++]).detach();
      }
    }
    if (pceltFetched != nullptr) *pceltFetched = fetched;
    return fetched == celt ? S_OK : S_FALSE;
  }

  HRESULT STDMETHODCALLTYPE Skip(ULONG celt) override {
    std::lock_guard lock(mutex_);
    const std::size_t left = snapshot_->size() - position_;
    if (celt > left) {
      position_ = snapshot_->size();
      return S_FALSE;
    }
    position_ += celt;
    return S_OK;
  }

  HRESULT STDMETHODCALLTYPE Reset() override {
    std::lock_guard lock(mutex_);
    position_ = 0;
    return S_OK;
  }

  HRESULT STDMETHODCALLTYPE Clone(Enum** ppenum) override {
    if (ppenum == nullptr) return E_POINTER;
    *ppenum = nullptr;
    return guard([&] {
      std::size_t position = 0;
      {
        std::lock_guard lock(mutex_);
        position = position_;
      }
      *ppenum = make_object<enumerator, Enum>(snapshot_, position).detach();
      return S_OK;
    });
  }

  // IEnumBackgroundCopyJobs and IEnumBackgroundCopyFiles declare it; IEnumUnknown does not, so
  // this is not marked override.
  HRESULT STDMETHODCALLTYPE GetCount(ULONG* puCount) {  // NOLINT(modernize-use-override)
    if (puCount == nullptr) return E_POINTER;
    *puCount = static_cast<ULONG>(snapshot_->size());
    return S_OK;
  }

 private:
  std::shared_ptr<const items> snapshot_;
  std::mutex mutex_;
  std::size_t position_;
};

template <typename Enum, typename Item>
com_ptr<Enum> make_enumerator(std::vector<com_ptr<Item>> list) {
  auto snapshot = std::make_shared<const std::vector<com_ptr<Item>>>(std::move(list));
  return make_object<enumerator<Enum, Item>, Enum>(std::move(snapshot), std::size_t{0});
}

}  // namespace

com_ptr<IEnumBackgroundCopyJobs> make_job_enumerator(
    std::vector<com_ptr<IBackgroundCopyJob>> jobs) {
  return make_enumerator<IEnumBackgroundCopyJobs>(std::move(jobs));
}

com_ptr<IEnumBackgroundCopyFiles> make_file_enumerator(
    std::vector<com_ptr<IBackgroundCopyFile>> files) {
  return make_enumerator<IEnumBackgroundCopyFiles>(std::move(files));
}

com_ptr<IEnumUnknown> make_unknown_enumerator(std::vector<com_ptr<IUnknown>> items) {
  return make_enumerator<IEnumUnknown>(std::move(items));
}

}  // namespace opendo::compat
