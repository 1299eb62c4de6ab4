// CoCreateInstance and the manager object: IBackgroundCopyManager (the BackgroundCopyManager
// coclass) and, for the DeliveryOptimization coclass, IDOManager as well. One opendo::client each.
#include <cstdlib>
#include <cwctype>
#include <string>
#include <utility>
#include <vector>

#include "compat/convert.hpp"
#include "compat/objects.hpp"

namespace opendo::compat {
namespace {

bool same_id(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::towupper(static_cast<unsigned char>(a[i])) !=
        std::towupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

class manager_object final : public com_object<manager_object, IBackgroundCopyManager, IDOManager> {
 public:
  manager_object(const client_options& options, bool delivery_optimization)
      : client_(options), delivery_optimization_(delivery_optimization) {}

  IUnknown* find_interface(REFIID riid) {
    if (riid == IID_IUnknown || riid == IID_IBackgroundCopyManager) {
      return static_cast<IBackgroundCopyManager*>(this);
    }
    if (delivery_optimization_ && riid == IID_IDOManager) return static_cast<IDOManager*>(this);
    return nullptr;
  }

  // ---- IBackgroundCopyManager

  HRESULT STDMETHODCALLTYPE CreateJob(LPCWSTR DisplayName, BG_JOB_TYPE Type, GUID* pJobId,
                                      IBackgroundCopyJob** ppJob) override {
    if (pJobId == nullptr || ppJob == nullptr) return E_POINTER;
    *ppJob = nullptr;
    return guard([&] {
      const std::uint32_t type = raw_value(Type);
      if (type == BG_JOB_TYPE_UPLOAD || type == BG_JOB_TYPE_UPLOAD_REPLY) {
        fail(E_NOTIMPL, "opendo has download jobs only");
      }
      if (type != BG_JOB_TYPE_DOWNLOAD) fail(E_INVALIDARG, "unknown job type");
      opendo::job handle = client_.create_job(utf8_from_wide(DisplayName, "the display name"));
      const GUID id = guid_from_job_id(handle.id());
      com_ptr<IBackgroundCopyJob> job = make_job(handle);
      *pJobId = id;
      *ppJob = job.detach();
      return S_OK;
    });
  }

  // Jobs in a final state have left the queue, as on Windows: BG_E_NOT_FOUND.
  HRESULT STDMETHODCALLTYPE GetJob(REFGUID jobID, IBackgroundCopyJob** ppJob) override {
    if (ppJob == nullptr) return E_POINTER;
    *ppJob = nullptr;
    return guard([&] {
      opendo::job handle = client_.open_job(job_id_from_guid(jobID));
      const job_state state = handle.info().state;
      if (is_final(state)) {
        fail(BG_E_NOT_FOUND, "job " + handle.id() + " is " + std::string(to_string(state)));
      }
      *ppJob = make_job(handle).detach();
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE EnumJobs(DWORD dwFlags, IEnumBackgroundCopyJobs** ppEnum) override {
    if (ppEnum == nullptr) return E_POINTER;
    *ppEnum = nullptr;
    return guard([&] {
      if ((dwFlags & ~static_cast<DWORD>(BG_JOB_ENUM_ALL_USERS)) != 0) {
        fail(E_INVALIDARG, "unknown EnumJobs flags");
      }
      std::vector<com_ptr<IBackgroundCopyJob>> jobs;
      for (const job_info& info : client_.list_jobs((dwFlags & BG_JOB_ENUM_ALL_USERS) != 0)) {
        jobs.push_back(make_job(client_.open_job(info.id)));
      }
      *ppEnum = make_job_enumerator(std::move(jobs)).detach();
      return S_OK;
    });
  }

  // opendo's messages are English, whatever the language id.
  HRESULT STDMETHODCALLTYPE GetErrorDescription(HRESULT hResult, DWORD,
                                                LPWSTR* pErrorDescription) override {
    if (pErrorDescription == nullptr) return E_POINTER;
    *pErrorDescription = nullptr;
    return guard([&] {
      *pErrorDescription = task_string(describe(static_cast<std::uint32_t>(hResult)));
      return S_OK;
    });
  }

  // ---- IDOManager

  HRESULT STDMETHODCALLTYPE CreateDownload(IDODownload** download) override {
    if (download == nullptr) return E_POINTER;
    *download = nullptr;
    return do_hresult(guard([&] {
      *download = make_download(client_.create_job("")).detach();
      return S_OK;
    }));
  }

  // The caller's downloads: its jobs of at most one file that have not ended, optionally those
  // whose Id (any case), Uri, DisplayName or LocalPath equals category->Value, or whose
  // ContentId names the same content (a magnet or urn:btmh with the same v2 info hash; known once
  // the download started).
  HRESULT STDMETHODCALLTYPE EnumDownloads(const DO_DOWNLOAD_ENUM_CATEGORY* category,
                                          IEnumUnknown** ppEnum) override {
    if (ppEnum == nullptr) return E_POINTER;
    *ppEnum = nullptr;
    return do_hresult(guard([&] {
      std::string wanted;
      if (category != nullptr) {
        switch (raw_value(category->Property)) {
          case DODownloadProperty_Id:
          case DODownloadProperty_Uri:
          case DODownloadProperty_ContentId:
          case DODownloadProperty_DisplayName:
          case DODownloadProperty_LocalPath:
            break;
          default:
            fail(E_INVALIDARG, "downloads cannot be enumerated by this property");
        }
        wanted = utf8_from_wide(category->Value, "the category value");
      }
      std::vector<com_ptr<IUnknown>> downloads;
      for (const job_info& info : client_.list_jobs(false)) {
        if (info.files.size() > 1) continue;  // a BITS job of several files is no download
        if (category != nullptr && !matches(*category, wanted, info)) continue;
        com_ptr<IDODownload> download = make_download(client_.open_job(info.id));
        downloads.push_back(com_ptr<IUnknown>::adopt(download.detach()));
      }
      *ppEnum = make_unknown_enumerator(std::move(downloads)).detach();
      return S_OK;
    }));
  }

 private:
  static bool matches(const DO_DOWNLOAD_ENUM_CATEGORY& category, const std::string& wanted,
                      const job_info& info) {
    switch (raw_value(category.Property)) {
      case DODownloadProperty_Id:
        return same_id(info.id, wanted);
      case DODownloadProperty_Uri:
        return download_uri(info) == wanted;
      case DODownloadProperty_DisplayName:
        return info.display_name == wanted;
      case DODownloadProperty_LocalPath:
        return download_local_path(info) == wanted;
      case DODownloadProperty_ContentId: {
        const auto id = content_id_of(wanted);
        return id && info.files.size() == 1 && info.files[0].content_id == *id;
      }
      default:
        return false;
    }
  }

  opendo::client client_;
  bool delivery_optimization_;
};

}  // namespace

com_ptr<IUnknown> make_manager(const client_options& options, bool delivery_optimization) {
  com_ptr<IBackgroundCopyManager> manager =
      make_object<manager_object, IBackgroundCopyManager>(options, delivery_optimization);
  return com_ptr<IUnknown>::adopt(manager.detach());
}

}  // namespace opendo::compat

// The one activation function: the two coclasses opendo serves, in-process objects talking to
// opendod (the CLSCTX is ignored). $OPENDO_SOCKET names the daemon's socket; without it the user's
// own opendod is used, and started when none runs.
HRESULT CoCreateInstance(REFCLSID rclsid, LPUNKNOWN pUnkOuter, DWORD dwClsContext, REFIID riid,
                         LPVOID* ppv) {
  (void)dwClsContext;
  if (ppv == nullptr) return E_POINTER;
  *ppv = nullptr;
  APTTYPE type = APTTYPE_CURRENT;
  APTTYPEQUALIFIER qualifier = APTTYPEQUALIFIER_NONE;
  if (CoGetApartmentType(&type, &qualifier) == CO_E_NOTINITIALIZED) return CO_E_NOTINITIALIZED;
  bool delivery_optimization = false;
  if (rclsid == CLSID_DeliveryOptimization) {
    delivery_optimization = true;
  } else if (rclsid != CLSID_BackgroundCopyManager) {
    return REGDB_E_CLASSNOTREG;
  }
  if (pUnkOuter != nullptr) return CLASS_E_NOAGGREGATION;
  return opendo::compat::guard([&] {
    opendo::client_options options;
    if (const char* socket = std::getenv("OPENDO_SOCKET"); socket != nullptr && *socket != '\0') {
      options.socket_path = socket;
    }
    opendo::compat::com_ptr<IUnknown> manager =
        opendo::compat::make_manager(options, delivery_optimization);
    return manager->QueryInterface(riid, ppv);
  });
}
