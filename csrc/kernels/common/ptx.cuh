// Thin wrappers over the PTX instructions the GEMM is built from. Each one is
// inline asm because the compiler either has no intrinsic for it or does not
// reliably pick the instruction we need (lop3, predicated cp.async).
#pragma once

#include <cuda_fp16.h>
#include <cstdint>

namespace marlin::ptx {

__device__ __forceinline__ uint32_t smem_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte asynchronous global->shared copy that bypasses L1 (.cg): weights are
// used exactly once per block, and activations are re-read from L2 by other
// blocks, never by this one. With `pred` false nothing is issued, so callers
// can guard out-of-range rows and columns without branching around the asm.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool pred) {
  asm volatile(
      "{\n"
      "  .reg .pred p;\n"
      "  setp.ne.b32 p, %0, 0;\n"
      "  @p cp.async.cg.shared.global [%1], [%2], 16;\n"
      "}\n" ::"r"(static_cast<int>(pred)),
      "r"(smem_address(smem)), "l"(gmem));
}

// The same copy with an L2 eviction-priority hint (`policy` from
// make_evict_first_policy); see MARLIN_EVICT_FIRST in gemm_kernel.cuh.
__device__ __forceinline__ void cp_async16_hint(void* smem, const void* gmem, bool pred, uint64_t policy) {
  asm volatile(
      "{\n"
      "  .reg .pred p;\n"
      "  setp.ne.b32 p, %0, 0;\n"
      "  @p cp.async.cg.shared.global.L2::cache_hint [%1], [%2], 16, %3;\n"
      "}\n" ::"r"(static_cast<int>(pred)),
      "r"(smem_address(smem)), "l"(gmem), "l"(policy));
}

__device__ __forceinline__ uint64_t make_evict_first_policy() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}

// Programmatic dependent launch (sm_90+). A kernel launched with the
// programmatic-serialization attribute may start while the kernel before it
// in the stream is still finishing; grid_dependency_wait() blocks until that
// kernel has completed and its writes are visible, so nothing before it may
// touch memory that kernel may write (the GEMMs read their layer's data
// before it: mma/kernel.cuh says why that is safe). Launched without the
// attribute (or before sm_90) both are no-ops. allow_dependents_launch()
// lets the next kernel start launching now; it still waits in
// grid_dependency_wait().
__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void allow_dependents_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Closes the current group of cp.async copies; wait_group counts these groups.
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

// Blocks until at most N committed groups of this thread are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Loads four 8x8 b16 matrices from shared memory straight into the register
// layout of an m16n8k16 A operand; lane l supplies the address of row l%8 of
// matrix l/8.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(smem)));
}

// d = a(16x16, row) * b(16x8, col) + d on the tensor cores; FP16 in, FP32 accumulate.
__device__ __forceinline__ void mma_m16n8k16_f16(const uint32_t (&a)[4], const uint32_t (&b)[2], float (&d)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// The same with BF16 operands (sm_80 and newer).
__device__ __forceinline__ void mma_m16n8k16_bf16(const uint32_t (&a)[4], const uint32_t (&b)[2], float (&d)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Byte permute: byte i of the result is byte SEL.nibble(i) of the 8-byte
// value {hi:lo} (0-3 from lo, 4-7 from hi). One instruction that spreads a
// packed zero point into both halves of a register, next to a constant.
template <uint32_t SEL>
__device__ __forceinline__ uint32_t prmt(uint32_t lo, uint32_t hi) {
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;\n" : "=r"(d) : "r"(lo), "r"(hi), "n"(SEL));
  return d;
}

// The same with a selector known only at run time.
__device__ __forceinline__ uint32_t prmt(uint32_t lo, uint32_t hi, uint32_t sel) {
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;\n" : "=r"(d) : "r"(lo), "r"(hi), "r"(sel));
  return d;
}

// Any three-input bitwise function in one instruction; LUT is the truth table
// over the operand masks a=0xf0, b=0xcc, c=0xaa.
template <int LUT>
__device__ __forceinline__ uint32_t lop3(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t d;
  asm volatile("lop3.b32 %0, %1, %2, %3, %4;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c), "n"(LUT));
  return d;
}

// GPU-scope acquire load: once a block sees the lock value it waits for, the
// partial sums published before the matching release are visible to it.
__device__ __forceinline__ int load_acquire(const int* p) {
  int v;
  asm volatile("ld.global.acquire.gpu.b32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// GPU-scope release increment that publishes this block's partial sums.
__device__ __forceinline__ void red_add_release(int* p, int v) {
  asm volatile("red.release.gpu.global.add.s32 [%0], %1;\n" ::"l"(p), "r"(v) : "memory");
}

}  // namespace marlin::ptx
