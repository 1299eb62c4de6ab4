// Shared bits of the benchmark helpers: a client on a given socket, clocks, percentiles and the
// one-line "key=value" report that bench/run parses.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
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

// The directory part of a local path ("." for a bare name), as the bare references open it.
inline std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
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

// Case 4's latencies (ms) by kind of call, the same for opendod (bench_api_calls) and its bare
// reference (bench_bare_calls): each client thread keeps its own, merged at the end.
struct call_samples {
  std::vector<double> create, add_file, resume, cancel;

  void merge(const call_samples& other) {
    for (auto [to, from] : {std::pair{&create, &other.create},
                            {&add_file, &other.add_file},
                            {&resume, &other.resume},
                            {&cancel, &other.cancel}}) {
      to->insert(to->end(), from->begin(), from->end());
    }
  }
};

// The report of a case-4 run: every call together, then each kind of call, then the number of
// calls that failed. Returns the helper's exit status.
inline int report_calls(const std::vector<call_samples>& per_thread, double total_s, int failures) {
  call_samples s;
  for (const auto& thread : per_thread) s.merge(thread);
  std::vector<double> every;
  for (const auto* v : {&s.create, &s.add_file, &s.resume, &s.cancel})
    every.insert(every.end(), v->begin(), v->end());
  report("calls", static_cast<double>(every.size()));
  report("total_s", total_s);
  report("calls_per_s", static_cast<double>(every.size()) / total_s);
  report("p50_ms", percentile(every, 50));
  report("p99_ms", percentile(every, 99));
  const std::pair<const char*, const std::vector<double>*> named[] = {{"create", &s.create},
                                                                      {"add_file", &s.add_file},
                                                                      {"resume", &s.resume},
                                                                      {"cancel", &s.cancel}};
  for (const auto& [name, values] : named) {
    report(std::string(name) + "_p50_ms", percentile(*values, 50));
    report(std::string(name) + "_p99_ms", percentile(*values, 99));
  }
  report("failures", failures);
  report_end();
  return failures == 0 ? 0 : 1;
}

}  // namespace bench
