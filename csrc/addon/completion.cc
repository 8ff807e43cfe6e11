#include "completion.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "errors.h"
#include "state.h"

namespace marlin_addon {
namespace {

void SettleOnJsThread(Napi::Env env, Napi::Function, void*, Job* job);
using Tsfn = Napi::TypedThreadSafeFunction<void, Job, SettleOnJsThread>;

}  // namespace

struct Job {
  int device;
  cudaEvent_t event;
  cudaError_t status = cudaSuccess;
  Napi::Promise::Deferred deferred;
  OnDone on_done;
  OnSettled on_settled;
  Tsfn tsfn;
};

void Waiter::Push(Job* job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
    queue_.push_back(job);
  }
  wake_.notify_one();
}

Waiter::~Waiter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Waiter::Run() {
  for (;;) {
    Job* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and nothing left
      job = queue_.front();
      queue_.pop_front();
    }
    // The current device is per thread: select it before touching the event.
    job->status = cudaSetDevice(job->device);
    if (job->status == cudaSuccess) job->status = cudaEventSynchronize(job->event);
    Tsfn tsfn = job->tsfn;
    if (tsfn.BlockingCall(job) == napi_ok) tsfn.Release();
    // If the environment is closing, the job is dropped with it.
  }
}

namespace {

void SettleOnJsThread(Napi::Env env, Napi::Function, void*, Job* job) {
  if (env != nullptr) {
    Napi::HandleScope scope(env);
    cudaEventDestroy(job->event);
    if (job->status != cudaSuccess) {
      cudaGetLastError();
      Napi::Error error = MakeError(env, CodeForCudaError(job->status),
                                    "GPU work on device " + std::to_string(job->device) +
                                        " failed: " + DescribeCudaError(job->status));
      error.Set("cudaError", Napi::Number::New(env, static_cast<int>(job->status)));
      job->deferred.Reject(error.Value());
    } else {
      try {
        job->deferred.Resolve(job->on_done ? job->on_done(env) : env.Undefined());
      } catch (const Napi::Error& e) {
        job->deferred.Reject(e.Value());
      }
    }
    if (job->on_settled) job->on_settled();
  }
  delete job;
}

}  // namespace

Napi::Promise WhenStreamReaches(Napi::Env env, int device, cudaStream_t stream, OnDone on_done,
                                OnSettled on_settled) {
  Waiter& waiter = State(env).waiter;
  auto settle_now = [&](cudaError_t e, const char* what) {
    if (on_settled) on_settled();
    CheckCuda(env, e, what);
  };
  cudaEvent_t event = nullptr;
  cudaError_t e = cudaEventCreateWithFlags(&event, cudaEventDisableTiming);
  if (e != cudaSuccess) settle_now(e, "cudaEventCreate");
  e = cudaEventRecord(event, stream);
  if (e != cudaSuccess) {
    cudaEventDestroy(event);
    settle_now(e, "cudaEventRecord");
  }
  Job* job = new Job{device, event, cudaSuccess, Napi::Promise::Deferred::New(env), std::move(on_done),
                     std::move(on_settled), Tsfn::New(env, "marlin-node:gpu-wait", 0, 1)};
  Napi::Promise promise = job->deferred.Promise();
  waiter.Push(job);
  return promise;
}

}  // namespace marlin_addon
