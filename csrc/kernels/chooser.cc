// The kernel chooser: which compiled variant runs a call, decided in one
// place from the problem, the GPU, the tile rules and the caller's overrides.
// Host-only and pure (no CUDA calls), so it is tested without a GPU.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <numeric>
#include <unordered_map>
#include <vector>

#include "chooser_table.h"
#include "gemm.h"

namespace marlin {
namespace {

template <class T, std::size_t N>
bool contains(const T (&list)[N], T value) {
  for (const T& v : list)
    if (v == value) return true;
  return false;
}

// Variants by (family, format, tile, row blocks, code arch): built once.
std::uint64_t variant_key(Family family, const Format& f, int tile_k, int tile_n, int m_blocks, int arch) {
  std::uint64_t key = static_cast<std::uint64_t>(family);
  key = key * 2 + static_cast<std::uint64_t>(f.act);
  key = key * 16 + static_cast<std::uint64_t>(f.bits);
  key = key * 1024 + static_cast<std::uint64_t>(f.group_size + 1);
  key = key * 2 + (f.zero_points ? 1 : 0);
  key = key * 1024 + static_cast<std::uint64_t>(tile_k);
  key = key * 1024 + static_cast<std::uint64_t>(tile_n);
  key = key * 8 + static_cast<std::uint64_t>(m_blocks);
  return key * 1024 + static_cast<std::uint64_t>(arch);
}

const std::unordered_map<std::uint64_t, const Variant*>& variant_index() {
  static const std::unordered_map<std::uint64_t, const Variant*> index = [] {
    std::unordered_map<std::uint64_t, const Variant*> map;
    for (const Variant& v : compiled_variants())
      map.emplace(variant_key(v.family, v.format, v.tile_k, v.tile_n, v.m_blocks, v.arch), &v);
    return map;
  }();
  return index;
}

const Variant* find_variant(Family family, const Format& f, int tile_k, int tile_n, int m_blocks, int arch) {
  const auto& index = variant_index();
  const auto it = index.find(variant_key(family, f, tile_k, tile_n, m_blocks, arch));
  return it == index.end() ? nullptr : it->second;
}

// Tile rules: the table's defaults, replaceable per architecture at run
// time. A mutex guards them; plan() holds it only to copy one rule.
struct RuleStore {
  std::mutex mutex;
  std::unordered_map<int, std::vector<TileRule>> sets;  // arch (0: default) -> rules

  void reset() {
    sets.clear();
    for (const table::RuleSet& s : table::kDefaultRules) {
      std::vector<TileRule>& rules = sets[s.arch];
      for (int i = 0; i < s.count; ++i)
        rules.push_back({s.rules[i].max_batch, s.rules[i].min_n, s.rules[i].tile_k, s.rules[i].tile_n});
    }
  }
};

RuleStore& rule_store() {
  static RuleStore* store = [] {
    auto* s = new RuleStore();  // never destroyed: used until process exit
    s->reset();
    return s;
  }();
  return *store;
}

bool choose_tile(int m, int n, int arch, int* tile_k, int* tile_n) {
  RuleStore& store = rule_store();
  std::lock_guard<std::mutex> lock(store.mutex);
  auto it = store.sets.find(arch);
  if (it == store.sets.end()) it = store.sets.find(0);
  if (it == store.sets.end()) return false;
  for (const TileRule& r : it->second)
    if ((r.max_batch == 0 || m <= r.max_batch) && n >= r.min_n) {
      *tile_k = r.tile_k;
      *tile_n = r.tile_n;
      return true;
    }
  return false;
}

// Blocks one wave holds: whole clusters of `splits` blocks in the share of
// the SMs that clusters of that size fill. (Their blocks must share a GPC,
// so above 2 they cannot fill every SM.)
int wgmma_wave_blocks(int splits, int sm_count) {
  return std::max(splits, sm_count * table::kWgmmaClusterSmPercent[splits - 1] / 100 / splits * splits);
}

// The work on the longest-running SM, in stages, of `tiles` output tiles
// of `stages` stages of k each split `splits` ways: waves of clusters times
// what each block costs (its stages of k, its fixed costs, and its share of
// the reduction when split).
long wgmma_cost(long tiles, int splits, int stages, int sm_count) {
  const int per_wave = wgmma_wave_blocks(splits, sm_count);
  const long waves = (tiles * splits + per_wave - 1) / per_wave;
  return waves * ((stages + splits - 1) / splits + table::kWgmmaBlockCostStages +
                  (splits > 1 ? table::kWgmmaSplitCostStages : 0));
}

// The wgmma family's split count for `tiles` output tiles of `stages`
// stages of k each: the one of least wgmma_cost, each split keeping enough
// stages to fill its pipeline. `cost` gets that cost.
int wgmma_splits(long tiles, int stages, int sm_count, long* cost) {
  int splits = 1;
  long best = -1;
  for (int s = 1; s <= table::kWgmmaMaxSplits; ++s) {
    if (s > 1 && stages / s < table::kWgmmaMinSplitStages) break;
    const long c = wgmma_cost(tiles, s, stages, sm_count);
    if (best < 0 || c < best) {
      best = c;
      splits = s;
    }
  }
  *cost = best;
  return splits;
}

// The wgmma family's schedule for `tiles` output tiles over k: one launch
// of them all at the best split count, or, where a last wave of unsplit
// blocks would leave SMs idle (7B gate_up at 1024 rows: 688 tiles, 5.2
// waves on 132 SMs), the whole waves unsplit and then the rest in a second
// launch at its own best split count, whichever costs less (the second
// launch counts tailLaunchCostStages more). Returns the plan's cost.
long wgmma_schedule(int tiles, int k, int sm_count, Plan* p) {
  const int stages = k / table::kWgmmaTileK;
  long one = 0;
  p->splits = wgmma_splits(tiles, stages, sm_count, &one);
  p->tail_tiles = 0;
  p->tail_splits = 1;
  const int per_wave = wgmma_wave_blocks(1, sm_count);
  const int whole = tiles / per_wave * per_wave;
  if (whole == 0 || whole == tiles) return one;
  long tail_cost = 0;
  const int tail_splits = wgmma_splits(tiles - whole, stages, sm_count, &tail_cost);
  const long two = wgmma_cost(whole, 1, stages, sm_count) + table::kWgmmaTailLaunchCostStages + tail_cost;
  if (two >= one) return one;
  p->splits = 1;
  p->tail_tiles = tiles - whole;
  p->tail_splits = tail_splits;
  return two;
}

// A stream-k launch's blocks (wgmma/kernel.cuh stream_k_tiles): one per SM,
// at most one per unit of work (a tile's k tile).
int wgmma_stream_k_blocks(long tiles, int k, int sm_count) {
  return static_cast<int>(std::min<long>(sm_count, tiles * (k / table::kWgmmaTileK)));
}

// The longest block's work in a stream-k launch, in the units of
// wgmma_cost: its ceil(units / blocks) stages of k, its fixed cost, a
// pipeline refill for each further tile its run reaches into, and the
// partials the share that ends a tile adds (one where a block's run is a
// tile or more; else as many blocks as can hold the rest of a tile's k,
// the shortest runs being floor(units / blocks)). With more than one row
// tile, the run's stages cost streamKRowReusePercent x (1 - 1 / row_tiles)
// percent more: the split plan's blocks run side by side in raster order,
// so the row tiles of a column share its weights in L2, while stream-k's
// blocks are spread over every tile at once and at different k, and each
// reads its weights from memory (run 38 measured 2-6% lost at 4-8 row
// tiles on layers the cost without it priced 4-7% below the split plan).
long wgmma_stream_k_cost(long tiles, int row_tiles, int k, int sm_count) {
  const long stages = k / table::kWgmmaTileK;
  const long blocks = wgmma_stream_k_blocks(tiles, k, sm_count);
  const long run = (tiles * stages + blocks - 1) / blocks;
  const long shortest = std::max(1L, tiles * stages / blocks);
  const long shares = (run - 1 + stages - 1) / stages + 1;
  const long partials = shortest >= stages ? 1 : (stages - 1 + shortest - 1) / shortest;
  const long reuse_loss = run * table::kWgmmaStreamKRowReusePercent * (row_tiles - 1) / (100L * row_tiles);
  return run + reuse_loss + table::kWgmmaBlockCostStages + (shares - 1) * table::kWgmmaStreamKShareCostStages +
         partials * table::kWgmmaStreamKPartialCostStages;
}

// The mma family's block count whose stripes follow column tiles (table.json
// alignedBlocks): `columns` output-column tiles of `k_tiles` stages each on
// `sms` SMs. The kernel gives each block ceil(columns * k_tiles / blocks)
// tiles (mma/slice.cuh), so the count divides the work exactly: up to one
// column per SM, j blocks per column with j | k_tiles (each block 1/j of
// one column: one slice, j blocks to a reduction); more columns than SMs,
// c whole columns per block with c | columns (c slices, no reduction).
// The most blocks such a split allows, or 0 if it leaves fewer than
// `min_blocks` (>= 1): the search stops there, so a call (this runs for every
// GEMM launch) costs a few steps however the columns factor.
int aligned_blocks(int columns, int k_tiles, int sms, int min_blocks) {
  if (columns > sms) {
    for (int per_block = (columns + sms - 1) / sms; columns / per_block >= min_blocks; ++per_block)
      if (columns % per_block == 0) return columns / per_block;
    return 0;
  }
  for (int j = sms / columns; j >= 1 && columns * j >= min_blocks; --j)
    if (j == 1 || k_tiles % j == 0) return columns * j;
  return 0;
}

// A launch of `blocks` mma blocks over `columns` column tiles of `k_tiles`
// stages each (columns <= blocks), priced by a pricedBlocks entry in
// thousandths of a stage. The kernel numbers the stages column by column and
// gives block b the stripe [b * per, (b + 1) * per), per = ceil(columns *
// k_tiles / blocks) <= k_tiles (mma/slice.cuh). Column c's stages are then
// shared by blocks floor(c * k_tiles / per) to floor((c * k_tiles + k_tiles -
// 1) / per), whose FP32 partials its top block gathers one after another
// (epilogue.cuh): the price counts the most any column has. Where per divides
// k_tiles every column starts a stripe and has k_tiles / per; else the
// starts' offsets into a stripe, c * k_tiles mod per, repeat every per /
// gcd(k_tiles, per) columns, so that many are looked at, or fewer once one
// column has the most a stripe of per allows (this runs for every unbound
// GEMM launch); and with more than one column some stripes cross a column
// boundary and run two slices (two pipeline fills). mma_stripes gives the
// stripe, the most blocks on a column and whether stripes cross columns;
// mma_blocks_price their price.
struct Stripes {
  long per;       // stages per block
  long sharing;   // the most blocks any column's reduction gathers
  bool straddle;  // some stripes cross a column boundary
};
Stripes mma_stripes(long columns, long k_tiles, long blocks) {
  const long per = (columns * k_tiles + blocks - 1) / blocks;
  if (k_tiles % per == 0) return {per, k_tiles / per, false};
  const long most = (k_tiles - 1) / per + 2;
  long sharing = 1;
  for (long c = 0, period = std::min(columns, per / std::gcd(k_tiles, per)); c < period && sharing < most; ++c)
    sharing = std::max(sharing, (c * k_tiles + k_tiles - 1) / per - c * k_tiles / per + 1);
  return {per, sharing, columns > 1};
}

long mma_blocks_price(long columns, long k_tiles, long blocks, const table::PricedBlocks& e) {
  const Stripes s = mma_stripes(columns, k_tiles, blocks);
  return s.per * 1000 + (s.sharing - 1) * e.partial_milli + (s.straddle ? e.straddle_milli : 0);
}

// The block count of least price (mma_blocks_price) for a launch of
// `columns` column tiles (the layer's times the launch's problems) of
// `k_tiles` stages, columns <= sms (the caller keeps one block per SM for
// more): one block per SM, or j blocks a column, j | k_tiles, each an equal
// share of it. One per SM on a tie.
int priced_blocks(int columns, int k_tiles, int sms, const table::PricedBlocks& e) {
  int best = sms;
  long best_price = mma_blocks_price(columns, k_tiles, sms, e);
  for (int j = std::min(sms / columns, k_tiles); j >= 1; --j) {
    if (k_tiles % j != 0) continue;
    const long price = mma_blocks_price(columns, k_tiles, static_cast<long>(columns) * j, e);
    if (price < best_price) {
      best = columns * j;
      best_price = price;
    }
  }
  return best;
}

// Whether bit `bit` of a table entry's mask (bits, activations, zero-point
// modes, group sizes) is set.
bool in_mask(unsigned mask, int bit) { return ((mask >> bit) & 1u) != 0; }

// A format's bit in an entry's act_mask (gen-kernels.js actsMask: bit
// Act's value) and in its zeros_mask (zerosMask: bit 0 symmetric, bit 1
// zero points).
int act_bit(const Format& format) { return static_cast<int>(format.act); }
int zeros_bit(const Format& format) { return format.zero_points ? 1 : 0; }

// A group size's bit in a groups_mask: its place in the table's list
// (check_problem has refused any other size).
int group_bit(int group_size) {
  int i = 0;
  while (table::kGroupSizes[i] != group_size) ++i;
  return i;
}

// Whether an mma block-count entry (alignedBlocks, pricedBlocks) covers
// `format` on a GPU of compute capability `arch` running code built for
// `code_arch` (the rule was measured on that architecture's own kernels,
// whose depth it depends on).
template <typename Entry>
bool block_entry_covers(const Entry& e, const Format& format, int arch, int code_arch) {
  return e.arch == arch && e.arch == code_arch && in_mask(e.bits_mask, format.bits) &&
         in_mask(e.act_mask, act_bit(format));
}

// Whether an alignedBlocks entry covers m rows of `format`.
bool aligned_entry(const table::AlignedBlocks& e, int m, const Format& format, int arch, int code_arch) {
  return block_entry_covers(e, format, arch, code_arch) && m <= e.max_batch;
}

// Whether a pricedBlocks entry covers m rows of `format`.
bool priced_entry(const table::PricedBlocks& e, int m, const Format& format, int arch, int code_arch) {
  return block_entry_covers(e, format, arch, code_arch) && m >= e.min_batch && m <= e.max_batch;
}

// A plan of one launch for every row (the wgmma and decode families): the
// variant, its tile and depth; the family sets its grid (and the wgmma
// family may make it two launches: wgmma_schedule).
Plan single_launch_plan(Family family, const Variant* v, int code_arch, const Overrides& o, int m) {
  Plan p;
  p.family = family;
  p.code_arch = code_arch;
  p.tile_k = v->tile_k;
  p.tile_n = v->tile_n;
  p.stages = v->stages;
  p.max_par = o.max_par;
  p.launches = m > 0 ? 1 : 0;
  p.full = v;
  return p;
}

// The decode family's k shares per 64-column strip for an [n, k] layer on
// `sm_count` SMs: the largest table entry not above max(smallest entry,
// warpsPerSm x SMs / strips) and, where possible, not above the layer's k16
// rows (a warp with no rows idles).
int decode_shares(int n, int k, int sm_count) {
  const int strips = n / 64;
  const long aim = static_cast<long>(table::kDecodeWarpsPerSm) * sm_count / std::max(strips, 1);
  int shares = table::kDecodeShares[0].shares;
  for (int i = 1; i < table::kDecodeShareCount; ++i)
    if (table::kDecodeShares[i].shares <= aim && table::kDecodeShares[i].shares <= k / 16)
      shares = table::kDecodeShares[i].shares;
  return shares;
}

// The bytes of weights the busiest SM streams beyond an even share when the
// decode family's blocks of an [n, k] layer (64-column strips x `splits`, each
// a strip's k / splits rows) are dealt out ceil(blocks / SMs) to an SM: the
// SMs' unfilled block slots of the last round, times a block's bytes, spread
// over the SMs. Long layers of few strips leave some SMs a block more to
// stream than the rest (Llama-2-13B's down, 13824 x 5120: 170 KiB on 132
// SMs), which costs the family more than its shorter loop saves.
long long decode_excess_bytes(int n, int k, int bits, int splits, int sm_count) {
  // A block's bytes (exact: k is a multiple of 128, splits at most 8), then
  // block x idle / SMs in two parts, so that no product passes 2^63 for any
  // int inputs (block % SMs and idle are both below the SM count).
  const long long block = static_cast<long long>(k) * 8 * bits / splits;
  const long long blocks = static_cast<long long>(n / 64) * splits;
  const long long idle = (blocks + sm_count - 1) / sm_count * sm_count - blocks;
  return block / sm_count * idle + block % sm_count * idle / sm_count;
}

// Whether a decode `choose` entry gives the family m rows of `format` on an
// [n, k] layer cut into `shares` k shares per strip (`splits` blocks each) on
// `target`. The bandwidth bound compares GB/s with GB/s per SM times the SMs,
// so no division rounds; an unknown bandwidth (0) meets none.
bool decode_entry_chosen(const table::DecodeChoice& c, int m, const Format& format, int n, int k, int shares,
                         int splits, const Target& target) {
  return m >= 1 && m <= c.max_batch && splits > 0 && in_mask(c.bits_mask, format.bits) &&
         in_mask(c.zeros_mask, zeros_bit(format)) && shares >= c.min_shares &&
         (c.max_shares == 0 || shares <= c.max_shares) && k >= c.min_k &&
         (c.min_memory_gbps_per_sm == 0 || static_cast<long long>(target.memory_gbps) >=
                                               static_cast<long long>(c.min_memory_gbps_per_sm) * target.sm_count) &&
         (c.max_excess_kib == 0 || decode_excess_bytes(n, k, format.bits, splits, target.sm_count) <=
                                       static_cast<long long>(c.max_excess_kib) * 1024);
}

// The mma family's default block count (no mma option forced) for m > 0 rows
// of an [n, k] layer in tile_k x tile_n tiles: one block per SM, or the
// table's counts. Stripes along column tiles where it measured them faster
// at small batches (one problem: m <= max_batch <= 64 rows); then the count
// of least price where it priced the column reduction, where that is lower
// (narrow layers of short k: fewer blocks a column). The price only lowers a
// count: where it would raise an aligned one (large layers, which the aligned
// entries were measured on and which stream at the memory's speed with fewer
// blocks) the aligned count stays. A launch's 64-row problems side by side are
// more columns to the kernel's stripes (mma/slice.cuh), so the price counts
// the first launch's.
int mma_default_blocks(int m, int n, int k, const Format& format, const Target& target, int arch, int tile_k,
                       int tile_n, int max_par) {
  int blocks = target.sm_count;
  const int columns = (n + tile_n - 1) / tile_n;
  const int k_tiles = k / tile_k;
  for (int i = 0; i < table::kAlignedBlocksCount; ++i) {
    const table::AlignedBlocks& e = table::kAlignedBlocks[i];
    if (!aligned_entry(e, m, format, target.arch, arch)) continue;
    const int min_blocks = std::max(1, (e.min_fill_percent * target.sm_count + 99) / 100);
    const int aligned = aligned_blocks(columns, k_tiles, target.sm_count, min_blocks);
    if (aligned > 0) blocks = aligned;
    break;
  }
  for (int i = 0; i < table::kPricedBlocksCount; ++i) {
    const table::PricedBlocks& e = table::kPricedBlocks[i];
    if (!priced_entry(e, m, format, target.arch, arch)) continue;
    int rows = 0;
    int m_blocks = 0;
    next_launch(m, max_par, &rows, &m_blocks);
    const int problems = (rows + 16 * m_blocks - 1) / (16 * m_blocks);  // as gemm.cu launches them
    if (static_cast<long>(columns) * problems <= target.sm_count)
      blocks = std::min(blocks, priced_blocks(columns * problems, k_tiles, target.sm_count, e));
    break;
  }
  return blocks;
}

// An mma variant of `m_blocks` row blocks that launches on `target` (depth
// `stages` where the call asks for one), or null.
const Variant* mma_variant(const Format& format, int tile_k, int tile_n, int m_blocks, int arch, const Target& target,
                           int stages) {
  const Variant* v = find_variant(Family::kMma, format, tile_k, tile_n, m_blocks, arch);
  if (!v || v->stages == 0 || v->smem_bytes > target.smem_optin) return nullptr;
  if (stages && v->stages != stages) return nullptr;
  return v;
}

// The wgmma family's plan for m rows of an [n, k] layer in tiles of `rows`
// rows (`row_tiles` of them a column, `tiles` in all): kNoVariant where the
// build has no variant for the GPU, kBadLaunch where the call forces
// stream-k on a tile without it.
Status wgmma_plan(int m, int k, const Format& format, const Target& target, int arch, const Overrides& o, int rows,
                  int row_tiles, int tiles, Plan* out) {
  const Variant* v =
      target.arch == table::kWgmmaArch && arch == table::kWgmmaArch
          ? find_variant(Family::kWgmma, format, table::kWgmmaTileK, table::kWgmmaTileN, rows / 16, table::kWgmmaArch)
          : nullptr;
  if (!v || v->stages <= 0 || v->smem_bytes > target.smem_optin || k % v->tile_k != 0) return Status::kNoVariant;
  // Stream-k only where the tile has it (Variant::stream_k).
  if (o.stream_k == 1 && !v->stream_k) return Status::kBadLaunch;
  Plan w = single_launch_plan(Family::kWgmma, v, arch, o, m);
  w.tiles = tiles;
  // A forced split count; else the cheaper of the split plan and, where the
  // tile has it and the call allows it, stream-k.
  if (o.splits != 0) {
    w.splits = o.splits;
  } else if (o.stream_k == 1) {
    w.stream_k = true;
  } else {
    const long split_cost = wgmma_schedule(tiles, k, target.sm_count, &w);
    w.stream_k = v->stream_k && o.stream_k == -1 && tiles > 0 &&
                 wgmma_stream_k_cost(tiles, row_tiles, k, target.sm_count) < split_cost;
  }
  if (w.stream_k) {
    w.splits = 1;
    w.tail_tiles = 0;
    w.tail_splits = 1;
    w.blocks = wgmma_stream_k_blocks(tiles, k, target.sm_count);
  } else {
    w.blocks = (tiles - w.tail_tiles) * w.splits + w.tail_tiles * w.tail_splits;
  }
  if (w.tail_tiles > 0) w.launches = 2;
  *out = w;
  return Status::kOk;
}

// The bytes an [n, k] layer of `format` streams, as the family price counts
// them: the weights, a 16-bit scale per group and column, and zero points at
// the weights' bits (a per-column layer: one group of k).
long long priced_bytes(int n, int k, const Format& format) {
  const long long groups = format.group_size > 0 ? k / format.group_size : 1;
  const long long bytes = static_cast<long long>(k) * n * format.bits / 8 + groups * n * 2;
  return bytes + (format.zero_points ? groups * n * format.bits / 8 : 0);
}

// A memory speed of the family price (bytes per microsecond, as fitted) on
// `target`: in proportion to its memory's peak bandwidth against that of the
// GPU the price was fitted on (an H200 streams weights about 1.4 times as fast
// as the H100; perf-notes run 51), or as fitted where either is unknown; kept
// within gen-kernels' bounds on the fitted speeds, 1 to 1e6 GB/s (at most
// 1e9 x 2^31 before the division).
long long memory_bytes_per_us(long long fitted, const Target& target) {
  const long long peak = table::kFamilyPrice.fitted_memory_gbps;
  if (target.memory_gbps <= 0 || peak <= 0) return fitted;
  return std::clamp(fitted * target.memory_gbps / peak, 1000LL, 1000000000LL);
}

// The mma family's price (table.json wgmma.familyPrice.mma), in picoseconds,
// of m rows (one problem) of an [n, k] layer of `format` in tile_k x tile_n
// tiles on `blocks` blocks: a fixed cost by row blocks, one per block, one
// per further block on a column's reduction, and one where stripes cross
// columns; then the longer of the longest stripe's stages and the weights
// at the memory's speed. Stage extras may be negative (a per-column layer's
// stage is cheaper); gen-kernels keeps every stage positive.
long long mma_price_ps(int m, int n, int k, const Format& format, const Target& target, int tile_k, int tile_n,
                       int blocks) {
  const table::MmaPrice& c = table::kFamilyPrice.mma;
  const int r = (m + 15) / 16;
  const Stripes s = mma_stripes((n + tile_n - 1) / tile_n, k / tile_k, blocks);
  const long long stage = c.stage_ps[r] + (tile_n == 256 ? c.wide_tile_stage_ps : 0) +
                          (format.bits == 8 ? c.bits8_stage_ps : 0) + (format.act == Act::kBF16 ? c.bf16_stage_ps : 0) +
                          (format.zero_points ? c.zero_points_stage_ps : 0) +
                          (format.group_size <= 0 ? c.per_column_stage_ps : 0);
  const long long fixed = c.fixed_ps[r] + blocks * c.block_ps + (s.sharing - 1) * r * c.sharing_ps_per_row_block +
                          (s.straddle ? c.straddle_ps : 0);
  return fixed +
         std::max(s.per * stage, priced_bytes(n, k, format) * 1000000 / memory_bytes_per_us(c.bytes_per_us, target));
}

// The wgmma family's price (table.json wgmma.familyPrice.wgmma), in
// picoseconds, of plan `w` (one launch) for m rows of an [n, k] layer of
// `format` in tiles of `rows` rows: a fixed cost, one per 64 rows, per block
// and per further split; then the longer of the longest SM's stages (a split
// plan's waves x its stages per split; a stream-k block's run, dearer per
// stage, plus a few) at the slower of a stage's decode and its weight bytes,
// and the weights at the memory's speed (dearer under stream-k). 4-bit zero
// points cost a stream-k stage less than a split plan's.
long long wgmma_price_ps(int m, int n, int k, const Format& format, const Target& target, const Plan& w, int rows) {
  const table::WgmmaPrice& c = table::kFamilyPrice.wgmma;
  const long long stages = k / table::kWgmmaTileK;
  const long long col_tiles = (n + table::kWgmmaTileN - 1) / table::kWgmmaTileN;
  const long long bytes = priced_bytes(n, k, format);
  const long long zero_points = !format.zero_points ? 0
                                : format.bits == 8
                                    ? c.zero_points8_stage_ps
                                    : (w.stream_k ? c.zero_points4_stream_k_stage_ps : c.zero_points4_stage_ps);
  const long long decode = c.stage_ps + (format.bits == 8 ? c.bits8_stage_ps : 0) +
                           (format.act == Act::kBF16 ? c.bf16_stage_ps : 0) + zero_points +
                           (format.group_size <= 0 ? c.per_column_stage_ps : 0);
  const long long stage = std::max(decode, bytes / (col_tiles * stages) * 1000000 / c.stage_bytes_per_us);
  long long memory = bytes * 1000000 / memory_bytes_per_us(c.bytes_per_us, target);
  long long stages_milli = 0;  // on the longest-running SM, in thousandths
  if (w.stream_k) {
    int height = 0;
    while (table::kWgmmaRows[height] != rows) ++height;
    const long long run = (w.tiles * stages + w.blocks - 1) / w.blocks;
    stages_milli = run * (1000 + c.stream_k_run_milli[height]) + c.stream_k_extra_stages_milli;
    memory = memory * (1000 + c.stream_k_memory_milli) / 1000;
  } else {
    const long long per_wave = wgmma_wave_blocks(w.splits, target.sm_count);
    const long long waves = (static_cast<long long>(w.tiles) * w.splits + per_wave - 1) / per_wave;
    stages_milli = waves * ((stages + w.splits - 1) / w.splits) * 1000;
  }
  const long long fixed = c.fixed_ps + c.fixed_ps_per_64_rows * m / 64 + c.block_ps * w.blocks +
                          c.split_ps_per_64_rows * (w.splits - 1) * rows / 64;
  return fixed + std::max(stages_milli * stage / 1000, memory);
}

// The family price's entry for m rows of an [n, k] layer in `format` on
// `target` (its architecture, rows, depth and formats: table.json
// wgmma.familyPrice), or null where it does not price the call. Layers of
// more than 2^34 weights (131072 x 131072; the largest LLM layers, vocabulary
// projections such as 256000 x 18432, have under 2^33) are not priced: up to
// that, with gen-kernels' bounds on the terms, the prices stay far inside a
// long long.
const table::PricedFormat* family_price_entry(int m, int n, int k, const Format& format, const Target& target,
                                              int arch) {
  const table::FamilyPrice& fp = table::kFamilyPrice;
  if (fp.arch == 0 || target.arch != fp.arch || arch != fp.arch || m < fp.min_batch || m > fp.max_batch ||
      k < fp.min_k || static_cast<long long>(n) * k > (1LL << 34))
    return nullptr;
  const int groups_bit = group_bit(format.group_size);
  for (int i = 0; i < table::kPricedFormatsCount; ++i) {
    const table::PricedFormat& f = table::kPricedFormats[i];
    if (in_mask(f.bits_mask, format.bits) && in_mask(f.groups_mask, groups_bit) &&
        in_mask(f.act_mask, act_bit(format)) && in_mask(f.zeros_mask, zeros_bit(format)))
      return &f;
  }
  return nullptr;
}

// Whether the wgmma family takes a call that price entry `e` covers, given
// plan `w` (its tiles `rows` high) and the choose entries' answer `chosen`:
// the other family than `chosen` where its price is lower by more than the
// first matching minGain entry's percentage, else `chosen`. Also `chosen`
// where the price does not apply: a wgmma plan of two launches, or of a
// kind the entry leaves out (stream-k or split), or no mma plan of the
// default tile (which is also what the mma price assumes).
bool wgmma_by_price(int m, int n, int k, const Format& format, const Target& target, int arch,
                    const table::PricedFormat& e, const Plan& w, int rows, bool chosen) {
  if (w.launches != 1 || (e.stream_k != -1 && e.stream_k != static_cast<int>(w.stream_k))) return chosen;
  int tile_k = 0;
  int tile_n = 0;
  if (!choose_tile(m, n, target.arch, &tile_k, &tile_n) || k % tile_k != 0 ||
      !mma_variant(format, tile_k, tile_n, (m + 15) / 16, arch, target, 0))
    return chosen;
  const int blocks = mma_default_blocks(m, n, k, format, target, arch, tile_k, tile_n, Overrides{}.max_par);
  const long long mma = mma_price_ps(m, n, k, format, target, tile_k, tile_n, blocks);
  const long long wgmma = wgmma_price_ps(m, n, k, format, target, w, rows);
  int percent = 0;
  for (int i = 0; i < table::kPriceGainsCount; ++i) {
    const table::PriceGain& g = table::kPriceGains[i];
    if ((g.max_batch == 0 || m <= g.max_batch) && in_mask(g.bits_mask, format.bits)) {
      percent = g.percent;
      break;
    }
  }
  if (wgmma * 100 < mma * (100 - percent)) return true;
  if (mma * 100 < wgmma * (100 - percent)) return false;
  return chosen;
}

}  // namespace

void next_launch(int left, int max_par, int* rows, int* m_blocks) {
  const int r = table::kRowsPerProblem;
  if (left > r) {
    *m_blocks = r / 16;
    *rows = left < r * max_par ? left : r * max_par;
  } else {
    *m_blocks = (left + 15) / 16;
    *rows = left;
  }
}

Status check_problem(int n, int k, const Format& format) {
  if (n <= 0 || k <= 0 || n % table::kNMultiple != 0 || k % table::kKMultiple != 0) return Status::kBadShape;
  if (!contains(table::kGroupSizes, format.group_size)) return Status::kBadGroupSize;
  if (format.group_size > 0 && k % format.group_size != 0) return Status::kBadGroupSize;
  if (!contains(table::kBits, format.bits)) return Status::kBadFormat;
  if (format.act != Act::kF16 && format.act != Act::kBF16) return Status::kBadFormat;
  return Status::kOk;
}

int peak_memory_gbps(int memory_clock_khz, int bus_width_bits) {
  if (memory_clock_khz <= 0 || bus_width_bits <= 0) return 0;
  // kHz x 1000 x 2 transfers x bits / 8 bytes, in GB/s: kHz x bits / 4e6.
  const long long gbps = (static_cast<long long>(memory_clock_khz) * bus_width_bits + 2000000) / 4000000;
  return static_cast<int>(std::min<long long>(gbps, 1 << 30));
}

int code_arch(int arch) {
  int best = 0;
  for (int built : table::kBuiltArchs)
    if (built / 10 == arch / 10 && built <= arch && built > best) best = built;
  if (best) return best;
  return table::kPtxArch <= arch ? table::kPtxArch : 0;
}

Status plan(int m, int n, int k, const Format& format, const Target& target, const Overrides& o, Plan* out) {
  *out = Plan{};
  if (m < 0) return Status::kBadShape;
  const Status problem = check_problem(n, k, format);
  if (problem != Status::kOk) return problem;
  if (o.max_par < 1 || o.max_par > table::kMaxParLimit || o.sms < 0 || o.stages < 0 || o.tile_k < 0 || o.tile_n < 0 ||
      (o.tile_k == 0) != (o.tile_n == 0))
    return Status::kBadLaunch;
  if (target.sm_count <= 0 || target.smem_optin <= 0) return Status::kBadLaunch;
  const int arch = code_arch(target.arch);
  if (target.arch < table::kMinArch || arch == 0) return Status::kNoImage;

  const bool mma_options = o.tile_k != 0 || o.stages != 0 || o.sms != 0 || o.max_par != Overrides{}.max_par;
  if (o.family != -1 && o.family != static_cast<int>(Family::kMma) && o.family != static_cast<int>(Family::kWgmma) &&
      o.family != static_cast<int>(Family::kDecode))
    return Status::kBadLaunch;
  if (o.splits < 0 || o.splits > table::kWgmmaMaxSplits || o.stream_k < -1 || o.stream_k > 1 ||
      (o.stream_k == 1 && o.splits != 0))
    return Status::kBadLaunch;

  // The decode family: on the GPU its sm_90a code runs on, for up to its
  // tallest tile's rows of a format it has, where a `choose` entry matches
  // (measured: table.json), unless the call forces another family or one of
  // the mma family's options. Forced, it takes any m up to its tallest tile.
  const bool forced_decode = o.family == static_cast<int>(Family::kDecode);
  if (forced_decode && (mma_options || o.splits != 0 || o.stream_k == 1)) return Status::kBadLaunch;
  {
    int rows = 0;  // the smallest tile height that holds m (0: none)
    for (int r : table::kDecodeRows)
      if (rows == 0 && m <= r) rows = r;
    const int shares = rows > 0 ? decode_shares(n, k, target.sm_count) : 0;  // (0: too many rows for the family)
    int warps = 0, splits = 0;
    if (rows > 0) table::decode_shape(shares, &warps, &splits);
    bool chosen = false;
    for (int i = 0; i < table::kDecodeChooseCount && !chosen && rows > 0; ++i)
      chosen = decode_entry_chosen(table::kDecodeChoose[i], m, format, n, k, shares, splits, target);
    if (forced_decode || (o.family == -1 && !mma_options && o.splits == 0 && o.stream_k != 1 && chosen)) {
      const Variant* v = rows > 0 && table::kDecodeArch > 0 && target.arch == table::kDecodeArch &&
                                 arch == table::kDecodeArch && format.group_size > 0
                             ? find_variant(Family::kDecode, format, 16, 64, rows / 8, table::kDecodeArch)
                             : nullptr;
      if (v && v->smem_bytes <= target.smem_optin) {
        Plan d = single_launch_plan(Family::kDecode, v, arch, o, m);
        d.warps = warps;
        d.splits = splits;
        d.blocks = n / 64 * d.splits;
        *out = d;
        return Status::kOk;
      }
      if (forced_decode) return Status::kNoVariant;
    }
  }

  // The wgmma family: on the GPU its sm_90a code runs on, where a `choose`
  // entry of the table matches (enough rows and output tiles: measured, see
  // table.json), or where the family price overrules the entries, for the
  // formats it has, unless the call asks for the mma family or one of its
  // options. Forced (a family, a split count or stream-k), it takes any
  // batch and shape.
  const bool forced_wgmma = o.family == static_cast<int>(Family::kWgmma) || o.splits != 0 || o.stream_k == 1;
  if (forced_wgmma && (mma_options || o.family == static_cast<int>(Family::kMma))) return Status::kBadLaunch;
  const bool free_choice = !forced_wgmma && o.family == -1 && !mma_options;
  // The tile height: the smallest compiled one that holds m (wgmma's N: a
  // shorter tile wastes less tensor work on missing rows), else the tallest.
  int rows = table::kWgmmaRows[0];
  for (int r : table::kWgmmaRows)
    if (rows < m) rows = r;
  const int wgmma_row_tiles = rows > 0 ? (m + rows - 1) / rows : 0;
  const int wgmma_tiles = ((n + table::kWgmmaTileN - 1) / table::kWgmmaTileN) * wgmma_row_tiles;  // 0: no family
  bool chosen = false;
  const int groups_bit = group_bit(format.group_size);
  // (kWgmmaChoose holds a placeholder entry, never read, where the build has no wgmma family.)
  for (int i = 0; i < table::kWgmmaChooseCount; ++i) {
    const table::WgmmaChoice& c = table::kWgmmaChoose[i];
    chosen = chosen ||
             (rows > 0 && m >= c.min_batch && (c.max_batch == 0 || m <= c.max_batch) && wgmma_tiles >= c.min_tiles &&
              (c.max_tiles == 0 || wgmma_tiles <= c.max_tiles) && k >= c.min_k && (c.max_k == 0 || k <= c.max_k) &&
              in_mask(c.bits_mask, format.bits) && in_mask(c.groups_mask, groups_bit) &&
              in_mask(c.act_mask, act_bit(format)) && in_mask(c.zeros_mask, zeros_bit(format)));
  }
  // Plans are made per call: the family's is searched only where it may run.
  const table::PricedFormat* priced =
      free_choice && rows > 0 ? family_price_entry(m, n, k, format, target, arch) : nullptr;
  if (forced_wgmma || (free_choice && chosen) || priced) {
    Plan w;
    const Status status = wgmma_plan(m, k, format, target, arch, o, rows, wgmma_row_tiles, wgmma_tiles, &w);
    if (forced_wgmma && status != Status::kOk) return status;
    if (status == Status::kOk && priced)
      chosen = wgmma_by_price(m, n, k, format, target, arch, *priced, w, rows, chosen);
    if (status == Status::kOk && (forced_wgmma || chosen)) {
      *out = w;
      return Status::kOk;
    }
  }

  Plan p;
  p.family = Family::kMma;
  p.code_arch = arch;
  p.max_par = o.max_par;
  // Blocks of one launch wait on each other through the workspace counters,
  // so all of them must be resident at once: never more blocks than SMs.
  p.blocks = o.sms > 0 && o.sms < target.sm_count ? o.sms : target.sm_count;
  if (o.tile_k) {
    p.tile_k = o.tile_k;
    p.tile_n = o.tile_n;
  } else if (!choose_tile(m > 0 ? m : 1, n, target.arch, &p.tile_k, &p.tile_n)) {
    return Status::kNoVariant;
  }
  if (k % p.tile_k != 0) return Status::kNoVariant;
  if (!mma_options && m > 0)
    p.blocks = mma_default_blocks(m, n, k, format, target, arch, p.tile_k, p.tile_n, p.max_par);

  auto pick = [&](int m_blocks) { return mma_variant(format, p.tile_k, p.tile_n, m_blocks, arch, target, o.stages); };
  constexpr int kFullBlocks = table::kRowsPerProblem / 16;
  for (int row = 0; row < m;) {
    int rows = 0;
    int m_blocks = 0;
    next_launch(m - row, p.max_par, &rows, &m_blocks);
    const Variant*& v = m_blocks == kFullBlocks ? p.full : p.tail;
    if (!v && !(v = pick(m_blocks))) return o.stages ? Status::kBadLaunch : Status::kNoVariant;
    ++p.launches;
    row += rows;
  }
  // A plan for m = 0 still names the variant of one row, so that callers can
  // check a tile and depth before any row exists.
  const Variant* any = p.full ? p.full : p.tail ? p.tail : pick(1);
  if (!any) return o.stages ? Status::kBadLaunch : Status::kNoVariant;
  p.stages = any->stages;
  *out = p;
  return Status::kOk;
}

namespace {
std::atomic<unsigned> g_rules_generation{0};
}  // namespace

unsigned tile_rules_generation() { return g_rules_generation.load(std::memory_order_acquire); }

Status set_tile_rules(int arch, const TileRule* rules, int count) {
  if (arch < 0 || count < 0 || (count > 0 && !rules)) return Status::kBadLaunch;
  for (int i = 0; i < count; ++i)
    if (rules[i].max_batch < 0 || rules[i].min_n < 0 || rules[i].tile_k <= 0 || rules[i].tile_n <= 0)
      return Status::kBadLaunch;
  if (count > 0 && (rules[count - 1].max_batch != 0 || rules[count - 1].min_n != 0)) return Status::kBadLaunch;
  RuleStore& store = rule_store();
  std::lock_guard<std::mutex> lock(store.mutex);
  g_rules_generation.fetch_add(1, std::memory_order_acq_rel);
  if (count == 0) {
    store.sets.erase(arch);
    if (arch == 0) {
      for (const table::RuleSet& s : table::kDefaultRules)
        if (s.arch == 0)
          for (int i = 0; i < s.count; ++i)
            store.sets[0].push_back({s.rules[i].max_batch, s.rules[i].min_n, s.rules[i].tile_k, s.rules[i].tile_n});
    }
    return Status::kOk;
  }
  store.sets[arch].assign(rules, rules + count);
  return Status::kOk;
}

int tile_rules(int arch, TileRule* out, int capacity) {
  RuleStore& store = rule_store();
  std::lock_guard<std::mutex> lock(store.mutex);
  const auto it = store.sets.find(arch);
  if (it == store.sets.end()) return 0;
  const int count = static_cast<int>(it->second.size());
  for (int i = 0; i < count && i < capacity; ++i) out[i] = it->second[i];
  return count;
}

void reset_tile_rules() {
  RuleStore& store = rule_store();
  std::lock_guard<std::mutex> lock(store.mutex);
  g_rules_generation.fetch_add(1, std::memory_order_acq_rel);
  store.reset();
}

}  // namespace marlin
