// Child processes for the test fixtures; see process.hpp.
#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>

extern char** environ;

namespace opendo::test {
namespace {

using clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// A file descriptor closed on scope exit.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Moves fd to a number >= 3 (close-on-exec) so the child's dup2 onto 0-2 cannot clobber it.
unique_fd above_stdio(int fd, const std::string& what) {
  if (fd < 0) throw_errno(what);
  if (fd >= 3) return unique_fd(fd);
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  if (moved < 0) throw_errno(what);
  return unique_fd(moved);
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0) throw_errno("cannot execute " + name);
    return name;
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    const std::size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
    if (dir.empty()) dir = ".";
    std::string candidate = dir;
    candidate += '/';
    candidate += name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::runtime_error("program not found in PATH: " + name);
}

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& x : extra) {
      if (std::string_view(x).substr(0, x.find('=')) == name) overridden = true;
    }
    if (!overridden) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Forks and execs with in/out/err as fds 0/1/2. Everything the child needs is prepared before
// fork(): between fork and exec only async-signal-safe calls are allowed in a threaded process.
pid_t spawn_with_fds(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                     int in, int out, int err) {
  if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
  const std::string program = find_program(argv[0]);
  std::vector<std::string> args = argv;
  std::vector<std::string> environment = merged_environment(env);
  std::vector<char*> arg_ptrs = pointers(args);
  std::vector<char*> env_ptrs = pointers(environment);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(127);
    ::close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    ::execve(program.c_str(), arg_ptrs.data(), env_ptrs.data());
    static constexpr char msg[] = "opendo test: execve failed\n";
    [[maybe_unused]] const ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  return pid;
}

void append(std::string& to, int fd, bool& open) {
  char buffer[16384];
  const ssize_t n = ::read(fd, buffer, sizeof buffer);
  if (n > 0) {
    to.append(buffer, static_cast<std::size_t>(n));
  } else if (n == 0 || errno != EINTR) {
    open = false;
  }
}

}  // namespace

pid_t spawn(const std::vector<std::string>& argv, const spawn_options& options) {
  unique_fd in = above_stdio(::open("/dev/null", O_RDONLY | O_CLOEXEC), "open /dev/null");
  unique_fd out = above_stdio(
      options.output.empty()
          ? ::open("/dev/null", O_WRONLY | O_CLOEXEC)
          : ::open(options.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644),
      "open " + (options.output.empty() ? std::string("/dev/null") : options.output.string()));
  return spawn_with_fds(argv, options.env, in.get(), out.get(), out.get());
}

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::optional<int> try_reap(pid_t pid) {
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode_wait_status(status);
    if (r == 0) return std::nullopt;
    if (errno != EINTR) throw_errno("waitpid " + std::to_string(pid));
  }
}

std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    if (auto status = try_reap(pid)) return status;
    if (clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int terminate(pid_t pid, int signal, std::chrono::milliseconds grace) {
  ::kill(pid, signal);
  if (auto status = wait_for_exit(pid, grace)) return *status;
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw_errno("waitpid " + std::to_string(pid));
  }
  return decode_wait_status(status);
}

run_result run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
               const std::vector<std::string>& env) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw_errno("pipe2");
  unique_fd out_read(out_pipe[0]);
  unique_fd out_write = above_stdio(out_pipe[1], "pipe2");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw_errno("pipe2");
  unique_fd err_read(err_pipe[0]);
  unique_fd err_write = above_stdio(err_pipe[1], "pipe2");
  unique_fd in = above_stdio(::open("/dev/null", O_RDONLY | O_CLOEXEC), "open /dev/null");

  const pid_t pid = spawn_with_fds(argv, env, in.get(), out_write.get(), err_write.get());
  out_write.reset();
  err_write.reset();

  run_result result;
  bool out_open = true;
  bool err_open = true;
  auto deadline = clock::now() + timeout;
  while (out_open || err_open) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) {
      if (result.timed_out) break;  // killed, yet something still holds the pipes
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      deadline = clock::now() + std::chrono::seconds(2);
      continue;
    }
    pollfd fds[2] = {{out_open ? out_read.get() : -1, POLLIN, 0},
                     {err_open ? err_read.get() : -1, POLLIN, 0}};
    const int ready = ::poll(fds, 2, static_cast<int>(left.count()));
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (out_open && fds[0].revents != 0) append(result.out, out_read.get(), out_open);
    if (err_open && fds[1].revents != 0) append(result.err, err_read.get(), err_open);
  }
  if (result.timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw_errno("waitpid " + std::to_string(pid));
  }
  result.exit_code = decode_wait_status(status);
  return result;
}

std::string asan_options_for_preload() {
  const char* asan = std::getenv("ASAN_OPTIONS");
  return std::string("ASAN_OPTIONS=") + (asan != nullptr ? std::string(asan) + ":" : "") +
         "verify_asan_link_order=0";
}

}  // namespace opendo::test
