// A real opendod for integration tests: its own socket and state dir in a temp dir, its log in a
// file, and the hard stops (SIGKILL, restart) that crash-recovery tests need. User mode by
// default; extra_args {"--system"} and a dir_mode of 0755 make a system daemon for many users.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/process.hpp"

namespace opendo::test {

// $OPENDO_BIN_DIR (set by ctest to <build>/bin), else the directory of the test executable
// when opendod is there; throws otherwise.
std::filesystem::path bin_dir();

struct daemon_options {
  // Added after --socket and --state-dir, e.g. {"--ca-file", nginx.ca_file()}.
  std::vector<std::string> extra_args;
  // Extra "NAME=value" entries for the daemon's environment.
  std::vector<std::string> env;
  // Passed as --max-connections-per-file. One connection per file unless a test asks for more:
  // most tests count the requests a file takes, which segmented downloads would multiply.
  std::uint32_t max_connections_per_file = 1;
  // Passed as --log-level; empty passes none.
  std::string log_level = "debug";
  std::chrono::milliseconds start_timeout = std::chrono::seconds(10);
  // Run opendod as this uid and gid (the test must be root), through setpriv.
  std::optional<std::pair<uid_t, gid_t>> run_as;
  // Mode of the temp dir that holds the socket, state dir and log (default 0700). A --system
  // daemon's test makes it 0755 so that other users can reach the socket.
  std::optional<std::filesystem::perms> dir_mode;
  // The --state-dir (where jobs.sqlite lives), e.g. on a small file system; default: a "state"
  // directory in the daemon's temp dir.
  std::optional<std::filesystem::path> state_dir;
  // How long stop() and the destructor wait after SIGTERM before SIGKILL.
  std::chrono::milliseconds stop_timeout = std::chrono::seconds(30);
  // Run opendod inside this network namespace (e.g. a host of support/netns.hpp's lan), so its
  // HTTP traffic leaves through that host; its socket is a file, which the test and cli() reach
  // from anywhere. Empty: the test's own namespace.
  std::string netns;
};

class daemon_process {
 public:
  // Starts opendod and waits until its socket accepts connections; throws with the daemon's
  // log when it does not within options.start_timeout.
  explicit daemon_process(daemon_options options = {});
  // Stops the daemon if it runs and removes the temp dir.
  ~daemon_process();
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path socket_path() const { return dir_ / "opendod.sock"; }
  std::filesystem::path state_dir() const { return options_.state_dir.value_or(dir_ / "state"); }
  std::filesystem::path log_path() const { return dir_ / "opendod.log"; }

  // The running daemon's pid; -1 after it stopped.
  pid_t pid() const { return pid_; }
  // False once the daemon has ended, by our hand or its own (a crash); see exit_status().
  bool running();
  // How the last run ended, as a shell reports it; nullopt while it runs.
  std::optional<int> exit_status() const { return exit_status_; }

  // SIGKILL and waitpid: a crash, with no chance to flush or clean up.
  void kill9();
  // SIGTERM and waitpid; returns the exit status (128 + 9 when it had to be SIGKILLed after
  // stop_timeout). Returns the earlier status when the daemon had already ended.
  int stop();
  // Starts the daemon again with the same dirs and arguments, stopping it first if it runs.
  void restart();

  // Everything the daemon wrote to stdout and stderr, over all runs; each run starts with a
  // "==== opendo test: starting opendod" line.
  std::string log() const;

  // The log files of every daemon_process alive now, oldest first: what a failing test can show
  // when the failing check had no daemon at hand (see integration/helpers.hpp).
  static std::vector<std::filesystem::path> live_logs();

  // Runs build/bin/opendo --socket <socket> args... and captures its output.
  run_result cli(const std::vector<std::string>& args,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

 private:
  void launch();

  daemon_options options_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  int runs_ = 0;
};

}  // namespace opendo::test
