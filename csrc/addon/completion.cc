#include "completion.h"

#include <string>
#include <utility>

#include "capture.h"
#include "errors.h"
#include "state.h"

namespace marlin_addon {

void Waiter::Push(Task task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
    queue_.push_back(std::move(task));
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
    Task task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

namespace {

struct Job;
void SettleOnJsThread(Napi::Env env, Napi::Function, void*, Job* job);
using Tsfn = Napi::TypedThreadSafeFunction<void, Job, SettleOnJsThread>;

// One Promise in flight: created on the JS thread, waited for (and its host
// work done) on the waiter thread, settled and deleted on the JS thread.
struct Job {
  int device;
  cudaEvent_t event;  // null: nothing to wait for on the GPU
  cudaError_t status;
  std::string failed_call;  // what failed in off_thread; empty: the GPU work, or nothing
  Napi::Promise::Deferred deferred;
  Continuation then;
  Tsfn tsfn;
};

// The waiter thread's part of a job.
void WaitAndHandBack(Job* job) {
  if (job->event) {
    // The current device is per thread: select it before touching the event.
    job->status = cudaSetDevice(job->device);
    if (job->status == cudaSuccess) job->status = cudaEventSynchronize(job->event);
  }
  // The Promise is still pending and only this thread touches the job now,
  // so the JS side cannot see what the host work writes until it is done.
  if (job->status == cudaSuccess && job->then.off_thread) {
    OffThreadStatus done = job->then.off_thread();
    job->status = done.error;
    job->failed_call = std::move(done.what);
    if (!done.ok()) cudaGetLastError();  // the current error is per thread: leave none for the next job
  }
  if (job->then.release_off_thread) job->then.release_off_thread();
  Tsfn tsfn = job->tsfn;
  if (tsfn.BlockingCall(job) == napi_ok) tsfn.Release();
  // If the environment is closing, the job is dropped with it.
}

void SettleOnJsThread(Napi::Env env, Napi::Function, void*, Job* job) {
  if (env != nullptr) {
    Napi::HandleScope scope(env);
    if (job->event) cudaEventDestroy(job->event);
    if (job->status != cudaSuccess) {
      cudaGetLastError();
      const std::string what =
          job->failed_call.empty() ? "GPU work on device " + std::to_string(job->device) : job->failed_call;
      Napi::Error error =
          MakeError(env, CodeForCudaError(job->status), what + " failed: " + DescribeCudaError(job->status));
      error.Set("cudaError", Napi::Number::New(env, static_cast<int>(job->status)));
      job->deferred.Reject(error.Value());
    } else {
      try {
        job->deferred.Resolve(job->then.on_done ? job->then.on_done(env) : env.Undefined());
      } catch (const Napi::Error& e) {
        job->deferred.Reject(e.Value());
      }
    }
    if (job->then.on_settled) job->then.on_settled();
  }
  delete job;
}

Napi::Promise Submit(Napi::Env env, int device, cudaEvent_t event, Continuation then) {
  Job* job = new Job{device,
                     event,
                     cudaSuccess,
                     std::string(),
                     Napi::Promise::Deferred::New(env),
                     std::move(then),
                     Tsfn::New(env, "marlin-node:gpu-wait", 0, 1)};
  Napi::Promise promise = job->deferred.Promise();
  State(env).waiter.Push([job] { WaitAndHandBack(job); });
  return promise;
}

}  // namespace

Napi::Promise WhenStreamReaches(Napi::Env env, int device, cudaStream_t stream, Continuation then) {
  if (Capturing()) {
    if (then.on_settled) then.on_settled();
    RequireNotCapturing(env, "waiting for the GPU");
  }
  auto settle_now = [&](cudaError_t e, const char* what) {
    if (then.on_settled) then.on_settled();
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
  return Submit(env, device, event, std::move(then));
}

Napi::Promise AfterQueuedWork(Napi::Env env, Continuation then) { return Submit(env, -1, nullptr, std::move(then)); }

void RunOffThread(Napi::Env env, Waiter::Task task) { State(env).waiter.Push(std::move(task)); }

}  // namespace marlin_addon
