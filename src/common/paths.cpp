#include "common/paths.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>

namespace opendo::paths {
namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] == '/' ? std::string(value) : std::string();
}

void make_parents(const std::string& path) {
  for (std::size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    ::mkdir(path.substr(0, slash).c_str(), 0700);  // existing parents are fine
  }
}

}  // namespace

std::string user_runtime_dir() {
  std::string runtime = env_or_empty("XDG_RUNTIME_DIR");
  if (!runtime.empty()) return runtime + "/opendo";
  return "/tmp/opendo-" + std::to_string(::getuid());
}

std::string user_socket_path() {
  return user_runtime_dir() + "/opendod.sock";
}

std::string user_state_dir() {
  std::string state = env_or_empty("XDG_STATE_HOME");
  if (!state.empty()) return state + "/opendo";
  std::string home = env_or_empty("HOME");
  if (home.empty()) home = "/tmp/opendo-state-" + std::to_string(::getuid());
  return home + "/.local/state/opendo";
}

void ensure_private_dir(const std::string& path) {
  make_parents(path);
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    throw std::system_error(errno, std::generic_category(), "cannot create directory " + path);
  }
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot inspect " + path);
  }
  if (!S_ISDIR(info.st_mode)) {
    throw std::system_error(ENOTDIR, std::generic_category(),
                            path + " is not a directory (a symlink or file is in the way)");
  }
  if (info.st_uid != ::geteuid()) {
    throw std::system_error(EPERM, std::generic_category(),
                            path + " belongs to another user; refusing to use it");
  }
  if ((info.st_mode & 0077) != 0 && ::chmod(path.c_str(), 0700) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot make " + path + " private");
  }
}

}  // namespace opendo::paths
