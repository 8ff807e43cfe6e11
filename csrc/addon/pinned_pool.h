// Page-locked host blocks for device->host copies. A copy into pinned memory
// is truly asynchronous, so a download can be queued in stream order without
// blocking the event loop; the data is then moved into the caller's
// ArrayBuffer on the JS thread. Blocks are reused: pinning memory is slow.
#pragma once

#include <napi.h>

#include <cstddef>
#include <vector>

namespace marlin_addon {

class PinnedPool {
 public:
  PinnedPool() = default;
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;
  ~PinnedPool();

  // A free block of at least `bytes`; throws OUT_OF_MEMORY / CUDA_ERROR.
  void* Acquire(Napi::Env env, std::size_t bytes);
  // Returns a block from Acquire; frees it outright if the pool is large.
  void Release(void* block);

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
