// Case 5: notification latency. COUNT one-file jobs one after another; each is watched two ways
// at once, by a notification subscription (job.subscribe, SetNotifyInterface) and by
// job.watch, and the wall-clock moment each learns of TRANSFERRED is compared with the moment
// nginx finished sending the file ($msec in its log, the same clock): the time from the
// origin's last byte to the client knowing, which holds the daemon's own bookkeeping too.
//
//   bench_notify_latency SOCKET URL OUT_DIR COUNT NGINX_LOG
// URL gets "?n=I" appended per job; NGINX_LOG lines are "$msec $request_uri".
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"

namespace {

double now_epoch_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: bench_notify_latency SOCKET URL OUT_DIR COUNT NGINX_LOG\n");
    return 2;
  }
  const std::string url = argv[2];
  const std::string out_dir = argv[3];
  const std::size_t count = bench::parse_count(argv[4], "COUNT");
  std::vector<double> notified(count), watched(count);
  try {
    opendo::client client = bench::connect(argv[1]);
    for (std::size_t i = 0; i < count; ++i) {
      opendo::job job = client.create_job("bench notify " + std::to_string(i));
      job.add_file(url + "?n=" + std::to_string(i), out_dir + "/notify-" + std::to_string(i));
      std::promise<void> done;
      auto transferred = done.get_future();
      bool seen = false;
      auto subscription = job.subscribe([&](const opendo::notification& n) {
        if (n.kind == opendo::notification_kind::transferred && !seen) {
          notified[i] = now_epoch_ms();
          seen = true;
          done.set_value();
        }
        return true;
      });
      std::promise<void> watching;
      auto watch_started = watching.get_future();
      std::thread watcher([&, job]() mutable {
        bool first = true;
        try {
          job.watch([&](const opendo::job_event& event) {
            if (first) {
              first = false;
              watching.set_value();
            }
            if (event.job.state == opendo::job_state::transferred) {
              watched[i] = now_epoch_ms();
              return false;
            }
            return !opendo::is_final(event.job.state) &&
                   event.job.state != opendo::job_state::error;
          });
        } catch (const opendo::error& e) {
          std::fprintf(stderr, "bench_notify_latency: watch: %s\n", e.what());
        }
        if (first) watching.set_value();  // never leave the main thread waiting
      });
      watch_started.wait();  // the snapshot arrived: the watch is in place before the transfer
      job.resume();
      if (transferred.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
        std::fprintf(stderr, "bench_notify_latency: job %zu: no notification in 30 s\n", i);
        job.cancel();
        watcher.join();
        return 1;
      }
      watcher.join();
      subscription.reset();
      if (job.complete() != opendo::hr::ok) return 1;
    }
  } catch (const opendo::error& e) {
    std::fprintf(stderr, "bench_notify_latency: %s\n", e.what());
    return 1;
  }

  // nginx logs a request once its last byte is sent; give the last one a moment.
  std::map<std::size_t, double> served;
  for (int attempt = 0; attempt < 100 && served.size() < count; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    served.clear();
    std::ifstream log(argv[5]);
    for (std::string line; std::getline(log, line);) {
      std::istringstream fields(line);
      double msec = 0;
      std::string uri;
      if (!(fields >> msec >> uri)) continue;
      const auto n = uri.rfind("?n=");
      if (n == std::string::npos) continue;
      served[std::stoul(uri.substr(n + 3))] = msec * 1000;
    }
  }
  std::vector<double> notify_ms, watch_ms;
  for (std::size_t i = 0; i < count; ++i) {
    const auto it = served.find(i);
    if (it == served.end()) {
      std::fprintf(stderr, "bench_notify_latency: no log line for job %zu in %s\n", i, argv[5]);
      return 1;
    }
    notify_ms.push_back(notified[i] - it->second);
    watch_ms.push_back(watched[i] - it->second);
  }
  bench::report("jobs", static_cast<double>(count));
  bench::report("p50_ms", bench::percentile(notify_ms, 50));
  bench::report("p99_ms", bench::percentile(notify_ms, 99));
  bench::report("watch_p50_ms", bench::percentile(watch_ms, 50));
  bench::report("watch_p99_ms", bench::percentile(watch_ms, 99));
  bench::report_end();
  return 0;
}
