// Host launcher: argument checks, the split of m into launches, and dispatch
// to the compiled variants (the table is expanded from variants.h).
#include "gemm.h"

#include <atomic>
#include <cstdint>

#include "variants.h"

namespace marlin {
namespace {

using LaunchFn = cudaError_t (*)(const KernelArgs&, int, int, cudaStream_t);
using AttributesFn = cudaError_t (*)(cudaFuncAttributes*);

struct Variant {
  VariantInfo info;
  LaunchFn launch;
  AttributesFn attributes;
};

#define MARLIN_TABLE_ROW(M, TK, TN, G, S)                                                          \
  {{M, TK, TN, (G) < 0 ? -1 : (G) * 16, S, TileOf<M, TK, TN, G, S>::kSmemBytes},                   \
   &launch_tile<TileOf<M, TK, TN, G, S>>, &tile_attributes<TileOf<M, TK, TN, G, S>>},
constexpr Variant kVariants[] = {MARLIN_FOR_EACH_VARIANT(MARLIN_TABLE_ROW)};
#undef MARLIN_TABLE_ROW
constexpr int kVariantCount = static_cast<int>(sizeof(kVariants) / sizeof(kVariants[0]));

// The variant of this shape with `stages` pipeline stages (0: the deepest
// one) whose shared memory fits `smem_limit` (the device's opt-in maximum).
const Variant* find_variant(int m_blocks, int tile_k, int tile_n, int group_size, int stages, int smem_limit) {
  const Variant* best = nullptr;
  for (const Variant& v : kVariants)
    if (v.info.m_blocks == m_blocks && v.info.tile_k == tile_k && v.info.tile_n == tile_n &&
        v.info.group_size == group_size && v.info.smem_bytes <= smem_limit &&
        (stages == 0 || v.info.stages == stages) && (!best || v.info.stages > best->info.stages))
      best = &v;
  return best;
}

bool tile_exists(int tile_k, int tile_n, int group_size) {
  for (const Variant& v : kVariants)
    if (v.info.tile_k == tile_k && v.info.tile_n == tile_n && v.info.group_size == group_size) return true;
  return false;
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// A device attribute, cached: each query is a driver call, and these sit on
// the launch path. Slot 0: SM count; 1: shared memory per block (opt-in).
cudaError_t device_attribute(int device, int slot, int* value) {
  static std::atomic<int> cache[2][64] = {};
  static constexpr cudaDeviceAttr kAttrs[2] = {cudaDevAttrMultiProcessorCount,
                                               cudaDevAttrMaxSharedMemoryPerBlockOptin};
  const bool cacheable = device >= 0 && device < 64;
  if (cacheable) {
    *value = cache[slot][device].load(std::memory_order_relaxed);
    if (*value > 0) return cudaSuccess;
  }
  const cudaError_t e = cudaDeviceGetAttribute(value, kAttrs[slot], device);
  if (e == cudaSuccess && cacheable) cache[slot][device].store(*value, std::memory_order_relaxed);
  return e;
}

std::size_t counter_bytes(int n, int max_par) {
  // One counter per (problem, column slice); 128 columns is the narrowest
  // tile. Rounded up to 16 bytes so the partial slots stay aligned.
  const std::size_t ints = static_cast<std::size_t>(max_par) * static_cast<std::size_t>((n + 127) / 128);
  return (ints * 4 + 15) / 16 * 16;
}

}  // namespace

const char* status_message(Status status) {
  switch (status) {
    case Status::kOk: return "ok";
    case Status::kBadShape: return "m must be >= 0, n a positive multiple of 64 and k a positive multiple of 128";
    case Status::kBadGroupSize: return "group size must be 128 or -1 (per output column)";
    case Status::kNoVariant: return "no compiled kernel variant for this tile (or none fits the device's shared memory)";
    case Status::kMisaligned: return "A, B, scales, C and the workspace must be 16-byte aligned";
    case Status::kNullPointer: return "A, B, scales, C and the workspace must not be null";
    case Status::kWorkspaceTooSmall: return "workspace is smaller than workspace_bytes(n, max_par, SM count)";
    case Status::kBadLaunch: return "max_par must be in 1..64 and stages >= 0";
    case Status::kCudaError: return "CUDA runtime error";
  }
  return "unknown status";
}

std::size_t workspace_bytes(int n, int max_par, int sm_count) {
  if (n <= 0 || max_par <= 0 || sm_count <= 0) return 0;
  return counter_bytes(n, max_par) +
         static_cast<std::size_t>(sm_count) * kPartialSlotFloats * sizeof(float);
}

int variant_count() { return kVariantCount; }

cudaError_t check_kernel_image() {
  cudaFuncAttributes attributes{};
  return kVariants[0].attributes(&attributes);
}

VariantInfo variant_info(int index) {
  if (index < 0 || index >= kVariantCount) return VariantInfo{0, 0, 0, 0, 0};
  return kVariants[index].info;
}

Status gemm(const GemmArgs& args, cudaStream_t stream, cudaError_t* cuda_error) {
  if (cuda_error) *cuda_error = cudaSuccess;
  if (args.m < 0 || args.n <= 0 || args.k <= 0 || args.n % kNMultiple != 0 || args.k % kKMultiple != 0)
    return Status::kBadShape;
  if (args.group_size != kGroupSize && args.group_size != -1) return Status::kBadGroupSize;
  if (args.max_par < 1 || args.max_par > 64 || args.stages < 0) return Status::kBadLaunch;
  if (!tile_exists(args.tile_k, args.tile_n, args.group_size)) return Status::kNoVariant;
  if (!args.a || !args.b || !args.scales || !args.c || !args.workspace) return Status::kNullPointer;
  if (!aligned16(args.a) || !aligned16(args.b) || !aligned16(args.scales) || !aligned16(args.c) ||
      !aligned16(args.workspace))
    return Status::kMisaligned;

  auto fail = [&](cudaError_t e) {
    if (cuda_error) *cuda_error = e;
    return Status::kCudaError;
  };
  int device = 0;
  int sm_count = 0;
  int smem_limit = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e == cudaSuccess) e = device_attribute(device, 0, &sm_count);
  if (e == cudaSuccess) e = device_attribute(device, 1, &smem_limit);
  if (e != cudaSuccess) return fail(e);
  if (args.workspace_bytes < workspace_bytes(args.n, args.max_par, sm_count)) return Status::kWorkspaceTooSmall;
  if (args.m == 0) return Status::kOk;
  // Blocks of one launch wait on each other through the locks, so all of
  // them must be resident at once: never more blocks than SMs.
  const int sms = args.sms > 0 && args.sms < sm_count ? args.sms : sm_count;

  const auto* a = static_cast<const int4*>(args.a);
  auto* c = static_cast<int4*>(args.c);
  for (int row = 0; row < args.m;) {
    const int left = args.m - row;
    // Up to 64 rows: one problem with just enough 16-row blocks. Beyond:
    // up to max_par 64-row problems side by side, the last one partial.
    const int m_blocks = left > kRowsPerProblem ? kRowsPerProblem / 16 : (left + 15) / 16;
    const int rows = left > kRowsPerProblem ? (left < kRowsPerProblem * args.max_par ? left : kRowsPerProblem * args.max_par) : left;
    const Variant* v = find_variant(m_blocks, args.tile_k, args.tile_n, args.group_size, args.stages, smem_limit);
    if (!v) return Status::kNoVariant;

    const int problems = (rows + 16 * m_blocks - 1) / (16 * m_blocks);
    const int tiles = problems * ((args.n + args.tile_n - 1) / args.tile_n) * (args.k / args.tile_k);
    const int grid = tiles < sms ? tiles : sms;
    auto* locks = static_cast<int*>(args.workspace);
    KernelArgs ka{a + static_cast<std::int64_t>(row) * (args.k / 8),
                  static_cast<const int4*>(args.b),
                  static_cast<const int4*>(args.scales),
                  c + static_cast<std::int64_t>(row) * (args.n / 8),
                  locks,
                  reinterpret_cast<float4*>(static_cast<char*>(args.workspace) + counter_bytes(args.n, args.max_par)),
                  rows,
                  args.n,
                  args.k};
    e = v->launch(ka, grid, device, stream);
    if (e != cudaSuccess) return fail(e);
    row += rows;
  }
  return Status::kOk;
}

}  // namespace marlin
