// The last step of a download: moving the bytes into the caller's
// ArrayBuffer. It runs on the waiter thread (completion.h), not the JS
// thread: copying into fresh pageable memory costs about 0.5 ms per MB (page
// faults included), so a 235 MB result held the event loop ~127 ms. A small
// download is copied from pinned staging (pinned_pool.h); a large one from a
// device snapshot, a chunk at a time (chunked_readback.h).
//
// The ArrayBuffer is written from another thread while JS runs, so the
// caller must own it outright until the Promise settles: a plain
// ArrayBuffer (not shared, not resizable) that no JS code reads, detaches or
// transfers meanwhile. lib/device.ts creates a fresh one per download and
// hands it out only after the Promise has resolved, so JS never sees it
// half written. A reference keeps it alive while the copy runs.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

#include "chunked_readback.h"
#include "completion.h"

namespace marlin_addon {

// The destination of a copy to the host: `value` must be an ArrayBuffer
// (throws BAD_ARGUMENT naming `name`).
struct HostDestination {
  Napi::ArrayBuffer buffer;
  std::uint8_t* data;
  std::size_t bytes;
};
HostDestination ArrayBufferArgument(Napi::Env env, Napi::Value value, const char* name);

// An on_settled part that keeps the destination's ArrayBuffer alive until
// the Promise settles, resolved or not, then runs `release` (if any).
OnSettled HoldUntilSettled(const HostDestination& destination, OnSettled release = nullptr);

// Copies destination.bytes bytes from `staging` into the destination on the
// waiter thread, then resolves with undefined. `release_staging` runs on the
// JS thread once the Promise has settled, resolved or not.
Continuation CopyToHost(const HostDestination& destination, const void* staging, OnSettled release_staging);

// Copies destination.bytes bytes of `snapshot` (device memory on `device`
// from cudaMallocAsync, complete once the GPU passes the Promise's point)
// into the destination through `chunks` on the waiter thread, then frees the
// snapshot there, also if the GPU work or the copy failed.
Continuation CopySnapshotToHost(const HostDestination& destination, int device, void* snapshot, ReadbackChunks* chunks);

// readbackSelfTest(destination, seed, chunks?): Promise<void>. The copy into
// the destination with no GPU, from a source whose 32-bit word i is i ^ seed:
// tests of the off-thread copy run on any machine.
//   Without `chunks`: from one host staging block, as a small download.
//   With chunks = { chunkBytes, failAtChunk?, cudaError? }: through
//   CopyThroughChunks, as a large download, with two host buffers of
//   chunkBytes. A chunk lands only when waited for (until then its buffer
//   holds garbage), so a chunk copied out too early, or overwritten before
//   it was, shows in the result. Waiting for chunk failAtChunk fails with
//   `cudaError` (default cudaErrorUnknown), which rejects the Promise.
void InitHostCopy(Napi::Env env, Napi::Object exports);

}  // namespace marlin_addon
