// Blocking work (fdatasync, whole-file copies) done on threads of its own, so that the daemon's
// single-threaded event loop goes on serving meanwhile. The loop submits work; each piece of work
// returns a Result, which waits until the loop takes it; `wake` (thread-safe: the engine's
// curl_multi_wakeup) makes a waiting poll return once a result is there. Threads start on demand,
// up to max_threads: concurrent syncs of different files share the file system's journal commits,
// where one thread would do them one after another.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace opendo {

template <typename Result>
class background_work {
 public:
  background_work(std::size_t max_threads, std::function<void()> wake)
      : max_threads_(max_threads == 0 ? 1 : max_threads), wake_(std::move(wake)) {}
  background_work(const background_work&) = delete;
  background_work& operator=(const background_work&) = delete;

  // Joins the threads once they have done all the work queued (whose results are dropped): work
  // owns what it holds (descriptors it closes), so none may be left undone.
  ~background_work() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_.notify_all();
    for (auto& thread : threads_) thread.join();
  }

  // `work` runs on one of the threads; it must not touch the loop's state.
  void submit(std::function<Result()> work) {
    {
      const std::lock_guard lock(mutex_);
      queue_.push_back(std::move(work));
      ++outstanding_;
      if (threads_.size() < max_threads_ && idle_ == 0) threads_.emplace_back([this] { run(); });
    }
    work_.notify_one();
  }

  // The results ready now, in the order their work ended.
  std::vector<Result> take() {
    const std::lock_guard lock(mutex_);
    std::vector<Result> out;
    out.swap(results_);
    outstanding_ -= out.size();
    return out;
  }

  // Blocks until all the work submitted so far has its result (taken or not).
  void wait_all() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return results_.size() == outstanding_; });
  }

  // Work submitted whose result was not taken yet.
  std::size_t outstanding() const {
    const std::lock_guard lock(mutex_);
    return outstanding_;
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (queue_.empty()) return;  // stopping, and nothing left to do
      std::function<Result()> next = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      Result result = next();
      next = nullptr;  // what the work held goes before the loop hears it is done
      lock.lock();
      results_.push_back(std::move(result));
      done_.notify_all();
      if (!stopping_) wake_();
    }
  }

  const std::size_t max_threads_;
  std::function<void()> wake_;
  mutable std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable done_;
  std::deque<std::function<Result()>> queue_;
  std::vector<Result> results_;
  std::size_t outstanding_ = 0;  // submitted and not yet taken
  std::size_t idle_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace opendo
