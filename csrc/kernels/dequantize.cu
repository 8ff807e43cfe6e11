// Inverse of the Marlin layout on the GPU, for every format: one thread per
// output value (a check and baseline path, not a hot one), and the act-order
// gather of activation columns.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "common/act.cuh"
#include "common/launch.cuh"
#include "common/ptx.cuh"
#include "dequantize.h"
#include "gemm.h"
#include "launch_options.h"
#include "packing.h"

namespace marlin {
namespace {

template <Act A, class T = typename ActTraits<A>::Scalar>
__global__ void dequantize_kernel(const uint32_t* __restrict__ b, const T* __restrict__ scales,
                                  const uint32_t* __restrict__ zeros, const int* __restrict__ rows, T* __restrict__ out,
                                  int k, int n, int out_rows, int bits, int group_size, bool has_zeros) {
  const int64_t total = static_cast<int64_t>(k) * n;
  const int zero_words = n / 4;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int row = static_cast<int>(i / n);
    const int col = static_cast<int>(i % n);
    const int out_row = rows ? rows[row] : row;
    if (out_row < 0 || out_row >= out_rows) continue;  // padding (or a row map entry out of range)
    int64_t word = 0;
    int shift = 0;
    packing::weight_position(row, col, n, bits, &word, &shift);
    const uint32_t mask = (1u << bits) - 1;
    const int q = static_cast<int>((b[word] >> shift) & mask);
    const int group = group_size < 0 ? 0 : row / group_size;
    int z = 1 << (bits - 1);
    if (has_zeros) {
      int zw = 0;
      int zs = 0;
      packing::zero_position(col, &zw, &zs);
      z = static_cast<int>((zeros[static_cast<int64_t>(group) * zero_words + zw] >> zs) & 0xffu);
    }
    const float s =
        ActTraits<A>::to_float(scales[static_cast<int64_t>(group) * n + packing::scale_position(col, group_size)]);
    // (q - z) * s is exact in FP32 (at most 8 + 11 significant bits): one rounding.
    out[static_cast<int64_t>(out_row) * n + col] = ActTraits<A>::from_float(static_cast<float>(q - z) * s);
  }
}

// Each thread writes 8 consecutive output columns of one row (one 16-byte store).
// Launched under PDL where the GEMMs are (sm_90+): it waits for the kernel
// before it (which may write `in`, or still read `out`, the stream's gather
// buffer, as a GEMM's activations) before it touches memory.
__global__ void gather_kernel(const uint16_t* __restrict__ in, const int* __restrict__ columns, uint4* __restrict__ out,
                              int m, int k_in, int k_out) {
  ptx::grid_dependency_wait();
  ptx::allow_dependents_launch();
  const int chunks = k_out / 8;
  const int64_t total = static_cast<int64_t>(m) * chunks;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / chunks;
    const int chunk = static_cast<int>(i % chunks);
    const uint16_t* const src = in + row * k_in;
    uint16_t v[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const int c = __ldg(columns + chunk * 8 + e);
      v[e] = c >= 0 && c < k_in ? src[c] : 0;  // -1: padding (and nothing outside the row is read)
    }
    out[i] = make_uint4(v[0] | (uint32_t{v[1]} << 16), v[2] | (uint32_t{v[3]} << 16), v[4] | (uint32_t{v[5]} << 16),
                        v[6] | (uint32_t{v[7]} << 16));
  }
}

// The gather with x's row staged in shared memory, where the row is short
// enough (kStagedMaxBytes) and 16-byte aligned (k_in % 8 == 0), for up to
// kStagedMaxRows rows. Block (p, r) writes output chunks 256 p .. 256 p + 255
// (8 columns each, one per thread) of row r: it copies the whole row into
// shared memory with 16-byte loads, its threads' 8 column indices with two
// more, and gathers from shared memory. Against gather_kernel: the indices
// and the row travel together (one trip to memory before the gather instead
// of an index trip, then a value trip), and the scattered 2-byte reads hit
// shared memory instead of a 32-byte L2 sector each.
constexpr int kStagedThreads = 256;
constexpr int kStagedMaxBytes = 48 * 1024;  // the default dynamic shared-memory limit: no opt-in call
constexpr int kStagedMaxRows = 64;          // a grid row per row of x

__global__ void gather_staged_kernel(const uint4* __restrict__ in, const int4* __restrict__ columns,
                                     uint4* __restrict__ out, int k_in, int k_out) {
  extern __shared__ uint4 staged_row[];
  ptx::grid_dependency_wait();
  ptx::allow_dependents_launch();
  const int in_chunks = k_in / 8;
  const int out_chunks = k_out / 8;
  const int chunk = blockIdx.x * kStagedThreads + threadIdx.x;
  const int64_t r = blockIdx.y;
  int c[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  if (chunk < out_chunks) {
    const int4 lo = __ldg(columns + 2 * chunk);
    const int4 hi = __ldg(columns + 2 * chunk + 1);
    c[0] = lo.x, c[1] = lo.y, c[2] = lo.z, c[3] = lo.w, c[4] = hi.x, c[5] = hi.y, c[6] = hi.z, c[7] = hi.w;
  }
  const uint4* const src = in + r * in_chunks;
  for (int i = threadIdx.x; i < in_chunks; i += kStagedThreads) staged_row[i] = src[i];
  __syncthreads();
  if (chunk >= out_chunks) return;
  const auto* row = reinterpret_cast<const uint16_t*>(staged_row);
  uint16_t v[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) v[e] = c[e] >= 0 && c[e] < k_in ? row[c[e]] : 0;  // -1: padding
  out[r * out_chunks + chunk] = make_uint4(v[0] | (uint32_t{v[1]} << 16), v[2] | (uint32_t{v[3]} << 16),
                                           v[4] | (uint32_t{v[5]} << 16), v[6] | (uint32_t{v[7]} << 16));
}

unsigned grid_for(int64_t items, int threads) {
  const int64_t blocks = (items + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

}  // namespace

cudaError_t dequantize_weights(const void* b, const void* scales, const void* zeros, const int* rows, void* out, int k,
                               int n, int out_rows, const Format& format, cudaStream_t stream) {
  const int threads = 256;
  const unsigned grid = grid_for(static_cast<int64_t>(k) * n, threads);
  const auto* w = static_cast<const uint32_t*>(b);
  const auto* z = static_cast<const uint32_t*>(zeros);
  if (format.act == Act::kF16)
    dequantize_kernel<Act::kF16><<<grid, threads, 0, stream>>>(w, static_cast<const __half*>(scales), z, rows,
                                                               static_cast<__half*>(out), k, n, out_rows, format.bits,
                                                               format.group_size, format.zero_points);
  else
    dequantize_kernel<Act::kBF16><<<grid, threads, 0, stream>>>(w, static_cast<const __nv_bfloat16*>(scales), z, rows,
                                                                static_cast<__nv_bfloat16*>(out), k, n, out_rows,
                                                                format.bits, format.group_size, format.zero_points);
  return cudaGetLastError();
}

cudaError_t gather_columns(const void* in, const int* columns, void* out, int m, int k_in, int k_out,
                           cudaStream_t stream) {
  if (m == 0) return cudaSuccess;
  const int threads = 256;
  // Under PDL where the code that runs is sm_90+ code (a build without sm_90
  // runs compute_89 PTX on an H100, whose grid_dependency_wait() is empty),
  // as the GEMM after it is: its launch overlaps the previous kernel's tail
  // instead of waiting for the stream to drain.
  Target target;
  int device = 0;
  const cudaError_t e = current_target(&target, &device);
  if (e != cudaSuccess) return e;
  const bool programmatic = code_arch(target.arch) >= 90 && programmatic_launch();
  // Staged up to 64 rows, the batches it was measured at (run 24): each block
  // reads its whole row for 2048 output columns, a row's parts read it again.
  if (m <= kStagedMaxRows && k_in % 8 == 0 && k_in <= kStagedMaxBytes / 2 && k_out >= 8 &&
      reinterpret_cast<std::uintptr_t>(in) % 16 == 0 && reinterpret_cast<std::uintptr_t>(columns) % 16 == 0) {
    const int staged_bytes = k_in * 2;
    const unsigned parts = static_cast<unsigned>((k_out / 8 + kStagedThreads - 1) / kStagedThreads);
    return launch_with(gather_staged_kernel, dim3(parts, static_cast<unsigned>(m)), kStagedThreads, staged_bytes,
                       stream, programmatic, 1, StreamingWindow{}, static_cast<const uint4*>(in),
                       reinterpret_cast<const int4*>(columns), static_cast<uint4*>(out), k_in, k_out);
  }
  return launch_with(gather_kernel, dim3(grid_for(static_cast<int64_t>(m) * (k_out / 8), threads)), threads, 0, stream,
                     programmatic, 1, StreamingWindow{}, static_cast<const uint16_t*>(in), columns,
                     static_cast<uint4*>(out), m, k_in, k_out);
}

}  // namespace marlin
