// The last step of a download: moving the bytes from staging memory into the
// caller's ArrayBuffer. It runs on the waiter thread (completion.h), not the
// JS thread: copying into fresh pageable memory costs about 0.5 ms per MB
// (page faults included), so a 235 MB result held the event loop ~127 ms.
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

// Copies destination.bytes bytes from `staging` into the destination on the
// waiter thread, then resolves with undefined. `release_staging` runs on the
// JS thread once the Promise has settled, resolved or not.
Continuation CopyToHost(const HostDestination& destination, const void* staging, OnSettled release_staging);

// readbackSelfTest(destination, seed): Promise<void>. The same copy from a
// host staging block filled with a pattern (word i is i ^ seed), with no GPU:
// tests of the off-thread copy run on any machine.
void InitHostCopy(Napi::Env env, Napi::Object exports);

}  // namespace marlin_addon
