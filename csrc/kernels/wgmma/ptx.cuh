// The Hopper instructions of the wgmma family (sm_90a): warpgroup matrix
// multiply-accumulate with the A operand in registers and B described in
// shared memory, its fences, and the proxy fence that makes ordinary
// shared-memory writes visible to it.
//
// MmaAsync<N>::run issues D(64xN, FP32) += A(64x16) * B(16xN) for the
// warpgroup. A: warp w of the group holds rows 16w..16w+15 in the register
// layout of an m16n8k16 A operand (lane g = lane/4, t = lane%4: reg 0 row g,
// cols 2t,2t+1; reg 1 row g+8; reg 2 row g, cols 2t+8,2t+9; reg 3 row g+8).
// D: warp w, lane (g, t) holds d[4i + 0..1] = row 16w+g, cols 8i+2t, 8i+2t+1
// and d[4i + 2..3] = row 16w+g+8, same cols.
#pragma once

#include <cstdint>

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

// The instruction for one element type (f16 or bf16): the operand lists are
// one "+f" per accumulator, then A's four registers and B's descriptor.
#define MARLIN_WGMMA_M64N128K16(TYPE)                                                                               \
  asm volatile(                                                                                                     \
      "{\n"                                                                                                         \
      "  .reg .pred p;\n"                                                                                           \
      "  setp.ne.b32 p, %69, 0;\n"                                                                                  \
      "  wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE                                                \
      " {"                                                                                                          \
      "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"                                                      \
      "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,"                                            \
      "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"                                            \
      "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}"                                            \
      ", {%64,%65,%66,%67}, %68, p, 1, 1, 0;\n"                                                                     \
      "}\n"                                                                                                         \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), \
        "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),      \
        "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),     \
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]),     \
        "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),     \
        "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),     \
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),     \
        "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])                   \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "n"(1))

// Only N = 128 (the family's 128-row tile) is compiled; another tile height
// needs its own specialization.
template <int N>
struct MmaAsync;

template <>
struct MmaAsync<128> {
  template <bool BF16>
  static __device__ __forceinline__ void run(float (&d)[64], const uint32_t (&a)[4], uint64_t b) {
    if constexpr (BF16) {
      MARLIN_WGMMA_M64N128K16("bf16");
    } else {
      MARLIN_WGMMA_M64N128K16("f16");
    }
  }
};

#undef MARLIN_WGMMA_M64N128K16

}  // namespace marlin::wg::ptx
