// Case 6: the daemon's memory with many jobs. Creates up to COUNT SUSPENDED jobs of one file
// each and leaves them there (bench/run reads the daemon's RSS, then stops it); stops at the
// first "too many jobs" refusal and says how many the daemon took.
//
//   bench_footprint SOCKET URL OUT_DIR COUNT
#include <cstdio>
#include <string>

#include "common.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: bench_footprint SOCKET URL OUT_DIR COUNT\n");
    return 2;
  }
  const std::string url = argv[2];
  const std::string out_dir = argv[3];
  const std::size_t count = bench::parse_count(argv[4], "COUNT");
  std::size_t created = 0;
  std::uint32_t refusal = 0;
  try {
    opendo::client client = bench::connect(argv[1]);
    for (; created < count; ++created) {
      try {
        opendo::job job = client.create_job("bench footprint " + std::to_string(created));
        job.add_file(url, out_dir + "/footprint-" + std::to_string(created));
      } catch (const opendo::error& e) {
        const auto code = static_cast<opendo::hr>(e.hresult());
        if (code != opendo::hr::bg_e_too_many_jobs_per_user &&
            code != opendo::hr::bg_e_too_many_jobs_per_machine) {
          throw;
        }
        refusal = e.hresult();
        break;
      }
    }
  } catch (const opendo::error& e) {
    std::fprintf(stderr, "bench_footprint: %s\n", e.what());
    return 1;
  }
  bench::report("created", static_cast<double>(created));
  std::printf("refused=0x%08X ", refusal);
  bench::report_end();
  return 0;
}
