// The modules opendod loads on first use (opendo-http.so: libcurl and the HTTP engine;
// opendo-peer.so: libtorrent and the swarm), so that an idle daemon does not map the libraries
// only transfers need (docs/architecture.md, "Modules").
// They come from one directory fixed at build time relative to the daemon's own executable: never
// from a path that a user or the environment controls, since the daemon may run as root.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace opendo::daemon {

// The directory of the modules: the executable's directory joined with the relative path the
// build chose (build tree and installed tree alike).
std::filesystem::path module_dir();

// Loads `file` from module_dir() (once; it stays loaded) and returns the address of `symbol`.
// Throws std::runtime_error naming the file and the dynamic loader's reason.
void* load_module(const std::string& file, const char* symbol);

// Throws std::runtime_error unless `file` exists in module_dir() and is readable: checked at
// start, so that a broken installation fails at once and not at the first download.
void check_module(const std::string& file);

// The entry table of a module: `Entry` with a `version` member, returned by the function
// `symbol` of `file`. Throws std::runtime_error when it cannot be loaded or is of another build.
template <typename Entry>
const Entry& load_module_entry(const std::string& file, const char* symbol, std::uint32_t version) {
  using entry_function = const Entry* (*)();
  auto get = reinterpret_cast<entry_function>(  // NOLINT: dlsym gives an object pointer
      load_module(file, symbol));
  const Entry* entry = get();
  if (entry == nullptr || entry->version != version) {
    throw std::runtime_error("the module " + (module_dir() / file).string() +
                             " is of another opendod build (interface version " +
                             std::to_string(entry != nullptr ? entry->version : 0) + ", expected " +
                             std::to_string(version) + ")");
  }
  return *entry;
}

}  // namespace opendo::daemon
