// Settles Promises when GPU work finishes, without blocking the event loop.
//
// An event is recorded on the stream at call time (so the Promise observes
// exactly the work queued before it). One thread per environment, not the
// libuv pool, waits for the events in order, and a thread-safe function hands
// each result back to the JS thread, where `on_done` runs.
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace marlin_addon {

struct Job;

// The thread that waits for events, one per Node environment (AddonState).
class Waiter {
 public:
  Waiter() = default;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  ~Waiter();
  void Push(Job* job);

 private:
  void Run();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job*> queue_;
  std::thread thread_;
  bool stop_ = false;
};

using OnDone = std::function<Napi::Value(Napi::Env)>;  // runs on the JS thread; may throw
using OnSettled = std::function<void()>;               // runs on the JS thread, always, last

// Returns a Promise settled after the GPU passes this point of `stream`:
// resolved with on_done's value, or rejected with CUDA_ERROR if the GPU
// failed. `on_settled` releases whatever the operation held.
Napi::Promise WhenStreamReaches(Napi::Env env, int device, cudaStream_t stream, OnDone on_done,
                                OnSettled on_settled = nullptr);

}  // namespace marlin_addon
