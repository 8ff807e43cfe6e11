// Host API of the GEMM: plain C++ with the CUDA runtime, no Node.
//
// plan() is the one place that chooses how a call runs (family, tile, row
// blocks, pipeline depth), a pure function of the problem, the GPU and the
// caller's overrides. gemm() checks every argument, plans, and launches; it
// never throws, exits or aborts. The current CUDA device must be the one
// that holds the buffers.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

#include "common/format.h"
#include "variant.h"

namespace marlin {

enum class Status : int {
  kOk = 0,
  kBadShape = 1,           // m, n or k outside what the kernel supports
  kBadGroupSize = 2,       // group size not in the table, or k not a multiple of it
  kNoVariant = 3,          // no compiled kernel for the requested tile, or none fits the GPU
  kMisaligned = 4,         // a matrix pointer is not 16-byte aligned
  kNullPointer = 5,        // a required pointer is null
  kWorkspaceTooSmall = 6,  // smaller than workspace_bytes(n, max_par, SM count)
  kBadLaunch = 7,          // max_par, sms or stages out of range
  kCudaError = 8,          // the CUDA runtime failed; see the cudaError_t
  kBadFormat = 9,          // weight bits or activation type not in this build
  kNoImage = 10,           // this build holds no kernels for the GPU's architecture
};

// A short constant description of a status ("k must be a multiple of 128").
const char* status_message(Status status);

// The GPU a plan is for: compute capability as 10 * major + minor (86), the
// shared memory a block may opt into, the number of SMs, and its memory's
// peak bandwidth in GB/s (peak_memory_gbps; 0: unknown), by which the family
// price (chooser.cc) scales the memory speeds it was fitted with and the
// decode family's `choose` entries bound the bandwidth per SM.
struct Target {
  int arch = 0;
  int smem_optin = 0;
  int sm_count = 0;
  int memory_gbps = 0;
};

// The peak bandwidth in GB/s of a memory of this clock (kHz, as the driver
// reports it) and bus width (bits): two transfers per clock, rounded; 0
// where either is unknown (0 or less). An H100 SXM: 2619000 kHz x 5120 bits,
// 3352 GB/s.
int peak_memory_gbps(int memory_clock_khz, int bus_width_bits);

// What the caller forces; 0 leaves the choice to plan().
struct Overrides {
  int tile_k = 0;
  int tile_n = 0;
  int stages = 0;    // must equal the compiled depth for the GPU (one per architecture)
  int sms = 0;       // blocks per launch, at most the SM count (blocks wait on each other)
  int max_par = 16;  // 64-row problems per launch when m > 64
  // -1: the chooser's family; else a Family. A tile, depth, block count or
  // max_par other than 16 (the mma family's options) also means kMma.
  // Forced, kDecode takes up to its tallest tile's rows (table::kDecodeRows).
  int family = -1;
  // wgmma family: k splits per output tile (1 to the table's maxSplits);
  // 0: the chooser's. Setting it means the wgmma family.
  int splits = 0;
  // wgmma family, tiles that have it (Variant::stream_k): 1 forces a
  // stream-k launch (implies the family), 0 keeps to split counts, -1: the
  // chooser's.
  int stream_k = -1;
};

// How a call of m rows runs. The wgmma family: all rows in one launch of
// `tiles` output tiles (column tiles x row tiles of 32, 48, 64, 96 or 128) x `splits`
// blocks, variant `full`, or in two where the chooser splits a last partial
// wave apart: tiles - tail_tiles unsplit, then tail_tiles x tail_splits; the
// splits of an output tile reduce through a thread block cluster; or, with
// stream_k, one launch of `blocks` blocks (at most one per SM) that share
// the tiles' k evenly and reduce through the workspace. The
// decode family: one launch of `blocks` blocks (64-column strips x k splits)
// of `warps` warps for all rows (at most its tile height), variant `full`;
// a strip's splits reduce through a cluster. The mma
// family: rows go in launches of up to 64 * max_par:
// while more than 64 rows are left, 64-row problems side by side (the last
// one partial); then a last launch of the 64 rows or fewer that remain, with
// just enough 16-row blocks. `full` runs the launches of 4 row blocks,
// `tail` one of fewer (next_launch() says which).
struct Plan {
  Family family = Family::kMma;
  int tile_k = 0;
  int tile_n = 0;
  int stages = 0;
  int code_arch = 0;                // architecture whose machine code (or PTX) runs on the GPU
  // Thread blocks per launch (mma: at most, one per SM; wgmma: of both
  // launches, or the stream-k launch's).
  int blocks = 0;
  int max_par = 0;
  int splits = 1;  // wgmma, decode: k splits per output tile (the cluster size)
  // wgmma: output tiles of the call (column tiles x row tiles); the last
  // tail_tiles of them (a partial wave) run in a second launch, split
  // tail_splits ways, the first runs the whole waves before them.
  int tiles = 0;
  int tail_tiles = 0;
  int tail_splits = 1;
  // wgmma: one stream-k launch of `blocks` blocks sharing every tile's k
  // (wgmma/kernel.cuh stream_k_tiles); splits 1, no tail.
  bool stream_k = false;
  int warps = 0;  // decode: warps per block, each a share of the strip's k
  int launches = 0;
  // mma: `full` has 4 row blocks (launches of 64 rows or more), `tail` fewer
  // (a last launch of fewer than 64 rows); wgmma, decode: `full` is the variant.
  const Variant* full = nullptr;
  const Variant* tail = nullptr;
};

// Rows and 16-row blocks of the next launch when `left` rows remain.
void next_launch(int left, int max_par, int* rows, int* m_blocks);

// Checks n, k and the format against the table's rules (no GPU needed).
Status check_problem(int n, int k, const Format& format);

// Chooses the kernel for m rows of an [n, k] layer of `format` on `target`.
Status plan(int m, int n, int k, const Format& format, const Target& target, const Overrides& overrides, Plan* out);

// The architecture whose code in this build runs on a GPU of compute
// capability `arch`: the newest built one of the same major version not
// newer than it, else the PTX (if not newer than the GPU), else 0.
int code_arch(int arch);

// Tile rules (the table's `rules`), replaceable at run time. arch 0 is the
// default set, used for architectures without their own. set_tile_rules
// checks that the last rule catches every batch and width; count 0 removes
// an architecture's own set (restores the default for arch 0).
struct TileRule {
  int max_batch;  // 0: any batch
  int min_n;
  int tile_k;
  int tile_n;
};
Status set_tile_rules(int arch, const TileRule* rules, int count);
// Changes with every change of the tile rules (set_tile_rules,
// reset_tile_rules): launches planned under another value may be stale.
unsigned tile_rules_generation();
// Copies up to `capacity` rules of arch's set (0: default) into out; returns
// how many the set has (0 if arch has no own set).
int tile_rules(int arch, TileRule* out, int capacity);
void reset_tile_rules();

// Bytes of workspace a call needs: kPartialSlotsPerSm partial-sum slots (64
// KiB each) per SM of the device, then one int32 counter per (64-row problem, column slice) for
// this n and max_par, and at least one per SM (a wgmma stream-k launch's
// blocks). Calls on one stream may share a workspace (of the
// largest size any of them needs): the counters are zero again after each.
std::size_t workspace_bytes(int n, int max_par, int sm_count);

struct GemmArgs {
  const void* a = nullptr;  // [m, k] activations, row-major
  const void* b = nullptr;  // packed weights, Marlin layout: k * n * bits / 8 bytes
  const void* scales = nullptr;  // [groups, n] in the activation type, Marlin order
  // Zero points (format.zero_points): per-column formats read the packed
  // bytes ([1, n]); grouped formats (uses_scaled_zeros) read only
  // scaled_zeros, which the caller makes once with scale_zeros() from the
  // scales and the packed bytes ([groups, n], the scales' type and order).
  const void* zeros = nullptr;
  const void* scaled_zeros = nullptr;
  void* c = nullptr;  // [m, n] activation type, row-major; fully overwritten
  void* workspace = nullptr;  // workspace_bytes() bytes, zeroed; its counters are zero again on return
  std::size_t workspace_bytes = 0;
  int m = 0;
  int n = 0;
  int k = 0;
  Format format;
  Overrides overrides;
};

// The nvcc that compiled the kernels ("13.0.88") and the build's
// MARLIN_EVICT_FIRST (-1: where table.json's evictFirst puts the hint; 0: none; 1: every kernel).
const char* nvcc_version();
int evict_first_option();

// Makes `device`'s L2 evict-first descriptor now when the kernels this build
// runs there carry the hint (table.json evictFirst), so that no later call
// makes it (a synchronizing probe) inside a CUDA graph capture.
cudaError_t prepare_evict_first(int device);

// The Target of the current device (attributes cached per device).
cudaError_t current_target(Target* target, int* device);

// Runs C = A * dequant(B) on `stream`. On kCudaError, *cuda_error (if given)
// holds the runtime's error code; *used (if given) receives the plan.
Status gemm(const GemmArgs& args, cudaStream_t stream, cudaError_t* cuda_error = nullptr, Plan* used = nullptr);

// One kernel launch of a call, as gemm() would make it.
struct PlannedLaunch {
  const Variant* variant;
  KernelArgs args;
  int grid;  // mma: blocks; wgmma: k splits; decode: k shares per strip (Variant::launch)
  int device;
};

// Checks and plans `args` as gemm() does, and keeps its launches in `out`
// instead of launching them, for launch_planned() to make again and again
// (a call whose arguments do not change: the addon's bound calls). Valid
// while the buffers live, on the device current now, and while
// tile_rules_generation() is what it was.
Status plan_launches(const GemmArgs& args, std::vector<PlannedLaunch>* out, cudaError_t* cuda_error = nullptr);

// Makes planned launches, in order, on `stream`.
cudaError_t launch_planned(const std::vector<PlannedLaunch>& launches, cudaStream_t stream);

// Does ahead, on the current device, what the first launch of each kernel
// that gemm() could pick for 1..max_m rows of this layer (with `overrides`)
// does once (Variant::prepare), so that the first call of a new batch size
// does not. Queues nothing. (Launching each kernel once for no rows as well
// was measured: it did not shorten the first call further.) Batch sizes
// are visited one by one up to 128, then every 16th (a launch's row blocks
// are a multiple of 16 rows, so those reach every tail variant), and
// max_m; a batch size that cannot be planned is skipped and the first is
// returned in *failed_m with its status, after the others are prepared.
Status prepare_kernels(int max_m, int n, int k, const Format& format, const Overrides& overrides,
                       int* failed_m = nullptr, cudaError_t* cuda_error = nullptr);

// The host cost of launching, in nanoseconds per call of host time, over
// `calls` calls queued back to back on `stream`: with `whole` false, of the
// kernel gemm(args) would launch first (no checks, no plan: what a C++
// caller that had everything ready would pay); with `whole`, of gemm()
// itself. For measuring what the layers above add (the bench's --overhead);
// the kernels run, so the output and workspace must be valid for args.
Status time_launches(const GemmArgs& args, cudaStream_t stream, int calls, bool whole, double* ns_per_call,
                     cudaError_t* cuda_error = nullptr);

// cudaSuccess if this build holds code the current device can run
// (cudaErrorNoKernelImageForDevice if it was built for other GPUs).
cudaError_t check_kernel_image();

}  // namespace marlin
