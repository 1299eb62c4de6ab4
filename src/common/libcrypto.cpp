#include "common/libcrypto.hpp"

#include <dlfcn.h>
#include <openssl/opensslv.h>

#include <stdexcept>
#include <string>

namespace opendo {
namespace {

// The soname of the libcrypto whose headers the build used (libcrypto.so.3 for OpenSSL 3).
#define OPENDO_STRINGIFY2(x) #x
#define OPENDO_STRINGIFY(x) OPENDO_STRINGIFY2(x)
constexpr const char* kSoname = "libcrypto.so." OPENDO_STRINGIFY(OPENSSL_VERSION_MAJOR);

std::string loader_error() {
  const char* why = ::dlerror();
  return why != nullptr ? why : "unknown error";
}

libcrypto_functions open_libcrypto() {
  // RTLD_NODELETE: never unloaded, so that what it made (digests, keys) stays valid.
  void* handle = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    throw std::runtime_error(std::string("cannot load ") + kSoname + ": " + loader_error());
  }
  libcrypto_functions f;
#define OPENDO_LIBCRYPTO_RESOLVE(name)                                                       \
  f.name = reinterpret_cast<decltype(f.name)>(::dlsym(handle, #name)); /* NOLINT */          \
  if (f.name == nullptr) {                                                                   \
    throw std::runtime_error(std::string(kSoname) + " has no " #name ": " + loader_error()); \
  }
  OPENDO_LIBCRYPTO_FUNCTIONS(OPENDO_LIBCRYPTO_RESOLVE)
#undef OPENDO_LIBCRYPTO_RESOLVE
  return f;
}

}  // namespace

const libcrypto_functions& libcrypto() {
  // A static's initialisation runs once even with threads racing; one that threw runs again.
  static const libcrypto_functions functions = open_libcrypto();
  return functions;
}

}  // namespace opendo
