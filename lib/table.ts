/**
 * The kernel table (csrc/kernels/table.json), the one source of the shape
 * and format rules: the build generates the compiled variants from it, and
 * the CPU-side checks here read the same file, so they hold even where the
 * addon is not built. The package ships csrc/, so the file is found from
 * both lib/ (ts-node, jest) and dist/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface KernelTableFile {
  shape: { kMultiple: number; nMultiple: number; rowsPerProblem: number; maxParLimit: number };
  formats: {
    activations: string[];
    bits: number[];
    groupSizes: number[];
    zeroPoints: boolean[];
  };
  architectures: { default: number[]; minimum: number };
  families: Array<{
    name: string;
    summary: string;
    tiles: Array<{ tileK: number; tileN: number }>;
    /** wgmma: the tile heights (batch rows per block, wgmma's N) compiled; the chooser takes the smallest that holds m. decode: the same (8: one n8 tile of rows). */
    rows?: number[];
    /** mma: 16-row blocks per problem. */
    rowBlocks?: number[];
    /** wgmma, decode: the one architecture it is compiled for (as sm_<arch>a). */
    arch?: number;
    /** wgmma, decode: the formats it covers, narrowing the table's. */
    formats?: { bits?: number[]; zeroPoints?: boolean[]; groupSizes?: number[] };
    /**
     * wgmma: the chooser gives it a call when an entry has minBatch <= m <= maxBatch (default: no upper bound), minTiles to maxTiles output tiles (no upper bound by default), minK <= k <= maxK (defaults 0 and no bound), and the format's bits, group size, activations and zero-point mode (default: any).
     * decode: when an entry has m <= maxBatch, the format's bits and zero-point mode (default: any), a layer the chooser cuts into minShares to maxShares k shares per strip (default: any),
     * k >= minK (default: any), a GPU with at least minMemoryGBpsPerSm GB/s of peak memory bandwidth per SM (default: any GPU; a GPU whose bandwidth is unknown has none), and at most maxExcessKiB KiB of
     * the layer's weights on the busiest SM beyond an even share when the blocks are dealt out to the SMs (default: no bound).
     */
    choose?: Array<{
      minBatch?: number;
      minTiles?: number;
      maxTiles?: number;
      minK?: number;
      maxK?: number;
      maxBatch?: number;
      bits?: number[];
      groupSizes?: number[];
      activations?: string[];
      zeroPoints?: boolean[];
      minShares?: number;
      maxShares?: number;
      minMemoryGBpsPerSm?: number;
      maxExcessKiB?: number;
    }>;
    /** decode: k16 rows each warp keeps in flight. */
    depth?: number;
    /** decode: the warps per SM its share count aims at (csrc/kernels/chooser.cc decode_shares). */
    warpsPerSm?: number;
    /**
     * decode: k shares per 64-column strip (one per warp), as warps per block x blocks per cluster; blocksPerSm
     * (2 or more): blocks each SM must hold at once, which caps the entry's kernel's registers (__launch_bounds__).
     */
    shares?: Array<{ shares: number; warps: number; splits: number; blocksPerSm?: number }>;
    /** wgmma: the most k splits per output tile (one thread block cluster), at most 8. */
    maxSplits?: number;
    /** wgmma: the fewest k tiles (tileK-deep; a pipeline stage holds one or two) the chooser leaves each split. */
    minSplitStages?: number;
    /** wgmma: what the chooser counts per block for its fixed costs (pipeline fill, epilogue), in stages of work. */
    blockCostStages?: number;
    /** wgmma: what the chooser counts per block of a split call for its reduction, in stages of work. */
    splitCostStages?: number;
    /** wgmma: what the chooser counts for a second launch that runs a last, partial wave's tiles split, in stages of work. */
    tailLaunchCostStages?: number;
    /** wgmma, stream-k: what the chooser counts for each further output tile a block has a share of (a pipeline refill), in stages of work. */
    streamKShareCostStages?: number;
    /** wgmma, stream-k: what the chooser counts for each partial a block adds from the blocks below it, in stages of work. */
    streamKPartialCostStages?: number;
    /** wgmma, stream-k: how much more (percent, times 1 - 1 / row tiles) the chooser counts for its stages than a split plan's on a layer of several row tiles (weights not shared in L2 across row tiles). */
    streamKRowReusePercent?: number;
    /** wgmma: per split count s = 1..maxSplits, the share of the SMs (percent) clusters of s blocks fill at once. */
    clusterSmPercent?: number[];
    /**
     * wgmma: where the chooser prices the two families against each other and overrules the choose entries: at
     * minBatch..maxBatch rows and k >= minK on the GPU of compute capability `arch`, in the formats listed (filters
     * default to all), for calls free to take either family, when the other family's price is lower by more than the first
     * minGain entry matching (m <= maxBatch, the format's bits) says. The prices' terms are in ns, GB/s and
     * percent: table.json's $comment and csrc/kernels/chooser.cc (mma_price_ps, wgmma_price_ps). Their memory
     * speeds are the fitted GPU's, whose peak memory bandwidth is fittedMemoryGBps; the chooser scales them by a
     * GPU's own.
     */
    familyPrice?: {
      arch: number;
      fittedMemoryGBps: number;
      minBatch: number;
      maxBatch: number;
      minK?: number;
      /** streamK false: not where the wgmma plan is a stream-k launch; true: only there. */
      formats: Array<{ bits?: number[]; groupSizes?: number[]; activations?: string[]; zeroPoints?: boolean[]; streamK?: boolean }>;
      minGain: Array<{ maxBatch?: number; bits?: number[]; percent: number }>;
      mma: Record<string, number | Record<string, number>>;
      wgmma: Record<string, number | Record<string, number | Record<string, number>>>;
    };
    /**
     * mma: block counts whose stripes follow column tiles, for the default plan
     * at small batches; the first entry matching the GPU's compute capability,
     * m <= maxBatch, the format's bits and activation (default: any) applies
     * when the count keeps minFillPercent of the SMs busy (csrc/kernels/chooser.cc).
     */
    alignedBlocks?: {
      entries: Array<{ arch: number; maxBatch: number; bits?: number[]; activations?: string[]; minFillPercent: number }>;
    };
    /**
     * mma: at minBatch..maxBatch rows (a launch's 64-row problems priced as
     * more columns), the block count of least price where it is below the
     * count the plan had (an alignedBlocks entry's, else one per SM): a
     * block's stripe of stages, plus
     * partialCost stages for each other block whose partial a column's reduction
     * gathers, plus straddleCost if stripes cross column tiles; one block per SM
     * or an equal share of a column per block (csrc/kernels/chooser.cc).
     */
    pricedBlocks?: {
      entries: Array<{
        arch: number;
        minBatch: number;
        maxBatch: number;
        bits?: number[];
        activations?: string[];
        partialCost: number;
        straddleCost: number;
      }>;
    };
    /**
     * mma: where the weight loads carry the L2 evict-first hint: sm_<arch>a
     * machine code from the listed nvcc versions ("13.0.88", or "13.0" for any build of it), the listed row
     * blocks, less the excluded kernels (scripts/gen-kernels.js).
     */
    evictFirst?: {
      arch: number;
      nvcc: string[];
      rowBlocks: number[];
      exclude?: Array<{ variant: string; rowBlocks: number[] }>;
    };
  }>;
  rules: Record<string, Array<{ maxBatch: number | null; minN: number; tileK: number; tileN: number }> | string>;
}

export const TABLE_PATH = path.resolve(__dirname, '..', 'csrc', 'kernels', 'table.json');

export const KERNEL_TABLE_FILE: Readonly<KernelTableFile> = Object.freeze(
  JSON.parse(fs.readFileSync(TABLE_PATH, 'utf8')) as KernelTableFile,
);
