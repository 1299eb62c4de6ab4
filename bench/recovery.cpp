// Case 7: recovery after a crash. `start` creates a one-file job, resumes it and returns once
// FRACTION of it has arrived (bench/run then kills the daemon with SIGKILL and starts it again);
// `resume` connects to the restarted daemon and measures, from START_EPOCH_US (when bench/run
// started the daemon), how long until the job's bytes grow again, then waits for TRANSFERRED and
// completes the job.
//
//   bench_recovery start SOCKET URL DEST FRACTION      -> "id=... at_bytes=..."
//   bench_recovery resume SOCKET ID START_EPOCH_US     -> "resume_ms=... total_bytes=..."
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "common.hpp"

namespace {

double epoch_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int start(const std::string& socket, const std::string& url, const std::string& dest,
          double fraction) {
  opendo::client client = bench::connect(socket);
  opendo::job job = client.create_job("bench recovery");
  job.set_priority(opendo::job_priority::foreground);
  job.add_file(url, dest);
  job.resume();
  const auto deadline = bench::clock::now() + std::chrono::seconds(120);
  while (bench::clock::now() < deadline) {
    const opendo::job_info info = job.info();
    if (info.bytes_total != opendo::size_unknown && info.bytes_total > 0 &&
        static_cast<double>(info.bytes_transferred) >=
            fraction * static_cast<double>(info.bytes_total)) {
      std::printf("id=%s at_bytes=%llu\n", info.id.c_str(),
                  static_cast<unsigned long long>(info.bytes_transferred));
      std::fflush(stdout);
      return 0;
    }
    if (info.state == opendo::job_state::transferred || info.state == opendo::job_state::error) {
      std::fprintf(stderr, "bench_recovery: the job was %s before it reached %.0f%%\n",
                   std::string(opendo::to_string(info.state)).c_str(), fraction * 100);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::fprintf(stderr, "bench_recovery: the job did not reach %.0f%% in 120 s\n", fraction * 100);
  return 1;
}

int resume(const std::string& socket, const std::string& id, double start_epoch_ms) {
  const auto deadline = bench::clock::now() + std::chrono::seconds(30);
  std::optional<opendo::client> client;
  while (!client) {
    try {
      client.emplace(bench::connect(socket));
    } catch (const opendo::error&) {
      if (bench::clock::now() > deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const double connected_ms = epoch_ms() - start_epoch_ms;
  opendo::job job = client->open_job(id);
  std::optional<std::uint64_t> first;
  double resume_ms = -1;
  opendo::job_info info;
  while (bench::clock::now() < deadline) {
    info = job.info();
    if (!first) first = info.bytes_transferred;
    if (info.bytes_transferred > *first || info.state == opendo::job_state::transferred) {
      resume_ms = epoch_ms() - start_epoch_ms;
      break;
    }
    if (info.state == opendo::job_state::error) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (resume_ms < 0) {
    std::fprintf(stderr, "bench_recovery: the job did not resume (state %s)\n",
                 std::string(opendo::to_string(info.state)).c_str());
    return 1;
  }
  info = job.wait();
  if (info.state != opendo::job_state::transferred) {
    std::fprintf(stderr, "bench_recovery: the job ended %s: %s\n",
                 std::string(opendo::to_string(info.state)).c_str(),
                 info.error ? info.error->message.c_str() : "");
    return 1;
  }
  if (job.complete() != opendo::hr::ok) return 1;
  bench::report("connect_ms", connected_ms);
  bench::report("resume_ms", resume_ms);
  bench::report("restart_bytes", static_cast<double>(*first));
  bench::report_end();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "start" && argc == 6) return start(argv[2], argv[3], argv[4], std::stod(argv[5]));
    if (mode == "resume" && argc == 5) return resume(argv[2], argv[3], std::stod(argv[4]) / 1000);
  } catch (const opendo::error& e) {
    std::fprintf(stderr, "bench_recovery: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: bench_recovery start SOCKET URL DEST FRACTION\n"
               "       bench_recovery resume SOCKET ID START_EPOCH_US\n");
  return 2;
}
