// Page-locked host blocks for small device->host copies. A copy into pinned
// memory is truly asynchronous, so a download can be queued in stream order
// without blocking the event loop; the waiter thread then moves the data
// into the result's ArrayBuffer (completion.h).
//
// Pinning runs on the calling (JS) thread and costs about 0.5 ms per MB, so
// the pool only serves downloads of up to kMaxBlock bytes: a block is pinned
// once per size class (64 KiB .. 1 MiB, powers of two), for at most ~0.5 ms,
// and reused. Larger downloads go through a device snapshot and the waiter's
// own chunk buffers instead (chunked_readback.h), and come here only when the
// device has no room for the snapshot: such an oversized block is pinned to
// size for that one download and freed on the waiter thread after it.
// Unpinning may wait for the GPU, so it always runs on the waiter thread too.
//
// Used from the JS thread only.
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

#include <cstddef>
#include <functional>
#include <vector>

namespace marlin_addon {

// How the pool pins and unpins memory: cudaHostAlloc / cudaFreeHost unless a
// test (pinnedPoolSelfTest) stands in for them. `unpin` runs on the waiter
// thread, or on the JS thread when the pool is destroyed.
struct PinnedAllocator {
  std::function<cudaError_t(void** ptr, std::size_t bytes)> pin;
  std::function<void(void* ptr, std::size_t bytes)> unpin;
};

class PinnedPool {
 public:
  // Downloads of up to this many bytes are staged here; larger ones go
  // through a device snapshot and the waiter's chunks (see above for why).
  static constexpr std::size_t kMaxBlock = 1024 * 1024;
  static constexpr std::size_t kMinBlock = 64 * 1024;
  // Idle blocks kept for reuse, in all; a block released beyond it is freed.
  static constexpr std::size_t kMaxIdleBytes = 16 * kMaxBlock;

  PinnedPool();  // cudaHostAlloc / cudaFreeHost
  explicit PinnedPool(PinnedAllocator allocator);
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;
  ~PinnedPool();

  // A free block of at least `bytes`; throws OUT_OF_MEMORY / CUDA_ERROR.
  void* Acquire(Napi::Env env, std::size_t bytes);
  // Returns a block from Acquire: kept for reuse if it is of a pooled size
  // and the idle blocks stay within kMaxIdleBytes, else freed on the waiter
  // thread.
  void Release(Napi::Env env, void* block);
  // Bytes of the idle blocks kept for reuse.
  std::size_t idle_bytes() const { return idle_bytes_; }

 private:
  struct Block {
    void* ptr;
    std::size_t size;
    bool busy;
  };
  PinnedAllocator allocator_;
  std::vector<Block> blocks_;
  std::size_t idle_bytes_ = 0;
};

// pinnedPoolSelfTest(steps): Promise<PinnedPoolTrace> (lib/native.ts). Runs
// acquire/release steps on a pool of its own whose pinning is plain host
// memory (no GPU needed): a step n >= 0 acquires n bytes, a step -(i + 1)
// releases the i-th block acquired. Resolves, once the waiter thread has run
// what was queued, with what the pool did: the sizes it pinned, those it
// unpinned on the waiter thread, how many it unpinned on the JS thread
// (none, if all is well) and the bytes it keeps idle.
void InitPinnedPool(Napi::Env env, Napi::Object exports);

}  // namespace marlin_addon
