// Child processes for the test fixtures: start a program with its output in a file, wait for it
// with a deadline, stop it with a signal, or run one to completion and capture what it printed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace opendo::test {

struct spawn_options {
  // stdout and stderr are appended to this file; empty sends them to /dev/null.
  std::filesystem::path output;
  // Extra "NAME=value" entries laid over this process's environment.
  std::vector<std::string> env;
};

// Starts argv (argv[0] absolute, or a name looked up in PATH) with stdin from /dev/null, no
// inherited descriptors beyond 0-2, default signal handling, and SIGKILL when the thread that
// started it exits: a crashed or timed-out test leaves no server behind. So start fixtures on
// the thread that owns them. Throws when the program cannot be found.
pid_t spawn(const std::vector<std::string>& argv, const spawn_options& options = {});

// Exit status as a shell reports it: the exit code, or 128 + the signal that ended the process.
int decode_wait_status(int status);

// Reaps pid if it has ended; nullopt while it runs.
std::optional<int> try_reap(pid_t pid);

// Waits up to timeout for pid to end; nullopt when it is still running.
std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

// Sends signal, waits up to grace, then SIGKILLs; returns the exit status.
int terminate(pid_t pid, int signal, std::chrono::milliseconds grace);

struct run_result {
  int exit_code = -1;  // as decode_wait_status; 128 + SIGKILL after a timeout
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv to completion (SIGKILL after timeout) and captures stdout and stderr.
run_result run(const std::vector<std::string>& argv,
               std::chrono::milliseconds timeout = std::chrono::seconds(60),
               const std::vector<std::string>& env = {});

// The ASAN_OPTIONS entry of an environment that preloads a library (LD_PRELOAD) into a
// program: AddressSanitizer wants its runtime first among the libraries a program loads and
// refuses to start otherwise. Keeps the options the test itself runs with.
std::string asan_options_for_preload();

}  // namespace opendo::test
