#include "host_copy.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "errors.h"

namespace marlin_addon {

HostDestination ArrayBufferArgument(Napi::Env env, Napi::Value value, const char* name) {
  if (!value.IsArrayBuffer()) throw MakeError(env, "BAD_ARGUMENT", std::string("Expected an ArrayBuffer for ") + name);
  Napi::ArrayBuffer buffer = value.As<Napi::ArrayBuffer>();
  return {buffer, static_cast<std::uint8_t*>(buffer.Data()), buffer.ByteLength()};
}

OnSettled HoldUntilSettled(const HostDestination& destination, OnSettled release) {
  // Keeps the ArrayBuffer (and so its memory) alive until the Promise settles.
  auto keep = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(destination.buffer));
  return [keep, release = std::move(release)] {
    if (release) release();
    keep->Reset();
  };
}

Continuation CopyToHost(const HostDestination& destination, const void* staging, OnSettled release_staging) {
  std::uint8_t* data = destination.data;
  const std::size_t bytes = destination.bytes;
  Continuation then;
  then.off_thread = [data, staging, bytes] {
    if (bytes > 0) std::memcpy(data, staging, bytes);
    return OffThreadStatus{};
  };
  then.on_settled = HoldUntilSettled(destination, std::move(release_staging));
  return then;
}

Continuation CopySnapshotToHost(const HostDestination& destination, int device, void* snapshot,
                                ReadbackChunks* chunks) {
  std::uint8_t* data = destination.data;
  const std::size_t bytes = destination.bytes;
  Continuation then;
  then.off_thread = [chunks, device, snapshot, data, bytes] { return chunks->Copy(device, snapshot, data, bytes); };
  then.release_off_thread = [chunks, device, snapshot] { chunks->FreeSnapshot(device, snapshot); };
  then.on_settled = HoldUntilSettled(destination);
  return then;
}

namespace {

// Word i of the self-tests' source.
std::uint32_t PatternWord(std::size_t i, std::uint32_t seed) { return static_cast<std::uint32_t>(i) ^ seed; }

// The small-download path: one staging block, filled and copied out on the
// waiter thread.
Napi::Promise StagedSelfTest(Napi::Env env, const HostDestination& destination, std::uint32_t seed) {
  const std::size_t words = destination.bytes / 4;
  // Stands in for the pinned block a download lands in. Left untouched here
  // (fresh pages cost nothing until written) and filled on the waiter thread.
  std::uint32_t* staging = new (std::nothrow) std::uint32_t[words > 0 ? words : 1];
  if (!staging)
    throw MakeError(env, "OUT_OF_MEMORY",
                    "readbackSelfTest: no memory for " + std::to_string(destination.bytes) + " bytes of staging");
  // Freed on the waiter thread, as the pool frees pinned blocks: unmapping
  // 200 MB of written pages takes milliseconds.
  Continuation then =
      CopyToHost(destination, staging, [env, staging] { RunOffThread(env, [staging] { delete[] staging; }); });
  then.off_thread = [staging, words, seed, copy = std::move(then.off_thread)] {
    for (std::size_t i = 0; i < words; ++i) staging[i] = PatternWord(i, seed);
    return copy();
  };
  return AfterQueuedWork(env, std::move(then));
}

// Chunks of the pattern, standing in for a device snapshot: Start only
// scribbles over the buffer, as a copy still in flight would leave it; the
// piece lands (or fails) in Wait.
class PatternSource : public ChunkSource {
 public:
  PatternSource(std::uint32_t seed, std::size_t fail_at, cudaError_t fail_with)
      : seed_(seed), fail_at_(fail_at), fail_with_(fail_with) {}

  OffThreadStatus Start(int slot, std::size_t offset, std::size_t bytes, void* buffer) override {
    std::memset(buffer, 0xa5, bytes);
    pending_[slot] = Piece{started_++, offset, bytes, static_cast<std::uint32_t*>(buffer)};
    return {};
  }
  OffThreadStatus Wait(int slot) override {
    const Piece& p = pending_[slot];
    if (p.index == fail_at_) return {fail_with_, "readbackSelfTest: the copy of chunk " + std::to_string(p.index)};
    for (std::size_t j = 0; j < p.bytes / 4; ++j) p.words[j] = PatternWord(p.offset / 4 + j, seed_);
    return {};
  }

 private:
  struct Piece {
    std::size_t index;
    std::size_t offset;
    std::size_t bytes;
    std::uint32_t* words;
  };
  std::uint32_t seed_;
  std::size_t fail_at_;
  cudaError_t fail_with_;
  std::size_t started_ = 0;
  Piece pending_[2] = {};
};

// A whole number from `options`, or `fallback` where it is absent.
double OptionNumber(Napi::Env env, Napi::Object options, const char* name, double fallback) {
  Napi::Value v = options.Get(name);
  if (v.IsUndefined()) return fallback;
  const double n = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(n >= 0 && n <= 9007199254740991.0 && std::floor(n) == n))
    throw MakeError(env, "BAD_ARGUMENT", std::string("readbackSelfTest: ") + name + " must be a whole number >= 0");
  return n;
}

// The large-download path: CopyThroughChunks from the pattern, through two
// buffers of its own, allocated on the waiter thread.
Napi::Promise ChunkedSelfTest(Napi::Env env, const HostDestination& destination, std::uint32_t seed,
                              Napi::Object options) {
  const double chunk = OptionNumber(env, options, "chunkBytes", 0);
  if (chunk <= 0 || std::fmod(chunk, 4) != 0)
    throw MakeError(env, "BAD_ARGUMENT", "readbackSelfTest: chunkBytes must be a positive multiple of 4");
  const std::size_t chunk_bytes = static_cast<std::size_t>(chunk);
  const double fail = OptionNumber(env, options, "failAtChunk", -1);
  const std::size_t fail_at = fail < 0 ? SIZE_MAX : static_cast<std::size_t>(fail);  // SIZE_MAX: never
  const double code = OptionNumber(env, options, "cudaError", cudaErrorUnknown);
  if (code < 1 || code > 9999)
    throw MakeError(env, "BAD_ARGUMENT", "readbackSelfTest: cudaError must be a CUDA error code, 1..9999");
  const cudaError_t fail_with = static_cast<cudaError_t>(static_cast<int>(code));

  std::uint8_t* data = destination.data;
  const std::size_t bytes = destination.bytes;
  Continuation then;
  then.off_thread = [seed, chunk_bytes, fail_at, fail_with, data, bytes] {
    std::unique_ptr<std::uint8_t[]> first(new (std::nothrow) std::uint8_t[chunk_bytes]);
    std::unique_ptr<std::uint8_t[]> second(new (std::nothrow) std::uint8_t[chunk_bytes]);
    if (!first || !second)
      return OffThreadStatus{cudaErrorMemoryAllocation,
                             "readbackSelfTest: allocating two " + std::to_string(chunk_bytes) + "-byte chunk buffers"};
    void* const buffers[2] = {first.get(), second.get()};
    PatternSource source(seed, fail_at, fail_with);
    return CopyThroughChunks(source, buffers, chunk_bytes, data, bytes);
  };
  then.on_settled = HoldUntilSettled(destination);
  return AfterQueuedWork(env, std::move(then));
}

// readbackSelfTest(destination, seed, chunks?)
Napi::Value ReadbackSelfTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const HostDestination destination = ArrayBufferArgument(env, info[0], "destination");
  const std::uint32_t seed = info[1].As<Napi::Number>().Uint32Value();
  if (destination.bytes % 4 != 0)
    throw MakeError(env, "BAD_ARGUMENT",
                    "readbackSelfTest needs a whole number of 32-bit words, got " + std::to_string(destination.bytes) +
                        " bytes");
  if (info[2].IsUndefined()) return StagedSelfTest(env, destination, seed);
  if (!info[2].IsObject()) throw MakeError(env, "BAD_ARGUMENT", "readbackSelfTest: chunks must be an object");
  return ChunkedSelfTest(env, destination, seed, info[2].As<Napi::Object>());
}

}  // namespace

void InitHostCopy(Napi::Env env, Napi::Object exports) {
  exports.Set("readbackSelfTest", Napi::Function::New(env, ReadbackSelfTest, "readbackSelfTest"));
}

}  // namespace marlin_addon
