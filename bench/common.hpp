// Shared bits of the benchmark helpers: a client on a given socket, clocks, percentiles and the
// one-line "key=value" report that bench/run parses.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "opendo/opendo.hpp"

namespace bench {

using clock = std::chrono::steady_clock;

inline double ms_since(clock::time_point start) {
  return std::chrono::duration<double, std::milli>(clock::now() - start).count();
}

// Never starts a daemon: the bench runs its own and a missing one is a failure.
inline opendo::client connect(const std::string& socket) {
  opendo::client_options options;
  options.socket_path = socket;
  options.autostart = false;
  return opendo::client(options);
}

// Nearest-rank percentile of unsorted samples; 0 for none.
inline double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * samples.size()));
  return samples[std::clamp<std::size_t>(rank, 1, samples.size()) - 1];
}

inline unsigned long parse_count(const char* text, const char* what) {
  char* end = nullptr;
  const unsigned long value = std::strtoul(text, &end, 10);
  if (end == text || *end != '\0') {
    std::fprintf(stderr, "bench: %s must be a number, not '%s'\n", what, text);
    std::exit(2);
  }
  return value;
}

// "name=value" pairs on one line of stdout, e.g. "p50_ms=1.234 p99_ms=2.5".
inline void report(const std::string& name, double value) {
  std::printf("%s=%.6g ", name.c_str(), value);
}
inline void report_end() {
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace bench
