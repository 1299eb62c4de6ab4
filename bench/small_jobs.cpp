// Case 8: small-job latency. COUNT jobs one after another, each one file: the time from
// create_job to the job being TRANSFERRED as job.wait() reports it, then complete (timed apart).
//
//   bench_small_jobs SOCKET URL OUT_DIR COUNT     (files are OUT_DIR/small-N)
#include <cstdio>
#include <string>
#include <vector>

#include "common.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: bench_small_jobs SOCKET URL OUT_DIR COUNT\n");
    return 2;
  }
  const std::string url = argv[2];
  const std::string out_dir = argv[3];
  const std::size_t count = bench::parse_count(argv[4], "COUNT");
  try {
    opendo::client client = bench::connect(argv[1]);
    std::vector<double> to_transferred;
    std::vector<double> to_complete;
    const auto all = bench::clock::now();
    for (std::size_t i = 0; i < count; ++i) {
      const auto start = bench::clock::now();
      opendo::job job = client.create_job("bench small job " + std::to_string(i));
      job.add_file(url, out_dir + "/small-" + std::to_string(i));
      job.resume();
      const opendo::job_info info = job.wait();
      to_transferred.push_back(bench::ms_since(start));
      if (info.state != opendo::job_state::transferred) {
        std::fprintf(stderr, "bench_small_jobs: job %s ended %s: %s\n", info.id.c_str(),
                     std::string(opendo::to_string(info.state)).c_str(),
                     info.error ? info.error->message.c_str() : "");
        job.cancel();
        return 1;
      }
      const auto completing = bench::clock::now();
      if (job.complete() != opendo::hr::ok) return 1;
      to_complete.push_back(bench::ms_since(completing));
    }
    bench::report("jobs", static_cast<double>(count));
    bench::report("total_s", bench::ms_since(all) / 1000);
    bench::report("p50_ms", bench::percentile(to_transferred, 50));
    bench::report("p99_ms", bench::percentile(to_transferred, 99));
    bench::report("max_ms", bench::percentile(to_transferred, 100));
    bench::report("complete_p50_ms", bench::percentile(to_complete, 50));
    bench::report("complete_p99_ms", bench::percentile(to_complete, 99));
    bench::report_end();
    return 0;
  } catch (const opendo::error& e) {
    std::fprintf(stderr, "bench_small_jobs: %s\n", e.what());
    return 1;
  }
}
