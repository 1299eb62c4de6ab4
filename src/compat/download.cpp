// IDODownload: a Delivery Optimization download on an opendo job of at most one file, its VARIANT
// properties, its status, and the IDODownloadStatusCallback dispatcher.
//
// The properties opendod does not store (Uri and LocalPath before Start, the StreamInterface, the
// callback frequencies, blocking mode, correlation vector) live in a process-wide table keyed by
// job id, so every IDODownload object for a download in this process sees the same values.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/text.hpp"
#include "compat/convert.hpp"
#include "compat/objects.hpp"
#include "compat/registrations.hpp"
#include "jobs/digest.hpp"
#include "jobs/headers.hpp"
#include "opendo/compat/winhttp.h"

namespace opendo::compat {
namespace {

// DO's SecurityFlags are WinHTTP's SECURITY_FLAG_IGNORE_* bits; each names one certificate error
// opendo can accept (opendo::tls_exemption). Any other bit is E_INVALIDARG.
std::uint32_t tls_exemptions_of_security_flags(ULONG flags) {
  constexpr std::pair<ULONG, std::uint32_t> kFlags[] = {
      {SECURITY_FLAG_IGNORE_UNKNOWN_CA, tls_exemption::unknown_ca},
      {SECURITY_FLAG_IGNORE_CERT_WRONG_USAGE, tls_exemption::wrong_usage},
      {SECURITY_FLAG_IGNORE_CERT_CN_INVALID, tls_exemption::name_mismatch},
      {SECURITY_FLAG_IGNORE_CERT_DATE_INVALID, tls_exemption::date_invalid},
  };
  std::uint32_t exemptions = 0;
  for (const auto& [flag, exemption] : kFlags) {
    if ((flags & flag) != 0) {
      exemptions |= exemption;
      flags &= ~flag;
    }
  }
  if (flags != 0) fail(E_INVALIDARG, "SecurityFlags has bits other than SECURITY_FLAG_IGNORE_*");
  return exemptions;
}

using steady = std::chrono::steady_clock;

// StreamInterface: the application's IStream, and the private directory (the caller's, mode
// 0700) that the download's file goes to instead of a LocalPath. Once the job has all the bytes
// (TRANSFERRED), a library thread writes them into the stream in order; until it is done the
// download reads as Transferring, and a failed IStream::Write makes it Paused with that HRESULT.
struct stream_state {
  std::mutex mutex;
  com_ptr<IStream> stream;  // released when the download ends (Finalize, Abort)
  std::string dir;          // the private directory; removed when the download ends
  std::atomic<bool> started{false};
  std::atomic<bool> done{false};
  std::atomic<HRESULT> error{S_OK};
};

struct download_settings {
  std::optional<std::string> uri;
  std::optional<std::string> local_path;
  std::shared_ptr<stream_state> stream;
  ULONG callback_percent = 0;  // 0: no percentage steps
  ULONG callback_seconds = 1;  // DO's default: at most one progress callback a second
  bool blocking = false;
  // Between Start's AddFile and its Resume the job is SUSPENDED with a file, which would read as
  // Paused: a modification notification from that moment is not reported.
  bool starting = false;
  std::string correlation_vector;
  // IntegrityCheckInfo ("sha256:HEX" / "sha512:HEX", normalised), given to the file at Start;
  // IntegrityCheckMandatory: Start refuses a download without it.
  std::string integrity;
  bool integrity_mandatory = false;
  // ContentId as set (a magnet URI, or "urn:btmh:1220" and 64 hex digits), and the magnet given
  // to the file at Start as its trusted content metadata.
  std::string content_id;
  std::string content_magnet;
  // What OnStatusChange last reported, for the CallbackFreq* throttle.
  std::optional<DODownloadState> reported_state;
  steady::time_point reported_at{};
  UINT64 reported_bytes = 0;
};

class settings_table {
 public:
  download_settings get(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = table_.find(id);
    return it == table_.end() ? download_settings{} : it->second;
  }
  template <typename Change>
  auto update(const std::string& id, Change change) {
    std::lock_guard lock(mutex_);
    return change(table_[id]);
  }
  void forget(const std::string& id) {
    std::lock_guard lock(mutex_);
    table_.erase(id);
  }

 private:
  std::mutex mutex_;
  std::map<std::string, download_settings> table_;
};

// Never destroyed: a notification thread may still read it while the process exits.
settings_table& settings() {
  static settings_table* table = new settings_table;
  return *table;
}

// DO's guard: as guard(), with BITS codes turned into DO's own (do_hresult).
template <typename Body>
HRESULT do_guard(Body&& body) noexcept {
  return do_hresult(guard(std::forward<Body>(body)));
}

// ---- VARIANT values. The types are those DeliveryOptimization.h documents per property; numbers
// are accepted in any unsigned or non-negative integer type.

std::string variant_string(const VARIANT* v, const char* what) {
  if (v->vt != VT_BSTR) fail(E_INVALIDARG, std::string(what) + " must be a VT_BSTR");
  return v->bstrVal == nullptr ? std::string() : utf8_from_wide(v->bstrVal, what);
}

ULONGLONG variant_number(const VARIANT* v, const char* what) {
  switch (v->vt) {
    case VT_UI1:
      return v->bVal;
    case VT_UI2:
      return v->uiVal;
    case VT_UI4:
      return v->ulVal;
    case VT_UINT:
      return v->uintVal;
    case VT_UI8:
      return v->ullVal;
    case VT_I2:
      if (v->iVal >= 0) return static_cast<ULONGLONG>(v->iVal);
      break;
    case VT_I4:
      if (v->lVal >= 0) return static_cast<ULONGLONG>(v->lVal);
      break;
    case VT_INT:
      if (v->intVal >= 0) return static_cast<ULONGLONG>(v->intVal);
      break;
    case VT_I8:
      if (v->llVal >= 0) return static_cast<ULONGLONG>(v->llVal);
      break;
    default:
      break;
  }
  fail(E_INVALIDARG, std::string(what) + " must be a non-negative number (VT_UI4)");
}

ULONG variant_ulong(const VARIANT* v, const char* what) {
  const ULONGLONG value = variant_number(v, what);
  if (value > 0xFFFFFFFFULL) fail(E_INVALIDARG, std::string(what) + " is too large");
  return static_cast<ULONG>(value);
}

bool variant_bool(const VARIANT* v, const char* what) {
  if (v->vt != VT_BOOL) fail(E_INVALIDARG, std::string(what) + " must be a VT_BOOL");
  return v->boolVal != VARIANT_FALSE;
}

void put_string(VARIANT* v, std::string_view text) {
  v->bstrVal = bstr_string(text);
  v->vt = VT_BSTR;
}
void put_ulong(VARIANT* v, ULONG value) {
  v->ulVal = value;
  v->vt = VT_UI4;
}
void put_bool(VARIANT* v, bool value) {
  v->boolVal = value ? VARIANT_TRUE : VARIANT_FALSE;
  v->vt = VT_BOOL;
}

// HttpCustomHeaders / HttpCustomAuthHeaders: a VT_BSTR of CRLF-separated header lines, as
// BITS's SetCustomHeaders takes them; the daemon checks each line.
std::vector<std::string> variant_header_lines(const VARIANT* v, const char* what) {
  const std::string block = variant_string(v, what);
  if (block.size() > 4 * jobs::max_header_block) {
    fail(BG_E_STRING_TOO_LONG, std::string(what) + " is longer than 16,384 characters");
  }
  std::vector<std::string> lines;
  const jobs::header_check split = jobs::split_header_block(block, lines);
  if (!split.ok()) fail(static_cast<HRESULT>(split.code), std::string(what) + ": " + split.message);
  return lines;
}

// ---- StreamInterface

// The private directory a stream download's file goes to: the caller's own, mode 0700, under
// $XDG_RUNTIME_DIR (or /tmp). Returns the file's path in it.
std::string stream_file(stream_state& state) {
  if (state.dir.empty()) {
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    std::string pattern = std::string(runtime != nullptr && *runtime == '/' ? runtime : "/tmp") +
                          "/opendo-stream-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      fail(E_FAIL,
           "cannot make a private directory for the stream: " + std::string(std::strerror(errno)));
    }
    state.dir = pattern;
  }
  return state.dir + "/download";
}

// Removes the private directory and what the download left in it (only files opendo made).
void remove_stream_dir(stream_state& state) {
  if (state.dir.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(state.dir, ignored);
  state.dir.clear();
}

// Tells the download's IDODownloadStatusCallback, if any, of its status now (the stream is
// written, or failed).
void report_stream_status(opendo::job& handle) {
  com_ptr<IUnknown> registered = registered_callback(handle.id());
  if (!registered) return;
  com_ptr<IDODownloadStatusCallback> callback = query<IDODownloadStatusCallback>(registered.get());
  if (!callback) return;
  const DO_DOWNLOAD_STATUS status = download_status(handle.info());
  com_ptr<IDODownload> download = make_download(handle);
  callback->OnStatusChange(download.get(), &status);
}

// Once the job has all the bytes, writes them into the stream in order (IStream::Write, 64 KiB
// at a time), from the job's temporary file, which the daemon wrote with the caller's identity.
void pump_stream(opendo::job handle, const std::shared_ptr<stream_state>& state) {
  try {
    job_info info;
    for (;;) {
      info = handle.info();
      if (is_final(info.state)) return;
      {
        std::lock_guard lock(state->mutex);
        if (!state->stream) return;  // the download ended
      }
      if (info.state == job_state::transferred) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    com_ptr<IStream> stream;
    {
      std::lock_guard lock(state->mutex);
      stream = state->stream;
    }
    if (!stream || info.files.empty()) return;
    const int fd = ::open(info.files[0].temp_name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    HRESULT result = fd < 0 ? E_FAIL : S_OK;
    std::uint64_t total = 0;
    std::vector<char> buffer(std::size_t{64} * 1024);
    while (SUCCEEDED(result)) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) result = E_FAIL;
      if (n <= 0) break;
      ULONG offset = 0;
      while (SUCCEEDED(result) && offset < static_cast<ULONG>(n)) {
        ULONG written = 0;
        result = stream->Write(buffer.data() + offset, static_cast<ULONG>(n) - offset, &written);
        if (SUCCEEDED(result) && written == 0) result = E_FAIL;  // it would never end
        offset += written;
      }
      total += static_cast<std::uint64_t>(n);
    }
    if (fd >= 0) ::close(fd);
    if (SUCCEEDED(result) && total != info.files[0].progress.bytes_total) result = E_FAIL;
    stream.reset();
    if (FAILED(result)) {
      state->error = result;
    } else {
      state->done = true;
    }
    report_stream_status(handle);
  } catch (...) {
    // The download or the daemon is gone: nothing to report to.
  }
}

[[noreturn]] void not_supported(const char* property, const char* why) {
  fail(E_NOTIMPL, std::string(property) + " is not supported: " + why);
}

class download_object final : public com_object<download_object, IDODownload> {
 public:
  explicit download_object(opendo::job handle) : handle_(std::move(handle)) {}

  IUnknown* find_interface(REFIID riid) {
    if (riid == IID_IUnknown || riid == IID_IDODownload) return static_cast<IDODownload*>(this);
    return nullptr;
  }

  // The file (Uri, LocalPath) is added at the first Start: with the ranges given, each written at
  // its own offset of the local file; NULL or an empty DO_DOWNLOAD_RANGES_INFO mean the whole
  // file. Every Start resumes the job; a later Start may not change the ranges (NULL, or the same
  // ranges, keep them).
  HRESULT STDMETHODCALLTYPE Start(const DO_DOWNLOAD_RANGES_INFO* ranges) override {
    return do_guard([&] {
      std::vector<byte_range> wanted;
      if (ranges != nullptr) {
        if (ranges->RangeCount > 500) {
          fail(BG_E_TOO_MANY_RANGES_IN_FILE, "a download may have at most 500 ranges");
        }
        for (UINT i = 0; i < ranges->RangeCount; ++i) {
          wanted.push_back({ranges->Ranges[i].Offset, ranges->Ranges[i].Length});
        }
      }
      const job_info info = handle_.info();
      if (is_final(info.state)) fail(DO_E_INVALID_STATE, "the download has ended");
      const download_settings s = settings().get(handle_.id());
      if (info.files.empty()) {
        if (!s.uri || s.uri->empty()) fail(DO_E_DOWNLOAD_NO_URI, "the download has no Uri");
        const bool to_stream = s.stream != nullptr;
        const bool to_file = s.local_path && !s.local_path->empty();
        if (to_stream && to_file) {
          fail(E_INVALIDARG, "the download has both a LocalPath and a StreamInterface");
        }
        if (!to_stream && !to_file) {
          fail(E_INVALIDARG, "the download has neither a LocalPath nor a StreamInterface");
        }
        if (to_stream && !wanted.empty()) {
          fail(E_INVALIDARG, "a download with ranges needs a LocalPath, not a StreamInterface");
        }
        if (s.integrity_mandatory && s.integrity.empty()) {
          fail(E_INVALIDARG,
               "IntegrityCheckMandatory is TRUE but the download has no IntegrityCheckInfo");
        }
        const std::string& id = handle_.id();
        settings().update(id, [](download_settings& d) { d.starting = true; });
        try {
          std::string local;
          if (to_stream) {
            std::lock_guard lock(s.stream->mutex);
            local = stream_file(*s.stream);
          } else {
            local = *s.local_path;
          }
          file_spec file{*s.uri, local, wanted, range_layout::in_place, s.integrity};
          file.magnet = s.content_magnet;
          handle_.add_file(file);
          handle_.resume();
        } catch (...) {
          settings().update(id, [](download_settings& d) { d.starting = false; });
          if (to_stream && handle_.info().files.empty()) {
            std::lock_guard lock(s.stream->mutex);
            remove_stream_dir(*s.stream);
          }
          throw;
        }
        if (to_stream && !s.stream->started.exchange(true)) {
          std::thread(pump_stream, handle_, s.stream).detach();
        }
        settings().update(id, [](download_settings& d) { d.starting = false; });
      } else {
        std::sort(wanted.begin(), wanted.end(),
                  [](const byte_range& a, const byte_range& b) { return a.offset < b.offset; });
        if (ranges != nullptr && wanted != info.files[0].ranges) {
          fail(DO_E_INVALID_STATE, "the ranges of a started download cannot change");
        }
        handle_.resume();
      }
      if (!s.blocking) return S_OK;
      // BlockingMode: until the file is transferred or the download failed for good.
      const job_info done = handle_.wait();
      if (done.state == job_state::error && done.error) {
        return static_cast<HRESULT>(done.error->code);
      }
      if (s.stream && done.state == job_state::transferred) {
        // And until the stream has the bytes.
        while (!s.stream->done && s.stream->error == S_OK && s.stream->started) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (s.stream->error != S_OK) return static_cast<HRESULT>(s.stream->error);
      }
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE Pause() override {
    return do_guard([&] {
      handle_.suspend();
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE Abort() override {
    return do_guard([&] {
      handle_.cancel();  // BG_S_UNABLE_TO_DELETE_FILES has no DO counterpart: S_OK
      end();
      return S_OK;
    });
  }

  // Only a transferred download can be finalized (its file moved into place).
  HRESULT STDMETHODCALLTYPE Finalize() override {
    return do_guard([&] {
      const job_state state = handle_.info().state;
      if (state != job_state::transferred) {
        fail(DO_E_INVALID_STATE, "the download is " + std::string(to_string(state)) +
                                     ", not TRANSFERRED, and cannot be finalized");
      }
      const download_settings s = settings().get(handle_.id());
      if (s.stream && (!s.stream->done || s.stream->error != S_OK)) {
        fail(DO_E_INVALID_STATE, "the stream has not been given all the bytes");
      }
      handle_.complete();
      end();
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetStatus(DO_DOWNLOAD_STATUS* status) override {
    if (status == nullptr) return E_POINTER;
    return do_guard([&] {
      *status = download_status(handle_.info());
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE GetProperty(DODownloadProperty propId, VARIANT* propVal) override {
    if (propVal == nullptr) return E_POINTER;
    VariantInit(propVal);
    return do_guard([&] {
      VARIANT out;
      VariantInit(&out);
      get_property(raw_value(propId), &out);
      *propVal = out;
      return S_OK;
    });
  }

  HRESULT STDMETHODCALLTYPE SetProperty(DODownloadProperty propId, VARIANT* propVal) override {
    return do_guard([&] {
      set_property(raw_value(propId), propVal);
      return S_OK;
    });
  }

 private:
  void get_property(std::uint32_t id, VARIANT* out) {
    switch (id) {
      case DODownloadProperty_Id:
        return put_string(out, handle_.id());
      case DODownloadProperty_Uri:
        return put_string(out, download_uri(handle_.info()));
      case DODownloadProperty_DisplayName:
        return put_string(out, handle_.info().display_name);
      case DODownloadProperty_LocalPath:
        return put_string(out, download_local_path(handle_.info()));
      case DODownloadProperty_CostPolicy:
        return put_ulong(out, static_cast<ULONG>(handle_.info().cost_policy));
      case DODownloadProperty_CallbackFreqPercent:
        return put_ulong(out, settings().get(handle_.id()).callback_percent);
      case DODownloadProperty_CallbackFreqSeconds:
        return put_ulong(out, settings().get(handle_.id()).callback_seconds);
      case DODownloadProperty_NoProgressTimeoutSeconds:
        return put_ulong(out, handle_.info().no_progress_timeout);
      case DODownloadProperty_ForegroundPriority:
        return put_bool(out, handle_.info().priority == job_priority::foreground);
      case DODownloadProperty_BlockingMode:
        return put_bool(out, settings().get(handle_.id()).blocking);
      case DODownloadProperty_CallbackInterface: {
        handle_.info();  // BG_E_NOT_FOUND for a download that is gone
        out->punkVal = registered_callback(handle_.id()).detach();
        out->vt = VT_UNKNOWN;
        return;
      }
      case DODownloadProperty_CorrelationVector:
        return put_string(out, settings().get(handle_.id()).correlation_vector);
      case DODownloadProperty_TotalSizeBytes:
        out->ullVal = handle_.info().bytes_total;
        out->vt = VT_UI8;
        return;
      case DODownloadProperty_IntegrityCheckMandatory:
        handle_.info();  // BG_E_NOT_FOUND for a download that is gone
        return put_bool(out, settings().get(handle_.id()).integrity_mandatory);
      case DODownloadProperty_DisallowOnCellular:
        return put_bool(out, handle_.info().disallow_on_cellular);
      case DODownloadProperty_HttpAllowSecureToNonSecureRedirect:
        return put_bool(out, handle_.info().allow_https_to_http_redirect);
      case DODownloadProperty_HttpCustomHeaders:
        return put_string(out, jobs::join_header_block(handle_.info().custom_headers));
      // The job's last response (the daemon keeps it in memory): 0 and empty strings before one.
      case DODownloadProperty_HttpStatusCode:
        return put_ulong(out, handle_.info().last_response.status);
      case DODownloadProperty_HttpResponseHeaders:
        return put_string(out, handle_.info().last_response.headers);
      case DODownloadProperty_HttpServerIPAddress:
        return put_string(out, handle_.info().last_response.server_ip);
      case DODownloadProperty_HttpRedirectionTarget:
        return put_string(out, handle_.info().last_response.redirection_target);
      case DODownloadProperty_NonVolatile:
        return put_bool(out, true);  // opendod keeps every job across restarts
      case DODownloadProperty_SecurityFlags:
      case DODownloadProperty_SecurityContext:
      case DODownloadProperty_NetworkToken:
      case DODownloadProperty_DecryptionInfo:
      case DODownloadProperty_IntegrityCheckInfo:
      case DODownloadProperty_HttpCustomAuthHeaders:  // secrets: they never leave the daemon
        fail(DO_E_WRITE_ONLY_PROPERTY, "the property is write-only");
      case DODownloadProperty_ContentId: {
        // As set; in another process than the one that set it, the started file's content id
        // (a form SetProperty accepts too); empty when the download has none.
        const job_info info = handle_.info();
        const std::string set = settings().get(handle_.id()).content_id;
        if (!set.empty() || info.files.empty()) return put_string(out, set);
        return put_string(out, info.files[0].content_id);
      }
      case DODownloadProperty_StreamInterface: {
        handle_.info();  // BG_E_NOT_FOUND for a download that is gone
        const download_settings s = settings().get(handle_.id());
        com_ptr<IStream> stream;
        if (s.stream) {
          std::lock_guard lock(s.stream->mutex);
          stream = s.stream->stream;
        }
        out->punkVal = stream.detach();
        out->vt = VT_UNKNOWN;
        return;
      }
    }
    fail(DO_E_UNKNOWN_PROPERTY_ID, "unknown property " + std::to_string(id));
  }

  // The digest the file must have: opendo's "sha256:HEX" or "sha512:HEX" (Windows' format is
  // DO's own). Given to the file at Start; a started download keeps the one it had.
  void set_integrity(const job_info& info, const std::string& text) {
    const auto digest = jobs::parse_digest(text);
    if (!digest) {
      fail(E_INVALIDARG,
           "IntegrityCheckInfo must be \"sha256:\" and 64 hex digits, or "
           "\"sha512:\" and 128");
    }
    if (!info.files.empty()) {
      if (info.files[0].digest == digest->text()) return;
      fail(DO_E_INVALID_STATE, "the IntegrityCheckInfo of a started download cannot change");
    }
    settings().update(handle_.id(), [&](download_settings& s) { s.integrity = digest->text(); });
  }

  // ContentId: the file's trusted content metadata, as a magnet URI with a BitTorrent v2 info
  // hash, or that hash as "urn:btmh:1220<64 hex>" (made a magnet of). Given to the file at
  // Start, which opendod refuses (E_INVALIDARG) when the magnet does not hold; a started
  // download keeps the one it had.
  void set_content_id(const job_info& info, const std::string& text) {
    if (text.size() > max_magnet_size) {
      fail(E_INVALIDARG, "ContentId is " + std::to_string(text.size()) + " bytes; at most " +
                             std::to_string(max_magnet_size) + " are accepted");
    }
    const auto content_id = content_id_of(text);
    if (!content_id) {
      fail(E_INVALIDARG,
           "ContentId must be a magnet URI with a BitTorrent v2 info hash "
           "(magnet:?xt=urn:btmh:1220 and 64 hex digits) or urn:btmh:1220 and 64 hex digits");
    }
    if (!info.files.empty()) {
      if (info.files[0].content_id == *content_id) return;
      fail(DO_E_INVALID_STATE, "the ContentId of a started download cannot change");
    }
    std::string magnet = text.starts_with("magnet:?") ? text : "magnet:?xt=" + text;
    settings().update(handle_.id(), [&](download_settings& s) {
      s.content_id = text;
      s.content_magnet = std::move(magnet);
    });
  }

  void set_property(std::uint32_t id, const VARIANT* value) {
    switch (id) {
      case DODownloadProperty_Id:
      case DODownloadProperty_TotalSizeBytes:
      case DODownloadProperty_HttpRedirectionTarget:
      case DODownloadProperty_HttpResponseHeaders:
      case DODownloadProperty_HttpServerIPAddress:
      case DODownloadProperty_HttpStatusCode:
        fail(DO_E_READ_ONLY_PROPERTY, "the property is read-only");
      case DODownloadProperty_DecryptionInfo:
        not_supported("DecryptionInfo", "opendo does not decrypt content");
      case DODownloadProperty_Uri:
      case DODownloadProperty_DisplayName:
      case DODownloadProperty_LocalPath:
      case DODownloadProperty_StreamInterface:
      case DODownloadProperty_CostPolicy:
      case DODownloadProperty_SecurityFlags:
      case DODownloadProperty_SecurityContext:
      case DODownloadProperty_CallbackFreqPercent:
      case DODownloadProperty_CallbackFreqSeconds:
      case DODownloadProperty_NoProgressTimeoutSeconds:
      case DODownloadProperty_ForegroundPriority:
      case DODownloadProperty_BlockingMode:
      case DODownloadProperty_CallbackInterface:
      case DODownloadProperty_NetworkToken:
      case DODownloadProperty_CorrelationVector:
      case DODownloadProperty_ContentId:
      case DODownloadProperty_IntegrityCheckInfo:
      case DODownloadProperty_IntegrityCheckMandatory:
      case DODownloadProperty_DisallowOnCellular:
      case DODownloadProperty_HttpAllowSecureToNonSecureRedirect:
      case DODownloadProperty_NonVolatile:
      case DODownloadProperty_HttpCustomHeaders:
      case DODownloadProperty_HttpCustomAuthHeaders:
        break;
      default:
        fail(DO_E_UNKNOWN_PROPERTY_ID, "unknown property " + std::to_string(id));
    }
    if (value == nullptr) fail(E_INVALIDARG, "no value given");
    const job_info info = handle_.info();
    if (is_final(info.state)) fail(DO_E_INVALID_STATE, "the download has ended");
    const std::string& job_id = handle_.id();

    switch (id) {
      case DODownloadProperty_Uri: {
        std::string uri = variant_string(value, "Uri");
        if (uri.empty()) fail(E_INVALIDARG, "the Uri is empty");
        if (!info.files.empty()) {
          handle_.set_remote_name(0, uri);  // any non-final state, as SetRemoteName
        } else {
          settings().update(job_id, [&](download_settings& s) { s.uri = std::move(uri); });
        }
        return;
      }
      case DODownloadProperty_LocalPath: {
        std::string path = variant_string(value, "LocalPath");
        if (path.empty()) fail(E_INVALIDARG, "the LocalPath is empty");
        if (!info.files.empty()) {
          fail(DO_E_INVALID_STATE, "the LocalPath cannot change once the download has started");
        }
        settings().update(job_id, [&](download_settings& s) { s.local_path = std::move(path); });
        return;
      }
      case DODownloadProperty_StreamInterface:
        return set_stream(info, value);
      case DODownloadProperty_DisplayName:
        return handle_.set_display_name(variant_string(value, "DisplayName"));
      case DODownloadProperty_CostPolicy: {
        const ULONG policy = variant_ulong(value, "CostPolicy");
        if (policy > DODownloadCostPolicy_NoCellular) fail(E_INVALIDARG, "unknown cost policy");
        return handle_.set_cost_policy(static_cast<do_cost_policy>(policy));
      }
      case DODownloadProperty_SecurityFlags:
        return handle_.set_tls_exemptions(
            tls_exemptions_of_security_flags(variant_ulong(value, "SecurityFlags")));
      case DODownloadProperty_SecurityContext:
        return set_client_certificate(value);
      case DODownloadProperty_CallbackFreqPercent: {
        const ULONG percent = variant_ulong(value, "CallbackFreqPercent");
        if (percent > 100) fail(E_INVALIDARG, "CallbackFreqPercent is above 100");
        settings().update(job_id, [&](download_settings& s) { s.callback_percent = percent; });
        return;
      }
      case DODownloadProperty_CallbackFreqSeconds: {
        const ULONG seconds = variant_ulong(value, "CallbackFreqSeconds");
        settings().update(job_id, [&](download_settings& s) { s.callback_seconds = seconds; });
        return;
      }
      case DODownloadProperty_NoProgressTimeoutSeconds: {
        const ULONG seconds = variant_ulong(value, "NoProgressTimeoutSeconds");
        if (seconds < 60) fail(E_INVALIDARG, "NoProgressTimeoutSeconds must be at least 60");
        return handle_.set_no_progress_timeout(std::chrono::seconds(seconds));
      }
      case DODownloadProperty_ForegroundPriority:
        return handle_.set_priority(variant_bool(value, "ForegroundPriority")
                                        ? job_priority::foreground
                                        : job_priority::normal);
      case DODownloadProperty_BlockingMode: {
        const bool blocking = variant_bool(value, "BlockingMode");
        settings().update(job_id, [&](download_settings& s) { s.blocking = blocking; });
        return;
      }
      case DODownloadProperty_CallbackInterface:
        return set_callback(value);
      case DODownloadProperty_NetworkToken:
        // Every job already runs with its owner's identity (the caller's uid); nothing to capture.
        variant_bool(value, "NetworkToken");
        return;
      case DODownloadProperty_ContentId:
        return set_content_id(info, variant_string(value, "ContentId"));
      case DODownloadProperty_CorrelationVector: {
        std::string vector = variant_string(value, "CorrelationVector");
        settings().update(job_id,
                          [&](download_settings& s) { s.correlation_vector = std::move(vector); });
        return;
      }
      case DODownloadProperty_IntegrityCheckInfo:
        return set_integrity(info, variant_string(value, "IntegrityCheckInfo"));
      case DODownloadProperty_IntegrityCheckMandatory: {
        const bool mandatory = variant_bool(value, "IntegrityCheckMandatory");
        if (!info.files.empty() && mandatory && info.files[0].digest.empty()) {
          fail(DO_E_INVALID_STATE, "the download started without IntegrityCheckInfo");
        }
        settings().update(job_id, [&](download_settings& s) { s.integrity_mandatory = mandatory; });
        return;
      }
      case DODownloadProperty_DisallowOnCellular:
        return handle_.set_disallow_on_cellular(variant_bool(value, "DisallowOnCellular"));
      case DODownloadProperty_HttpAllowSecureToNonSecureRedirect:
        return handle_.set_allow_https_to_http_redirect(
            variant_bool(value, "HttpAllowSecureToNonSecureRedirect"));
      case DODownloadProperty_HttpCustomHeaders:
        return handle_.set_custom_headers(variant_header_lines(value, "HttpCustomHeaders"));
      case DODownloadProperty_HttpCustomAuthHeaders:
        return handle_.set_custom_auth_headers(
            variant_header_lines(value, "HttpCustomAuthHeaders"));
      case DODownloadProperty_NonVolatile:
        variant_bool(value, "NonVolatile");  // every opendo job persists; FALSE asks for less
        return;
      default:
        return;
    }
  }

  // StreamInterface: an IStream (in VT_UNKNOWN) that the download writes into instead of a
  // LocalPath file; NULL, VT_EMPTY or VT_NULL remove it. Before Start only, as LocalPath.
  void set_stream(const job_info& info, const VARIANT* value) {
    IUnknown* unknown = nullptr;
    if (value->vt == VT_UNKNOWN) {
      unknown = value->punkVal;
    } else if (value->vt != VT_EMPTY && value->vt != VT_NULL) {
      fail(E_INVALIDARG, "StreamInterface must be a VT_UNKNOWN");
    }
    if (!info.files.empty()) {
      fail(DO_E_INVALID_STATE, "the StreamInterface cannot change once the download has started");
    }
    std::shared_ptr<stream_state> state;
    if (unknown != nullptr) {
      com_ptr<IStream> stream = query<IStream>(unknown);
      if (!stream) fail(E_NOINTERFACE, "the StreamInterface does not implement IStream");
      state = std::make_shared<stream_state>();
      state->stream = std::move(stream);
    }
    settings().update(handle_.id(), [&](download_settings& s) { s.stream = std::move(state); });
  }

  // SecurityContext. Windows takes a CERT_CONTEXT of its certificate store; here a VT_BSTR
  // names a PEM file with the client certificate (then any chain) and its unencrypted private
  // key, which this library reads with the caller's own credentials (opendod never opens a
  // caller's path) and opendod keeps like credentials. An empty string, VT_EMPTY or VT_NULL
  // remove it.
  void set_client_certificate(const VARIANT* value) {
    if (value->vt == VT_EMPTY || value->vt == VT_NULL) {
      return handle_.set_client_certificate({}, {});
    }
    if (value->vt != VT_BSTR) {
      fail(E_INVALIDARG,
           "SecurityContext must be a VT_BSTR naming a PEM file with the certificate and key "
           "(a Windows CERT_CONTEXT has no Linux counterpart)");
    }
    const std::string path = variant_string(value, "SecurityContext");
    if (path.empty()) return handle_.set_client_certificate({}, {});
    handle_.set_client_certificate_file(path);
  }

  // An IDODownloadStatusCallback (in VT_UNKNOWN) replaces the job's registration; NULL, VT_EMPTY
  // or VT_NULL remove it. The job's notify flags become those OnStatusChange needs.
  void set_callback(const VARIANT* value) {
    IUnknown* unknown = nullptr;
    if (value->vt == VT_UNKNOWN) {
      unknown = value->punkVal;
    } else if (value->vt != VT_EMPTY && value->vt != VT_NULL) {
      fail(E_INVALIDARG, "CallbackInterface must be a VT_UNKNOWN");
    }
    if (unknown == nullptr) {
      unregister_callback(handle_.id());
      return;
    }
    com_ptr<IDODownloadStatusCallback> callback = query<IDODownloadStatusCallback>(unknown);
    if (!callback) {
      fail(E_NOINTERFACE, "the callback does not implement IDODownloadStatusCallback");
    }
    handle_.set_notify_flags(notify::job_transferred | notify::job_error |
                             notify::job_modification);
    register_callback(registration{handle_.id(), handle_, nullptr, nullptr, std::move(callback)},
                      dispatch_download);
  }

  // The download ended (Abort, Finalize): its registration and settings go with it.
  void end() {
    unregister_callback(handle_.id());
    const download_settings s = settings().get(handle_.id());
    settings().forget(handle_.id());
    if (s.stream) {
      std::lock_guard lock(s.stream->mutex);
      s.stream->stream.reset();  // the application's stream is released now
      remove_stream_dir(*s.stream);
    }
  }

  // OnStatusChange for every transferred and error notification and every change of state;
  // progress at most every CallbackFreqSeconds, or at each CallbackFreqPercent step. DO gives the
  // callback's result no meaning: every notification counts as handled.
  static bool dispatch_download(const registration& reg, const notification& n) {
    if (!reg.download || n.kind == notification_kind::file_transferred) return true;
    const DO_DOWNLOAD_STATUS status = download_status(n.job);
    const auto now = steady::now();
    const bool due = settings().update(reg.job_id, [&](download_settings& s) {
      if (n.kind == notification_kind::modification && s.starting &&
          status.State == DODownloadState_Paused) {
        return false;
      }
      bool report = n.kind != notification_kind::modification || !s.reported_state ||
                    *s.reported_state != status.State ||
                    (s.callback_seconds == 0 && s.callback_percent == 0) ||
                    (s.callback_seconds != 0 &&
                     now - s.reported_at >= std::chrono::seconds(s.callback_seconds));
      if (!report && s.callback_percent != 0 && status.BytesTotal != 0 &&
          status.BytesTotal != DO_LENGTH_TO_EOF) {
        const auto step = [&](UINT64 bytes) {
          return static_cast<UINT64>(static_cast<double>(bytes) * 100.0 /
                                     static_cast<double>(status.BytesTotal)) /
                 s.callback_percent;
        };
        report = step(status.BytesTransferred) > step(s.reported_bytes);
      }
      if (report) {
        s.reported_state = status.State;
        s.reported_at = now;
        s.reported_bytes = status.BytesTransferred;
      }
      return report;
    });
    if (!due) return true;
    com_ptr<IDODownload> download = make_download(reg.handle);
    reg.download->OnStatusChange(download.get(), &status);
    return true;
  }

  opendo::job handle_;
};

}  // namespace

HRESULT do_hresult(HRESULT bits) {
  switch (bits) {
    case BG_E_NOT_FOUND:
      return DO_E_JOB_NOT_FOUND;
    case BG_E_INVALID_STATE:
      return DO_E_INVALID_STATE;
    case BG_E_EMPTY:
      return DO_E_JOB_EMPTY;
    case BG_E_FILE_NOT_AVAILABLE:
      return DO_E_FILE_NOT_AVAILABLE;
    case BG_E_ERROR_INFORMATION_UNAVAILABLE:
      return DO_E_ERROR_INFORMATION_UNAVAILABLE;
    case BG_E_INVALID_RANGE:
      return DO_E_INVALID_RANGE;
    case BG_E_OVERLAPPING_RANGES:
      return DO_E_OVERLAPPING_RANGES;
    case BG_E_INSUFFICIENT_RANGE_SUPPORT:
      return DO_E_INSUFFICIENT_RANGE_SUPPORT;
    default:
      return bits;
  }
}

DO_DOWNLOAD_STATUS download_status(const job_info& info) {
  DO_DOWNLOAD_STATUS status{};
  status.BytesTotal = info.bytes_total;
  status.BytesTransferred = info.bytes_transferred;
  switch (info.state) {
    case job_state::suspended:
      status.State = info.files.empty() ? DODownloadState_Created : DODownloadState_Paused;
      break;
    case job_state::queued:
    case job_state::connecting:
    case job_state::transferring:
    case job_state::transient_error:
      status.State = DODownloadState_Transferring;
      break;
    case job_state::transferred:
      status.State = DODownloadState_Transferred;
      break;
    case job_state::acknowledged:
      status.State = DODownloadState_Finalized;
      break;
    case job_state::cancelled:
      status.State = DODownloadState_Aborted;
      break;
    case job_state::error:
      status.State = DODownloadState_Paused;
      break;
  }
  status.Error = has_error_state(info.state) && info.error
                     ? do_hresult(static_cast<HRESULT>(info.error->code))
                     : S_OK;
  status.ExtendedError = S_OK;
  // A stream download has its bytes once the stream has them (see stream_state).
  if (status.State == DODownloadState_Transferred) {
    const download_settings s = settings().get(info.id);
    if (s.stream && s.stream->error != S_OK) {
      status.State = DODownloadState_Paused;
      status.Error = s.stream->error;
    } else if (s.stream && !s.stream->done) {
      status.State = DODownloadState_Transferring;
    }
  }
  return status;
}

// Reads only the magnet's xt=urn:btmh parameter: opendod checks the magnet as a whole when the
// file is added at Start.
std::optional<std::string> content_id_of(std::string_view text) {
  constexpr std::string_view urn = "urn:btmh:1220";
  std::string_view hash;
  if (text.starts_with(urn)) {
    hash = text.substr(urn.size());
  } else if (text.starts_with("magnet:?")) {
    std::string_view rest = text.substr(8);
    while (!rest.empty()) {
      const std::string_view parameter = rest.substr(0, rest.find('&'));
      rest.remove_prefix(std::min(rest.size(), parameter.size() + 1));
      if (parameter.starts_with("xt=urn:btmh:1220")) hash = parameter.substr(3 + urn.size());
    }
  }
  if (hash.size() != 64) return std::nullopt;
  std::string id(urn);
  for (const char c : hash) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    id.push_back(text::lower(c));
  }
  return id;
}

std::string download_uri(const job_info& info) {
  if (!info.files.empty()) return info.files.front().remote_url;
  return settings().get(info.id).uri.value_or("");
}

std::string download_local_path(const job_info& info) {
  if (!info.files.empty()) return info.files.front().local_name;
  return settings().get(info.id).local_path.value_or("");
}

com_ptr<IDODownload> make_download(const opendo::job& handle) {
  return make_object<download_object, IDODownload>(handle);
}

}  // namespace opendo::compat
