// A small persistent thread pool for intra-op parallelism.
//
// Work is split statically: parallelFor cuts [0, count) into one contiguous
// chunk per thread, so for a given thread count the partition (and so the
// floating-point summation order of any per-chunk reduction) is always the
// same. A call made from inside a pool task, or while another caller holds the
// pool, runs the same chunks one after another on the calling thread, which
// keeps results identical to the parallel run. A task whose worker has not
// started it by the time the caller finishes its own is run by the caller
// (a descheduled worker does not hold up the job); the task is the same
// either way.
#pragma once

#include <cstdint>
#include <functional>

namespace kiln {

// Threads used by kernels; defaults to the machine's available parallelism.
int numThreads();
// Sets the thread count (clamped to [1, 256]); safe between kernel calls.
void setNumThreads(int threads);
// Parallelism the machine reports.
int hardwareThreads();

// Runs body(task, taskCount) for every task in [0, taskCount), with taskCount
// = min(numThreads(), maxTasks). Blocks until all tasks have finished.
void parallelTasks(int maxTasks, const std::function<void(int task, int taskCount)>& body);

// Calls body(begin, end) on contiguous chunks covering [0, count). Chunks are
// at least minChunk long (the last may be shorter), at most one per thread.
void parallelFor(int64_t count, int64_t minChunk, const std::function<void(int64_t begin, int64_t end)>& body);

}  // namespace kiln
