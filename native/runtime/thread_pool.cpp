// Workers sleep on a condition variable between jobs. A job is published by
// bumping a generation counter; each worker runs its own task index and the
// caller runs task 0, then waits for the others. One job runs at a time: a
// second caller (another model training in the same process) waits for the
// pool, and a nested call from inside a task runs inline.
#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {
namespace {

thread_local bool insidePoolTask = false;

class ThreadPool {
 public:
  ThreadPool() : threads_(hardwareThreads()) {}
  ~ThreadPool() { stopWorkers(); }

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void setThreads(int threads) {
    std::lock_guard<std::mutex> jobLock(jobMutex_);
    threads = std::max(1, std::min(256, threads));
    if (threads == threads_.load()) return;
    stopWorkers();
    threads_.store(threads);
  }

  void run(int taskCount, const std::function<void(int, int)>& body) {
    if (taskCount <= 1 || insidePoolTask) {
      for (int t = 0; t < taskCount; ++t) body(t, taskCount);
      return;
    }
    std::lock_guard<std::mutex> jobLock(jobMutex_);
    ensureWorkers(threads_.load() - 1);
    taskCount = std::min(taskCount, static_cast<int>(workers_.size()) + 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      taskCount_ = taskCount;
      pending_ = taskCount - 1;
      ++generation_;
    }
    wake_.notify_all();
    insidePoolTask = true;
    body(0, taskCount);
    insidePoolTask = false;
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
    body_ = nullptr;
  }

 private:
  void ensureWorkers(int count) {
    while (static_cast<int>(workers_.size()) < count) {
      const int index = static_cast<int>(workers_.size()) + 1;
      // The worker starts from the current generation so that it cannot miss
      // a job published before its thread got scheduled.
      const uint64_t startGeneration = generation_;
      workers_.emplace_back([this, index, startGeneration] { workerLoop(index, startGeneration); });
    }
  }

  void stopWorkers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
  }

  void workerLoop(int index, uint64_t seen) {
    insidePoolTask = true;
    for (;;) {
      const std::function<void(int, int)>* body;
      int taskCount;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        body = body_;
        taskCount = taskCount_;
      }
      if (index < taskCount) {
        (*body)(index, taskCount);
        std::lock_guard<std::mutex> lock(mutex_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  std::atomic<int> threads_;
  std::mutex jobMutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* body_ = nullptr;
  int taskCount_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

ThreadPool& pool() {
  // Leaked on purpose: joining threads from a static destructor at process
  // exit can deadlock when the exit happens inside a worker's job.
  static ThreadPool* instance = new ThreadPool();
  return *instance;
}

}  // namespace

int hardwareThreads() {
  const unsigned reported = std::thread::hardware_concurrency();
  return reported == 0 ? 1 : static_cast<int>(reported);
}

int numThreads() { return pool().threads(); }

void setNumThreads(int threads) { pool().setThreads(threads); }

void parallelTasks(int maxTasks, const std::function<void(int, int)>& body) {
  const int taskCount = std::max(1, std::min(maxTasks, numThreads()));
  pool().run(taskCount, body);
}

void parallelFor(int64_t count, int64_t minChunk, const std::function<void(int64_t, int64_t)>& body) {
  if (count <= 0) return;
  minChunk = std::max<int64_t>(1, minChunk);
  const int64_t maxTasks = std::max<int64_t>(1, count / minChunk);
  const int taskCount = static_cast<int>(std::min<int64_t>(maxTasks, numThreads()));
  if (taskCount == 1) {
    body(0, count);
    return;
  }
  pool().run(taskCount, [&](int task, int tasks) {
    const int64_t begin = count * task / tasks;
    const int64_t end = count * (task + 1) / tasks;
    if (begin < end) body(begin, end);
  });
}

}  // namespace kiln
