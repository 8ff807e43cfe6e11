// Host API of the MARLIN GEMM: plain C++ with the CUDA runtime, no Node.
//
// gemm() checks every argument, splits m into launches and returns a status;
// it never throws, exits or aborts. The current CUDA device must be the one
// that holds the buffers.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace marlin {

enum class Status : int {
  kOk = 0,
  kBadShape = 1,           // m, n or k outside what the kernel supports
  kBadGroupSize = 2,       // group size other than 128 or -1
  kNoVariant = 3,          // no compiled kernel for the requested tile
  kMisaligned = 4,         // a matrix pointer is not 16-byte aligned
  kNullPointer = 5,        // a required pointer is null
  kWorkspaceTooSmall = 6,  // smaller than workspace_bytes(n, max_par, SM count)
  kBadLaunch = 7,          // max_par or stages out of range
  kCudaError = 8,          // the CUDA runtime failed; see the cudaError_t
};

// A short constant description of a status ("k must be a multiple of 128").
const char* status_message(Status status);

// Shape rules, in one place for the launcher and its callers.
constexpr int kKMultiple = 128;  // k: whole 128-deep stages (and scale groups)
constexpr int kNMultiple = 64;   // n: whole 64-column units of the Marlin layout
constexpr int kGroupSize = 128;  // the one supported scale group (or -1)
constexpr int kRowsPerProblem = 64;  // rows per parallel problem when m > 64

struct GemmArgs {
  const void* a = nullptr;       // [m, k] FP16, row-major
  const void* b = nullptr;       // [k / 16, 2 n] int32, Marlin layout
  const void* scales = nullptr;  // [k / 128, n] or [1, n] FP16, Marlin order
  void* c = nullptr;             // [m, n] FP16, row-major; fully overwritten
  void* workspace = nullptr;     // workspace_bytes() bytes, zeroed; its counters are zero again on return
  std::size_t workspace_bytes = 0;
  int m = 0;
  int n = 0;
  int k = 0;
  int group_size = kGroupSize;  // 128, or -1 for one scale per output column
  int tile_k = 128;             // block tile: one of variants()
  int tile_n = 128;
  int sms = 0;                  // blocks per launch; <= 0: every SM of the device
  int max_par = 16;             // 64-row problems per launch when m > 64
  int stages = 0;               // pipeline depth; 0: the deepest that fits the device
};

// Bytes of workspace a call needs: one int32 counter per (64-row problem,
// column slice) for this n and max_par, then one partial-sum slot (64 KiB)
// per SM of the device. Calls on one stream may share a workspace.
std::size_t workspace_bytes(int n, int max_par, int sm_count);

// Runs C = A * dequant(B) on `stream`. On kCudaError, *cuda_error (if given)
// holds the runtime's error code.
Status gemm(const GemmArgs& args, cudaStream_t stream, cudaError_t* cuda_error = nullptr);

// The compiled variants, for callers that choose tiles (and for tests).
struct VariantInfo {
  int m_blocks;
  int tile_k;
  int tile_n;
  int group_size;   // 128 or -1
  int stages;       // cp.async pipeline depth
  int smem_bytes;
};
int variant_count();
VariantInfo variant_info(int index);

// cudaSuccess if this build holds code the current device can run
// (cudaErrorNoKernelImageForDevice if it was built for other GPUs).
cudaError_t check_kernel_image();

}  // namespace marlin
