/**
 * `npm run bench:load -- [--small] [--dir DIR] [--keep] [--repeats N]`:
 * writes a synthetic Llama-2-7B-sized GPTQ checkpoint (4-bit, groups of 128,
 * symmetric, desc_act false: 32 layers of q/k/v/o 4096x4096, gate/up
 * 4096x11008, down 11008x4096, FP16 embeddings and lm_head of 32000 x 4096;
 * about 3.9 GB in 8 shards) to a temporary directory (or uses DIR if it
 * holds a checkpoint), then loads it with loadQuantizedModel and prints:
 * the load's wall time and where it went (file reads, CPU conversion,
 * queueing copies and repacks, waiting for the GPU), its GB/s, the peak
 * RSS of this process (the checkpoint is written by a child process, so
 * the number is the load's alone), and the repack kernel's own speed on
 * the largest layer, timed with CUDA events (plain and with an act-order
 * row permutation). --small: 2 layers and a 4096-token vocabulary.
 * Runs offline; the files are removed at the end unless --keep (or --dir).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { gptqLayer, openSafetensors, readLayerTensors, readQuantizationConfig, saveSafetensors, type TensorToWrite } from '../lib/checkpoint';
import type { GptqConfig } from '../lib/checkpoint/config';
import { Device, DeviceTensor, Event } from '../lib/device';
import { callNative } from '../lib/errors';
import { toHalves } from '../lib/fp16';
import { loadQuantizedModel } from '../lib/model';
import { native } from '../lib/native';
import { planRepack } from '../lib/repack';

const HIDDEN = 4096;
const INTERMEDIATE = 11008;
const GROUP = 128;

function words(count: number, seed: number): Int32Array {
  const out = new Int32Array(count);
  let x = seed | 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

function halves(count: number, value: number): Uint16Array {
  return toHalves(new Float32Array(count).fill(value), 'float16');
}

/** GPTQ tensors of one layer [k, n]: random qweight, symmetric v1 qzeros (7 per field), scales, trivial g_idx. */
function gptqLayerTensors(prefix: string, k: number, n: number, seed: number): Record<string, TensorToWrite> {
  const groups = k / GROUP;
  return {
    [`${prefix}.qweight`]: { dtype: 'I32', shape: [k / 8, n], data: words((k / 8) * n, seed) },
    [`${prefix}.qzeros`]: { dtype: 'I32', shape: [groups, n / 8], data: new Int32Array((groups * n) / 8).fill(0x77777777) },
    [`${prefix}.scales`]: { dtype: 'F16', shape: [groups, n], data: halves(groups * n, 0.01) },
    [`${prefix}.g_idx`]: { dtype: 'I32', shape: [k], data: Int32Array.from({ length: k }, (_, r) => Math.floor(r / GROUP)) },
  };
}

async function writeCheckpoint(dir: string, small: boolean): Promise<void> {
  const layers = small ? 2 : 32;
  const vocab = small ? 4096 : 32000;
  const layersPerShard = 4;
  const shards = Math.ceil(layers / layersPerShard) + 1;
  const shardName = (i: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
  const weightMap: Record<string, string> = {};
  let total = 0;
  const save = async (i: number, tensors: Record<string, TensorToWrite>) => {
    await saveSafetensors(path.join(dir, shardName(i)), tensors, { format: 'pt' });
    for (const [name, t] of Object.entries(tensors)) {
      weightMap[name] = shardName(i);
      total += t.data.byteLength;
    }
  };
  fs.mkdirSync(dir, { recursive: true });
  await save(0, {
    'model.embed_tokens.weight': { dtype: 'F16', shape: [vocab, HIDDEN], data: halves(vocab * HIDDEN, 0.02) },
    'lm_head.weight': { dtype: 'F16', shape: [vocab, HIDDEN], data: halves(vocab * HIDDEN, 0.03) },
    'model.norm.weight': { dtype: 'F16', shape: [HIDDEN], data: halves(HIDDEN, 1) },
  });
  for (let s = 0; s * layersPerShard < layers; s++) {
    const tensors: Record<string, TensorToWrite> = {};
    for (let l = s * layersPerShard; l < Math.min(layers, (s + 1) * layersPerShard); l++) {
      const p = `model.layers.${l}`;
      for (const [name, k, n] of [
        ['self_attn.q_proj', HIDDEN, HIDDEN],
        ['self_attn.k_proj', HIDDEN, HIDDEN],
        ['self_attn.v_proj', HIDDEN, HIDDEN],
        ['self_attn.o_proj', HIDDEN, HIDDEN],
        ['mlp.gate_proj', HIDDEN, INTERMEDIATE],
        ['mlp.up_proj', HIDDEN, INTERMEDIATE],
        ['mlp.down_proj', INTERMEDIATE, HIDDEN],
      ] as const)
        Object.assign(tensors, gptqLayerTensors(`${p}.${name}`, k, n, l * 7 + name.length));
      tensors[`${p}.input_layernorm.weight`] = { dtype: 'F16', shape: [HIDDEN], data: halves(HIDDEN, 1) };
      tensors[`${p}.post_attention_layernorm.weight`] = { dtype: 'F16', shape: [HIDDEN], data: halves(HIDDEN, 1) };
    }
    await save(s + 1, tensors);
  }
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['LlamaForCausalLM'],
      hidden_size: HIDDEN,
      intermediate_size: INTERMEDIATE,
      num_hidden_layers: layers,
      vocab_size: vocab,
      quantization_config: { quant_method: 'gptq', bits: 4, group_size: GROUP, sym: true, desc_act: false },
    }),
  );
}

/** Times the repack kernel on one layer of the checkpoint, with CUDA events: [plain, act-order] ms per call. */
async function timeRepack(dir: string, layer: string, repeats: number): Promise<{ ms: number[]; packedBytes: number; sourceBytes: number }> {
  const config = (await readQuantizationConfig(dir)) as GptqConfig;
  await using model = await openSafetensors(dir);
  const converted = gptqLayer((await readLayerTensors(model, layer, config)) as never, config, { name: layer });
  const r = planRepack(converted);
  const device = Device.get(0);
  const stream = device.stream;
  const { k, n } = r.sizes;
  using source = DeviceTensor.from(device, converted.qweight, [converted.qweight.length], 'int32', stream);
  using out = DeviceTensor.empty(device, [(k * n) / 8], 'int32');
  // Act-order's worst read pattern: every kernel row from a random source row.
  const perm = Int32Array.from({ length: k }, (_, i) => i);
  for (let i = k - 1; i > 0; i--) {
    const j = (Math.imul(i, 2654435761) >>> 0) % (i + 1);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  using rows = DeviceTensor.from(device, perm, [k], 'int32', stream);
  using start = new Event(device);
  using end = new Event(device);
  const ms: number[] = [];
  for (const withRows of [false, true]) {
    const run = () =>
      callNative(() => native.repackWeights({ ...r.sizes, source: source.buffer, out: out.buffer, rows: withRows ? rows.buffer : null, zeros: null }, stream.native));
    run(); // warm-up
    start.record(stream);
    for (let i = 0; i < repeats; i++) run();
    end.record(stream);
    await end.synchronize();
    ms.push(start.elapsedMs(end) / repeats);
  }
  return { ms, packedBytes: (k * n) / 2, sourceBytes: converted.qweight.byteLength };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      small: { type: 'boolean' },
      dir: { type: 'string' },
      keep: { type: 'boolean' },
      repeats: { type: 'string' },
      write: { type: 'string' },
    },
  });
  if (values.write) {
    await writeCheckpoint(values.write, values.small === true);
    return;
  }
  const repeats = Number(values.repeats ?? 20);
  let dir = values.dir;
  let made = false;
  if (!dir || !fs.existsSync(path.join(dir, 'config.json'))) {
    dir = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-load-bench-'));
    made = values.dir === undefined;
    process.stdout.write(`writing a synthetic ${values.small ? 'small' : '7B-sized'} GPTQ checkpoint to ${dir} (child process) ...\n`);
    const t0 = performance.now();
    const child = spawnSync(
      process.execPath,
      [require.resolve('ts-node/dist/bin.js'), '--transpile-only', __filename, '--write', dir, ...(values.small ? ['--small'] : [])],
      { stdio: 'inherit' },
    );
    if (child.status !== 0) throw new Error(`writing the checkpoint failed (exit ${child.status})`);
    process.stdout.write(`  written in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  try {
    const device = Device.get(0);
    process.stdout.write(`device: ${device.name}\n`);
    let lastShown = 0;
    const model = await loadQuantizedModel(dir, {
      device,
      onProgress: (p) => {
        if (p.bytes - lastShown > 256e6 || p.bytes === p.totalBytes) {
          lastShown = p.bytes;
          process.stdout.write(`\r  ${(p.bytes / 1e9).toFixed(2)} / ${(p.totalBytes / 1e9).toFixed(2)} GB, ${p.tensors} / ${p.totalTensors} tensors`);
        }
      },
    });
    process.stdout.write('\n');
    const s = model.stats;
    const peak = process.resourceUsage().maxRSS * 1024;
    const layerNames = [...model.layers.keys()];
    model.dispose();
    const line = (what: string, seconds: number) => process.stdout.write(`  ${what.padEnd(34)} ${seconds.toFixed(2)} s\n`);
    process.stdout.write(`load: ${layerNames.length} layers, ${(s.bytes / 1e9).toFixed(2)} GB in ${s.seconds.toFixed(2)} s (${(s.bytes / 1e9 / s.seconds).toFixed(2)} GB/s)\n`);
    line('file reads (disk / page cache)', s.readSeconds);
    line('CPU conversion (host)', s.convertSeconds);
    line('queueing copies and repacks (host)', s.uploadSeconds);
    line('waiting for the GPU at the end', s.finishSeconds);
    line('other (event-loop turns, setup)', s.seconds - s.readSeconds - s.convertSeconds - s.uploadSeconds - s.finishSeconds);
    process.stdout.write(`peak RSS of this process: ${(peak / 2 ** 20).toFixed(0)} MiB\n`);

    const largest = layerNames.find((n) => n.endsWith('mlp.down_proj')) ?? layerNames[0];
    const t = await timeRepack(dir, largest, repeats);
    const gbps = (bytes: number, ms: number) => (bytes / 1e9 / (ms / 1e3)).toFixed(0);
    for (const [i, what] of ['plain', 'act-order rows (random permutation)'].entries())
      process.stdout.write(
        `repack ${largest} (${what}): ${(t.ms[i] * 1e3).toFixed(1)} us, ${gbps(t.packedBytes, t.ms[i])} GB/s of packed weights ` +
          `(${gbps(t.packedBytes + t.sourceBytes, t.ms[i])} GB/s read + written), CUDA events over ${repeats} calls\n`,
      );
  } finally {
    if (made && !values.keep) fs.rmSync(dir, { recursive: true, force: true });
    else process.stdout.write(`checkpoint kept in ${dir}\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
