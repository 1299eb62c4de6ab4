// Shared pieces of the end-to-end tests: a client for a test daemon and waiting for job states.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include "opendo/opendo.hpp"
#include "support/daemon.hpp"

namespace opendo::test {

inline client connect(const daemon_process& daemon) {
  client_options options;
  options.socket_path = daemon.socket_path().string();
  options.autostart = false;
  return client(options);
}

// A suspended job with one file whose trusted metainfo (transfer::peer::publish_file) makes it
// shareable through the peers; resume() starts it.
inline job create_shared_job(client& c, const std::string& url, const std::string& metainfo,
                             const std::string& path) {
  job j = c.create_job("peer test");
  file_spec spec;
  spec.remote_url = url;
  spec.local_name = path;
  spec.metainfo = metainfo;
  j.add_file(spec);
  return j;
}

// Polls the job until `done` holds or the timeout passes; returns the last info.
inline job_info wait_until(job& j, const std::function<bool(const job_info&)>& done,
                           std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  job_info info = j.info();
  while (!done(info) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    info = j.info();
  }
  return info;
}

inline job_info wait_for_state(job& j, job_state state,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  return wait_until(
      j, [state](const job_info& info) { return info.state == state; }, timeout);
}

// At a test's first failed check, prints the last lines of the log of every daemon alive then:
// helpers that wait for a job without its daemon at hand (test_peers' finish()) still leave in
// a CI log what the daemons did. Installed by install_daemon_logs_on_failure().
class daemon_logs_on_failure final : public ::testing::EmptyTestEventListener {
 public:
  void OnTestStart(const ::testing::TestInfo&) override { printed_ = false; }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed() || std::exchange(printed_, true)) return;
    for (const auto& path : daemon_process::live_logs()) {
      std::ifstream in(path);
      std::deque<std::string> tail;
      for (std::string line; std::getline(in, line);) {
        tail.push_back(std::move(line));
        if (tail.size() > kLines) tail.pop_front();
      }
      std::printf("---- the last %zu lines of %s ----\n", tail.size(), path.c_str());
      for (const auto& line : tail) std::printf("%s\n", line.c_str());
    }
    std::fflush(stdout);
  }

 private:
  static constexpr std::size_t kLines = 120;
  bool printed_ = false;
};

// For a test program's namespace scope: `const bool logs = install_daemon_logs_on_failure();`.
inline bool install_daemon_logs_on_failure() {
  ::testing::UnitTest::GetInstance()->listeners().Append(new daemon_logs_on_failure);
  return true;
}

// The HRESULT an API call throws, or 0 when it does not throw.
template <typename Call>
std::uint32_t hresult_of(Call&& call) {
  try {
    call();
  } catch (const opendo::error& e) {
    return e.hresult();
  }
  return 0;
}

}  // namespace opendo::test
