// libopendo_no_direct.so: preloaded into opendod (LD_PRELOAD), it makes the file system look as
// if it had no O_DIRECT: fcntl(F_SETFL) with O_DIRECT fails with EINVAL, as on a file system
// without direct I/O. Each refusal appends one byte to $OPENDO_TEST_NO_DIRECT_LOG, so that a test
// sees the daemon tried and took the buffered path.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>

namespace {

using fcntl_function = int (*)(int, int, ...);

void note_refusal() {
  const char* log = std::getenv("OPENDO_TEST_NO_DIRECT_LOG");
  if (log == nullptr) return;
  const int fd = ::open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (::write(fd, "x", 1) != 1) std::abort();  // a lost note would fail the test unseen
  ::close(fd);
}

}  // namespace

extern "C" int fcntl(int fd, int cmd, ...) {
  va_list args;
  va_start(args, cmd);
  void* arg = va_arg(args, void*);  // as glibc's own fcntl reads it, whatever the command
  va_end(args);
  if (cmd == F_SETFL && (reinterpret_cast<long>(arg) & O_DIRECT) != 0) {
    note_refusal();
    errno = EINVAL;
    return -1;
  }
  static const auto next = reinterpret_cast<fcntl_function>(::dlsym(RTLD_NEXT, "fcntl"));
  return next(fd, cmd, arg);
}
