// opendo-http.so: the HTTP engine and libcurl as a module that opendod loads on first use
// (engine_api.hpp says why). Only the entry table is exported.
#include <curl/curl.h>

#include <memory>
#include <string>

#include "transfer/http/engine.hpp"
#include "transfer/http/engine_api.hpp"

namespace opendo::transfer::http {
namespace {

std::unique_ptr<engine_api> make_engine(listener& events, const engine_options& options) {
  return std::make_unique<engine>(events, options);
}

// Owns what curl_url_get hands out.
struct curl_text {
  char* text = nullptr;
  ~curl_text() { curl_free(text); }
  std::string str() const { return text != nullptr ? text : ""; }
};

url_parts parse_url(const std::string& url) {
  url_parts parts;
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), &curl_url_cleanup);
  if (!parsed) {
    parts.error = "out of memory";
    return parts;
  }
  const CURLUcode rc = curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0);
  if (rc != CURLUE_OK) {
    parts.error = curl_url_strerror(rc);
    return parts;
  }
  curl_text scheme;
  curl_text host;
  curl_text port;
  curl_url_get(parsed.get(), CURLUPART_SCHEME, &scheme.text, 0);
  curl_url_get(parsed.get(), CURLUPART_HOST, &host.text, 0);
  curl_url_get(parsed.get(), CURLUPART_PORT, &port.text, CURLU_DEFAULT_PORT);
  parts.ok = true;
  parts.scheme = scheme.str();
  parts.host = host.str();
  parts.port = port.str();
  return parts;
}

const module_entry* entry() {
  // curl_global_init once, when the module is first asked for its entry: libcurl then
  // initialises its TLS library, which is why this module is loaded only when needed.
  static const module_entry table = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return module_entry{kModuleVersion, &make_engine, &parse_url};
  }();
  return &table;
}

}  // namespace
}  // namespace opendo::transfer::http

extern "C" __attribute__((visibility("default"))) const opendo::transfer::http::module_entry*
opendo_http_module() {
  return opendo::transfer::http::entry();
}
