#include "pinned_pool.h"

#include <cuda_runtime_api.h>

#include <string>

#include "completion.h"
#include "errors.h"

namespace marlin_addon {

PinnedPool::~PinnedPool() {
  // Process teardown may already have unloaded the runtime; nothing to report.
  for (const Block& b : blocks_) cudaFreeHost(b.ptr);
}

void* PinnedPool::Acquire(Napi::Env env, std::size_t bytes) {
  Block* best = nullptr;
  for (Block& b : blocks_)
    if (!b.busy && b.size >= bytes && (!best || b.size < best->size)) best = &b;
  if (best) {
    best->busy = true;
    return best->ptr;
  }
  std::size_t size = kMinBlock;
  while (size < bytes) size *= 2;
  void* ptr = nullptr;
  CheckCuda(env, cudaHostAlloc(&ptr, size, cudaHostAllocPortable),
            "cudaHostAlloc(" + std::to_string(size) + " bytes) for a device-to-host copy");
  blocks_.push_back(Block{ptr, size, true});
  return ptr;
}

void PinnedPool::Release(Napi::Env env, void* block) {
  std::size_t cached = 0;
  for (const Block& b : blocks_)
    if (!b.busy) cached += b.size;
  for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
    if (it->ptr != block) continue;
    if (cached + it->size > kMaxCachedBytes) {
      void* ptr = it->ptr;
      blocks_.erase(it);
      RunOffThread(env, [ptr] {
        cudaFreeHost(ptr);
        cudaGetLastError();
      });
    } else {
      it->busy = false;
    }
    return;
  }
}

}  // namespace marlin_addon
