// The Hopper instructions of the wgmma family (sm_90a): warpgroup matrix
// multiply-accumulate with the A operand in registers and B described in
// shared memory, its fences, and the proxy fence that makes ordinary
// shared-memory writes visible to it.
//
// MmaAsync<N>::run issues D(64xN, FP32) += A(64x16) * B(16xN) for the
// warpgroup (run<BF16, false>: D = A * B, D's old values ignored).
// A: warp w of the group holds rows 16w..16w+15 in the register layout of
// an m16n8k16 A operand (lane g = lane/4, t = lane%4: reg 0 row g, cols
// 2t,2t+1; reg 1 row g+8; reg 2 row g, cols 2t+8,2t+9; reg 3 row g+8).
// D: warp w, lane (g, t) holds d[4i + 0..1] = row 16w+g, cols 8i+2t, 8i+2t+1
// and d[4i + 2..3] = row 16w+g+8, same cols.
#pragma once

#include <cstdint>

#include "common/cluster.cuh"

namespace marlin::wg::ptx {

// Orders this warpgroup's earlier register writes (A fragments,
// accumulators) before the wgmma that follows.
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
// Blocks until at most N committed wgmma groups of this warpgroup run on.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// cp.async writes shared memory through the generic proxy; wgmma reads it
// through the async proxy: each writing thread fences before the barrier.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Thread block clusters (the split-k reduction): common/cluster.cuh.
using marlin::ptx::cluster_address;
using marlin::ptx::cluster_rank;
using marlin::ptx::cluster_sync;
using marlin::ptx::load_cluster_f4;

// Shared-memory matrix descriptor of a K-major operand tile stored with the
// 128-byte swizzle: rows of 64 16-bit values (128 bytes), 16-byte chunk c of
// row r at r * 128 + ((c ^ (r % 8)) * 16), the tile 1024-byte aligned. Bits:
// 0-13 start address / 16, 16-29 leading-dimension offset / 16 (unused by
// swizzled K-major layouts: 1), 32-45 stride between 8-row groups / 16
// (1024 bytes), 62-63 swizzle mode (1: 128 bytes). The k16 step j of the
// tile starts 32 * j bytes in: the hardware applies the swizzle to the
// address it forms, so the start moves by the unswizzled offset.
__device__ __forceinline__ uint64_t sw128_desc(uint32_t smem_address) {
  return static_cast<uint64_t>((smem_address & 0x3FFFF) >> 4) | (uint64_t{1} << 16) | (uint64_t{1024 >> 4} << 32) |
         (uint64_t{1} << 62);
}

// The descriptor of the same tile `bytes` (a multiple of 16) further on: an
// add to the start-address field, which cannot carry out of its 14 bits as
// shared memory ends below 256 KiB. A compile-time `bytes` makes it one
// uniform add, where building each k16 step's descriptor from its address
// costs a mask, a shift and ors per wgmma (docs/perf-notes.md run 38).
__device__ __forceinline__ uint64_t sw128_desc_at(uint64_t desc, uint32_t bytes) { return desc + (bytes >> 4); }

// The instruction for one shape ("m64n128k16") and element type ("f16",
// "bf16"): DREGS names the accumulator operands %0..%(R-1) (R = N / 2),
// A, B and the scale-d predicate (1: add to D, 0: overwrite it) follow them
// as %R..%(R+3), %(R+4), %(R+5).
#define MARLIN_WGMMA(SHAPE, TYPE, DREGS, AREGS, BREG, PREG, ...)                                       \
  asm volatile(                                                                                        \
      "{\n"                                                                                            \
      "  .reg .pred p;\n"                                                                              \
      "  setp.ne.b32 p, " PREG                                                                         \
      ", 0;\n"                                                                                         \
      "  wgmma.mma_async.sync.aligned." SHAPE ".f32." TYPE "." TYPE " {" DREGS "}, {" AREGS "}, " BREG \
      ", p, 1, 1, 0;\n"                                                                                \
      "}\n"                                                                                            \
      : __VA_ARGS__                                                                                    \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "n"(ACCUMULATE ? 1 : 0))

#define MARLIN_R0_15 "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15"
#define MARLIN_R16_31 "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31"
#define MARLIN_R32_47 "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47"
#define MARLIN_R48_63 "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63"
#define MARLIN_D4(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define MARLIN_D16(i) MARLIN_D4(i), MARLIN_D4(i + 4), MARLIN_D4(i + 8), MARLIN_D4(i + 12)
// MARLIN_WGMMA in run's element type (its BF16 parameter): the type is part
// of the instruction's text, so each shape holds both strings.
#define MARLIN_WGMMA_TYPED(SHAPE, ...)        \
  if constexpr (BF16) {                       \
    MARLIN_WGMMA(SHAPE, "bf16", __VA_ARGS__); \
  } else {                                    \
    MARLIN_WGMMA(SHAPE, "f16", __VA_ARGS__);  \
  }

// MmaAsync<N> for the family's tile heights (batch rows per block): 32, 48,
// 64, 96 and 128.
template <int N>
struct MmaAsync;

template <>
struct MmaAsync<128> {
  template <bool BF16, bool ACCUMULATE = true>
  static __device__ __forceinline__ void run(float (&d)[64], const uint32_t (&a)[4], uint64_t b) {
    MARLIN_WGMMA_TYPED("m64n128k16", MARLIN_R0_15 "," MARLIN_R16_31 "," MARLIN_R32_47 "," MARLIN_R48_63,
                       "%64,%65,%66,%67", "%68", "%69", MARLIN_D16(0), MARLIN_D16(16), MARLIN_D16(32), MARLIN_D16(48))
  }
};

template <>
struct MmaAsync<96> {
  template <bool BF16, bool ACCUMULATE = true>
  static __device__ __forceinline__ void run(float (&d)[48], const uint32_t (&a)[4], uint64_t b) {
    MARLIN_WGMMA_TYPED("m64n96k16", MARLIN_R0_15 "," MARLIN_R16_31 "," MARLIN_R32_47, "%48,%49,%50,%51", "%52", "%53",
                       MARLIN_D16(0), MARLIN_D16(16), MARLIN_D16(32))
  }
};

template <>
struct MmaAsync<64> {
  template <bool BF16, bool ACCUMULATE = true>
  static __device__ __forceinline__ void run(float (&d)[32], const uint32_t (&a)[4], uint64_t b) {
    MARLIN_WGMMA_TYPED("m64n64k16", MARLIN_R0_15 "," MARLIN_R16_31, "%32,%33,%34,%35", "%36", "%37", MARLIN_D16(0),
                       MARLIN_D16(16))
  }
};

template <>
struct MmaAsync<48> {
  template <bool BF16, bool ACCUMULATE = true>
  static __device__ __forceinline__ void run(float (&d)[24], const uint32_t (&a)[4], uint64_t b) {
    MARLIN_WGMMA_TYPED("m64n48k16", MARLIN_R0_15 ",%16,%17,%18,%19,%20,%21,%22,%23", "%24,%25,%26,%27", "%28", "%29",
                       MARLIN_D16(0), MARLIN_D4(16), MARLIN_D4(20))
  }
};

template <>
struct MmaAsync<32> {
  template <bool BF16, bool ACCUMULATE = true>
  static __device__ __forceinline__ void run(float (&d)[16], const uint32_t (&a)[4], uint64_t b) {
    MARLIN_WGMMA_TYPED("m64n32k16", MARLIN_R0_15, "%16,%17,%18,%19", "%20", "%21", MARLIN_D16(0))
  }
};

#undef MARLIN_WGMMA_TYPED
#undef MARLIN_D16
#undef MARLIN_D4
#undef MARLIN_R48_63
#undef MARLIN_R32_47
#undef MARLIN_R16_31
#undef MARLIN_R0_15
#undef MARLIN_WGMMA

}  // namespace marlin::wg::ptx
