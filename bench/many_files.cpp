// Case 2: many small files through the modern API. The daemon takes at most 200 files per job,
// so the files are split into jobs of PER_JOB files that run at once (FOREGROUND, as
// `opendo get` does, so the scheduler's max-active-jobs does not serialise them).
//
//   bench_many_files SOCKET LIST PER_JOB     LIST: one "URL<TAB>LOCAL_PATH" per line
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: bench_many_files SOCKET LIST PER_JOB\n");
    return 2;
  }
  const std::size_t per_job = bench::parse_count(argv[3], "PER_JOB");
  std::vector<std::pair<std::string, std::string>> files;
  std::ifstream list(argv[2]);
  for (std::string line; std::getline(list, line);) {
    const auto tab = line.find('\t');
    if (tab != std::string::npos) files.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  if (files.empty() || per_job == 0) {
    std::fprintf(stderr, "bench_many_files: no files in %s\n", argv[2]);
    return 2;
  }
  try {
    opendo::client client = bench::connect(argv[1]);
    std::vector<opendo::job> jobs;
    for (std::size_t first = 0; first < files.size(); first += per_job) {
      const std::size_t last = std::min(files.size(), first + per_job);
      opendo::job job = client.create_job("bench many files " + std::to_string(first));
      job.set_priority(opendo::job_priority::foreground);
      job.add_files({files.begin() + static_cast<std::ptrdiff_t>(first),
                     files.begin() + static_cast<std::ptrdiff_t>(last)});
      jobs.push_back(std::move(job));
    }
    for (auto& job : jobs) job.resume();
    int failed = 0;
    for (auto& job : jobs) {
      const opendo::job_info info = job.wait();
      if (info.state != opendo::job_state::transferred) {
        std::fprintf(stderr, "bench_many_files: job %s ended %s: %s\n", info.id.c_str(),
                     std::string(opendo::to_string(info.state)).c_str(),
                     info.error ? info.error->message.c_str() : "");
        job.cancel();
        ++failed;
        continue;
      }
      if (job.complete() != opendo::hr::ok) ++failed;
    }
    bench::report("jobs", static_cast<double>(jobs.size()));
    bench::report("files", static_cast<double>(files.size()));
    bench::report_end();
    return failed == 0 ? 0 : 1;
  } catch (const opendo::error& e) {
    std::fprintf(stderr, "bench_many_files: %s\n", e.what());
    return 1;
  }
}
