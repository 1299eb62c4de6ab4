// Runs one command and reports its wall time, CPU time and peak memory; with --daemon PID also
// the CPU that process used meanwhile (from /proc/PID/stat) and its peak RSS (VmHWM, reset
// through /proc/PID/clear_refs first), so a client + daemon pair is measured as one tool.
//
//   bench_measure [--daemon PID] --out FILE -- PROGRAM ARGS...
//
// FILE gets one line: wall_s= cpu_s= client_cpu_s= daemon_cpu_s= client_rss_kib=
// daemon_hwm_kib= status= (status is the exit code, or 128+signal).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// utime + stime of a process in seconds; -1 when it cannot be read.
double process_cpu_seconds(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  const auto paren = line.rfind(')');  // the name may contain spaces
  if (paren == std::string::npos) return -1;
  std::istringstream fields(line.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After the name: state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long status_kib(long pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::size_t length = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, length, key) == 0 && line.size() > length && line[length] == ':') {
      return std::stol(line.substr(length + 1));
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  long daemon = 0;
  std::string out;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--daemon" && i + 1 < argc) {
      daemon = std::stol(argv[++i]);
    } else if (arg == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else if (arg == "--") {
      ++i;
      break;
    } else {
      std::fprintf(stderr, "bench_measure: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (i >= argc || out.empty()) {
    std::fprintf(stderr, "usage: bench_measure [--daemon PID] --out FILE -- PROGRAM ARGS...\n");
    return 2;
  }

  double daemon_cpu_before = 0;
  if (daemon > 0) {
    std::ofstream("/proc/" + std::to_string(daemon) + "/clear_refs") << "5";  // reset VmHWM
    daemon_cpu_before = process_cpu_seconds(daemon);
  }
  const auto start = std::chrono::steady_clock::now();
  const pid_t child = fork();
  if (child < 0) {
    std::perror("bench_measure: fork");
    return 2;
  }
  if (child == 0) {
    execvp(argv[i], argv + i);
    std::fprintf(stderr, "bench_measure: cannot run %s: %s\n", argv[i], std::strerror(errno));
    _exit(127);
  }
  int wait_status = 0;
  rusage usage{};
  while (wait4(child, &wait_status, 0, &usage) < 0) {
    if (errno != EINTR) {
      std::perror("bench_measure: wait4");
      return 2;
    }
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double client_cpu =
      static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
      static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  double daemon_cpu = 0;
  long daemon_hwm = 0;
  if (daemon > 0) {
    daemon_cpu = process_cpu_seconds(daemon) - daemon_cpu_before;
    daemon_hwm = status_kib(daemon, "VmHWM");
  }
  const int status =
      WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  std::FILE* file = std::fopen(out.c_str(), "w");
  if (file == nullptr) {
    std::perror("bench_measure: open --out");
    return 2;
  }
  std::fprintf(file,
               "wall_s=%.6f cpu_s=%.6f client_cpu_s=%.6f daemon_cpu_s=%.6f client_rss_kib=%ld "
               "daemon_hwm_kib=%ld status=%d\n",
               wall, client_cpu + daemon_cpu, client_cpu, daemon_cpu, usage.ru_maxrss, daemon_hwm,
               status);
  std::fclose(file);
  return status;
}
