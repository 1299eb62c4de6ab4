// IBackgroundCopyError: a job's error (HRESULT, context, file, words, protocol) as it was when
// read.
#include "compat/convert.hpp"
#include "compat/objects.hpp"

namespace opendo::compat {
namespace {

// BITS' own BG_E_PROTOCOL_NOT_AVAILABLE ("no protocol is available because no URL generated an
// error"), which bitsmsg.h of opendo does not declare yet.
constexpr HRESULT kProtocolNotAvailable = OPENDO_HRESULT(0x80200005);

const char* context_description(error_context context) {
  switch (context) {
    case error_context::none:
      return "No error occurred.";
    case error_context::unknown:
      return "The cause of the error is not known.";
    case error_context::general_queue_manager:
      return "The error occurred in the transfer service (opendod).";
    case error_context::queue_manager_notification:
      return "The error occurred while the transfer service notified the application.";
    case error_context::local_file:
      return "The error occurred while the local file was being processed.";
    case error_context::remote_file:
      return "The error occurred while the remote file was being processed.";
    case error_context::general_transport:
      return "The error occurred in the network transport (connection, name resolution, TLS).";
    case error_context::remote_application:
      return "The error occurred while the server application processed the request.";
  }
  return "The cause of the error is not known.";
}

class error_object final : public com_object<error_object, IBackgroundCopyError> {
 public:
  error_object(opendo::job handle, job_error error)
      : handle_(std::move(handle)), error_(std::move(error)) {}

  IUnknown* find_interface(REFIID riid) {
    if (riid == IID_IUnknown || riid == IID_IBackgroundCopyError) {
      return static_cast<IBackgroundCopyError*>(this);
    }
    return nullptr;
  }

  HRESULT STDMETHODCALLTYPE GetError(BG_ERROR_CONTEXT* pContext, HRESULT* pCode) override {
    if (pContext == nullptr || pCode == nullptr) return E_POINTER;
    *pContext = static_cast<BG_ERROR_CONTEXT>(error_.context);
    *pCode = static_cast<HRESULT>(error_.code);
    return S_OK;
  }

  HRESULT STDMETHODCALLTYPE GetFile(IBackgroundCopyFile** pVal) override {
    if (pVal == nullptr) return E_POINTER;
    *pVal = nullptr;
    if (!error_.file_index) return BG_E_FILE_NOT_AVAILABLE;
    return guard([&] {
      *pVal = make_file(handle_, *error_.file_index).detach();
      return S_OK;
    });
  }

  // Windows answers in the language asked for; opendo's messages are English, whatever the
  // language id.
  HRESULT STDMETHODCALLTYPE GetErrorDescription(DWORD, LPWSTR* pErrorDescription) override {
    if (pErrorDescription == nullptr) return E_POINTER;
    *pErrorDescription = nullptr;
    return guard([&] {
      // "what happened: what the HRESULT means", as opendo::error words it.
      *pErrorDescription = task_string(opendo::error(error_.code, error_.message).what());
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetErrorContextDescription(DWORD,
                                                       LPWSTR* pContextDescription) override {
    if (pContextDescription == nullptr) return E_POINTER;
    *pContextDescription = nullptr;
    return guard([&] {
      *pContextDescription = task_string(context_description(error_.context));
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetProtocol(LPWSTR* pProtocol) override {
    if (pProtocol == nullptr) return E_POINTER;
    *pProtocol = nullptr;
    if (error_.protocol.empty()) return kProtocolNotAvailable;
    return guard([&] {
      *pProtocol = task_string(error_.protocol);
      return S_OK;
    });
  }

 private:
  opendo::job handle_;
  job_error error_;
};

}  // namespace

com_ptr<IBackgroundCopyError> make_error(const opendo::job& handle, const job_error& error) {
  return make_object<error_object, IBackgroundCopyError>(handle, error);
}

}  // namespace opendo::compat
