// A job is published by bumping a generation counter; each worker claims and
// runs its own task index and the caller runs task 0, then claims every task
// no worker has claimed yet and runs it itself, then waits for the others.
// One job runs at a time: a second caller (another model training in the
// same process) waits for the pool, and a nested call from inside a task
// runs inline.
//
// Why the caller takes unclaimed tasks: when another process shares the
// cores, a worker can sit descheduled for a whole scheduler slice (several
// milliseconds) before it sees a job, and a training step of hundreds of
// sub-millisecond jobs waited for it at every one (LeNet-5's 10 epochs took
// 15.5 s instead of 1.8 s next to one busy process; 3.7 s with this). A task
// runs the same code on the same part of the work whichever thread claims
// it, so results do not change.
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

// Waiting spins briefly before sleeping: a training step issues hundreds of
// small parallel jobs back to back, and a futex sleep and wake-up per job
// (measured: ~11% of a resnet20 step in the kernel's scheduler) costs more
// than the jobs' own synchronisation. After kSpinIterations the waiter
// sleeps, so an idle pool uses no CPU.
constexpr int kSpinIterations = 1 << 14;

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class ThreadPool {
 public:
  ThreadPool() : threads_(std::min(kMaxThreads, hardwareThreads())) {}
  ~ThreadPool() { stopWorkers(); }

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void setThreads(int threads) {
    std::lock_guard<std::mutex> jobLock(jobMutex_);
    threads = std::max(1, std::min(kMaxThreads, threads));
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
    body_ = &body;
    taskCount_ = taskCount;
    pending_.store(taskCount - 1);
    const uint64_t job = generation_.load() + 1;
    for (int t = 1; t < taskCount; ++t) slots_[t].openFor.store(job, std::memory_order_relaxed);
    generation_.store(job);  // publishes body_, taskCount_ and the open slots
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      wake_.notify_all();
    }
    insidePoolTask = true;
    body(0, taskCount);
    for (int t = 1; t < taskCount; ++t) {
      if (!claim(t, job)) continue;
      body(t, taskCount);
      pending_.fetch_sub(1);
    }
    insidePoolTask = false;
    for (int spin = 0; pending_.load() != 0; ++spin) {
      if (spin < kSpinIterations) {
        cpuRelax();
        continue;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return pending_.load() == 0; });
    }
    body_ = nullptr;
  }

 private:
  void ensureWorkers(int count) {
    while (static_cast<int>(workers_.size()) < count) {
      const int index = static_cast<int>(workers_.size()) + 1;
      // The worker starts from the current generation so that it cannot miss
      // a job published before its thread got scheduled.
      const uint64_t startGeneration = generation_.load();
      workers_.emplace_back([this, index, startGeneration] { workerLoop(index, startGeneration); });
    }
  }

  void stopWorkers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_.store(true);
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
    stopping_.store(false);
  }

  void workerLoop(int index, uint64_t seen) {
    insidePoolTask = true;
    for (;;) {
      uint64_t current = generation_.load();
      for (int spin = 0; current == seen && !stopping_.load(); ++spin) {
        if (spin < kSpinIterations) {
          cpuRelax();
        } else {
          std::unique_lock<std::mutex> lock(mutex_);
          sleepers_.fetch_add(1);
          wake_.wait(lock, [&] { return stopping_.load() || generation_.load() != seen; });
          sleepers_.fetch_sub(1);
        }
        current = generation_.load();
      }
      if (stopping_.load()) return;
      seen = current;
      // A successful claim means job `current` is still running (the caller
      // waits for this task), so body_ and taskCount_ are still its own.
      if (claim(index, current)) {
        (*body_)(index, taskCount_);
        if (pending_.fetch_sub(1) == 1) {
          std::lock_guard<std::mutex> lock(mutex_);
          done_.notify_one();
        }
      }
    }
  }

  // Task `task` of job `job` is still unclaimed: take it.
  bool claim(int task, uint64_t job) {
    uint64_t expected = job;
    return slots_[task].openFor.compare_exchange_strong(expected, 0);
  }

  // Slot t holds the job whose task t nobody has claimed yet, else 0. Every
  // slot is back to 0 when a job ends (the caller claims what is left), so
  // a worker that wakes late cannot claim a task of a finished job.
  struct alignas(64) TaskSlot {
    std::atomic<uint64_t> openFor{0};
  };
  static constexpr int kMaxThreads = 256;

  std::atomic<int> threads_;
  std::mutex jobMutex_;  // one job at a time
  std::mutex mutex_;     // guards sleeping and waking only
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* body_ = nullptr;
  int taskCount_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
  TaskSlot slots_[kMaxThreads];
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
