// Settles Promises when GPU work finishes, without blocking the event loop.
//
// An event is recorded on the stream at call time (so the Promise observes
// exactly the work queued before it). One thread per environment, not the
// libuv pool, waits for the events in order, runs whatever host work must
// follow them (moving a download into its ArrayBuffer, pinning or unpinning
// host memory, freeing a device snapshot: work that would stall the event
// loop for as long as it takes), and a thread-safe function hands each
// result back to the JS thread, where `on_done` runs.
//
// The thread takes its tasks in order, so a long copy delays the settling of
// Promises queued after it (never the event loop).
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace marlin_addon {

// The thread that waits for events and runs host work, one per Node
// environment (AddonState).
class Waiter {
 public:
  using Task = std::function<void()>;  // runs on the waiter thread; must not throw

  Waiter() = default;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  ~Waiter();  // runs what is queued, then joins
  void Push(Task task);

 private:
  void Run();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> queue_;
  std::thread thread_;
  bool stop_ = false;
};

// What host work on the waiter thread reports: cudaSuccess, or the error
// and the call that failed ("cudaHostAlloc(4194304 bytes) for ..."). An
// error rejects the Promise with the error's code (OUT_OF_MEMORY for
// cudaErrorMemoryAllocation, else CUDA_ERROR; errors.h).
struct OffThreadStatus {
  cudaError_t error = cudaSuccess;
  std::string what;
  bool ok() const { return error == cudaSuccess; }
};

using OffThread = std::function<OffThreadStatus()>;    // waiter thread: plain C++, no N-API, must not throw
using OffThreadRelease = std::function<void()>;        // waiter thread, the same rules
using OnDone = std::function<Napi::Value(Napi::Env)>;  // JS thread: the Promise's value; may throw
using OnSettled = std::function<void()>;               // JS thread, always, last

// What follows once the GPU has passed the point. Each part may be empty.
struct Continuation {
  OffThread off_thread;  // only if the GPU work succeeded; before on_done
  OnDone on_done;
  OnSettled on_settled;  // releases whatever the operation held
  // Waiter thread, always (the GPU work failed or not), after off_thread and
  // before the Promise settles: releases what must not be released on the
  // JS thread because it may block or must follow off_thread's work.
  OffThreadRelease release_off_thread;
};

// Returns a Promise settled after the GPU passes this point of `stream`:
// resolved with on_done's value, or rejected with CUDA_ERROR if the GPU (or
// off_thread) failed. If recording the point fails, on_settled runs and this
// throws; release_off_thread does not run then: the caller still owns what it
// would have released.
Napi::Promise WhenStreamReaches(Napi::Env env, int device, cudaStream_t stream, Continuation then = {});

// The same without a GPU point: `then` runs as if the point had been reached
// at once, after every task already queued. For host-only work and for tests
// of this machinery on machines without a GPU.
Napi::Promise AfterQueuedWork(Napi::Env env, Continuation then);

// Runs `task` on the waiter thread after every task already queued, with no
// Promise: for releases that may block (cudaFreeHost).
void RunOffThread(Napi::Env env, Waiter::Task task);

}  // namespace marlin_addon
