#include "capture.h"

#include <string>
#include <utility>

#include "errors.h"
#include "state.h"
#include "stream.h"

namespace marlin_addon {
namespace {

// Captures in progress on this thread, and device memory released during
// them (device, pointer): cudaFree synchronizes, which a capture forbids.
thread_local int t_captures = 0;
thread_local std::vector<std::pair<int, void*>> t_deferred_frees;

void FreeNow(int device, void* ptr) {
  // On the memory's device, then back to the thread's current one (a
  // finalizer or a graph's release must not change it behind the caller).
  int current = -1;
  const bool known = cudaGetDevice(&current) == cudaSuccess;
  if (cudaSetDevice(device) == cudaSuccess) cudaFree(ptr);  // waits for queued work that may use it
  if (known && current != device) cudaSetDevice(current);
  cudaGetLastError();
}

void EndOne() {
  if (--t_captures > 0) return;
  std::vector<std::pair<int, void*>> frees;
  frees.swap(t_deferred_frees);
  for (const auto& [device, ptr] : frees) FreeNow(device, ptr);
}

// Passed from EndCapture to the Graph constructor through a Napi::External.
struct GraphParts {
  cudaGraphExec_t exec;
  int device;
  int nodes;
  CaptureRecord* record;
};

}  // namespace

bool Capturing() { return t_captures > 0; }

void RequireNotCapturing(Napi::Env env, const char* what) {
  if (t_captures > 0)
    throw MakeError(env, "NOT_CAPTURABLE",
                    std::string(what) +
                        " is not allowed while a stream is capturing a graph (capture records only work queued "
                        "on the GPU: no allocation, freeing, host copies or waiting)");
}

void FreeDeviceMemory(int device, void* ptr) {
  if (!ptr) return;
  if (t_captures > 0)
    t_deferred_frees.emplace_back(device, ptr);
  else
    FreeNow(device, ptr);
}

void BeginCapture(Napi::Env env, int device, cudaStream_t stream) {
  CheckCuda(env, cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
  CheckCuda(env, cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  ++t_captures;
}

Napi::Value EndCapture(Napi::Env env, int device, cudaStream_t stream, CaptureRecord* record, bool discard) {
  cudaGraph_t graph = nullptr;
  cudaSetDevice(device);
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  EndOne();
  struct GraphGuard {
    cudaGraph_t g;
    ~GraphGuard() {
      if (g) cudaGraphDestroy(g);
    }
  } guard{graph};
  if (discard) {
    cudaGetLastError();
    return env.Undefined();
  }
  CheckCuda(env, ended, "cudaStreamEndCapture (the capture was invalidated)");
  std::size_t nodes = 0;
  CheckCuda(env, cudaGraphGetNodes(graph, nullptr, &nodes), "cudaGraphGetNodes");
  cudaGraphExec_t exec = nullptr;
  CheckCuda(env, cudaGraphInstantiateWithFlags(&exec, graph, 0), "cudaGraphInstantiate");
  GraphParts parts{exec, device, static_cast<int>(nodes), record};
  try {
    return State(env).graph_ctor.New({Napi::External<GraphParts>::New(env, &parts)});
  } catch (...) {
    if (parts.exec) cudaGraphExecDestroy(parts.exec);
    throw;
  }
}

void AbandonCapture(int device, cudaStream_t stream) {
  cudaGraph_t graph = nullptr;
  if (cudaSetDevice(device) == cudaSuccess && cudaStreamEndCapture(stream, &graph) == cudaSuccess && graph)
    cudaGraphDestroy(graph);
  cudaGetLastError();
  EndOne();
}

void Graph::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Graph",
                                    {
                                        InstanceMethod<&Graph::Launch>("launch"),
                                        InstanceMethod<&Graph::Dispose>("dispose"),
                                        InstanceAccessor<&Graph::GetDisposed>("disposed"),
                                        InstanceAccessor<&Graph::GetNodes>("nodes"),
                                    });
  State(env).graph_ctor = Napi::Persistent(ctor);
  exports.Set("Graph", ctor);
}

Graph::Graph(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Graph>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal())
    throw MakeError(env, "BAD_ARGUMENT", "Graph objects are made by stream.capture()");
  GraphParts* parts = info[0].As<Napi::External<GraphParts>>().Data();
  exec_ = parts->exec;
  parts->exec = nullptr;  // owned here from now on
  device_ = parts->device;
  nodes_ = parts->nodes;
  buffers_.seen_.swap(parts->record->seen_);  // takes over what the capture owns
  buffers_.held_.swap(parts->record->held_);
  for (const auto& memory : buffers_.held_) held_bytes_ += static_cast<std::int64_t>(memory->bytes);
  Napi::MemoryManagement::AdjustExternalMemory(env, held_bytes_);
}

Graph::~Graph() { Release(nullptr); }

void Graph::Finalize(Napi::Env env) { Release(&env); }

void Graph::Release(Napi::Env* env) {
  if (disposed_) return;
  disposed_ = true;
  if (env) Napi::MemoryManagement::AdjustExternalMemory(*env, -held_bytes_);
  if (exec_ && cudaSetDevice(device_) == cudaSuccess) cudaGraphExecDestroy(exec_);  // a running replay completes
  cudaGetLastError();
  exec_ = nullptr;
  // Memory whose buffers were disposed meanwhile is freed here, by cudaFree,
  // which waits for replays still queued.
  buffers_.held_.clear();
  buffers_.seen_.clear();
}

Napi::Value Graph::Launch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) throw MakeError(env, "DISPOSED", "the Graph was disposed");
  Stream* stream = Stream::FromValue(env, info[0], "stream");
  if (stream->device() != device_)
    throw MakeError(env, "BAD_ARGUMENT",
                    "the stream is on device " + std::to_string(stream->device()) + " but the graph on device " +
                        std::to_string(device_));
  RequireNotCapturing(env, "graph.launch()");
  CheckCuda(env, cudaSetDevice(device_), "cudaSetDevice(" + std::to_string(device_) + ")");
  CheckCuda(env, cudaGraphLaunch(exec_, stream->handle()), "cudaGraphLaunch");
  return env.Undefined();
}

Napi::Value Graph::Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Release(&env);
  return info.Env().Undefined();
}

Napi::Value Graph::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }
Napi::Value Graph::GetNodes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), nodes_); }

}  // namespace marlin_addon
