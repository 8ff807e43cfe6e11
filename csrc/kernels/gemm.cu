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

#define MARLIN_TABLE_ROW(M, TK, TN, G)                                                             \
  {{M, TK, TN, (G) < 0 ? -1 : (G) * 16, TileOf<M, TK, TN, G>::kSmemBytes},                         \
   &launch_tile<TileOf<M, TK, TN, G>>, &tile_attributes<TileOf<M, TK, TN, G>>},
constexpr Variant kVariants[] = {MARLIN_FOR_EACH_VARIANT(MARLIN_TABLE_ROW)};
#undef MARLIN_TABLE_ROW
constexpr int kVariantCount = static_cast<int>(sizeof(kVariants) / sizeof(kVariants[0]));

const Variant* find_variant(int m_blocks, int tile_k, int tile_n, int group_size) {
  for (const Variant& v : kVariants)
    if (v.info.m_blocks == m_blocks && v.info.tile_k == tile_k && v.info.tile_n == tile_n &&
        v.info.group_size == group_size)
      return &v;
  return nullptr;
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// SM count of `device`, cached: attribute queries cost a driver call each.
cudaError_t sm_count_of(int device, int* count) {
  static std::atomic<int> cache[64] = {};
  if (device >= 0 && device < 64) {
    *count = cache[device].load(std::memory_order_relaxed);
    if (*count > 0) return cudaSuccess;
  }
  const cudaError_t e = cudaDeviceGetAttribute(count, cudaDevAttrMultiProcessorCount, device);
  if (e == cudaSuccess && device >= 0 && device < 64) cache[device].store(*count, std::memory_order_relaxed);
  return e;
}

}  // namespace

const char* status_message(Status status) {
  switch (status) {
    case Status::kOk: return "ok";
    case Status::kBadShape: return "m must be >= 0, n a positive multiple of 64 and k a positive multiple of 128";
    case Status::kBadGroupSize: return "group size must be 128 or -1 (per output column)";
    case Status::kNoVariant: return "no compiled kernel variant for this tile";
    case Status::kMisaligned: return "A, B, scales and C must be 16-byte aligned";
    case Status::kNullPointer: return "A, B, scales, C and the workspace must not be null";
    case Status::kWorkspaceTooSmall: return "workspace is smaller than workspace_ints(n, max_par)";
    case Status::kBadLaunch: return "max_par must be in 1..64";
    case Status::kCudaError: return "CUDA runtime error";
  }
  return "unknown status";
}

std::size_t workspace_ints(int n, int max_par) {
  if (n <= 0 || max_par <= 0) return 0;
  // One lock per (problem, column slice); 128 columns is the narrowest tile.
  return static_cast<std::size_t>(max_par) * static_cast<std::size_t>((n + 127) / 128);
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
  if (args.max_par < 1 || args.max_par > 64) return Status::kBadLaunch;
  if (!find_variant(1, args.tile_k, args.tile_n, args.group_size)) return Status::kNoVariant;
  if (!args.a || !args.b || !args.scales || !args.c || !args.workspace) return Status::kNullPointer;
  if (!aligned16(args.a) || !aligned16(args.b) || !aligned16(args.scales) || !aligned16(args.c))
    return Status::kMisaligned;
  if (args.workspace_ints < workspace_ints(args.n, args.max_par)) return Status::kWorkspaceTooSmall;
  if (args.m == 0) return Status::kOk;

  auto fail = [&](cudaError_t e) {
    if (cuda_error) *cuda_error = e;
    return Status::kCudaError;
  };
  int device = 0;
  int sm_count = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e == cudaSuccess) e = sm_count_of(device, &sm_count);
  if (e != cudaSuccess) return fail(e);
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
    const Variant* v = find_variant(m_blocks, args.tile_k, args.tile_n, args.group_size);
    if (!v) return Status::kNoVariant;

    const int problems = (rows + 16 * m_blocks - 1) / (16 * m_blocks);
    const int tiles = problems * ((args.n + args.tile_n - 1) / args.tile_n) * (args.k / args.tile_k);
    const int grid = tiles < sms ? tiles : sms;
    KernelArgs ka{a + static_cast<std::int64_t>(row) * (args.k / 8),
                  static_cast<const int4*>(args.b),
                  static_cast<const int4*>(args.scales),
                  c + static_cast<std::int64_t>(row) * (args.n / 8),
                  args.workspace,
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
