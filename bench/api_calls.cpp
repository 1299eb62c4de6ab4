// Case 4: API throughput. THREADS threads, each with its own opendo::client (its own
// connection), share JOBS jobs; for each job a thread calls create_job (SUSPENDED), add_file,
// resume and cancel, timing every call. Cancelling at once keeps each user at most THREADS live
// jobs, under the daemon's per-user and per-machine job limits.
//
//   bench_api_calls SOCKET URL OUT_DIR JOBS THREADS
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: bench_api_calls SOCKET URL OUT_DIR JOBS THREADS\n");
    return 2;
  }
  const std::string socket = argv[1];
  const std::string url = argv[2];
  const std::string out_dir = argv[3];
  const std::size_t jobs = bench::parse_count(argv[4], "JOBS");
  const std::size_t threads = bench::parse_count(argv[5], "THREADS");

  std::vector<bench::call_samples> per_thread(threads);
  std::atomic<std::size_t> next{0};
  std::atomic<int> failures{0};
  std::mutex error_mutex;
  std::vector<opendo::client> clients;
  try {
    for (std::size_t t = 0; t < threads; ++t) clients.push_back(bench::connect(socket));
  } catch (const opendo::error& e) {
    std::fprintf(stderr, "bench_api_calls: %s\n", e.what());
    return 1;
  }

  const auto all = bench::clock::now();
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      bench::call_samples& mine = per_thread[t];
      opendo::client& client = clients[t];
      for (std::size_t i = next++; i < jobs; i = next++) {
        try {
          auto start = bench::clock::now();
          opendo::job job = client.create_job("bench api " + std::to_string(i));
          mine.create.push_back(bench::ms_since(start));
          start = bench::clock::now();
          job.add_file(url, out_dir + "/api-" + std::to_string(i));
          mine.add_file.push_back(bench::ms_since(start));
          start = bench::clock::now();
          job.resume();
          mine.resume.push_back(bench::ms_since(start));
          start = bench::clock::now();
          job.cancel();
          mine.cancel.push_back(bench::ms_since(start));
        } catch (const opendo::error& e) {
          std::lock_guard lock(error_mutex);
          if (failures++ < 5) std::fprintf(stderr, "bench_api_calls: job %zu: %s\n", i, e.what());
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  const double total_s = bench::ms_since(all) / 1000;

  return bench::report_calls(per_thread, total_s, failures.load());
}
