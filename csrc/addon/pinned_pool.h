// Page-locked host blocks for device->host copies. A copy into pinned memory
// is truly asynchronous, so a download can be queued in stream order without
// blocking the event loop; the waiter thread then moves the data into the
// result's ArrayBuffer (completion.h). Blocks are reused: pinning memory is
// slow (the first download of a new size pays it once, on the calling
// thread), and so is unpinning, which runs on the waiter thread.
//
// Used from the JS thread only.
#pragma once

#include <napi.h>

#include <cstddef>
#include <vector>

namespace marlin_addon {

class PinnedPool {
 public:
  // Downloads of up to this many bytes are staged here; larger ones go
  // through a device snapshot and the waiter's chunks (chunked_readback.h).
  static constexpr std::size_t kMaxBlock = 1024 * 1024;

  PinnedPool() = default;
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;
  ~PinnedPool();

  // A free block of at least `bytes`; throws OUT_OF_MEMORY / CUDA_ERROR.
  void* Acquire(Napi::Env env, std::size_t bytes);
  // Returns a block from Acquire. If the pool already holds enough, the
  // block is freed on the waiter thread: cudaFreeHost may wait for the GPU.
  void Release(Napi::Env env, void* block);

 private:
  struct Block {
    void* ptr;
    std::size_t size;
    bool busy;
  };
  static constexpr std::size_t kMinBlock = 64 * 1024;
  static constexpr std::size_t kMaxCachedBytes = 256u * 1024 * 1024;
  std::vector<Block> blocks_;
};

}  // namespace marlin_addon
