#include "daemon/modules.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <system_error>

#ifndef OPENDO_MODULE_RELDIR
#error \
    "OPENDO_MODULE_RELDIR: the modules' directory relative to the executable's (src/CMakeLists.txt)"
#endif

namespace opendo::daemon {

std::filesystem::path module_dir() {
  // /proc/self/exe is the file the kernel ran, whatever argv[0] or PATH say.
  static const std::filesystem::path dir =
      (std::filesystem::read_symlink("/proc/self/exe").parent_path() / OPENDO_MODULE_RELDIR)
          .lexically_normal();
  return dir;
}

void* load_module(const std::string& file, const char* symbol) {
  const std::filesystem::path path = module_dir() / file;
  // dlerror's text is per thread but dlopen may run on any; one load at a time keeps it ours.
  static std::mutex loading;
  const std::lock_guard lock(loading);
  // RTLD_NODELETE: never unloaded, so that objects and threads it made outlive any handle.
  // RTLD_LOCAL: its copies of opendo's static code and of its libraries' symbols stay its own.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    throw std::runtime_error("cannot load the module " + path.string() + ": " +
                             (why != nullptr ? why : "unknown error"));
  }
  void* address = ::dlsym(handle, symbol);
  if (address == nullptr) {
    const char* why = ::dlerror();
    throw std::runtime_error("the module " + path.string() + " has no " + symbol + ": " +
                             (why != nullptr ? why : "unknown error"));
  }
  return address;
}

void check_module(const std::string& file) {
  const std::filesystem::path path = module_dir() / file;
  if (::access(path.c_str(), R_OK) != 0) {
    throw std::runtime_error("the module " + path.string() + " is missing or unreadable (" +
                             std::system_category().message(errno) +
                             "): the installation is incomplete");
  }
}

}  // namespace opendo::daemon
