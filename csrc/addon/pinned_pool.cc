#include "pinned_pool.h"

#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "completion.h"
#include "errors.h"

namespace marlin_addon {

PinnedPool::PinnedPool()
    : PinnedPool(PinnedAllocator{
          [](void** ptr, std::size_t bytes) { return cudaHostAlloc(ptr, bytes, cudaHostAllocPortable); },
          [](void* ptr, std::size_t) {
            cudaFreeHost(ptr);
            cudaGetLastError();
          },
      }) {}

PinnedPool::PinnedPool(PinnedAllocator allocator) : allocator_(std::move(allocator)) {}

PinnedPool::~PinnedPool() {
  // Environment teardown, after the waiter thread has joined: nothing is in
  // flight. Process teardown may already have unloaded the runtime; nothing
  // to report.
  for (const Block& b : blocks_) allocator_.unpin(b.ptr, b.size);
}

void* PinnedPool::Acquire(Napi::Env env, std::size_t bytes) {
  if (bytes <= kMaxBlock) {
    Block* best = nullptr;
    for (Block& b : blocks_)
      if (!b.busy && b.size >= bytes && (!best || b.size < best->size)) best = &b;
    if (best) {
      best->busy = true;
      idle_bytes_ -= best->size;
      return best->ptr;
    }
  }
  // A pooled size is rounded up to its class; an oversized one (a large
  // download the device had no room to snapshot) is pinned to size, once.
  std::size_t size = bytes;
  if (bytes <= kMaxBlock) {
    size = kMinBlock;
    while (size < bytes) size *= 2;
  }
  void* ptr = nullptr;
  CheckCuda(env, allocator_.pin(&ptr, size),
            "cudaHostAlloc(" + std::to_string(size) + " bytes) for a device-to-host copy");
  blocks_.push_back(Block{ptr, size, true});
  return ptr;
}

void PinnedPool::Release(Napi::Env env, void* block) {
  for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
    if (it->ptr != block || !it->busy) continue;
    if (it->size <= kMaxBlock && idle_bytes_ + it->size <= kMaxIdleBytes) {
      it->busy = false;
      idle_bytes_ += it->size;
      return;
    }
    // Unpinning may wait for the GPU: never on the JS thread.
    void* ptr = it->ptr;
    const std::size_t size = it->size;
    blocks_.erase(it);
    RunOffThread(env, [unpin = allocator_.unpin, ptr, size] { unpin(ptr, size); });
    return;
  }
}

namespace {

// What the stand-in allocator of pinnedPoolSelfTest saw.
struct PoolTrace {
  std::mutex mutex;
  std::thread::id js_thread = std::this_thread::get_id();
  std::vector<std::size_t> pinned;
  std::vector<std::size_t> unpinned_off_thread;
  std::size_t unpinned_on_js_thread = 0;
};

Napi::Array NumbersOf(Napi::Env env, const std::vector<std::size_t>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (std::size_t i = 0; i < values.size(); ++i) array.Set(i, Napi::Number::New(env, static_cast<double>(values[i])));
  return array;
}

// pinnedPoolSelfTest(steps)
Napi::Value PinnedPoolSelfTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw MakeError(env, "BAD_ARGUMENT", "pinnedPoolSelfTest expects an array of steps");
  Napi::Array steps = info[0].As<Napi::Array>();

  auto trace = std::make_shared<PoolTrace>();
  // Plain host memory stands in for pinned memory: no GPU needed.
  PinnedAllocator stand_in{
      [trace](void** ptr, std::size_t bytes) {
        *ptr = std::malloc(bytes);
        if (!*ptr) return cudaErrorMemoryAllocation;
        std::lock_guard<std::mutex> lock(trace->mutex);
        trace->pinned.push_back(bytes);
        return cudaSuccess;
      },
      [trace](void* ptr, std::size_t bytes) {
        std::free(ptr);
        std::lock_guard<std::mutex> lock(trace->mutex);
        if (std::this_thread::get_id() == trace->js_thread)
          ++trace->unpinned_on_js_thread;
        else
          trace->unpinned_off_thread.push_back(bytes);
      },
  };
  auto pool = std::make_shared<PinnedPool>(std::move(stand_in));
  std::vector<void*> acquired;  // null once released
  for (std::uint32_t i = 0; i < steps.Length(); ++i) {
    Napi::Value step = steps.Get(i);
    const double n = step.IsNumber() ? step.As<Napi::Number>().DoubleValue() : 0.5;
    const bool whole = std::floor(n) == n && std::fabs(n) <= 1e15;
    if (whole && n >= 0) {
      acquired.push_back(pool->Acquire(env, static_cast<std::size_t>(n)));
    } else if (whole && -n - 1 < static_cast<double>(acquired.size()) && acquired[static_cast<std::size_t>(-n - 1)]) {
      void*& block = acquired[static_cast<std::size_t>(-n - 1)];
      pool->Release(env, block);
      block = nullptr;
    } else {
      throw MakeError(env, "BAD_ARGUMENT",
                      "pinnedPoolSelfTest: step " + std::to_string(i) +
                          " is neither a byte count nor -(i + 1) for a block acquired and not yet released");
    }
  }
  // Settles after the unpinning queued so far has run on the waiter thread;
  // the pool itself lives until then.
  Continuation then;
  then.on_done = [trace, pool](Napi::Env env) -> Napi::Value {
    std::lock_guard<std::mutex> lock(trace->mutex);
    Napi::Object result = Napi::Object::New(env);
    result.Set("pinned", NumbersOf(env, trace->pinned));
    result.Set("unpinnedOnWaiter", NumbersOf(env, trace->unpinned_off_thread));
    result.Set("unpinnedOnJsThread", Napi::Number::New(env, static_cast<double>(trace->unpinned_on_js_thread)));
    result.Set("idleBytes", Napi::Number::New(env, static_cast<double>(pool->idle_bytes())));
    return result;
  };
  return AfterQueuedWork(env, std::move(then));
}

}  // namespace

void InitPinnedPool(Napi::Env env, Napi::Object exports) {
  exports.Set("pinnedPoolSelfTest", Napi::Function::New(env, PinnedPoolSelfTest, "pinnedPoolSelfTest"));
}

}  // namespace marlin_addon
