#!/usr/bin/env node
// Generates the compiled kernel variants from csrc/kernels/table.json: one
// .cu per (family, activation, weight bits, group, zero points, tile), each
// instantiating the row blocks for every architecture of the build; the
// dispatch table that lists them (variant_table.cu); kernel_table.h, the
// table's shapes, formats and compiled families as C++ constants (every
// kernel includes it); and chooser_table.h, what only the chooser reads
// (choose entries, cost constants, block counts, tile rules), so that tuning
// those rebuilds chooser.cc alone. Both builds run it: CMakeLists.txt at
// configure time, binding.gyp through `<!@(...)`. Files are rewritten only
// when their content changes, so a rerun does not rebuild anything.
//
//   node scripts/gen-kernels.js --out DIR [--cmake | --list | --gencode]
//     --cmake     print "ARCHS=<cmake CUDA_ARCHITECTURES>", "SPECIFIC=<nvcc flags for
//                 the sm_<arch>a machine code>", "FILES=<.cu;...>" and "SM90A=<.cu;...>"
//     --list      print the generated .cu files, one per line
//     --gencode   print nvcc -gencode flags for the architectures, one per line
//     --archs     print the resolved architecture list
//   node scripts/gen-kernels.js --nvcc NVCC INPUT OUTPUT -- FLAGS...
//                 compile INPUT with its -gencode flags (node-gyp's rule)
//
// Architectures: MARLIN_CUDA_ARCHS ("90" or "80;86;89;90", also "," or " "
// separated) if set; else those of the GPUs nvidia-smi reports, when it
// does; else the table's default list. Machine code for each, plus PTX of
// the newest, which later GPUs can JIT-compile.
// MARLIN_VARIANT_FILTER (a regular expression over the file names, e.g.
// "f16_u4") builds a subset, for quicker development builds only.
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const TABLE_PATH = path.join(ROOT, 'csrc', 'kernels', 'table.json');

function fail(message) {
  console.error(`gen-kernels: ${message}`);
  process.exit(1);
}

function loadTable() {
  try {
    return JSON.parse(fs.readFileSync(TABLE_PATH, 'utf8'));
  } catch (error) {
    fail(`cannot read ${TABLE_PATH}: ${error.message}`);
  }
}

function parseArchList(text, source, minimum) {
  const items = text.split(/[;,\s]+/).filter(Boolean);
  const archs = items.map((item) => {
    const match = /^(?:sm_|compute_)?(\d+)$/.exec(item);
    if (!match) fail(`${source}: "${item}" is not an architecture (expected e.g. 80;86;89;90)`);
    const arch = Number(match[1]);
    if (arch < minimum) fail(`${source}: sm_${arch} is older than sm_${minimum}, the oldest GPU the kernels support`);
    return arch;
  });
  if (archs.length === 0) fail(`${source} lists no architecture`);
  return [...new Set(archs)].sort((a, b) => a - b);
}

function detectedArchs() {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=compute_cap', '--format=csv,noheader'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10000,
    });
    const caps = out
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /^\d+\.\d+$/.test(line))
      .map((line) => line.replace('.', ''));
    return caps.length ? caps.join(';') : null;
  } catch {
    return null;
  }
}

function resolveArchs(table) {
  const minimum = table.architectures.minimum;
  const env = process.env.MARLIN_CUDA_ARCHS;
  if (env && env.trim()) return parseArchList(env, 'MARLIN_CUDA_ARCHS', minimum);
  const detected = detectedArchs();
  if (detected) {
    const usable = detected.split(';').filter((a) => Number(a) >= minimum);
    if (usable.length) return parseArchList(usable.join(';'), 'nvidia-smi', minimum);
  }
  return parseArchList(table.architectures.default.join(';'), 'table.json architectures.default', minimum);
}

// value: the Act enumerator's value (csrc/kernels/common/format.h).
const ACT = { float16: { tag: 'f16', cpp: 'Act::kF16', value: 0 }, bfloat16: { tag: 'bf16', cpp: 'Act::kBF16', value: 1 } };

// The generated file (and table.json exclude) name of a combination:
// gemm_<family>_<f16|bf16>_u<bits>_<g<group>|gch>_<zp|sym>_<tileK>x<tileN>.
function variantName({ family, act, bits, group, zeros, tileK, tileN }) {
  if (!ACT[act]) fail(`unknown activation type "${act}"`);
  return ['gemm', family, ACT[act].tag, `u${bits}`, group < 0 ? 'gch' : `g${group}`, zeros ? 'zp' : 'sym', `${tileK}x${tileN}`].join('_');
}

// The families other than mma: compiled for their one architecture
// (sm_<arch>a) only, and only when it is built.
const SINGLE_ARCH = ['wgmma', 'decode'];

// Every compiled combination of the table, one per generated file. The mma
// family covers every format of the table on every built architecture; the
// wgmma and decode families only their own formats, and only when their
// architecture is built.
function combinations(table, archs) {
  const out = [];
  for (const family of table.families) {
    if (family.name !== 'mma' && !SINGLE_ARCH.includes(family.name)) fail(`unknown kernel family "${family.name}"`);
    if (SINGLE_ARCH.includes(family.name) && !archs.includes(family.arch)) continue;
    const bitsList = family.formats?.bits ?? table.formats.bits;
    const zerosList = family.formats?.zeroPoints ?? table.formats.zeroPoints;
    const groupList = family.formats?.groupSizes ?? table.formats.groupSizes;
    for (const act of table.formats.activations)
      for (const bits of bitsList)
        for (const group of groupList)
          for (const zeros of zerosList)
            for (const tile of family.tiles) {
              const name = variantName({ family: family.name, act, bits, group, zeros, tileK: tile.tileK, tileN: tile.tileN });
              out.push({ family, act, bits, group, zeros, tile, name });
            }
  }
  return out;
}

// How many variants a build for `archs` holds: one per mma combination and
// architecture, one per wgmma or decode combination and tile height (their
// own architecture only).
function variantCount(table, archs) {
  return combinations(table, archs).reduce(
    (sum, c) => sum + (c.family.name === 'mma' ? c.family.rowBlocks.length * archs.length : c.family.rows.length),
    0,
  );
}

// The table's family of that name ('mma', 'wgmma', 'decode'), or undefined.
function familyNamed(table, name) {
  return table.families.find((f) => f.name === name);
}

// The family a generated variant file belongs to (its name: variantName).
function fileFamily(table, file) {
  return familyNamed(table, path.basename(file).split('_')[1]);
}

// The wgmma and decode families' files are compiled for sm_<arch>a alone
// (wgmma needs the arch-specific target; the decode family runs on that
// architecture only); everything else for the build's architectures.
function isArchSpecific(file) {
  return SINGLE_ARCH.some((name) => path.basename(file).startsWith(`gemm_${name}_`));
}

const HEADER = '// Generated by scripts/gen-kernels.js from csrc/kernels/table.json: do not edit.\n';

const NAMESPACE = { mma: 'mma', wgmma: 'wg', decode: 'dec' };

function describe(c) {
  return (
    `// Family ${c.family.name}, ${c.act}, ${c.bits}-bit, ${c.group < 0 ? 'one group per column' : `groups of ${c.group}`}, ` +
    `${c.zeros ? 'zero points' : 'symmetric'}, tile ${c.tile.tileK}x${c.tile.tileN}.\n`
  );
}

// A generated variant file: the family's launch header, then, in its
// namespace (after `preamble`, if any), the combination's table rows.
function variantSource(c, rows, preamble = '') {
  const ns = `marlin::${NAMESPACE[c.family.name]}`;
  return (
    HEADER +
    describe(c) +
    `#include "${c.family.name}/launch.cuh"\n\n` +
    `namespace ${ns} {\n${preamble}\n` +
    `extern const Variant k_${c.name}[] = {\n${rows.join('\n')}\n};\n` +
    `extern const int k_${c.name}_count = ${rows.length};\n\n` +
    `}  // namespace ${ns}\n`
  );
}

function variantFile(c, archs) {
  const format = `${ACT[c.act].cpp}, ${c.bits}, ${c.group}, ${c.zeros}`;
  if (c.family.name === 'decode')
    return variantSource(
      c,
      c.family.rows.map((r) => `    variant_row<PlanOf<${format}, ${r}, ${c.family.depth}>, ${c.family.arch}>(),`),
    );
  if (c.family.name === 'wgmma')
    return variantSource(
      c,
      c.family.rows.map((r) => `    variant_row<TileOf<${format}, ${r}, ${c.tile.tileN}, ${c.tile.tileK}>, ${c.family.arch}>(),`),
    );
  const rows = [];
  for (const m of c.family.rowBlocks)
    for (const arch of archs) rows.push(`    variant_row<L<${m}>, ${arch}, ${evictFirstHint(c, m, arch)}>(),`);
  return variantSource(
    c,
    rows,
    'namespace {\n' +
      `template <int M>\nusing L = LayoutOf<${format}, ${c.tile.tileK}, ${c.tile.tileN}, M>;\n` +
      '}  // namespace\n',
  );
}

function tableSource(combos) {
  const decls = combos
    .map(
      (c) =>
        `namespace ${NAMESPACE[c.family.name]} {\nextern const Variant k_${c.name}[];\nextern const int k_${c.name}_count;\n}  // namespace ${NAMESPACE[c.family.name]}`,
    )
    .join('\n');
  const list = combos.map((c) => `      {${NAMESPACE[c.family.name]}::k_${c.name}, ${NAMESPACE[c.family.name]}::k_${c.name}_count},`).join('\n');
  return (
    HEADER +
    '// Every compiled variant, for the launcher and the chooser.\n' +
    '#include <vector>\n\n' +
    '#include "variant.h"\n\n' +
    'namespace marlin {\n' +
    `${decls}\n\n` +
    'VariantSpan compiled_variants() {\n' +
    '  struct Part {\n    const Variant* rows;\n    int count;\n  };\n' +
    `  static const std::vector<Variant> all = [] {\n    const Part parts[] = {\n${list}\n    };\n` +
    '    std::vector<Variant> v;\n' +
    '    for (const Part& p : parts) v.insert(v.end(), p.rows, p.rows + p.count);\n' +
    '    return v;\n  }();\n' +
    '  return {all.data(), static_cast<int>(all.size())};\n' +
    '}\n\n' +
    '}  // namespace marlin\n'
  );
}

function cppList(values) {
  return `{${values.join(', ')}}`;
}

// A C++ mask with bit b set for each b of `bits` (0x...u).
function bitsMask(bits) {
  return `0x${bits.reduce((m, b) => m | (1 << b), 0).toString(16)}u`;
}

// Bit i for the table's group size i (formats.groupSizes, kGroupSizes).
function groupsMask(sizes, table) {
  return `0x${sizes.reduce((m, g) => m | (1 << table.formats.groupSizes.indexOf(g)), 0).toString(16)}u`;
}

// Bit a for each activation of `activations` whose Act value is a.
function actsMask(activations) {
  return bitsMask(activations.map((a) => ACT[a].value));
}

// Bit 0: symmetric formats, bit 1: zero points.
function zerosMask(modes) {
  return `0x${modes.reduce((m, z) => m | (z ? 2 : 1), 0).toString(16)}u`;
}

// An integer of at least `min` that the generated headers' `int` fields hold
// (a larger one would be written as 1e+21, or overflow the int).
const INT_MAX = 2 ** 31 - 1;
function isCount(value, min) {
  return Number.isInteger(value) && value >= min && value <= INT_MAX;
}

// An optional filter of a table entry (bits, activations, zero-point modes):
// absent, or a non-empty list of values from `allowed` (an empty one, or one
// with only other values, could never match).
function isOptionalSubset(value, allowed) {
  return value === undefined || (Array.isArray(value) && value.length > 0 && value.every((v) => allowed.includes(v)));
}

// Stops the build where object `obj` (named `name` in the message) has keys
// other than `keys` and comments ($...).
function checkKnownKeys(obj, keys, name) {
  const unknown = obj && typeof obj === 'object' ? Object.keys(obj).filter((k) => !keys.includes(k) && !k.startsWith('$')) : [];
  if (unknown.length) fail(`${name} has unknown keys: ${unknown.join(', ')}`);
}

// The wgmma family's rules, checked before anything is written: each
// mistake stops the build with one line naming it.
function checkWgmma(table) {
  const wgmma = familyNamed(table, 'wgmma');
  if (!wgmma) return;
  const list = (value) => (Array.isArray(value) ? value : []);
  // A portable cluster holds at most 8 blocks (the split-k reduction).
  if (!(isCount(wgmma.maxSplits, 1) && wgmma.maxSplits <= 8))
    fail(`wgmma maxSplits must be 1 to 8 (a portable cluster), not ${wgmma.maxSplits}`);
  const rows = list(wgmma.rows);
  if (!(rows.length > 0 && rows.every((r, i) => [32, 48, 64, 96, 128].includes(r) && (i === 0 || r > rows[i - 1]))))
    fail(`wgmma rows must be ascending values of 32, 48, 64, 96 and 128 (ptx::MmaAsync's shapes), not ${wgmma.rows}`);
  const capacity = list(wgmma.clusterSmPercent);
  if (!(capacity.length === wgmma.maxSplits && capacity.every((p) => p > 0 && p <= 100)))
    fail(`wgmma clusterSmPercent must give 1..100 for each split count up to maxSplits, not ${wgmma.clusterSmPercent}`);
  if (!isCount(wgmma.minSplitStages, 1)) fail(`wgmma minSplitStages must be an integer >= 1, not ${wgmma.minSplitStages}`);
  if (!(isCount(wgmma.blockCostStages, 0) && isCount(wgmma.splitCostStages, 0) && isCount(wgmma.tailLaunchCostStages, 0)))
    fail('wgmma blockCostStages, splitCostStages and tailLaunchCostStages must be integers >= 0');
  if (!(isCount(wgmma.streamKShareCostStages, 0) && isCount(wgmma.streamKPartialCostStages, 0)))
    fail('wgmma streamKShareCostStages and streamKPartialCostStages must be integers >= 0');
  if (!(isCount(wgmma.streamKRowReusePercent, 0) && wgmma.streamKRowReusePercent <= 100))
    fail(`wgmma streamKRowReusePercent must be an integer from 0 to 100, not ${wgmma.streamKRowReusePercent}`);
  // An entry's bits and group sizes are among those the family is built for
  // (an entry with none, or with only others, could never be taken).
  const familyBits = wgmma.formats?.bits ?? table.formats.bits;
  const familyGroups = wgmma.formats?.groupSizes ?? table.formats.groupSizes;
  const familyZeros = wgmma.formats?.zeroPoints ?? table.formats.zeroPoints;
  const choose = list(wgmma.choose);
  const chooseOk = (c) =>
    c !== null &&
    typeof c === 'object' &&
    Object.keys(c).every((key) =>
      ['minBatch', 'maxBatch', 'minTiles', 'maxTiles', 'minK', 'maxK', 'bits', 'groupSizes', 'activations', 'zeroPoints'].includes(key),
    ) &&
    isCount(c.minBatch, 1) &&
    (c.maxBatch === undefined || isCount(c.maxBatch, c.minBatch)) &&
    isCount(c.minTiles, 0) &&
    (c.maxTiles === undefined || isCount(c.maxTiles, Math.max(1, c.minTiles))) &&
    (c.minK === undefined || isCount(c.minK, 0)) &&
    (c.maxK === undefined || isCount(c.maxK, Math.max(1, c.minK ?? 0))) &&
    isOptionalSubset(c.bits, familyBits) &&
    isOptionalSubset(c.groupSizes, familyGroups) &&
    isOptionalSubset(c.activations, table.formats.activations) &&
    isOptionalSubset(c.zeroPoints, familyZeros);
  if (!(choose.length > 0 && choose.every(chooseOk)))
    fail(
      `wgmma choose must list { minBatch >= 1, maxBatch?: >= minBatch, minTiles >= 0, maxTiles?: >= minTiles and 1, minK?: >= 0, maxK?: >= minK and 1, ` +
        `bits?: some of the family's bits (${familyBits}), ` +
        `groupSizes?: some of its group sizes (${familyGroups}), activations?: some of the table's (${table.formats.activations}), ` +
        `zeroPoints?: some of its zero-point modes (${familyZeros}) } entries`,
    );
}

// The row blocks (16 rows each) the mma family runs m rows in, for every m
// of min..max (one problem: max <= rowsPerProblem), and the wgmma tile
// heights it takes for them (the smallest of `rows` holding m, else the
// tallest): the keys a familyPrice section must price.
function pricedHeights(min, max, rows) {
  const rowBlocks = new Set();
  const heights = new Set();
  for (let m = min; m <= max; ++m) {
    rowBlocks.add(Math.ceil(m / 16));
    heights.add(rows.find((r) => r >= m) ?? rows[rows.length - 1]);
  }
  return { rowBlocks: [...rowBlocks], heights: [...heights] };
}

// A term of the family price: a number from 0 to 100000 (ns, or percent and
// stages where so named). The bound keeps the chooser's integer prices (ps)
// far from overflow on any layer it prices (chooser.cc family_price_entry).
const PRICE_COST_MAX = 100000;
function isPriceCost(v, max = PRICE_COST_MAX) {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= max;
}

// A speed of the family price in GB/s, 1 to 1e6: written as bytes per
// microsecond, which the chooser divides by (from 1 GB/s, a 2^34-weight
// layer's bytes take under 2e13 ps, far inside the price's range).
function isPriceRate(v) {
  return typeof v === 'number' && Number.isFinite(v) && v >= 1 && v <= 1e6;
}

// A price term in ns as the chooser reads it: whole picoseconds.
const toPs = (ns) => Math.round(ns * 1000);

// Whether `obj` is a plain object with as many keys as `keys` (the callers
// check each of `keys` has a value, so together: exactly `keys`).
function hasKeyCount(obj, keys) {
  return obj !== null && typeof obj === 'object' && !Array.isArray(obj) && Object.keys(obj).length === keys.length;
}

// Whether `obj` is an object whose keys are exactly `keys` (as strings), each
// a price term (isPriceCost, up to `max`).
function isCostMap(obj, keys, max = PRICE_COST_MAX) {
  return hasKeyCount(obj, keys) && keys.every((k) => isPriceCost(obj[String(k)], max));
}

// The stage extras each family's price has (chooser.cc mma_price_ps,
// wgmma_price_ps): by the tile, the weights' bits, BF16, zero points (at 4
// bits on the wgmma family a split plan's and a stream-k plan's apart) and
// per-column scales.
const MMA_STAGE_EXTRAS = ['wideTile', 'bits8', 'bfloat16', 'zeroPoints', 'perColumn'];
const WGMMA_STAGE_EXTRAS = ['bits8', 'bfloat16', 'zeroPoints4Bit', 'zeroPoints4BitStreamK', 'zeroPoints8Bit', 'perColumn'];

// Whether `obj` holds exactly `keys`, each a stage extra in ns: a cost
// (isPriceCost) or a saving down to -100000, where the savings together stay
// under `minStage`, the family's cheapest stage, so that no stage the price
// adds up is 0 or less. Compared in ps, as familyPriceSource rounds each term.
function isStageExtras(obj, keys, minStage) {
  if (!hasKeyCount(obj, keys)) return false;
  const values = keys.map((k) => obj[k]);
  if (!values.every((v) => typeof v === 'number' && isPriceCost(Math.abs(v)))) return false;
  const savingsPs = values.filter((v) => v < 0).reduce((sum, v) => sum - toPs(v), 0);
  return savingsPs === 0 || savingsPs < toPs(minStage);
}

// The wgmma family's price against the mma family (table.json
// wgmma.familyPrice), checked like the choose entries: each mistake stops
// the build with one line naming it.
function checkFamilyPrice(table) {
  const wgmma = familyNamed(table, 'wgmma');
  for (const other of table.families)
    if (other !== wgmma && other.familyPrice !== undefined) fail(`familyPrice is the wgmma family's; the ${other.name} family has one`);
  const fp = wgmma?.familyPrice;
  if (fp === undefined) return;
  const where = 'wgmma familyPrice';
  if (fp === null || typeof fp !== 'object' || Array.isArray(fp)) fail(`${where} must be an object, not ${JSON.stringify(fp)}`);
  checkKnownKeys(fp, ['arch', 'fittedMemoryGBps', 'minBatch', 'maxBatch', 'minK', 'formats', 'minGain', 'mma', 'wgmma'], where);
  if (fp.arch !== wgmma.arch) fail(`${where} arch must be the family's (${wgmma.arch}), not ${fp.arch}`);
  // The peak memory bandwidth of the GPU the price was fitted on (its memory
  // clock x bus width, as chooser.cc peak_memory_gbps counts it): the
  // chooser scales the memory speeds by a GPU's own against it.
  if (!(Number.isInteger(fp.fittedMemoryGBps) && isPriceRate(fp.fittedMemoryGBps)))
    fail(`${where} fittedMemoryGBps must be an integer from 1 to 1e6 (GB/s), not ${JSON.stringify(fp.fittedMemoryGBps)}`);
  // 17 rows and up: the mma family's one-row-block kernels were not priced;
  // one 64-row problem at most: the mma price has no term for several.
  if (!(isCount(fp.minBatch, 17) && isCount(fp.maxBatch, fp.minBatch) && fp.maxBatch <= table.shape.rowsPerProblem))
    fail(`${where} must have 17 <= minBatch <= maxBatch <= ${table.shape.rowsPerProblem} (one problem), not ${fp.minBatch}..${fp.maxBatch}`);
  if (!(fp.minK === undefined || isCount(fp.minK, 0))) fail(`${where} minK must be an integer >= 0, not ${fp.minK}`);
  const familyBits = wgmma.formats?.bits ?? table.formats.bits;
  const familyGroups = wgmma.formats?.groupSizes ?? table.formats.groupSizes;
  const familyZeros = wgmma.formats?.zeroPoints ?? table.formats.zeroPoints;
  const formatOk = (f) =>
    f !== null &&
    typeof f === 'object' &&
    !Array.isArray(f) &&
    Object.keys(f).every((key) => ['bits', 'groupSizes', 'activations', 'zeroPoints', 'streamK'].includes(key)) &&
    (f.streamK === undefined || typeof f.streamK === 'boolean') &&
    isOptionalSubset(f.bits, familyBits) &&
    isOptionalSubset(f.groupSizes, familyGroups) &&
    isOptionalSubset(f.activations, table.formats.activations) &&
    isOptionalSubset(f.zeroPoints, familyZeros);
  if (!(Array.isArray(fp.formats) && fp.formats.length > 0 && fp.formats.every(formatOk)))
    fail(`${where} formats must list { bits?, groupSizes?, activations?, zeroPoints?: some of the family's, streamK?: true or false } filters`);
  // The last minGain entry has no filter, so that every call finds one.
  const gains = fp.minGain;
  const gainOk = (g, i) =>
    g !== null &&
    typeof g === 'object' &&
    Object.keys(g).every((key) => ['maxBatch', 'bits', 'percent'].includes(key)) &&
    !Array.isArray(g) &&
    (g.maxBatch === undefined || isCount(g.maxBatch, fp.minBatch)) &&
    isOptionalSubset(g.bits, familyBits) &&
    isCount(g.percent, 0) &&
    g.percent < 100 &&
    (i < gains.length - 1 || (g.maxBatch === undefined && g.bits === undefined));
  if (!(Array.isArray(gains) && gains.length > 0 && gains.every(gainOk)))
    fail(`${where} minGain must list { maxBatch?: >= minBatch, bits?: some of the family's, percent: 0..99 } entries, the last with no filter`);
  const { rowBlocks, heights } = pricedHeights(fp.minBatch, fp.maxBatch, wgmma.rows);
  const mma = fp.mma ?? {};
  checkKnownKeys(mma, ['fixedNs', 'blockNs', 'sharingNsPerRowBlock', 'straddleNs', 'stageNs', 'stageExtraNs', 'memoryGBps'], `${where} mma`);
  if (
    !(
      isCostMap(mma.fixedNs, rowBlocks) &&
      isCostMap(mma.stageNs, rowBlocks) &&
      isStageExtras(mma.stageExtraNs, MMA_STAGE_EXTRAS, Math.min(...rowBlocks.map((r) => mma.stageNs[r]))) &&
      [mma.blockNs, mma.sharingNsPerRowBlock, mma.straddleNs].every((v) => isPriceCost(v)) &&
      isPriceRate(mma.memoryGBps)
    )
  )
    fail(
      `${where} mma must give fixedNs and stageNs for each row-block count of minBatch..maxBatch rows (${rowBlocks}), ` +
        `stageExtraNs { ${MMA_STAGE_EXTRAS.join(', ')} } (-100000..100000 ns, the savings together under the smallest stageNs), ` +
        'blockNs, sharingNsPerRowBlock, straddleNs (0..100000 ns) and memoryGBps (1..1e6)',
    );
  const wg = fp.wgmma ?? {};
  checkKnownKeys(
    wg,
    ['fixedNs', 'fixedNsPer64Rows', 'blockNs', 'splitNsPer64Rows', 'stageNs', 'stageExtraNs', 'stageGBps', 'memoryGBps', 'streamK'],
    `${where} wgmma`,
  );
  const sk = wg.streamK ?? {};
  checkKnownKeys(sk, ['extraStages', 'runPercent', 'memoryPercent'], `${where} wgmma streamK`);
  if (
    !(
      [wg.fixedNs, wg.fixedNsPer64Rows, wg.blockNs, wg.splitNsPer64Rows, wg.stageNs].every((v) => isPriceCost(v)) &&
      [sk.extraStages, sk.memoryPercent].every((v) => isPriceCost(v, 1000)) &&
      isStageExtras(wg.stageExtraNs, WGMMA_STAGE_EXTRAS, wg.stageNs) &&
      isCostMap(sk.runPercent, heights, 1000) &&
      isPriceRate(wg.stageGBps) &&
      isPriceRate(wg.memoryGBps)
    )
  )
    fail(
      `${where} wgmma must give fixedNs, fixedNsPer64Rows, blockNs, splitNsPer64Rows, stageNs (0..100000 ns), stageExtraNs { ` +
        `${WGMMA_STAGE_EXTRAS.join(', ')} } (-100000..100000 ns, the savings together under stageNs), ` +
        `stageGBps and memoryGBps (1..1e6), and streamK { extraStages, memoryPercent, runPercent for each tile ` +
        `height of minBatch..maxBatch rows (${heights}): 0..1000 }`,
    );
}

// The decode family's rules, checked like the wgmma ones.
function checkDecode(table) {
  const decode = familyNamed(table, 'decode');
  if (!decode) return;
  const list = (v) => (Array.isArray(v) ? v : []);
  if (decode.arch !== 90) fail(`decode arch must be 90 (thread block clusters, compiled as sm_90a), not ${decode.arch}`);
  const groups = list(decode.formats?.groupSizes);
  if (!(groups.length > 0 && groups.every((g) => g > 0 && table.formats.groupSizes.includes(g))))
    fail(`decode formats.groupSizes must list some of the table's grouped sizes (${table.formats.groupSizes.filter((g) => g > 0)}), not ${decode.formats?.groupSizes}`);
  const tiles = list(decode.tiles);
  if (!(tiles.length === 1 && tiles[0].tileK === 16 && tiles[0].tileN === 64))
    fail('decode tiles must be [{ tileK: 16, tileN: 64 }] (one k16 row of a 64-column strip of the Marlin layout)');
  const rows = list(decode.rows);
  if (!(rows.length > 0 && rows.every((r, i) => (r === 8 || r === 16) && (i === 0 || r > rows[i - 1]))))
    fail(`decode rows must be ascending values of 8 and 16 (one or two n8 tiles), not ${decode.rows}`);
  if (!(isCount(decode.depth, 1) && decode.depth <= 8)) fail(`decode depth must be 1 to 8 k16 rows, not ${decode.depth}`);
  if (!isCount(decode.warpsPerSm, 1)) fail(`decode warpsPerSm must be an integer >= 1, not ${decode.warpsPerSm}`);
  const shares = list(decode.shares);
  const shareOk = (e, i) =>
    e !== null &&
    typeof e === 'object' &&
    Object.keys(e).every((key) => ['shares', 'warps', 'splits', 'blocksPerSm'].includes(key)) &&
    isCount(e.warps, 1) &&
    e.warps <= 8 &&
    isCount(e.splits, 1) &&
    e.splits <= 8 &&
    (e.blocksPerSm === undefined || (isCount(e.blocksPerSm, 2) && e.blocksPerSm * e.warps <= 64)) &&
    e.shares === e.warps * e.splits &&
    (i === 0 || e.shares > shares[i - 1].shares);
  if (!(shares.length > 0 && shares.every(shareOk)))
    fail(
      'decode shares must list { shares: warps x splits, warps 1..8, splits 1..8, blocksPerSm?: >= 2 (1 caps nothing), at most 64 warps per SM } entries, shares ascending',
    );
  const familyBits = decode.formats?.bits ?? table.formats.bits;
  const familyZeros = decode.formats?.zeroPoints ?? table.formats.zeroPoints;
  const choose = decode.choose;
  const chooseOk = (c) =>
    c !== null &&
    typeof c === 'object' &&
    Object.keys(c).every((key) =>
      ['maxBatch', 'bits', 'zeroPoints', 'minShares', 'maxShares', 'minK', 'minMemoryGBpsPerSm', 'maxExcessKiB'].includes(key),
    ) &&
    isCount(c.maxBatch, 1) &&
    c.maxBatch <= rows[rows.length - 1] &&
    isOptionalSubset(c.bits, familyBits) &&
    isOptionalSubset(c.zeroPoints, familyZeros) &&
    [c.minShares, c.maxShares].every((v) => v === undefined || shares.some((e) => e.shares === v)) &&
    !(c.minShares > c.maxShares) &&
    [c.minK, c.minMemoryGBpsPerSm, c.maxExcessKiB].every((v) => v === undefined || (isCount(v, 1) && v <= 1000000));
  if (!(Array.isArray(choose) && choose.every(chooseOk)))
    fail(
      `decode choose must list { maxBatch 1..${rows[rows.length - 1]} (the tallest rows), bits?: some of the family's bits (${familyBits}), ` +
        `zeroPoints?: some of its zero-point modes (${familyZeros}), minShares?, maxShares?: one of its shares (${shares.map((e) => e.shares)}), min <= max, ` +
        'minK?, minMemoryGBpsPerSm?, maxExcessKiB?: integers 1..1000000 } entries ' +
        '(none: only calls that force the family)',
    );
}

// The entries of one of the mma family's block-count sections (table.json
// alignedBlocks or pricedBlocks): the section belongs to that family alone
// and holds `entries` (and comments) only.
function mmaSectionEntries(table, key) {
  const family = familyNamed(table, 'mma');
  for (const other of table.families)
    if (other !== family && other[key] !== undefined) fail(`${key} is the mma family's; the ${other.name} family has one`);
  const block = family[key] ?? {};
  checkKnownKeys(block, ['entries'], `mma ${key}`);
  return block.entries ?? [];
}

// Whether e is an object of those keys alone whose arch, bits and
// activations (optional: any) are the table's.
function isMmaEntry(table, e, keys) {
  return (
    e !== null &&
    typeof e === 'object' &&
    !Array.isArray(e) &&
    Object.keys(e).every((key) => keys.includes(key)) &&
    Number.isInteger(e.arch) &&
    e.arch >= table.architectures.minimum &&
    isOptionalSubset(e.bits, table.formats.bits) &&
    isOptionalSubset(e.activations, table.formats.activations)
  );
}

// The mma family's aligned block counts (table.json alignedBlocks.entries),
// checked like the wgmma rules.
function checkAlignedBlocks(table) {
  const entries = mmaSectionEntries(table, 'alignedBlocks');
  const KEYS = ['arch', 'maxBatch', 'bits', 'activations', 'minFillPercent'];
  const ok = (e) =>
    isMmaEntry(table, e, KEYS) &&
    Number.isInteger(e.maxBatch) &&
    e.maxBatch >= 1 &&
    e.maxBatch <= table.shape.rowsPerProblem &&
    Number.isInteger(e.minFillPercent) &&
    e.minFillPercent >= 0 &&
    e.minFillPercent <= 100;
  if (!Array.isArray(entries) || !entries.every(ok))
    fail(
      `mma alignedBlocks.entries must list { arch >= ${table.architectures.minimum}, maxBatch 1..${table.shape.rowsPerProblem}, bits?: the table's bits, activations?: the table's activations, minFillPercent 0..100 } entries, and nothing else`,
    );
}

// The mma family's priced block counts (table.json pricedBlocks.entries),
// checked like the aligned ones.
function checkPricedBlocks(table) {
  const entries = mmaSectionEntries(table, 'pricedBlocks');
  const KEYS = ['arch', 'minBatch', 'maxBatch', 'bits', 'activations', 'partialCost', 'straddleCost'];
  const cost = (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1000;
  const ok = (e) =>
    isMmaEntry(table, e, KEYS) &&
    Number.isInteger(e.minBatch) &&
    Number.isInteger(e.maxBatch) &&
    e.minBatch >= 1 &&
    e.minBatch <= e.maxBatch &&
    cost(e.partialCost) &&
    cost(e.straddleCost);
  if (!Array.isArray(entries) || !entries.every(ok))
    fail(
      `mma pricedBlocks.entries must list { arch >= ${table.architectures.minimum}, 1 <= minBatch <= maxBatch, bits?: the table's bits, activations?: the table's activations, partialCost and straddleCost 0..1000 (stages) } entries, and nothing else`,
    );
}

// The mma family's evict-first hint (table.json evictFirst), checked like the
// rules above. Its architecture must be 90: the kernels tell the pass that
// compiles sm_90a machine code by __CUDA_ARCH_FEAT_SM90_ALL (mma/launch.cuh).
function checkEvictFirst(table) {
  const family = familyNamed(table, 'mma');
  for (const other of table.families)
    if (other !== family && other.evictFirst !== undefined) fail(`evictFirst is the mma family's; the ${other.name} family has one`);
  const ef = family.evictFirst;
  if (ef === undefined) return;
  checkKnownKeys(ef, ['arch', 'nvcc', 'rowBlocks', 'exclude'], 'mma evictFirst');
  const rowBlocksOk = (list) => Array.isArray(list) && list.length > 0 && list.every((m) => family.rowBlocks.includes(m));
  if (!(ef && ef.arch === 90)) fail('mma evictFirst.arch must be 90 (the only architecture whose arch-specific pass the kernels detect)');
  if (!(Array.isArray(ef.nvcc) && ef.nvcc.length > 0 && ef.nvcc.every((v) => typeof v === 'string' && /^\d+\.\d+(\.\d+)?$/.test(v))))
    fail(`mma evictFirst.nvcc must list nvcc versions as "major.minor" or "major.minor.build" strings, not ${JSON.stringify(ef.nvcc)}`);
  if (!rowBlocksOk(ef.rowBlocks)) fail(`mma evictFirst.rowBlocks must list some of the family's row blocks (${family.rowBlocks})`);
  const names = new Set(combinations(table, [ef.arch]).map((c) => c.name));
  const exclude = ef.exclude ?? [];
  const entryOk = (e) =>
    e !== null &&
    typeof e === 'object' &&
    Object.keys(e).every((key) => key === 'variant' || key === 'rowBlocks') &&
    names.has(e.variant) &&
    e.variant.startsWith('gemm_mma_') &&
    rowBlocksOk(e.rowBlocks);
  if (!Array.isArray(exclude) || !exclude.every(entryOk))
    fail('mma evictFirst.exclude must list { variant: an mma variant file name, rowBlocks: some of the family\'s row blocks } entries');
}

// Whether row block count m of combination c, compiled for arch, is built
// with the hint (where the compiler is one evictFirst.nvcc lists).
function evictFirstHint(c, m, arch) {
  const ef = c.family.evictFirst;
  if (c.family.name !== 'mma' || !ef || arch !== ef.arch || !ef.rowBlocks.includes(m)) return false;
  return !(ef.exclude ?? []).some((e) => e.variant === c.name && e.rowBlocks.includes(m));
}

// The architectures whose machine code is compiled arch-specific
// (sm_<arch>a): the hint's, so that the PTX beside it never carries it.
function archSpecificArchs(table) {
  const ef = familyNamed(table, 'mma').evictFirst;
  return ef ? [ef.arch] : [];
}

// An aligned-blocks entry as a C++ initializer (bit b of bits_mask: b bits;
// bit a of act_mask: the activation whose Act value is a).
function alignedBlocksRow(table, e) {
  return `{${e.arch}, ${e.maxBatch}, ${mmaEntryMasks(table, e)}, ${e.minFillPercent}}`;
}

// An mma block-count entry's bits and activation masks (default: all).
function mmaEntryMasks(table, e) {
  return `${bitsMask(e.bits ?? table.formats.bits)}, ${actsMask(e.activations ?? table.formats.activations)}`;
}

// A priced-blocks entry as a C++ initializer (masks as in alignedBlocksRow;
// the costs in thousandths of a stage, so the chooser adds integers).
function pricedBlocksRow(table, e) {
  const milli = (v) => Math.round(v * 1000);
  return `{${e.arch}, ${e.minBatch}, ${e.maxBatch}, ${mmaEntryMasks(table, e)}, ${milli(e.partialCost)}, ${milli(e.straddleCost)}}`;
}

// The wgmma family's price against the mma family (table.json
// wgmma.familyPrice) as C++ initializers: times in picoseconds, rates in
// bytes per microsecond, percentages in thousandths, all integers; the
// per-row-block and per-tile-height costs as arrays the chooser indexes
// (row blocks 0..4; kWgmmaRows' order), 0 where never read.
// With no familyPrice, what familyPriceSource writes: arch 0 (the chooser
// never reads the rest) and every term 0.
const NO_FAMILY_PRICE = {
  arch: 0,
  fittedMemoryGBps: 0,
  minBatch: 0,
  maxBatch: 0,
  formats: [],
  minGain: [],
  mma: {
    fixedNs: {},
    blockNs: 0,
    sharingNsPerRowBlock: 0,
    straddleNs: 0,
    stageNs: {},
    stageExtraNs: { wideTile: 0, bits8: 0, bfloat16: 0, zeroPoints: 0, perColumn: 0 },
    memoryGBps: 0,
  },
  wgmma: {
    fixedNs: 0,
    fixedNsPer64Rows: 0,
    blockNs: 0,
    splitNsPer64Rows: 0,
    stageNs: 0,
    stageExtraNs: { bits8: 0, bfloat16: 0, zeroPoints4Bit: 0, zeroPoints4BitStreamK: 0, zeroPoints8Bit: 0, perColumn: 0 },
    stageGBps: 0,
    memoryGBps: 0,
    streamK: { extraStages: 0, runPercent: {}, memoryPercent: 0 },
  },
};

function familyPriceSource(table) {
  const wgmma = familyNamed(table, 'wgmma');
  const fp = wgmma?.familyPrice ?? NO_FAMILY_PRICE;
  const ps = (ns) => `${toPs(ns)}`;
  const perUs = (gbps) => `${Math.round(gbps * 1000)}`;
  const milli = (percent) => `${Math.round(percent * 10)}`;
  const byRowBlocks = (map) => cppList([0, 1, 2, 3, 4].map((r) => ps(map[r] ?? 0)));
  const rows = wgmma?.rows ?? [0];
  const m = fp.mma;
  const w = fp.wgmma;
  return (
    '// Where the chooser prices the mma and wgmma families against each other\n' +
    '// (table.json wgmma.familyPrice; chooser.cc wgmma_by_price): from min_k, the formats\n' +
    '// it prices (masks as in WgmmaChoice), the gain it needs to overrule the\n' +
    "// choose entries (the first entry with m <= max_batch, 0: any, and the\n" +
    "// format's bits), and each family's price: times in picoseconds, rates in\n" +
    '// bytes per microsecond, shares in thousandths; arrays by row blocks\n' +
    "// (mma) or by kWgmmaRows' tile heights (wgmma), 0 where never read.\n" +
    'struct PricedFormat {\n  unsigned bits_mask;\n  unsigned groups_mask;\n  unsigned act_mask;\n  unsigned zeros_mask;\n' +
    '  int stream_k;  // the wgmma plans priced: -1 any, 0 split plans only, 1 stream-k only\n};\n' +
    entryArray('PricedFormat', 'kPricedFormats', fp.formats, { bits: [], groupSizes: [], activations: [], zeroPoints: [] }, (f) =>
      `{${bitsMask(f.bits ?? table.formats.bits)}, ${groupsMask(f.groupSizes ?? table.formats.groupSizes, table)}, ` +
      `${actsMask(f.activations ?? table.formats.activations)}, ${zerosMask(f.zeroPoints ?? table.formats.zeroPoints)}, ` +
      `${f.streamK === undefined ? -1 : Number(f.streamK)}}`,
    ) +
    'struct PriceGain {\n  int max_batch;\n  unsigned bits_mask;\n  int percent;\n};\n' +
    entryArray('PriceGain', 'kPriceGains', fp.minGain, { bits: [], percent: 100 }, (g) =>
      `{${g.maxBatch ?? 0}, ${bitsMask(g.bits ?? table.formats.bits)}, ${g.percent}}`,
    ) +
    'struct MmaPrice {\n  long long fixed_ps[5];\n  long long block_ps;\n  long long sharing_ps_per_row_block;\n  long long straddle_ps;\n' +
    '  long long stage_ps[5];\n  long long wide_tile_stage_ps;\n  long long bits8_stage_ps;\n  long long bf16_stage_ps;\n' +
    '  long long zero_points_stage_ps;\n  long long per_column_stage_ps;\n  long long bytes_per_us;\n};\n' +
    'struct WgmmaPrice {\n  long long fixed_ps;\n  long long fixed_ps_per_64_rows;\n  long long block_ps;\n  long long split_ps_per_64_rows;\n' +
    '  long long stage_ps;\n  long long bits8_stage_ps;\n  long long bf16_stage_ps;\n  long long zero_points4_stage_ps;\n' +
    '  long long zero_points4_stream_k_stage_ps;\n  long long zero_points8_stage_ps;\n  long long per_column_stage_ps;\n' +
    '  long long stage_bytes_per_us;\n  long long bytes_per_us;\n' +
    '  long long stream_k_extra_stages_milli;\n' +
    `  long long stream_k_run_milli[${rows.length}];\n` +
    '  long long stream_k_memory_milli;\n};\n' +
    'struct FamilyPrice {\n  int arch;  // 0: no price (the choose entries alone)\n' +
    '  int fitted_memory_gbps;  // the peak memory bandwidth of the GPU fitted on\n  int min_batch;\n  int max_batch;\n  int min_k;\n' +
    '  MmaPrice mma;\n  WgmmaPrice wgmma;\n};\n' +
    'constexpr FamilyPrice kFamilyPrice = {\n' +
    `    ${fp.arch}, ${fp.fittedMemoryGBps}, ${fp.minBatch}, ${fp.maxBatch}, ${fp.minK ?? 0},\n` +
    `    {${byRowBlocks(m.fixedNs)}, ${ps(m.blockNs)}, ${ps(m.sharingNsPerRowBlock)}, ${ps(m.straddleNs)},\n` +
    `     ${byRowBlocks(m.stageNs)}, ${ps(m.stageExtraNs.wideTile)}, ${ps(m.stageExtraNs.bits8)}, ` +
    `${ps(m.stageExtraNs.bfloat16)}, ${ps(m.stageExtraNs.zeroPoints)}, ${ps(m.stageExtraNs.perColumn)}, ${perUs(m.memoryGBps)}},\n` +
    `    {${ps(w.fixedNs)}, ${ps(w.fixedNsPer64Rows)}, ${ps(w.blockNs)}, ${ps(w.splitNsPer64Rows)}, ${ps(w.stageNs)},\n` +
    `     ${ps(w.stageExtraNs.bits8)}, ${ps(w.stageExtraNs.bfloat16)}, ${ps(w.stageExtraNs.zeroPoints4Bit)}, ` +
    `${ps(w.stageExtraNs.zeroPoints4BitStreamK)}, ${ps(w.stageExtraNs.zeroPoints8Bit)}, ${ps(w.stageExtraNs.perColumn)},\n` +
    `     ${perUs(w.stageGBps)}, ${perUs(w.memoryGBps)},\n` +
    `     ${milli(w.streamK.extraStages * 100)}, ${cppList(rows.map((r) => milli(w.streamK.runPercent[r] ?? 0)))}, ` +
    `${milli(w.streamK.memoryPercent)}}};\n`
  );
}

// A C++ array of table entries and its count: \`constexpr type name[]\` of
// row(entry) for each, or of row(placeholder) alone where there are none (an
// array cannot be empty; the chooser reads only the first \`nameCount\`).
function entryArray(type, name, entries, placeholder, row) {
  return (
    `constexpr ${type} ${name}[] = {${(entries.length ? entries : [placeholder]).map(row).join(', ')}};\n` +
    `constexpr int ${name}Count = ${entries.length};  // entries (0: a placeholder)\n`
  );
}

// A preprocessor condition true under the nvcc versions evictFirst lists
// ("13.0.88": that build of the compiler only; "13.0": any 13.0).
function nvccCheck(ef) {
  if (!ef) return '0';
  return ef.nvcc
    .map((v) => v.split('.').map(Number))
    .map(
      ([major, minor, build]) =>
        `(__CUDACC_VER_MAJOR__ == ${major} && __CUDACC_VER_MINOR__ == ${minor}` +
        (build === undefined ? ')' : ` && __CUDACC_VER_BUILD__ == ${build})`),
    )
    .join(' || ');
}

function constantsHeader(table, archs) {
  const family = familyNamed(table, 'mma');
  const wgmma = familyNamed(table, 'wgmma');
  const decode = familyNamed(table, 'decode');
  const smem = Object.entries(table.architectures.smemOptin)
    .map(([arch, bytes]) => `    case ${arch}: return ${bytes};`)
    .join('\n');
  const stages = Object.entries(family.maxStages)
    .filter(([arch]) => arch !== 'default')
    .map(([arch, s]) => `    case ${arch}: return ${s};`)
    .join('\n');
  return (
    HEADER +
    '// The kernel table as C++ constants: shapes, formats, architectures and what\n' +
    '// each family compiles (chooser_table.h holds what only the chooser reads).\n' +
    '#pragma once\n\n' +
    '// Whether the nvcc compiling this is one whose machine code for the mma\n' +
    '// kernels with the evict-first hint was checked (table.json evictFirst.nvcc);\n' +
    '// only for code nvcc compiles (mma/launch.cuh).\n' +
    `#define MARLIN_EVICT_FIRST_NVCC_CHECKED (${nvccCheck(family.evictFirst)})\n\n` +
    'namespace marlin::table {\n\n' +
    `constexpr int kKMultiple = ${table.shape.kMultiple};  // k: whole pipeline stages and scale groups\n` +
    `constexpr int kNMultiple = ${table.shape.nMultiple};  // n: whole 64-column units of the Marlin layout\n` +
    `constexpr int kRowsPerProblem = ${table.shape.rowsPerProblem};  // rows per parallel problem when m is larger\n` +
    `constexpr int kMaxParLimit = ${table.shape.maxParLimit};  // most problems side by side in one launch\n` +
    `constexpr int kBits[] = ${cppList(table.formats.bits)};\n` +
    `constexpr int kGroupSizes[] = ${cppList(table.formats.groupSizes)};  // -1: one group per column\n` +
    `constexpr int kMinArch = ${table.architectures.minimum};\n` +
    `constexpr int kBuiltArchs[] = ${cppList(archs)};  // machine code in this build\n` +
    `constexpr int kPtxArch = ${archs[archs.length - 1]};  // PTX in this build, for newer GPUs\n` +
    `constexpr int kMinStages = ${family.minStages};\n` +
    '// The wgmma family: its architecture (compiled as sm_<arch>a), deepest\n' +
    '// pipeline, tile and tile heights.\n' +
    `constexpr int kWgmmaArch = ${wgmma ? wgmma.arch : 0};\n` +
    `constexpr int kWgmmaMaxStages = ${wgmma ? wgmma.maxStages : 0};\n` +
    `constexpr int kWgmmaTileK = ${wgmma ? wgmma.tiles[0].tileK : 0};\n` +
    `constexpr int kWgmmaTileN = ${wgmma ? wgmma.tiles[0].tileN : 0};\n` +
    `constexpr int kWgmmaRows[] = ${cppList(wgmma ? wgmma.rows : [0])};  // tile heights, ascending\n` +
    '// The decode family: its architecture (compiled as sm_<arch>a; 0: not in\n' +
    '// this table), k16 rows in flight per warp, tile heights and how it splits k.\n' +
    `constexpr int kDecodeArch = ${decode ? decode.arch : 0};\n` +
    `constexpr int kDecodeDepth = ${decode ? decode.depth : 0};\n` +
    `constexpr int kDecodeRows[] = ${cppList(decode ? decode.rows : [0])};  // tile heights, ascending\n` +
    '// k shares per 64-column strip (one per warp): warps per block x blocks per\n' +
    '// cluster (k splits), ascending; min_blocks: blocks each SM must hold at\n' +
    '// once, which caps the kernel\'s registers (0: no cap).\n' +
    'struct DecodeShape {\n  int shares;\n  int warps;\n  int splits;\n  int min_blocks;\n};\n' +
    `constexpr DecodeShape kDecodeShares[] = {${(decode ? decode.shares : [{ shares: 0, warps: 0, splits: 0 }])
      .map((e) => `{${e.shares}, ${e.warps}, ${e.splits}, ${e.blocksPerSm ?? 0}}`)
      .join(', ')}};\n` +
    `constexpr int kDecodeShareCount = ${decode ? decode.shares.length : 0};  // entries (0: a placeholder)\n` +
    '// The index of the shares entry of `shares` k shares; -1 where the table has none.\n' +
    'inline int decode_entry(int shares) {\n' +
    '  for (int i = 0; i < kDecodeShareCount; ++i)\n' +
    '    if (kDecodeShares[i].shares == shares) return i;\n' +
    '  return -1;\n' +
    '}\n' +
    '// The warps and splits of a shares entry; false where the table has none.\n' +
    'inline bool decode_shape(int shares, int* warps, int* splits) {\n' +
    '  const int i = decode_entry(shares);\n' +
    '  if (i < 0) return false;\n' +
    '  *warps = kDecodeShares[i].warps;\n' +
    '  *splits = kDecodeShares[i].splits;\n' +
    '  return true;\n' +
    '}\n\n' +
    '// Shared memory a block may opt into, by compute capability.\n' +
    'constexpr int smem_optin(int arch) {\n  switch (arch) {\n' +
    `${smem}\n    default: return ${table.architectures.smemOptinFallback};\n  }\n}\n\n` +
    '// Deepest pipeline to compile, by compute capability.\n' +
    'constexpr int max_stages(int arch) {\n  switch (arch) {\n' +
    `${stages ? `${stages}\n` : ''}    default: return ${family.maxStages.default};\n  }\n}\n\n` +
    '}  // namespace marlin::table\n'
  );
}

// chooser_table.h: the kernel table's policy, which only csrc/kernels/chooser.cc
// reads (when each family gets a call, the cost model's constants, block
// counts, tile rules). Apart from kernel_table.h, which every kernel includes,
// so that tuning them rebuilds the chooser alone.
function chooserHeader(table) {
  const family = familyNamed(table, 'mma');
  const wgmma = familyNamed(table, 'wgmma');
  const decode = familyNamed(table, 'decode');
  const aligned = family.alignedBlocks?.entries ?? [];
  const priced = family.pricedBlocks?.entries ?? [];
  const ruleSets = Object.entries(table.rules)
    .filter(([key]) => !key.startsWith('$'))
    .map(([key, rules]) => {
      const arch = key === 'default' ? 0 : Number(/^sm_(\d+)$/.exec(key)?.[1] ?? NaN);
      if (!Number.isInteger(arch)) fail(`rules: "${key}" is neither "default" nor "sm_<arch>"`);
      const body = rules
        .map((r) => `    {${r.maxBatch === null ? 0 : r.maxBatch}, ${r.minN ?? 0}, ${r.tileK}, ${r.tileN}},`)
        .join('\n');
      return { arch, body, count: rules.length };
    });
  const ruleRows = ruleSets.map((s) => `constexpr TileRule kRules_${s.arch}[] = {\n${s.body}\n};`).join('\n');
  const ruleIndex = ruleSets.map((s) => `    {${s.arch}, kRules_${s.arch}, ${s.count}},`).join('\n');
  return (
    HEADER +
    '// When the chooser gives each family a call, and its cost model, as C++\n' +
    '// constants (chooser.cc reads them; the kernels do not include this).\n' +
    '#pragma once\n\n' +
    '#include "kernel_table.h"\n\n' +
    'namespace marlin::table {\n\n' +
    '// The chooser gives the wgmma family m rows of a format when an entry has\n' +
    '// min_batch <= m <= max_batch, min_tiles <= output tiles <= max_tiles,\n' +
    '// min_k <= k <= max_k (a max of 0: no bound), the format\'s\n' +
    '// bits (bit b of bits_mask), its group size (bit i of groups_mask: the i-th\n' +
    '// of kGroupSizes), its activation (bit a of act_mask: Act value a) and its\n' +
    '// zero-point mode (zeros_mask bit 0: symmetric, bit 1: zero points);\n' +
    '// table.json `choose`, whose filters default to all.\n' +
    'struct WgmmaChoice {\n  int min_batch;\n  int max_batch;\n  int min_tiles;\n  int max_tiles;\n  int min_k;\n  int max_k;\n  unsigned bits_mask;\n  unsigned groups_mask;\n' +
    '  unsigned act_mask;\n  unsigned zeros_mask;\n};\n' +
    entryArray(
      'WgmmaChoice',
      'kWgmmaChoose',
      wgmma?.choose ?? [],
      { minBatch: 0, minTiles: 0, bits: [], groupSizes: [], activations: [], zeroPoints: [] },
      (c) =>
        `{${c.minBatch}, ${c.maxBatch ?? 0}, ${c.minTiles}, ${c.maxTiles ?? 0}, ${c.minK ?? 0}, ${c.maxK ?? 0}, ${bitsMask(c.bits ?? table.formats.bits)}, ` +
        `${groupsMask(c.groupSizes ?? table.formats.groupSizes, table)}, ` +
        `${actsMask(c.activations ?? table.formats.activations)}, ` +
        `${zerosMask(c.zeroPoints ?? table.formats.zeroPoints)}}`,
    ) +
    `constexpr int kWgmmaMaxSplits = ${wgmma ? wgmma.maxSplits : 0};  // split-k: most splits (a cluster) per output tile\n` +
    `constexpr int kWgmmaMinSplitStages = ${wgmma ? wgmma.minSplitStages : 0};  // pipeline stages a chosen split gets at least\n` +
    `constexpr int kWgmmaBlockCostStages = ${wgmma ? wgmma.blockCostStages : 0};  // a block's fixed cost, in stages of work\n` +
    `constexpr int kWgmmaSplitCostStages = ${wgmma ? wgmma.splitCostStages : 0};  // a split block's reduction, in stages of work\n` +
    `constexpr int kWgmmaTailLaunchCostStages = ${wgmma ? wgmma.tailLaunchCostStages : 0};  // a second launch for a partial wave, in stages of work\n` +
    `constexpr int kWgmmaStreamKShareCostStages = ${wgmma ? wgmma.streamKShareCostStages : 0};  // stream-k: each further tile share of a block\n` +
    `constexpr int kWgmmaStreamKPartialCostStages = ${wgmma ? wgmma.streamKPartialCostStages : 0};  // stream-k: each partial a block adds\n` +
    `constexpr int kWgmmaStreamKRowReusePercent = ${wgmma ? wgmma.streamKRowReusePercent : 0};  // stream-k: extra cost of its stages (percent) past one row tile\n` +
    '// Share of the SMs (percent) that clusters of s blocks fill at once, s = 1..max splits.\n' +
    `constexpr int kWgmmaClusterSmPercent[] = ${cppList(wgmma ? wgmma.clusterSmPercent : [0])};\n` +
    '// When the chooser gives the decode family a call: m <= max_batch, the\n' +
    '// format\'s bits and zero-point mode, from min_shares to max_shares k shares\n' +
    '// per strip, k >= min_k, a GPU of at least min_memory_gbps_per_sm GB/s of peak memory\n' +
    '// bandwidth per SM, and at most max_excess_kib KiB of weights on the busiest\n' +
    '// SM beyond an even share (chooser.cc decode_excess_bytes) (0: no bound).\n' +
    'struct DecodeChoice {\n  int max_batch;\n  unsigned bits_mask;\n  unsigned zeros_mask;  // bit 0: symmetric, bit 1: zero points\n  int min_shares;\n  int max_shares;\n' +
    '  int min_k;\n  int min_memory_gbps_per_sm;\n  int max_excess_kib;\n};\n' +
    entryArray(
      'DecodeChoice',
      'kDecodeChoose',
      decode?.choose ?? [],
      { maxBatch: 0, bits: [], zeroPoints: [] },
      (c) =>
        `{${c.maxBatch}, ${bitsMask(c.bits ?? table.formats.bits)}, ${zerosMask(c.zeroPoints ?? table.formats.zeroPoints)}, ` +
        `${c.minShares ?? 0}, ${c.maxShares ?? 0}, ${c.minK ?? 0}, ${c.minMemoryGBpsPerSm ?? 0}, ${c.maxExcessKiB ?? 0}}`,
    ) +
    `constexpr int kDecodeWarpsPerSm = ${decode ? decode.warpsPerSm : 0};  // warps per SM the share count aims at\n` +
    '// The mma family\'s default block count at small batches: stripes that\n' +
    '// follow column tiles (table.json alignedBlocks; chooser.cc aligned_blocks)\n' +
    '// where an entry matches the GPU, m <= max_batch, the format\'s bits and\n' +
    '// activation, and the count keeps min_fill_percent of the SMs busy.\n' +
    'struct AlignedBlocks {\n  int arch;\n  int max_batch;\n  unsigned bits_mask;\n  unsigned act_mask;\n  int min_fill_percent;\n};\n' +
    entryArray('AlignedBlocks', 'kAlignedBlocks', aligned, { arch: 0, maxBatch: 0, bits: [], activations: [], minFillPercent: 101 }, (e) =>
      alignedBlocksRow(table, e),
    ) +
    '// Else, at min_batch..max_batch rows, the count of least price (table.json\n' +
    '// pricedBlocks; chooser.cc priced_blocks): a block\'s stripe of stages, plus\n' +
    '// partial_milli / 1000 stages for each other block whose partial its\n' +
    '// column\'s reduction gathers, plus straddle_milli / 1000 if stripes cross\n' +
    '// column tiles.\n' +
    'struct PricedBlocks {\n  int arch;\n  int min_batch;\n  int max_batch;\n  unsigned bits_mask;\n  unsigned act_mask;\n  long partial_milli;\n  long straddle_milli;\n};\n' +
    entryArray(
      'PricedBlocks',
      'kPricedBlocks',
      priced,
      { arch: 0, minBatch: 1, maxBatch: 0, bits: [], activations: [], partialCost: 0, straddleCost: 0 },
      (e) => pricedBlocksRow(table, e),
    ) +
    familyPriceSource(table) +
    '// Tile per batch size and width: the first rule with m <= max_batch (0: any)\n' +
    '// and n >= min_n wins. Rule set 0 is the default for every architecture.\n' +
    'struct TileRule {\n  int max_batch;\n  int min_n;\n  int tile_k;\n  int tile_n;\n};\n' +
    `${ruleRows}\n` +
    'struct RuleSet {\n  int arch;\n  const TileRule* rules;\n  int count;\n};\n' +
    `constexpr RuleSet kDefaultRules[] = {\n${ruleIndex}\n};\n\n` +
    '}  // namespace marlin::table\n'
  );
}

function writeIfChanged(file, content) {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content) return;
  fs.writeFileSync(file, content);
}

// nvcc -gencode flags for a source file: machine code for each architecture
// (sm_<arch>a where arch-specific) plus PTX of the newest; sm_<arch>a machine
// code alone for the wgmma and decode files.
function gencodeFlags(table, archs, file) {
  const machine = (a, specific) => (specific ? `-gencode=arch=compute_${a}a,code=sm_${a}a` : `-gencode=arch=compute_${a},code=sm_${a}`);
  if (file && isArchSpecific(file)) return [machine(fileFamily(table, file).arch, true)];
  const newest = archs[archs.length - 1];
  const specific = archSpecificArchs(table);
  return [...archs.map((a) => machine(a, specific.includes(a))), `-gencode=arch=compute_${newest},code=compute_${newest}`];
}

// --nvcc NVCC INPUT OUTPUT -- FLAGS...: compiles one .cu for node-gyp's rule
// with that file's -gencode flags (gyp's rule action is the same for all),
// through ptxas-guard.js as CMake's compiles run (it warns where ptxas
// serialized a kernel's wgmma instructions).
function runNvcc(table, archs, argv) {
  const [nvcc, input, output] = argv.slice(argv.indexOf('--nvcc') + 1);
  const dash = argv.indexOf('--');
  if (!nvcc || !input || !output || dash < 0) fail('usage: gen-kernels.js --nvcc NVCC INPUT OUTPUT -- FLAGS...');
  const args = ['-c', input, '-o', output, ...argv.slice(dash + 1), ...gencodeFlags(table, archs, input)];
  process.exit(require('./ptxas-guard').compile(nvcc, args));
}

function main(argv) {
  const outIndex = argv.indexOf('--out');
  const table = loadTable();
  checkWgmma(table);
  checkFamilyPrice(table);
  checkDecode(table);
  checkAlignedBlocks(table);
  checkPricedBlocks(table);
  checkEvictFirst(table);
  const archs = resolveArchs(table);
  if (argv.includes('--nvcc')) return runNvcc(table, archs, argv);
  if (argv.includes('--archs')) {
    console.log(archs.join(';'));
    return;
  }
  if (argv.includes('--gencode')) {
    for (const flag of gencodeFlags(table, archs)) console.log(flag);
    return;
  }
  if (outIndex < 0 || !argv[outIndex + 1])
    fail('usage: gen-kernels.js --out DIR [--cmake | --list | --gencode | --archs] | --nvcc NVCC INPUT OUTPUT -- FLAGS...');
  const out = path.resolve(argv[outIndex + 1]);
  fs.mkdirSync(out, { recursive: true });

  let combos = combinations(table, archs);
  const filter = process.env.MARLIN_VARIANT_FILTER;
  if (filter) {
    let re;
    try {
      re = new RegExp(filter);
    } catch (error) {
      fail(`MARLIN_VARIANT_FILTER is not a regular expression: ${error.message}`);
    }
    combos = combos.filter((c) => re.test(c.name));
    if (!combos.length) fail(`MARLIN_VARIANT_FILTER=${filter} matches no variant`);
  }

  const files = [];
  for (const c of combos) {
    const file = path.join(out, `${c.name}.cu`);
    writeIfChanged(file, variantFile(c, archs));
    files.push(file);
  }
  const tableFile = path.join(out, 'variant_table.cu');
  writeIfChanged(tableFile, tableSource(combos));
  files.push(tableFile);
  writeIfChanged(path.join(out, 'kernel_table.h'), constantsHeader(table, archs));
  writeIfChanged(path.join(out, 'chooser_table.h'), chooserHeader(table));
  // Files of an earlier run with another table or filter would be compiled
  // by a directory glob; remove them.
  for (const old of fs.readdirSync(out))
    if (old.endsWith('.cu') && !files.includes(path.join(out, old))) fs.unlinkSync(path.join(out, old));

  if (argv.includes('--cmake')) {
    const newest = archs[archs.length - 1];
    // The arch-specific machine code goes in as nvcc flags (SPECIFIC), not as
    // "90a-real" in CUDA_ARCHITECTURES, which CMake 3.24 rejects.
    const specific = archSpecificArchs(table).filter((a) => archs.includes(a));
    const cmakeArchs = [...archs.filter((a) => !specific.includes(a)).map((a) => `${a}-real`), `${newest}-virtual`];
    console.log(`ARCHS=${cmakeArchs.join(';')}`);
    console.log(`SPECIFIC=${specific.map((a) => `--generate-code=arch=compute_${a}a,code=sm_${a}a`).join(';')}`);
    console.log(`FILES=${files.filter((f) => !isArchSpecific(f)).join(';')}`);
    // Compiled in a target of their own, for sm_<arch>a only (CMakeLists.txt).
    console.log(`SM90A=${files.filter(isArchSpecific).join(';')}`);
  } else if (argv.includes('--list')) {
    for (const f of files) console.log(path.relative(ROOT, f));
  }
}

if (require.main === module) main(process.argv.slice(2));

module.exports = { combinations, variantCount, loadTable, variantName };
