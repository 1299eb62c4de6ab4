#include "common/paths.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace opendo::paths {
namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] == '/' ? std::string(value) : std::string();
}

void make_parents(const std::string& path, unsigned mode) {
  for (std::size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    // Existing parents are fine. One made here gets `mode` exactly, whatever the umask.
    const std::string parent = path.substr(0, slash);
    if (::mkdir(parent.c_str(), mode) == 0) ::chmod(parent.c_str(), mode);
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

std::string system_socket_path() {
  // A packager (or a test) may put the system daemon's socket elsewhere.
  std::string configured = env_or_empty("OPENDO_SYSTEM_SOCKET");
  return configured.empty() ? "/run/opendo/opendod.sock" : configured;
}

std::string system_state_dir() {
  return "/var/lib/opendo";
}

void ensure_private_dir(const std::string& path) {
  ensure_dir(path, 0700);
}

void ensure_shared_dir(const std::string& path) {
  ensure_dir(path, 0755);
}

void ensure_dir(const std::string& path, unsigned mode) {
  make_parents(path, mode);
  // mkdir applies the umask; the chmod below sets exactly `mode` on a directory made here.
  const bool created = ::mkdir(path.c_str(), mode) == 0;
  if (!created && errno != EEXIST) {
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
  const unsigned now = info.st_mode & 07777;
  const unsigned wanted = created ? mode : now & mode;
  if (now != wanted && ::chmod(path.c_str(), wanted) != 0) {
    char octal[16];
    std::snprintf(octal, sizeof octal, "%04o", wanted);
    throw std::system_error(errno, std::generic_category(),
                            "cannot set the mode of " + path + " to " + octal);
  }
}

}  // namespace opendo::paths
