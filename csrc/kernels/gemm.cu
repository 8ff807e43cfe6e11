// Host launcher: argument checks, the plan (chooser.cc), and the launches.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstdint>

#include "build_options.h"
#include "cache_policy.h"
#include "common/launch.cuh"
#include "kernel_table.h"
#include "launch_options.h"

namespace marlin {
namespace {

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// A device attribute, cached: each query is a driver call, and these sit on
// the launch path.
enum Slot { kSmCount, kSmemOptin, kMajor, kMinor, kMaxWindow, kMemoryClock, kBusWidth, kSlots };
cudaError_t device_attribute(int device, Slot slot, int* value) {
  static std::atomic<int> cache[kSlots][64] = {};
  static constexpr cudaDeviceAttr kAttrs[kSlots] = {
      cudaDevAttrMultiProcessorCount,    cudaDevAttrMaxSharedMemoryPerBlockOptin, cudaDevAttrComputeCapabilityMajor,
      cudaDevAttrComputeCapabilityMinor, cudaDevAttrMaxAccessPolicyWindowSize,    cudaDevAttrMemoryClockRate,
      cudaDevAttrGlobalMemoryBusWidth};
  // Stored as value + 1, so that 0 means "not queried yet" (a minor version
  // can be 0).
  const bool cacheable = device >= 0 && device < 64;
  if (cacheable) {
    const int cached = cache[slot][device].load(std::memory_order_relaxed);
    if (cached > 0) {
      *value = cached - 1;
      return cudaSuccess;
    }
  }
  const cudaError_t e = cudaDeviceGetAttribute(value, kAttrs[slot], device);
  if (e == cudaSuccess && cacheable) cache[slot][device].store(*value + 1, std::memory_order_relaxed);
  return e;
}

std::size_t partial_bytes(int sm_count) {
  return static_cast<std::size_t>(sm_count) * kPartialSlotsPerSm * kPartialSlotFloats * sizeof(float);
}

std::size_t counter_bytes(int n, int max_par, int sm_count) {
  // One counter per (problem, column slice), 128 columns being the narrowest
  // tile, and at least one per SM (a wgmma stream-k block's). Rounded up to
  // 16 bytes.
  const std::size_t ints = std::max(static_cast<std::size_t>(max_par) * static_cast<std::size_t>((n + 127) / 128),
                                    static_cast<std::size_t>(sm_count));
  return (ints * 4 + 15) / 16 * 16;
}

// -1: not read from the environment yet.
std::atomic<int> g_programmatic_launch{-1};
std::atomic<int> g_streaming_weights{-1};

// A launch setting: on unless the environment variable `name` is "0", read at the first use.
bool setting(std::atomic<int>& value, const char* name) {
  int on = value.load(std::memory_order_relaxed);
  if (on < 0) {
    const char* env = std::getenv(name);
    on = env && env[0] == '0' && env[1] == '\0' ? 0 : 1;
    value.store(on, std::memory_order_relaxed);
  }
  return on == 1;
}

}  // namespace

bool programmatic_launch() { return setting(g_programmatic_launch, "MARLIN_PDL"); }
void set_programmatic_launch(bool on) { g_programmatic_launch.store(on ? 1 : 0, std::memory_order_relaxed); }
bool streaming_weights() { return setting(g_streaming_weights, "MARLIN_L2_STREAMING"); }
void set_streaming_weights(bool on) { g_streaming_weights.store(on ? 1 : 0, std::memory_order_relaxed); }

const char* status_message(Status status) {
  switch (status) {
    case Status::kOk: return "ok";
    case Status::kBadShape: return "m must be >= 0, n a positive multiple of 64 and k a positive multiple of 128";
    case Status::kBadGroupSize: return "group size must be 32, 64, 128 or -1 (per output column), and divide k";
    case Status::kNoVariant: return "no compiled kernel variant for this tile and format fits the device";
    case Status::kMisaligned: return "A, B, scales, zero points, C and the workspace must be 16-byte aligned";
    case Status::kNullPointer:
      return "A, B, scales, C, the workspace (and zero points, when the format has them: scaled zero points for grouped "
             "formats) must not be null";
    case Status::kWorkspaceTooSmall: return "workspace is smaller than workspace_bytes(n, max_par, SM count)";
    case Status::kBadLaunch:
      return "max_par must be in 1..64, sms >= 0, a tile given as both tile_k and tile_n, stages 0 or the depth compiled for this GPU, a forced family mma, wgmma or decode (wgmma and decode without a tile, depth, block count or max_par), splits 0 to the table's maxSplits (wgmma only), and stream-k up to 64 rows, or above on FP16 4-bit grouped formats (wgmma only, not with splits)";
    case Status::kCudaError: return "CUDA runtime error";
    case Status::kBadFormat: return "weights must be 4 or 8 bits and activations float16 or bfloat16";
    case Status::kNoImage:
      return "this build holds no kernels for the GPU's architecture (rebuild with MARLIN_CUDA_ARCHS including it)";
  }
  return "unknown status";
}

std::size_t workspace_bytes(int n, int max_par, int sm_count) {
  if (n <= 0 || max_par <= 0 || sm_count <= 0) return 0;
  return partial_bytes(sm_count) + counter_bytes(n, max_par, sm_count);
}

cudaError_t current_target(Target* target, int* device) {
  int major = 0;
  int minor = 0;
  cudaError_t e = cudaGetDevice(device);
  if (e == cudaSuccess) e = device_attribute(*device, kSmCount, &target->sm_count);
  if (e == cudaSuccess) e = device_attribute(*device, kSmemOptin, &target->smem_optin);
  if (e == cudaSuccess) e = device_attribute(*device, kMajor, &major);
  if (e == cudaSuccess) e = device_attribute(*device, kMinor, &minor);
  target->arch = 10 * major + minor;
  // The memory's speed only tunes the family price: where the driver does
  // not report it, the price keeps the speeds it was fitted with.
  int clock_khz = 0;
  int bus_bits = 0;
  if (e == cudaSuccess && (device_attribute(*device, kMemoryClock, &clock_khz) != cudaSuccess ||
                           device_attribute(*device, kBusWidth, &bus_bits) != cudaSuccess)) {
    cudaGetLastError();  // not sticky
    clock_khz = 0;
  }
  target->memory_gbps = peak_memory_gbps(clock_khz, bus_bits);
  return e;
}

int sm_count(int device) {
  int count = 0;
  if (device_attribute(device, kSmCount, &count) == cudaSuccess) return count;
  cudaGetLastError();  // not sticky; the caller refuses the launch
  return 0;
}

std::size_t max_access_window(int device) {
  int bytes = 0;
  if (device_attribute(device, kMaxWindow, &bytes) == cudaSuccess)
    return bytes > 0 ? static_cast<std::size_t>(bytes) : 0;
  cudaGetLastError();  // not sticky; the launch goes on without a window
  return 0;
}

#define MARLIN_STR2(x) #x
#define MARLIN_STR(x) MARLIN_STR2(x)
const char* nvcc_version() {
  return MARLIN_STR(__CUDACC_VER_MAJOR__) "." MARLIN_STR(__CUDACC_VER_MINOR__) "." MARLIN_STR(__CUDACC_VER_BUILD__);
}
#undef MARLIN_STR
#undef MARLIN_STR2

int evict_first_option() { return MARLIN_EVICT_FIRST; }

cudaError_t prepare_evict_first(int device) {
  int major = 0;
  int minor = 0;
  cudaError_t e = device_attribute(device, kMajor, &major);
  if (e == cudaSuccess) e = device_attribute(device, kMinor, &minor);
  if (e != cudaSuccess) return e;
  const int arch = code_arch(10 * major + minor);
  for (const Variant& v : compiled_variants()) {
    if (v.evict_first && v.arch == arch) {
      std::uint64_t policy = 0;
      return evict_first_policy(device, &policy);
    }
  }
  return cudaSuccess;
}

cudaError_t check_kernel_image() {
  cudaFuncAttributes attributes{};
  const VariantSpan all = compiled_variants();
  if (all.size == 0) return cudaErrorNoKernelImageForDevice;
  return all.data[0].attributes(&attributes);
}

namespace {

using Launch = PlannedLaunch;

// Checks the arguments, plans, and calls visit(launch) for each launch of
// the call in order, stopping at the first that fails (returns a CUDA error).
template <class Visit>
Status for_each_launch(const GemmArgs& args, cudaError_t* cuda_error, Plan* used, Visit visit) {
  if (cuda_error) *cuda_error = cudaSuccess;
  if (args.m < 0) return Status::kBadShape;
  const Status problem = check_problem(args.n, args.k, args.format);
  if (problem != Status::kOk) return problem;
  // The zero points the kernels read (kernel_args.h).
  const void* const zeros = uses_scaled_zeros(args.format) ? args.scaled_zeros : args.zeros;
  if (!args.a || !args.b || !args.scales || !args.c || !args.workspace || (args.format.zero_points && !zeros))
    return Status::kNullPointer;
  if (!aligned16(args.a) || !aligned16(args.b) || !aligned16(args.scales) || !aligned16(args.c) ||
      !aligned16(args.workspace) || (args.format.zero_points && !aligned16(zeros)))
    return Status::kMisaligned;

  auto fail = [&](cudaError_t e) {
    if (cuda_error) *cuda_error = e;
    return Status::kCudaError;
  };
  Target target;
  int device = 0;
  cudaError_t e = current_target(&target, &device);
  if (e != cudaSuccess) return fail(e);
  Plan p;
  const Status planned = plan(args.m, args.n, args.k, args.format, target, args.overrides, &p);
  if (planned != Status::kOk) return planned;
  // The cache-policy descriptor, for kernels built with the evict-first hint
  // (made once per device; prepare_evict_first() makes it ahead of a capture).
  std::uint64_t policy = 0;
  if (((p.full && p.full->evict_first) || (p.tail && p.tail->evict_first)) &&
      (e = evict_first_policy(device, &policy)) != cudaSuccess)
    return fail(e);
  if (used) *used = p;
  if (args.workspace_bytes < workspace_bytes(args.n, p.max_par, target.sm_count)) return Status::kWorkspaceTooSmall;

  const int act_bytes = 2;  // FP16 and BF16
  const auto* a = static_cast<const char*>(args.a);
  auto* c = static_cast<char*>(args.c);
  // Partial-sum slots first, counters after them: the counters' place does
  // not depend on n or max_par, so calls of different shapes sharing a
  // workspace never read each other's partial sums as counters.
  auto* partials = static_cast<float4*>(args.workspace);
  auto* locks = reinterpret_cast<int*>(static_cast<char*>(args.workspace) + partial_bytes(target.sm_count));
  if (p.family == Family::kWgmma || p.family == Family::kDecode) {
    // One launch for every row (wgmma: two where the plan splits a last
    // partial wave's tiles apart); its blocks share nothing in the workspace
    // but in a wgmma stream-k launch (a partial slot and a counter each).
    if (args.m == 0) return Status::kOk;
    KernelArgs ka{static_cast<const int4*>(args.a),
                  static_cast<const int4*>(args.b),
                  static_cast<const int4*>(args.scales),
                  static_cast<const int4*>(zeros),
                  static_cast<int4*>(args.c),
                  locks,
                  partials,
                  policy,
                  args.m,
                  args.n,
                  args.k};
    if (p.family == Family::kWgmma && p.tail_tiles > 0) {
      ka.tiles = p.tiles - p.tail_tiles;
      if ((e = visit(Launch{p.full, ka, p.splits, device})) != cudaSuccess) return fail(e);
      ka.tile_first = ka.tiles;
      ka.tiles = p.tail_tiles;
      e = visit(Launch{p.full, ka, p.tail_splits, device});
      return e == cudaSuccess ? Status::kOk : fail(e);
    }
    // The launcher's grid argument: the stream-k launch's blocks, the
    // decode family's warps x splits, else the wgmma split count.
    ka.stream_k = p.stream_k ? 1 : 0;
    const int grid = p.stream_k ? p.blocks : p.family == Family::kDecode ? p.warps * p.splits : p.splits;
    e = visit(Launch{p.full, ka, grid, device});
    return e == cudaSuccess ? Status::kOk : fail(e);
  }
  for (int row = 0; row < args.m;) {
    int rows = 0;
    int m_blocks = 0;
    next_launch(args.m - row, p.max_par, &rows, &m_blocks);
    const Variant* v = m_blocks == table::kRowsPerProblem / 16 ? p.full : p.tail;
    const int problems = (rows + 16 * m_blocks - 1) / (16 * m_blocks);
    const int tiles = problems * ((args.n + p.tile_n - 1) / p.tile_n) * (args.k / p.tile_k);
    const Launch launch{v,
                        KernelArgs{reinterpret_cast<const int4*>(a +
                                                                 static_cast<std::int64_t>(row) * args.k * act_bytes),
                                   static_cast<const int4*>(args.b), static_cast<const int4*>(args.scales),
                                   static_cast<const int4*>(zeros),
                                   reinterpret_cast<int4*>(c + static_cast<std::int64_t>(row) * args.n * act_bytes),
                                   locks, partials, policy, rows, args.n, args.k},
                        tiles < p.blocks ? tiles : p.blocks, device};
    e = visit(launch);
    if (e != cudaSuccess) return fail(e);
    row += rows;
  }
  return Status::kOk;
}

}  // namespace

Status gemm(const GemmArgs& args, cudaStream_t stream, cudaError_t* cuda_error, Plan* used) {
  return for_each_launch(args, cuda_error, used,
                         [stream](const Launch& l) { return l.variant->launch(l.args, l.grid, l.device, stream); });
}

Status plan_launches(const GemmArgs& args, std::vector<PlannedLaunch>* out, cudaError_t* cuda_error) {
  out->clear();
  return for_each_launch(args, cuda_error, nullptr, [out](const Launch& l) {
    out->push_back(l);
    return cudaSuccess;
  });
}

cudaError_t launch_planned(const std::vector<PlannedLaunch>& launches, cudaStream_t stream) {
  for (const PlannedLaunch& l : launches)
    if (const cudaError_t e = l.variant->launch(l.args, l.grid, l.device, stream); e != cudaSuccess) return e;
  return cudaSuccess;
}

Status prepare_kernels(int max_m, int n, int k, const Format& format, const Overrides& overrides, int* failed_m,
                       cudaError_t* cuda_error) {
  if (cuda_error) *cuda_error = cudaSuccess;
  if (failed_m) *failed_m = 0;
  Target target;
  int device = 0;
  cudaError_t e = current_target(&target, &device);
  if (e != cudaSuccess) {
    if (cuda_error) *cuda_error = e;
    return Status::kCudaError;
  }
  Status first_failure = Status::kOk;
  // The variants prepared by this call (a plan's full and tail variants;
  // consecutive sizes mostly share them): past 16 a variant's prepare() is a
  // bit test anyway.
  const Variant* done[16] = {};
  int count = 0;
  for (int m = 1; m <= max_m; m = m < 128 ? m + 1 : (m + 16 <= max_m || m == max_m ? m + 16 : max_m)) {
    Plan p;
    const Status planned = plan(m, n, k, format, target, overrides, &p);
    if (planned != Status::kOk) {
      if (first_failure == Status::kOk) {
        first_failure = planned;
        if (failed_m) *failed_m = m;
      }
      continue;
    }
    for (const Variant* v : {p.full, p.tail}) {
      if (!v || std::find(done, done + count, v) != done + count) continue;
      if ((e = v->prepare(device)) != cudaSuccess) {
        if (cuda_error) *cuda_error = e;
        if (failed_m) *failed_m = m;
        return Status::kCudaError;
      }
      if (count < 16) done[count++] = v;
    }
  }
  return first_failure;
}

Status time_launches(const GemmArgs& args, cudaStream_t stream, int calls, bool whole, double* ns_per_call,
                     cudaError_t* cuda_error) {
  if (calls <= 0) return Status::kBadLaunch;
  if (whole) {
    Status status = gemm(args, stream, cuda_error);  // configures the kernels, outside the timing
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls && status == Status::kOk; i++) status = gemm(args, stream, cuda_error);
    *ns_per_call = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / calls;
    return status;
  }
  bool first = true;
  return for_each_launch(args, cuda_error, nullptr, [&](const Launch& l) {
    if (!first) return cudaSuccess;  // the first launch only
    first = false;
    cudaError_t e = l.variant->launch(l.args, l.grid, l.device, stream);  // configures the kernel, outside the timing
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls && e == cudaSuccess; i++) e = l.variant->launch(l.args, l.grid, l.device, stream);
    const auto end = std::chrono::steady_clock::now();
    *ns_per_call = std::chrono::duration<double, std::nano>(end - start).count() / calls;
    return e;
  });
}

}  // namespace marlin
