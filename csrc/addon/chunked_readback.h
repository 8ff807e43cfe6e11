// Large downloads, host side. At call time the JS thread only queues a
// snapshot of the source on the device, in stream order (device_buffer.cc);
// the waiter thread (completion.h) then moves the snapshot to the host a
// chunk at a time, through two small pinned buffers that it owns, and frees
// the snapshot. So no download pins or unpins large host memory on the JS
// thread, whatever its size: the pinned memory involved is two chunks,
// pinned once, on the waiter thread.
//
// No N-API here: everything runs on the waiter thread.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "completion.h"

namespace marlin_addon {

// Bytes per chunk: large enough that the costs per chunk (queueing a copy,
// an event, a wait: tens of microseconds) are small next to moving it into
// the destination (about 2 ms into fresh pages), small enough that the two
// pinned buffers cost little memory and pin in a few ms, once.
constexpr std::size_t kReadbackChunkBytes = 4 * 1024 * 1024;

// Where the chunks come from. Start begins moving bytes [offset, offset +
// bytes) of the source into `buffer`, and may return before they have
// landed; Wait(slot) returns once the piece last started in `slot` (0 or 1)
// has.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  virtual OffThreadStatus Start(int slot, std::size_t offset, std::size_t bytes, void* buffer) = 0;
  virtual OffThreadStatus Wait(int slot) = 0;
};

// Copies `bytes` bytes of `source` into `destination` through `buffers` (two
// of chunk_bytes each): piece k goes through buffers[k % 2], and piece k + 1
// is on its way into the other buffer while piece k is copied out. Stops at
// the first error and returns it, after waiting for any piece still in
// flight, so the buffers are free for reuse whatever happened.
OffThreadStatus CopyThroughChunks(ChunkSource& source, void* const buffers[2], std::size_t chunk_bytes,
                                  std::uint8_t* destination, std::size_t bytes);

// What the waiter thread keeps for chunked readbacks: two pinned buffers of
// kReadbackChunkBytes (portable: a copy from any device may land in them)
// and, per device, a stream and an event per buffer. All are created at first
// use, on the waiter thread, and used only there; the destructor frees them
// once the waiter thread has joined (AddonState declares this before the
// Waiter).
class ReadbackChunks {
 public:
  ReadbackChunks() = default;
  ReadbackChunks(const ReadbackChunks&) = delete;
  ReadbackChunks& operator=(const ReadbackChunks&) = delete;
  ~ReadbackChunks();

  // Copies `bytes` bytes of device memory at `snapshot` on `device` into
  // `destination`. The snapshot must be complete (its copy has passed).
  OffThreadStatus Copy(int device, const void* snapshot, std::uint8_t* destination, std::size_t bytes);
  // Frees a snapshot from cudaMallocAsync, in the order of this device's
  // stream: after every copy Copy queued from it.
  void FreeSnapshot(int device, void* snapshot);

 private:
  struct Lane {
    int device;
    cudaStream_t stream;
    cudaEvent_t landed[2];
  };
  OffThreadStatus PinBuffers();
  // The lane of `device`, created on first use; selects the device.
  OffThreadStatus LaneFor(int device, Lane** lane);

  void* buffers_[2] = {nullptr, nullptr};
  std::vector<Lane> lanes_;
};

}  // namespace marlin_addon
