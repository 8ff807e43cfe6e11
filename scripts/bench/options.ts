/**
 * Command-line options of `npm run bench`: parsing and validation, pure, so
 * that a typo fails in milliseconds with one line instead of after a GPU run.
 */
import { parseArgs } from 'node:util';

import { GROUP_SIZES, type GroupSize, K_MULTIPLE, N_MULTIPLE } from '../../lib/shapes';
import { UsageError } from './fail';
import { ALL_FORMATS, type BenchFormat, DEFAULT_BENCH_FORMAT, FORMAT_TOKENS, formatName, parseFormatList } from './formats';
import { PRESET_NAMES, isValidShape } from './presets';
import { KERNEL_TABLE_FILE } from '../../lib/table';

export interface BenchOptions {
  /** Preset model names, in the order given. */
  models: string[];
  /** Custom layers (--shape k,n). */
  shapes: Array<{ k: number; n: number }>;
  /** Batch sizes (m), ascending, distinct. */
  batches: number[];
  /** Weight formats, in the order given, each once; the report compares each with the first. */
  formats: BenchFormat[];
  device: number;
  repeats: number;
  json?: string;
  svg?: string;
  quiet: boolean;
  help: boolean;
  /** --overhead: host cost per call instead of the speedup tables. */
  overhead: boolean;
  /** Whether --batch was given (--overhead and --graph have their own default batches). */
  batchGiven: boolean;
  /** --graph: each model's layers replayed from a CUDA graph, Marlin and dense. */
  graph: boolean;
  /** --graph --per-layer: each layer of a block replayed on its own. */
  perLayer: boolean;
  /** Whether --model was given (--graph has its own default models). */
  modelsGiven: boolean;
  /** --first-call: the first forward() of fresh processes, against the calls after it. */
  firstCall: boolean;
}

export const DEFAULT_BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
/** --graph's batches when --batch is not given. */
export const GRAPH_BATCHES = [1, 16, 64];
/** The most rows a call of the decode family takes (its tallest tile, table.json). */
const DECODE_ROWS = Math.max(0, ...(KERNEL_TABLE_FILE.families.find((f) => f.name === 'decode')?.rows ?? []));
export const DEFAULT_REPEATS = 10;
export const MIN_REPEATS = 5;
/** Ample for prefill; beyond it the rotated copies of A and C alone take gigabytes. */
export const MAX_BATCH = 16384;

export { UsageError };

export const USAGE = `Usage: npm run bench -- [options]

How much faster are Marlin's quantized weights (4-bit, FP16 activations, by
default) than dense cuBLAS for a model's linear layers on this GPU, per batch
size and weight format, and how close to the memory limit.

Options:
  --model NAME     preset model, repeatable or comma-separated (default: all):
                   ${PRESET_NAMES.join(', ')}
  --shape k,n      a custom layer (k inputs, n outputs), repeatable; reported as
                   model "custom"; without --model only custom shapes run
  --batch LIST     batch sizes, e.g. 1,16,64 (default ${DEFAULT_BATCHES.join(',')})
  --format LIST    weight formats, repeatable or comma-separated (default ${formatName(DEFAULT_BENCH_FORMAT)}),
                   named ACT-uBITS-gGROUP[-zp][-act][-inv][-mma|-wgmma|-decode][-sk|-nosk]:
                     ACT    ${FORMAT_TOKENS.activations.join(', ')} (activations, scales and outputs)
                     uBITS  ${FORMAT_TOKENS.bits.join(', ')} (bits per weight)
                     gGROUP ${FORMAT_TOKENS.groups.join(', ')} (rows per scale; gch: one per column)
                     zp     zero points (asymmetric)
                     act    act-order (rows in a random order)
                     inv    batch-invariant calls (forward's batchInvariant)
                     mma    the mma family at every batch (forward's family: 'mma')
                     wgmma  the wgmma family at every batch (H100-class GPUs)
                     decode the decode family (H100-class GPUs; batches of up to 8)
                     sk     the wgmma family's stream-k launch (forward's streamK: true;
                            batches of up to 64, any of fp16 4-bit grouped formats);
                            nosk: split counts only (streamK: false)
                   e.g. bf16-u4-g128-zp, fp16-u8-gch; '${ALL_FORMATS}': every format. Each is
                   timed against cuBLAS in its activation type (FP16 or BF16) and
                   compared with the first format at the end of the report
  --group G        same as --format fp16-u4-gG, G one of ${GROUP_SIZES.join(', ')}
                   (-1: per-channel, gch); kept for old command lines, not
                   combined with --format
  --device N       CUDA device index (default 0)
  --repeats N      timed calls per measurement, at least ${MIN_REPEATS} (default ${DEFAULT_REPEATS})
  --json FILE      write every number as JSON
  --svg FILE       write a speedup chart as SVG
  --overhead       measure the host cost of a call instead: an empty kernel's
                   launch, this layer's kernel launched from C++, forward(), and
                   one replay of a captured graph of 128 calls, per layer (the
                   --shape layers, else 4096x4096, 256x128, 128x64) and batch
                   (default 1,16); fp16-u4-g128 only
  --graph          time each model's linear layers as a decode step runs them:
                   one transformer block (qkv, o, gate_up, down) per weight copy,
                   captured into a CUDA graph and replayed, for Marlin and the
                   dense baseline, next to the same calls queued directly; per
                   block and per step (default llama2-7b, llama2-70b at 1,16,64;
                   one --format, whose family suffix, if any, the layers run on)
  --per-layer      with --graph: each layer of the block on its own instead
                   (its copies back to back), per layer and per step
  --first-call     time the first forward() of a fresh process (the first
                   call at each layer and batch in turn) against the calls
                   after it and against one call with new tensors made the
                   same way, with nothing prepared, after layer.reserve() and
                   after layer.warmup(); 3 processes each (the --shape layers,
                   else 4096x4096 and 4096x11008; default batches 1,16,64);
                   fp16-u4-g128 only
  --quiet          no progress line
  -h, --help       show this help
`;

function list(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

function integer(text: string, option: string, what: string): number {
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`${option} expects ${what}, got '${text}'`);
  return Number(text.trim());
}

function parseShape(text: string): { k: number; n: number } {
  const parts = text.split(/[,x]/).map((p) => p.trim());
  if (parts.length !== 2 || !parts.every((p) => /^\d+$/.test(p)))
    throw new UsageError(`--shape expects k,n (e.g. 4096,11008), got '${text}'`);
  const [k, n] = parts.map(Number);
  if (!isValidShape(k, n))
    throw new UsageError(
      `--shape ${k},${n} is not supported: k must be a positive multiple of ${K_MULTIPLE} and n a positive multiple of ${N_MULTIPLE}`,
    );
  return { k, n };
}

/** parseArgs refuses "--group -1" as ambiguous; a negative number there is a value, so join it. */
function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (/^--[a-z]+$/.test(arg) && i + 1 < argv.length && /^-\d+$/.test(argv[i + 1])) out.push(`${arg}=${argv[++i]}`);
    else out.push(arg);
  }
  return out;
}

/** Parses argv (without node and script); throws UsageError on anything invalid. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinNegativeValues(argv),
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string', multiple: true },
        shape: { type: 'string', multiple: true },
        batch: { type: 'string', multiple: true },
        format: { type: 'string', multiple: true },
        group: { type: 'string' },
        device: { type: 'string' },
        repeats: { type: 'string' },
        json: { type: 'string' },
        svg: { type: 'string' },
        quiet: { type: 'boolean' },
        overhead: { type: 'boolean' },
        graph: { type: 'boolean' },
        'per-layer': { type: 'boolean' },
        'first-call': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    // parseArgs messages span lines ("Did you forget..."): keep the first.
    throw new UsageError((error instanceof Error ? error.message : String(error)).split('\n')[0]);
  }

  const help = values.help ?? false;
  const models = [...new Set(list(values.model))];
  for (const m of models)
    if (!PRESET_NAMES.includes(m)) throw new UsageError(`unknown model '${m}' (presets: ${PRESET_NAMES.join(', ')})`);
  const shapes = (values.shape ?? []).map(parseShape);

  let batches = DEFAULT_BATCHES;
  if (values.batch !== undefined) {
    const given = list(values.batch).map((b) => integer(b, '--batch', 'positive integers separated by commas'));
    if (given.length === 0) throw new UsageError('--batch expects positive integers separated by commas, got nothing');
    for (const b of given)
      if (b < 1 || b > MAX_BATCH) throw new UsageError(`--batch values must be in 1..${MAX_BATCH}, got ${b}`);
    batches = [...new Set(given)].sort((a, b) => a - b);
  }

  let formats: BenchFormat[] = [{ ...DEFAULT_BENCH_FORMAT }];
  if (values.format !== undefined) formats = parseFormatList(list(values.format));
  if (values.group !== undefined) {
    // The bench's option before formats existed: the default format with another group.
    if (values.format !== undefined)
      throw new UsageError(`--group cannot be combined with --format: give the group in the format name (e.g. fp16-u4-g64)`);
    const g = Number(values.group.trim());
    if (!/^-?\d+$/.test(values.group.trim()) || !(GROUP_SIZES as readonly number[]).includes(g))
      throw new UsageError(`--group must be one of ${GROUP_SIZES.join(', ')} (-1: per-channel), got '${values.group}'`);
    formats = [{ ...DEFAULT_BENCH_FORMAT, groupSize: g as GroupSize }];
  }

  const device = values.device === undefined ? 0 : integer(values.device, '--device', 'a device index');
  if (device < 0) throw new UsageError(`--device must be 0 or more, got ${device}`);

  const repeats = values.repeats === undefined ? DEFAULT_REPEATS : integer(values.repeats, '--repeats', 'an integer');
  if (repeats < MIN_REPEATS) throw new UsageError(`--repeats must be at least ${MIN_REPEATS}, got ${repeats}`);

  if (values.overhead && (values.format !== undefined || values.group !== undefined || values.svg !== undefined))
    throw new UsageError('--overhead measures fp16-u4-g128 only and draws no chart: drop --format, --group and --svg');

  if (values.graph) {
    if (values.overhead) throw new UsageError('--graph and --overhead are separate runs: give one');
    if (values.shape !== undefined || values.svg !== undefined) throw new UsageError('--graph runs preset models and draws no chart: drop --shape and --svg');
    if (formats.length !== 1) throw new UsageError(`--graph takes one format, got ${formats.length}`);
  }

  if (values['per-layer'] && !values.graph) throw new UsageError('--per-layer is an option of --graph: give both');

  // A format forced onto the decode family fails at its first batch above the family's rows: say so now, not
  // after the layers are made.
  const decodeFormat = formats.find((f) => f.family === 'decode');
  const runBatches = values.graph && values.batch === undefined ? GRAPH_BATCHES : batches;
  const tooMany = runBatches.filter((b) => b > DECODE_ROWS);
  if (decodeFormat !== undefined && tooMany.length > 0 && !values.overhead && !values['first-call'])
    throw new UsageError(
      `--format ${formatName(decodeFormat)} runs the decode family, which takes up to ${DECODE_ROWS} rows: ` +
        `${values.batch === undefined ? 'the default batches include' : '--batch has'} ${tooMany.join(', ')} (give --batch with batches of ${DECODE_ROWS} or fewer)`,
    );

  if (values['first-call']) {
    if (values.overhead || values.graph) throw new UsageError('--first-call, --overhead and --graph are separate runs: give one');
    if (values.format !== undefined || values.group !== undefined || values.svg !== undefined || values.model !== undefined)
      throw new UsageError('--first-call measures fp16-u4-g128 layers given by --shape and draws no chart: drop --model, --format, --group and --svg');
  }

  for (const option of ['json', 'svg'] as const)
    if (values[option] !== undefined && values[option].trim() === '') throw new UsageError(`--${option} expects a file name`);

  return {
    // No --model and no --shape: every preset; --shape alone: only the custom shapes.
    models: models.length > 0 || shapes.length > 0 ? models : [...PRESET_NAMES],
    shapes,
    batches,
    formats,
    device,
    repeats,
    json: values.json,
    svg: values.svg,
    quiet: values.quiet ?? false,
    help,
    overhead: values.overhead ?? false,
    batchGiven: values.batch !== undefined,
    graph: values.graph ?? false,
    perLayer: values['per-layer'] ?? false,
    modelsGiven: models.length > 0,
    firstCall: values['first-call'] ?? false,
  };
}
