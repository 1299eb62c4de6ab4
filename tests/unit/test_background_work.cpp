// background_work (src/common/background_work.hpp): the worker the daemon's blocking work (syncs,
// whole-file copies) runs on. Work runs off the calling thread, its results wait until taken,
// `wake` is called for each, at most max_threads run at once, and the destructor does the work
// still queued, since work owns what it holds (descriptors it closes).
#include "common/background_work.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

TEST(BackgroundWork, ResultsWaitUntilTakenAndEachWakesTheLoop) {
  std::atomic<int> wakes{0};
  opendo::background_work<int> work(4, [&] { ++wakes; });
  const auto loop = std::this_thread::get_id();
  std::atomic<bool> on_loop{false};
  for (int i = 0; i < 10; ++i) {
    work.submit([i, loop, &on_loop] {
      if (std::this_thread::get_id() == loop) on_loop = true;
      return i * i;
    });
  }
  work.wait_all();
  EXPECT_EQ(work.outstanding(), 10U) << "done, but not taken yet";
  std::vector<int> results = work.take();
  std::sort(results.begin(), results.end());
  EXPECT_EQ(results, (std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49, 64, 81}));
  EXPECT_EQ(work.outstanding(), 0U);
  EXPECT_TRUE(work.take().empty());
  EXPECT_EQ(wakes.load(), 10);
  EXPECT_FALSE(on_loop.load()) << "work ran on the submitting thread";
}

TEST(BackgroundWork, NoMoreThanMaxThreadsRunAtOnce) {
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  opendo::background_work<int> work(2, [] {});
  for (int i = 0; i < 8; ++i) {
    work.submit([&] {
      const int now = ++running;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(20ms);
      --running;
      return 0;
    });
  }
  work.wait_all();
  EXPECT_EQ(work.take().size(), 8U);
  EXPECT_LE(most.load(), 2);
  EXPECT_GE(most.load(), 1);
}

TEST(BackgroundWork, TheDestructorDoesTheWorkStillQueued) {
  auto done = std::make_shared<std::atomic<int>>(0);
  {
    opendo::background_work<int> work(1, [] {});
    for (int i = 0; i < 5; ++i) {
      work.submit([done] {
        std::this_thread::sleep_for(10ms);
        return ++*done;
      });
    }
  }  // nothing taken: the results are dropped, the work is not
  EXPECT_EQ(done->load(), 5);
}

}  // namespace
