// IBackgroundCopyFile through IBackgroundCopyFile4: one file of a job, read live from the daemon.
#include "compat/convert.hpp"
#include "compat/objects.hpp"

namespace opendo::compat {
namespace {

class file_object final : public com_object<file_object, IBackgroundCopyFile4> {
 public:
  file_object(opendo::job handle, std::uint32_t index)
      : handle_(std::move(handle)), index_(index) {}

  IUnknown* find_interface(REFIID riid) {
    if (riid == IID_IUnknown || riid == IID_IBackgroundCopyFile ||
        riid == IID_IBackgroundCopyFile2 || riid == IID_IBackgroundCopyFile3 ||
        riid == IID_IBackgroundCopyFile4) {
      return static_cast<IBackgroundCopyFile4*>(this);
    }
    return nullptr;
  }

  HRESULT STDMETHODCALLTYPE GetRemoteName(LPWSTR* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    *pVal = nullptr;
    return guard([&] {
      *pVal = task_string(current().remote_url);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetLocalName(LPWSTR* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    *pVal = nullptr;
    return guard([&] {
      *pVal = task_string(current().local_name);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetProgress(BG_FILE_PROGRESS* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    return guard([&] {
      const file_progress progress = current().progress;
      pVal->BytesTotal = progress.bytes_total;
      pVal->BytesTransferred = progress.bytes_transferred;
      pVal->Completed = progress.completed ? TRUE : FALSE;
      return S_OK;
    });
  }

  // The ranges the file was added with (none for a whole file), in a CoTaskMemAlloc'd array the
  // caller frees with CoTaskMemFree.
  HRESULT STDMETHODCALLTYPE GetFileRanges(DWORD* RangeCount, BG_FILE_RANGE** Ranges) override {
    if (RangeCount == nullptr || Ranges == nullptr) return E_POINTER;
    *RangeCount = 0;
    *Ranges = nullptr;
    return guard([&] {
      const std::vector<byte_range> ranges = current().ranges;
      if (ranges.empty()) return S_OK;
      auto* out =
          static_cast<BG_FILE_RANGE*>(CoTaskMemAlloc(sizeof(BG_FILE_RANGE) * ranges.size()));
      if (out == nullptr) return E_OUTOFMEMORY;
      for (std::size_t i = 0; i < ranges.size(); ++i) {
        out[i].InitialOffset = ranges[i].offset;
        out[i].Length = ranges[i].length;
      }
      *RangeCount = static_cast<DWORD>(ranges.size());
      *Ranges = out;
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE SetRemoteName(LPCWSTR Val) override {
    return guard([&] {
      handle_.set_remote_name(index_, utf8_from_wide(Val, "the remote name"));
      return S_OK;
    });
  }

  // ---- IBackgroundCopyFile3

  HRESULT STDMETHODCALLTYPE GetTemporaryName(LPWSTR* pFilename) override {
    if (pFilename == nullptr) return E_POINTER;
    *pFilename = nullptr;
    return guard([&] {
      const std::string name = current().temp_name;
      if (name.empty()) fail(E_UNEXPECTED, "opendod did not report the temporary file's name");
      *pFilename = task_string(name);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE SetValidationState(BOOL state) override {
    return guard([&] {
      handle_.set_validation_state(index_, state != FALSE);
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetValidationState(BOOL* pState) override {
    if (pState == nullptr) return E_POINTER;
    return guard([&] {
      *pState = current().validated ? TRUE : FALSE;
      return S_OK;
    });
  }

  // Whether any byte of the file came from a LAN or group peer.
  HRESULT STDMETHODCALLTYPE IsDownloadedFromPeer(BOOL* pVal) override {
    if (pVal == nullptr) return E_POINTER;
    return guard([&] {
      *pVal = current().sources.bytes_from_peers() > 0 ? TRUE : FALSE;
      return S_OK;
    });
  }

  // ---- IBackgroundCopyFile4

  // From the origin: every byte fetched over HTTP(S), from the URL's server or a cache host (which
  // serves the origin's URL as an HTTP cache does). From peers: LAN and group peers.
  HRESULT STDMETHODCALLTYPE GetPeerDownloadStats(PUINT64 pFromOrigin, PUINT64 pFromPeers) override {
    if (pFromOrigin == nullptr || pFromPeers == nullptr) return E_POINTER;
    return guard([&] {
      const source_stats sources = current().sources;
      *pFromOrigin = sources.bytes_from_origin + sources.bytes_from_cache_hosts;
      *pFromPeers = sources.bytes_from_peers();
      return S_OK;
    });
  }

 private:
  file_info current() {
    job_info info = handle_.info();
    if (index_ >= info.files.size()) {
      fail(E_UNEXPECTED, "job " + handle_.id() + " has no file " + std::to_string(index_));
    }
    return std::move(info.files[index_]);
  }

  opendo::job handle_;
  std::uint32_t index_;
};

}  // namespace

com_ptr<IBackgroundCopyFile> make_file(const opendo::job& handle, std::uint32_t index) {
  return make_object<file_object, IBackgroundCopyFile>(handle, index);
}

}  // namespace opendo::compat
