// CUDA graphs from JS. Stream.beginCapture() starts recording the work
// queued on that stream into a graph instead of running it; endCapture()
// returns a Graph, which launch(stream) replays and dispose() frees.
//
// Capture runs in cudaStreamCaptureModeThreadLocal: only calls made by the
// capturing thread are checked, so the waiter thread (completion.h) keeps
// synchronizing other streams meanwhile. On that thread, while any capture
// is in progress, the calls that a capture forbids or that would record the
// wrong thing (allocating or freeing device memory, copies to or from host
// memory, waiting for the GPU) throw NOT_CAPTURABLE before reaching CUDA,
// so a mistake never invalidates the capture behind the caller's back, and
// device memory released meanwhile is freed once the last capture ends.
//
// A graph shares the ownership of the device memory its work uses
// (DeviceMemory): disposing a buffer while a graph uses it only marks the
// buffer disposed; the memory goes with the last graph. Replaying a graph
// never touches freed memory.
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

namespace marlin_addon {

// Whether a capture is in progress on this thread.
bool Capturing();
// Throws NOT_CAPTURABLE naming `what` while a capture is in progress on this thread.
void RequireNotCapturing(Napi::Env env, const char* what);
// cudaFree(ptr) on `device` now, or, during a capture, when the last one ends.
void FreeDeviceMemory(int device, void* ptr);

// A block of device memory, freed when its last owner (a DeviceBuffer, a
// capture, a Graph) lets go.
struct DeviceMemory {
  DeviceMemory(int d, void* p, std::size_t b) : device(d), ptr(p), bytes(b) {}
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory() { FreeDeviceMemory(device, ptr); }
  const int device;
  void* const ptr;
  const std::size_t bytes;
};

// The device memory one stream's captured work uses, owned from the moment
// it is used, so nothing the graph will touch is freed before the graph is
// made (and then by the graph).
class CaptureRecord {
 public:
  void Use(const std::shared_ptr<DeviceMemory>& memory) {
    if (seen_.insert(memory.get()).second) held_.push_back(memory);
  }

 private:
  friend class Graph;
  std::unordered_set<const DeviceMemory*> seen_;
  std::vector<std::shared_ptr<DeviceMemory>> held_;
};

// Starts a capture on `stream` (the Stream's beginCapture calls it).
void BeginCapture(Napi::Env env, int device, cudaStream_t stream);
// Ends the capture on `stream`. Unless `discard`, returns a new JS Graph that
// takes what `record` holds; a capture that CUDA invalidated throws
// (CUDA_ERROR). Either way the stream is no longer capturing.
Napi::Value EndCapture(Napi::Env env, int device, cudaStream_t stream, CaptureRecord* record, bool discard);
// Ends the capture on `stream` and drops what it recorded (a stream disposed mid-capture).
void AbandonCapture(int device, cudaStream_t stream);

class Graph : public Napi::ObjectWrap<Graph> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Graph(const Napi::CallbackInfo& info);  // made by EndCapture only
  ~Graph() override;
  void Finalize(Napi::Env env) override;

  bool disposed() const { return disposed_; }

 private:
  Napi::Value Launch(const Napi::CallbackInfo& info);  // launch(stream)
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetNodes(const Napi::CallbackInfo& info);
  // Frees the graph and lets go of its memory; with an env, also tells V8.
  void Release(Napi::Env* env);

  cudaGraphExec_t exec_ = nullptr;
  int device_ = 0;
  int nodes_ = 0;
  bool disposed_ = false;
  CaptureRecord buffers_;
  // Bytes of the memory it holds, reported to V8 as external memory (as
  // DeviceBuffer does), so that graphs dropped without dispose() holding
  // memory whose buffers were disposed still press the GC to collect them.
  std::int64_t held_bytes_ = 0;
};

}  // namespace marlin_addon
