#include "chunked_readback.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace marlin_addon {

OffThreadStatus CopyThroughChunks(ChunkSource& source, void* const buffers[2], std::size_t chunk_bytes,
                                  std::uint8_t* destination, std::size_t bytes) {
  const std::size_t pieces = (bytes + chunk_bytes - 1) / chunk_bytes;
  auto piece_bytes = [&](std::size_t k) { return std::min(chunk_bytes, bytes - k * chunk_bytes); };
  OffThreadStatus status;
  std::size_t started = 0;  // pieces started; at most two ahead of those copied out
  std::size_t copied = 0;
  while (copied < pieces) {
    // The buffer of piece `started` is free: its previous piece, two back,
    // has been copied out.
    while (status.ok() && started < pieces && started < copied + 2) {
      status = source.Start(static_cast<int>(started % 2), started * chunk_bytes, piece_bytes(started),
                            buffers[started % 2]);
      if (status.ok()) ++started;
    }
    if (!status.ok()) break;
    status = source.Wait(static_cast<int>(copied % 2));
    if (!status.ok()) break;
    std::memcpy(destination + copied * chunk_bytes, buffers[copied % 2], piece_bytes(copied));
    ++copied;
  }
  // After an error: let what is still in flight land before anyone reuses
  // the buffers. Its own errors add nothing to the first.
  for (std::size_t k = copied; k < started; ++k) source.Wait(static_cast<int>(k % 2));
  return status;
}

namespace {

OffThreadStatus Failed(cudaError_t e, std::string what) {
  if (e == cudaSuccess) return {};
  cudaGetLastError();  // a non-sticky error must not fail the next job
  return {e, std::move(what)};
}

// Chunks of a device snapshot, copied on the waiter's own stream.
class SnapshotSource : public ChunkSource {
 public:
  SnapshotSource(cudaStream_t stream, const cudaEvent_t landed[2], const void* snapshot)
      : stream_(stream), landed_{landed[0], landed[1]}, snapshot_(static_cast<const std::uint8_t*>(snapshot)) {}

  OffThreadStatus Start(int slot, std::size_t offset, std::size_t bytes, void* buffer) override {
    OffThreadStatus s =
        Failed(cudaMemcpyAsync(buffer, snapshot_ + offset, bytes, cudaMemcpyDeviceToHost, stream_),
               "cudaMemcpyAsync(device to host, " + std::to_string(bytes) + " bytes) of a readback chunk");
    if (!s.ok()) return s;
    return Failed(cudaEventRecord(landed_[slot], stream_), "cudaEventRecord after a readback chunk");
  }
  OffThreadStatus Wait(int slot) override {
    return Failed(cudaEventSynchronize(landed_[slot]), "a readback chunk's copy to the host");
  }

 private:
  cudaStream_t stream_;
  cudaEvent_t landed_[2];
  const std::uint8_t* snapshot_;
};

}  // namespace

ReadbackChunks::~ReadbackChunks() {
  // Process teardown may already have unloaded the runtime; nothing to report.
  for (const Lane& lane : lanes_) {
    if (cudaSetDevice(lane.device) != cudaSuccess) continue;
    for (cudaEvent_t e : lane.landed) cudaEventDestroy(e);
    cudaStreamDestroy(lane.stream);  // returns at once; a queued free still runs
  }
  for (void* b : buffers_)
    if (b) cudaFreeHost(b);
  cudaGetLastError();
}

OffThreadStatus ReadbackChunks::PinBuffers() {
  for (void*& b : buffers_) {
    if (b) continue;
    OffThreadStatus s = Failed(cudaHostAlloc(&b, kReadbackChunkBytes, cudaHostAllocPortable),
                               "cudaHostAlloc(" + std::to_string(kReadbackChunkBytes) + " bytes) for readback chunks");
    if (!s.ok()) {
      b = nullptr;
      return s;
    }
  }
  return {};
}

OffThreadStatus ReadbackChunks::LaneFor(int device, Lane** lane) {
  // The current device is per thread: this thread's may be any.
  OffThreadStatus s = Failed(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
  if (!s.ok()) return s;
  for (Lane& l : lanes_)
    if (l.device == device) {
      *lane = &l;
      return {};
    }
  Lane l{device, nullptr, {nullptr, nullptr}};
  s = Failed(cudaStreamCreateWithFlags(&l.stream, cudaStreamNonBlocking), "cudaStreamCreate for readbacks");
  for (cudaEvent_t& e : l.landed)
    if (s.ok()) s = Failed(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate for readbacks");
  if (!s.ok()) {
    for (cudaEvent_t e : l.landed)
      if (e) cudaEventDestroy(e);
    if (l.stream) cudaStreamDestroy(l.stream);
    cudaGetLastError();
    return s;
  }
  lanes_.push_back(l);
  *lane = &lanes_.back();
  return {};
}

OffThreadStatus ReadbackChunks::Copy(int device, const void* snapshot, std::uint8_t* destination, std::size_t bytes) {
  OffThreadStatus s = PinBuffers();
  Lane* lane = nullptr;
  if (s.ok()) s = LaneFor(device, &lane);
  if (!s.ok()) return s;
  SnapshotSource source(lane->stream, lane->landed, snapshot);
  return CopyThroughChunks(source, buffers_, kReadbackChunkBytes, destination, bytes);
}

void ReadbackChunks::FreeSnapshot(int device, void* snapshot) {
  Lane* lane = nullptr;
  // Without a lane (it could not be made), the blocking free: it waits for
  // the device, but on this thread, never the JS thread.
  if (!LaneFor(device, &lane).ok() || cudaFreeAsync(snapshot, lane->stream) != cudaSuccess) cudaFree(snapshot);
  cudaGetLastError();
}

}  // namespace marlin_addon
