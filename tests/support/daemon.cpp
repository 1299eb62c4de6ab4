// A real opendod for integration tests; see daemon.hpp.
#include "support/daemon.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "support/files.hpp"
#include "support/net.hpp"
#include "support/netns.hpp"

namespace opendo::test {

using namespace std::chrono_literals;

std::filesystem::path bin_dir() {
  const char* dir = std::getenv("OPENDO_BIN_DIR");
  if (dir != nullptr && *dir != '\0') return dir;
  // Run by hand: the test executables live in <build>/bin beside opendod and opendo.
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error && std::filesystem::exists(self.parent_path() / "opendod")) return self.parent_path();
  throw std::runtime_error(
      "OPENDO_BIN_DIR is not set and opendod is not beside this test: set it to <build>/bin");
}

namespace {

std::mutex live_mutex;
std::vector<const daemon_process*> live_daemons;

}  // namespace

daemon_process::daemon_process(daemon_options options) : options_(std::move(options)) {
  dir_ = make_temp_dir("opendo-daemon");
  try {
    if (options_.dir_mode) std::filesystem::permissions(dir_, *options_.dir_mode);
    launch();
  } catch (...) {
    remove_temp_dir(dir_);
    throw;
  }
  const std::lock_guard lock(live_mutex);
  live_daemons.push_back(this);
}

std::vector<std::filesystem::path> daemon_process::live_logs() {
  const std::lock_guard lock(live_mutex);
  std::vector<std::filesystem::path> logs;
  for (const auto* d : live_daemons) logs.push_back(d->log_path());
  return logs;
}

daemon_process::~daemon_process() {
  {
    const std::lock_guard lock(live_mutex);
    std::erase(live_daemons, this);
  }
  try {
    stop();
  } catch (...) {
    // A destructor must not throw; the process is gone or unreapable either way.
  }
  remove_temp_dir(dir_);
}

bool daemon_process::running() {
  if (pid_ <= 0) return false;
  if (auto status = try_reap(pid_)) {
    exit_status_ = status;
    pid_ = -1;
  }
  return pid_ > 0;
}

void daemon_process::kill9() {
  if (!running()) return;
  exit_status_ = terminate(pid_, SIGKILL, 0ms);
  pid_ = -1;
}

int daemon_process::stop() {
  if (!running()) return exit_status_.value_or(0);
  exit_status_ = terminate(pid_, SIGTERM, options_.stop_timeout);
  pid_ = -1;
  return *exit_status_;
}

void daemon_process::restart() {
  stop();
  launch();
}

std::string daemon_process::log() const {
  try {
    return read_file(log_path());
  } catch (const std::exception&) {
    return {};
  }
}

run_result daemon_process::cli(const std::vector<std::string>& args,
                               std::chrono::milliseconds timeout) const {
  std::vector<std::string> argv = {(bin_dir() / "opendo").string(), "--socket",
                                   socket_path().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, timeout);
}

void daemon_process::launch() {
  const auto binary = bin_dir() / "opendod";
  if (::access(binary.c_str(), X_OK) != 0) {
    throw std::runtime_error("daemon_process: no opendod at " + binary.string() +
                             " (build it first: cmake --build build)");
  }
  std::vector<std::string> argv = {binary.string(), "--socket", socket_path().string(),
                                   "--state-dir", state_dir().string()};
  if (!options_.log_level.empty()) {
    argv.insert(argv.end(), {"--log-level", options_.log_level});
  }
  argv.insert(argv.end(),
              {"--max-connections-per-file", std::to_string(options_.max_connections_per_file)});
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  if (options_.run_as) {
    // Drop to another user before opendod starts; it must own the dirs it makes private.
    const auto [uid, gid] = *options_.run_as;
    if (::chown(dir_.c_str(), uid, gid) != 0) throw std::runtime_error("chown " + dir_.string());
    argv.insert(argv.begin(), {"setpriv", "--reuid=" + std::to_string(uid),
                               "--regid=" + std::to_string(gid), "--clear-groups"});
  }
  argv = in_netns(options_.netns, std::move(argv));

  ++runs_;
  {
    std::ofstream marker(log_path(), std::ios::app);
    marker << "==== opendo test: starting opendod (run " << runs_ << "):";
    for (const auto& a : argv) marker << ' ' << a;
    marker << '\n';
  }
  exit_status_.reset();
  pid_ = spawn(argv, {.output = log_path(), .env = options_.env});

  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  for (;;) {
    if (!running()) {
      throw std::runtime_error("daemon_process: opendod exited with status " +
                               std::to_string(exit_status_.value_or(-1)) +
                               " before accepting connections. Log:\n" + log());
    }
    if (unix_socket_accepts(socket_path())) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      stop();
      throw std::runtime_error("daemon_process: opendod did not accept connections on " +
                               socket_path().string() + " in time. Log:\n" + log());
    }
    std::this_thread::sleep_for(10ms);
  }
}

}  // namespace opendo::test
