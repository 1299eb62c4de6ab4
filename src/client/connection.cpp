#include "client/connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>
#include <vector>

#include "common/paths.hpp"
#include "ipc/codec.hpp"

namespace opendo::detail {
namespace {

constexpr const char* kInvalidParameter = "org.varlink.service.InvalidParameter";

[[noreturn]] void throw_no_service(const std::string& path, const std::string& reason) {
  throw error(value_of(hr::do_e_no_service), "cannot reach opendod at " + path + ": " + reason);
}

std::string errno_text(int code) {
  return std::generic_category().message(code);
}

bool is_executable_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

// The opendod to start: the one named in the options, the one beside this program (an installed
// or freshly built tree keeps them together), $OPENDO_DAEMON, then the first one on PATH.
std::string find_daemon(const client_options& options, const std::string& socket_path) {
  auto must_be_executable = [&](const std::string& path, const char* origin) {
    if (!is_executable_file(path)) {
      throw_no_service(socket_path, "cannot start opendod: " + path + " (" + origin +
                                        ") is not an executable file");
    }
    return path;
  };
  if (!options.daemon_path.empty()) return must_be_executable(options.daemon_path, "daemon_path");

  std::vector<char> self(PATH_MAX + 1);
  const ssize_t length = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (length > 0) {
    std::string exe(self.data(), static_cast<std::size_t>(length));
    if (auto slash = exe.rfind('/'); slash != std::string::npos) {
      std::string beside = exe.substr(0, slash) + "/opendod";
      if (is_executable_file(beside)) return beside;
    }
  }

  if (const char* env = std::getenv("OPENDO_DAEMON"); env != nullptr && env[0] != '\0') {
    return must_be_executable(env, "$OPENDO_DAEMON");
  }

  const char* path_env = std::getenv("PATH");
  const std::string search = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  for (;;) {
    const std::size_t colon = search.find(':', start);
    std::string dir = search.substr(start, colon == std::string::npos ? colon : colon - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/opendod";
    if (is_executable_file(candidate)) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  throw_no_service(socket_path,
                   "no opendod is running and none was found to start (looked beside this "
                   "program, in $OPENDO_DAEMON and on PATH)");
}

// Writes a decimal number with write(2) only: the forked child may not allocate or lock.
void write_number(int fd, int value) {
  char digits[16];
  int length = 0;
  unsigned magnitude = value < 0 ? 0U - static_cast<unsigned>(value) : static_cast<unsigned>(value);
  do {
    digits[length++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0 && length < 15);
  if (value < 0) digits[length++] = '-';
  for (int i = length - 1; i >= 0; --i) {
    [[maybe_unused]] ssize_t ignored = ::write(fd, &digits[i], 1);
  }
}

// In the forked child. Only async-signal-safe calls: the parent may have had other threads.
// A second fork makes the daemon an orphan that no terminal or parent process group reaches.
[[noreturn]] void become_daemon(const char* program, int null_fd, int log_fd, long max_fd,
                                const std::string& exec_failure) {
  if (::setsid() < 0) ::_exit(1);
  const pid_t pid = ::fork();
  if (pid < 0) ::_exit(1);
  if (pid > 0) ::_exit(0);

  // Blocked or caught signals of the client (the CLI waits for SIGINT on a thread) must not leak
  // into the daemon: masks and ignored dispositions survive execve.
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction defaults {};
  defaults.sa_handler = SIG_DFL;
  for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
    ::sigaction(signal_number, &defaults, nullptr);
  }

  ::dup2(null_fd, STDIN_FILENO);
  ::dup2(null_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  if (::close_range(3, ~0U, 0) != 0) {
    for (long fd = 3; fd < max_fd; ++fd) ::close(static_cast<int>(fd));
  }
  if (::chdir("/") != 0) ::_exit(1);

  char name[] = "opendod";
  char* const argv[] = {name, nullptr};
  ::execv(program, argv);
  const int failure = errno;
  [[maybe_unused]] ssize_t ignored =
      ::write(STDERR_FILENO, exec_failure.data(), exec_failure.size());
  write_number(STDERR_FILENO, failure);
  ignored = ::write(STDERR_FILENO, ")\n", 2);
  ::_exit(127);
}

// Starts a detached user-mode opendod and waits until it answers on `socket_path`.
ipc::unique_fd start_daemon(const client_options& options, const std::string& socket_path) {
  const std::string program = find_daemon(options, socket_path);
  const std::string runtime_dir = paths::user_runtime_dir();
  try {
    paths::ensure_private_dir(runtime_dir);
  } catch (const std::system_error& e) {
    throw_no_service(socket_path, std::string("cannot start opendod: ") + e.what());
  }
  const std::string log_path = runtime_dir + "/opendod.log";
  ipc::unique_fd log_fd(
      ::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!log_fd) {
    throw_no_service(socket_path, "cannot start opendod: cannot open its log " + log_path + ": " +
                                      errno_text(errno));
  }
  ipc::unique_fd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) {
    throw_no_service(socket_path,
                     "cannot start opendod: cannot open /dev/null: " + errno_text(errno));
  }
  const long max_fd = std::max(::sysconf(_SC_OPEN_MAX), 1024L);
  const std::string exec_failure = "opendo: cannot execute " + program + " (errno ";

  const pid_t child = ::fork();
  if (child < 0) {
    throw_no_service(socket_path, "cannot start opendod: fork: " + errno_text(errno));
  }
  if (child == 0) become_daemon(program.c_str(), null_fd.get(), log_fd.get(), max_fd, exec_failure);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }

  const auto deadline = std::chrono::steady_clock::now() + options.connect_timeout;
  for (;;) {
    if (ipc::unique_fd fd = ipc::connect_unix(socket_path)) return fd;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw_no_service(socket_path, "started " + program + " but it did not answer within " +
                                    std::to_string(options.connect_timeout.count()) + " ms; see " +
                                    log_path);
}

// Connects to `options.socket_path` (already resolved), starting opendod when allowed.
ipc::unique_fd open_socket(const client_options& options) {
  const std::string& path = options.socket_path;
  if (ipc::unique_fd fd = ipc::connect_unix(path)) return fd;
  const int failure = errno;
  // Only a missing socket or one nobody listens on means "no daemon"; anything else (a permission
  // problem, a path too long) would not be cured by starting one.
  const bool absent = failure == ENOENT || failure == ECONNREFUSED;
  const bool user_default = path == paths::user_socket_path();
  if (!options.autostart || !user_default || !absent) throw_no_service(path, errno_text(failure));
  return start_daemon(options, path);
}

std::string dump_for_wire(const json& message) {
  try {
    return message.dump();
  } catch (const json::type_error&) {
    // A Linux path may be any bytes, but Varlink carries only UTF-8 text.
    throw error(value_of(hr::e_invalidarg),
                "an argument is not valid UTF-8 text, which the opendod protocol requires");
  }
}

}  // namespace

connection::connection(client_options options, ipc::unique_fd fd)
    : options_(std::move(options)), fd_(std::move(fd)) {}

void connection::fail_locked(const std::string& reason) {
  fd_.reset();
  decoder_ = ipc::frame_decoder();
  throw_no_service(options_.socket_path, reason);
}

namespace {

// Between calls the daemon never writes, so a readable socket means it hung up (it exited when
// idle, or restarted): connect again rather than fail the call that happens to come next.
bool peer_hung_up(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

}  // namespace

void connection::send_locked(const std::string& method, const json& params, bool more) {
  if (fd_ && peer_hung_up(fd_.get())) fd_.reset();
  if (!fd_) {
    fd_ = open_socket(options_);
    decoder_ = ipc::frame_decoder();
  }
  json message = {{"method", std::string(ipc::interface_name) + "." + method},
                  {"parameters", params.is_null() ? json::object() : params}};
  if (more) message["more"] = true;
  const std::string text = dump_for_wire(message);
  // opendod hangs up on a longer message; say why instead (several files with metainfo in one
  // AddFiles can add up to this).
  if (text.size() >= ipc::max_message_size) {
    throw error(value_of(hr::e_invalidarg),
                method + " would be a message of " + std::to_string(text.size() + 1) +
                    " bytes; opendod accepts at most " + std::to_string(ipc::max_message_size) +
                    " (add files with metainfo one at a time)");
  }
  try {
    ipc::send_message(fd_.get(), text);
  } catch (const std::system_error& e) {
    fail_locked(e.what());
  }
}

json connection::receive_locked(bool& continues) {
  std::string text;
  try {
    text = ipc::receive_message(fd_.get(), decoder_);
  } catch (const std::system_error& e) {
    fail_locked(e.what());
  }
  json reply = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object()) {
    fd_.reset();
    throw error(value_of(hr::e_fail), "opendod sent a reply that is not a JSON object");
  }
  json params = json::object();
  if (auto it = reply.find("parameters"); it != reply.end() && it->is_object()) {
    params = std::move(*it);
  }
  auto more = reply.find("continues");
  continues = more != reply.end() && more->is_boolean() && more->get<bool>();

  auto name = reply.find("error");
  if (name == reply.end() || name->is_null()) return params;
  if (!name->is_string()) {
    fd_.reset();
    throw error(value_of(hr::e_fail), "opendod sent a reply whose error is not a name");
  }
  const std::string error_name = name->get<std::string>();
  if (error_name == ipc::hresult_error) {
    auto code = params.find("code");
    auto message = params.find("message");
    if (code != params.end() && code->is_number_unsigned() &&
        code->get<std::uint64_t>() <= 0xFFFFFFFFULL) {
      const auto hresult = static_cast<std::uint32_t>(code->get<std::uint64_t>());
      throw error(hresult, message != params.end() && message->is_string()
                               ? message->get<std::string>()
                               : describe(hresult));
    }
    throw error(value_of(hr::e_fail), "opendod sent an HResult error without a valid code");
  }
  if (error_name == kInvalidParameter) {
    auto parameter = params.find("parameter");
    throw error(value_of(hr::e_invalidarg),
                "invalid parameter: " + (parameter != params.end() && parameter->is_string()
                                             ? parameter->get<std::string>()
                                             : std::string("(unnamed)")));
  }
  std::string detail = error_name;
  if (!params.empty()) detail += " " + params.dump(-1, ' ', false, json::error_handler_t::replace);
  throw error(value_of(hr::e_fail), "opendod refused the call: " + detail);
}

json connection::call(const std::string& method, const json& params) {
  std::lock_guard lock(mutex_);
  send_locked(method, params, false);
  bool continues = false;
  json reply = receive_locked(continues);
  if (continues) {
    // More replies would be taken for the answers of later calls; start afresh instead.
    fd_.reset();
    throw error(value_of(hr::e_fail), "opendod answered " + method + " with a stream of replies");
  }
  return reply;
}

void connection::stream(const std::string& method, const json& params,
                        const std::function<bool(const json&)>& on_reply) {
  std::lock_guard lock(mutex_);
  struct closer {
    connection& self;
    ~closer() {
      self.fd_.reset();
      self.decoder_ = ipc::frame_decoder();
    }
  } close_afterwards{*this};
  send_locked(method, params, true);
  for (;;) {
    bool continues = false;
    json reply = receive_locked(continues);
    if (!on_reply(reply) || !continues) return;
  }
}

std::shared_ptr<connection> connect(const client_options& options) {
  client_options resolved = options;
  if (resolved.socket_path.empty()) {
    resolved.socket_path = default_socket_path();
    // Without a daemon of the user's own, a system daemon serves the user, as dosvc serves every
    // Windows program; only when there is neither is the user's own daemon started.
    if (resolved.socket_path == paths::user_socket_path()) {
      if (ipc::unique_fd own = ipc::connect_unix(resolved.socket_path)) {
        return std::make_shared<connection>(std::move(resolved), std::move(own));
      }
      if (ipc::unique_fd system = ipc::connect_unix(paths::system_socket_path())) {
        resolved.socket_path = paths::system_socket_path();
        return std::make_shared<connection>(std::move(resolved), std::move(system));
      }
    }
  }
  ipc::unique_fd fd = open_socket(resolved);
  return std::make_shared<connection>(std::move(resolved), std::move(fd));
}

}  // namespace opendo::detail
