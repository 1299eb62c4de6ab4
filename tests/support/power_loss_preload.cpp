// libopendo_power_loss.so, the recording side of the power-loss model (support/power_loss.hpp):
// preloaded into a program (LD_PRELOAD), it passes fsync, fdatasync, syncfs and sync to the C
// library and, when one succeeds on something under $OPENDO_POWER_LOSS_ROOT, copies what it made
// durable into the shadow at $OPENDO_POWER_LOSS_SHADOW. Without those variables it only passes
// the calls on (and holds the ones a test asks it to, below). A model that cannot record a sync
// aborts the program: a lost record would make the model drop bytes the program had made durable.
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>

#include "support/power_loss.hpp"

namespace fs = std::filesystem;
namespace disk = opendo::test::power_loss_disk;

namespace {

struct model_paths {
  std::string root;
  std::string shadow;
};

// Never destroyed: a program may sync from its own static destructors, after ours would run.
const model_paths& paths() {
  static const model_paths* const p = [] {
    const char* root = std::getenv("OPENDO_POWER_LOSS_ROOT");
    const char* shadow = std::getenv("OPENDO_POWER_LOSS_SHADOW");
    return new model_paths{root != nullptr ? root : "", shadow != nullptr ? shadow : ""};
  }();
  return *p;
}

bool under_root(const std::string& path) {
  const std::string& root = paths().root;
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

template <typename Function>
Function next(const char* name) {
  return reinterpret_cast<Function>(::dlsym(RTLD_NEXT, name));
}

[[noreturn]] void model_failed(const char* what) {
  std::fprintf(stderr, "libopendo_power_loss: %s\n", what);
  std::abort();
}

// After a successful fsync or fdatasync of `fd`.
void record(int fd) {
  if (paths().root.empty() || paths().shadow.empty()) return;
  const int saved_errno = errno;
  char target[PATH_MAX];
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(self.c_str(), target, sizeof target - 1);
  // A deleted file (" (deleted)") has no name left to come back under.
  if (n > 0 && under_root(std::string(target, static_cast<std::size_t>(n)))) {
    try {
      struct stat info {};
      if (::fstat(fd, &info) != 0) model_failed("fstat of a synced descriptor failed");
      if (S_ISDIR(info.st_mode)) {
        disk::sync_directory(paths().shadow, fd);
      } else if (S_ISREG(info.st_mode)) {
        disk::sync_file(paths().shadow, fd);
      }
    } catch (const std::exception& e) {
      model_failed(e.what());
    }
  }
  errno = saved_errno;
}

void record_everything() {
  if (paths().root.empty() || paths().shadow.empty()) return;
  const int saved_errno = errno;
  try {
    disk::sync_tree(paths().root, paths().shadow);
  } catch (const std::exception& e) {
    model_failed(e.what());
  }
  errno = saved_errno;
}

// A test makes the syncs of some files slow at will: with OPENDO_TEST_HOLD_SYNC_OF (a part of
// a path) and OPENDO_TEST_HOLD_SYNC_GATE (a file) set, an fsync or fdatasync of a regular file
// whose path holds that part waits while the gate file exists, and says so by creating
// GATE.held. Unset, as everywhere outside tests, nothing waits.
void hold_while_gated(int fd) {
  static const char* const part = std::getenv("OPENDO_TEST_HOLD_SYNC_OF");
  static const char* const gate = std::getenv("OPENDO_TEST_HOLD_SYNC_GATE");
  if (part == nullptr || gate == nullptr || *part == '\0' || *gate == '\0') return;
  const int saved_errno = errno;
  char target[PATH_MAX];
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(self.c_str(), target, sizeof target - 1);
  struct stat info {};
  if (n > 0 && std::string(target, static_cast<std::size_t>(n)).find(part) != std::string::npos &&
      ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && ::access(gate, F_OK) == 0) {
    if (FILE* held = std::fopen((std::string(gate) + ".held").c_str(), "w")) std::fclose(held);
    while (::access(gate, F_OK) == 0) ::usleep(5000);
  }
  errno = saved_errno;
}

}  // namespace

extern "C" {

int fsync(int fd) {
  static const auto real = next<int (*)(int)>("fsync");
  hold_while_gated(fd);
  const int result = real(fd);
  if (result == 0) record(fd);
  return result;
}

int fdatasync(int fd) {
  static const auto real = next<int (*)(int)>("fdatasync");
  hold_while_gated(fd);
  const int result = real(fd);
  if (result == 0) record(fd);
  return result;
}

int syncfs(int fd) {
  static const auto real = next<int (*)(int)>("syncfs");
  const int result = real(fd);
  if (result == 0) record_everything();
  return result;
}

void sync() {
  static const auto real = next<void (*)()>("sync");
  real();
  record_everything();
}

}  // extern "C"
