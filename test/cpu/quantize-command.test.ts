/**
 * `marlin-node quantize` without a GPU: its command line, its progress
 * output, and the checkpoint it writes, with the GPU quantizer's host path
 * standing in for the GPU (the same native per-group code; the GPU suite
 * runs the real thing). The written checkpoint is read back with the
 * package's own reader and converter and compared with quantize() of the
 * same weights.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { UsageError, main, parseQuantizeArgs, progressPrinter } from '../../lib/cli';
import { INDEX_FILE, SINGLE_FILE, openSafetensors, readQuantizedLayer, saveSafetensors } from '../../lib/checkpoint';
import { fromHalves } from '../../lib/fp16';
import { gptqQuantizeOnHost } from '../../lib/gptq-quantize';
import { quantize } from '../../lib/quantize';
import { gptqQuantizationConfig, isQuantizedLinear, quantizeModel } from '../../lib/quantize-model';
import type { GroupSize } from '../../lib/shapes';
import { firstDifference } from '../helpers/compare';
import { LINEAR_NAMES, writeFloatModel } from '../helpers/float-model';
import { expectedGptq } from '../helpers/gptq-cases';
import { SEED, rng } from '../helpers/random';

const random = rng(SEED + 808);
const hostQuantizer = async (w: Uint16Array, inFeatures: number, outFeatures: number, o: object) => gptqQuantizeOnHost(w, inFeatures, outFeatures, o);
const version = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-quantize-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let count = 0;
const fresh = (name: string) => path.join(tmp, `${name}-${count++}`);

describe('quantize command line', () => {
  test('defaults: 4 bits, groups of 128, symmetric, 5 GB shards, GPU 0', () => {
    expect(parseQuantizeArgs(['in', 'out'])).toEqual({ inDir: 'in', outDir: 'out', bits: 4, groupSize: 128, sym: true, maxShardBytes: 5e9, device: 0 });
  });

  test('every option, --group -1 included', () => {
    expect(parseQuantizeArgs(['in', '--bits', '8', '--group', '-1', '--asym', 'out', '--max-shard-size', '1.5GB', '--device', '1'])).toEqual({
      inDir: 'in',
      outDir: 'out',
      bits: 8,
      groupSize: -1,
      sym: false,
      maxShardBytes: 1.5e9,
      device: 1,
    });
    expect(parseQuantizeArgs(['in', 'out', '--group=32', '--sym', '--max-shard-size', '200MiB']).groupSize).toBe(32);
    expect(parseQuantizeArgs(['in', 'out', '--max-shard-size', '200MiB']).maxShardBytes).toBe(200 * 2 ** 20);
    expect(parseQuantizeArgs(['in', 'out', '--max-shard-size', '4096']).maxShardBytes).toBe(4096);
  });

  test.each([
    [['in'], /expected <model-dir> <out-dir>, got 1/],
    [['in', 'out', 'more'], /got 3/],
    [['in', 'out', '--bits', '3'], /--bits takes 4 or 8, not 3/],
    [['in', 'out', '--group', '100'], /--group takes 32, 64, 128 or -1, not 100/],
    [['in', 'out', '--group', '-2'], /not -2/],
    [['in', 'out', '--sym', '--asym'], /exclude each other/],
    [['in', 'out', '--max-shard-size', 'big'], /--max-shard-size takes a size/],
    [['in', 'out', '--device', '-1'], /--device/],
    [['in', 'out', '--frobnicate'], /frobnicate/],
  ])('%j is a one-line usage error', (args, message) => {
    let error: unknown;
    try {
      parseQuantizeArgs(args);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).oneLine).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  test('main exits with 2 and one line on stderr for a usage error', async () => {
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      written.push(String(s));
      return true;
    });
    try {
      await expect(main(['quantize', 'only-one'])).resolves.toBe(2);
      expect(written.join('')).toMatch(/^marlin-node quantize: expected <model-dir> <out-dir>, got 1 path\(s\) \(marlin-node help shows the usage\)\n$/);
    } finally {
      spy.mockRestore();
    }
  });

  test('progress: a bar redrawn in place on a terminal, plain lines every 10% elsewhere', () => {
    let clock = 0;
    const tty: string[] = [];
    const bar = progressPrinter({ isTTY: true, write: (s: string) => tty.push(s) }, () => clock);
    const plain: string[] = [];
    const lines = progressPrinter({ isTTY: false, write: (s: string) => plain.push(s) }, () => clock);
    for (let i = 1; i <= 100; i++) {
      clock += 50;
      const p = { tensorsDone: i, tensors: 100, bytesDone: i * 1e8, bytes: 100e8, name: `t${i}` };
      bar.update(p);
      lines.update(p);
    }
    bar.done();
    lines.done();
    expect(tty.length).toBeGreaterThan(20);
    expect(tty.length).toBeLessThan(60); // at most every 100 ms
    expect(tty[0]).toMatch(/^\r\[#*\.*\] +\d+% /);
    expect(tty[tty.length - 2]).toMatch(/^\r\[#{30}\] 100% 10\.00 GB of 10\.00 GB, 100\/100 tensors, 5\.0 s/);
    expect(tty[tty.length - 1]).toBe('\n');
    expect(plain).toHaveLength(10);
    expect(plain.every((l) => /^quantize: +\d+% .* tensors, [\d.]+ s\n$/.test(l))).toBe(true);
  });
});

describe('which tensors are quantized', () => {
  test.each([
    ['model.layers.0.self_attn.q_proj.weight', [64, 64], true],
    ['model.layers.31.mlp.down_proj.weight', [64, 128], true],
    ['model.layers.3.self_attn.qkv_proj.weight', [192, 64], true],
    ['model.layers.3.mlp.gate_up_proj.weight', [256, 64], true],
    ['transformer.h.2.mlp.fc1.weight', [256, 64], true],
    ['model.layers.0.self_attn.q_proj.bias', [64], false],
    ['model.layers.0.input_layernorm.weight', [64], false],
    ['model.layers.0.mlp.gate.weight', [8, 64], false],
    ['model.embed_tokens.weight', [100, 64], false],
    ['lm_head.weight', [100, 64], false],
    ['model.norm.weight', [64], false],
  ])('%s %j: %s', (name, shape, expected) => {
    expect(isQuantizedLinear(name, shape)).toBe(expected);
  });
});

describe(`quantizeModel writes a GPTQ checkpoint (host quantizer, seed ${SEED})`, () => {
  test.each([
    ['FP16, one file in, sharded out, 4-bit g128 sym', 'float16', 1, 4, 128, true, 200_000],
    ['BF16, three shards in, one file out, 8-bit g64 asym', 'bfloat16', 3, 8, 64, false, 5e9],
    ['FP16, two shards in, two out, 4-bit per-channel asym', 'float16', 2, 4, -1, false, 100_000],
  ] as const)('%s', async (_name, dtype, shards, bits, groupSize, sym, maxShardBytes) => {
    const inDir = fresh('in');
    const outDir = fresh('out');
    const spec = { dtype, layers: 2, hidden: 128, intermediate: 256, vocab: 96, shards } as const;
    const tensors = await writeFloatModel(inDir, spec, random);
    const progress: number[] = [];
    const report = await quantizeModel(inDir, outDir, {
      bits,
      groupSize,
      sym,
      maxShardBytes,
      quantize: hostQuantizer,
      onProgress: (p) => progress.push(p.bytesDone / p.bytes),
    });
    expect(report.quantized).toBe(2 * LINEAR_NAMES.length);
    expect(report.copied).toBe(tensors.size - report.quantized);
    expect(progress).toHaveLength(tensors.size);
    expect(progress[progress.length - 1]).toBe(1);

    // Files: shards (with an index when more than one), config.json, tokenizer and generation config.
    const files = fs.readdirSync(outDir).sort();
    const sharded = files.includes(INDEX_FILE);
    expect(sharded).toBe(maxShardBytes < 1e6);
    expect(files.filter((f) => !f.endsWith('.safetensors'))).toEqual(
      [...(sharded ? [INDEX_FILE] : []), 'config.json', 'generation_config.json', 'tokenizer.json'].sort(),
    );
    if (!sharded) expect(files).toContain(SINGLE_FILE);
    expect(files.some((f) => f.includes('.tmp-'))).toBe(false);

    const inConfig = JSON.parse(fs.readFileSync(path.join(inDir, 'config.json'), 'utf8'));
    const config = JSON.parse(fs.readFileSync(path.join(outDir, 'config.json'), 'utf8'));
    expect(config).toEqual({ ...inConfig, quantization_config: gptqQuantizationConfig({ bits, groupSize, sym }, version) });
    expect(config.quantization_config).toMatchObject({ quant_method: 'gptq', bits, group_size: groupSize, desc_act: false, sym, checkpoint_format: 'gptq' });

    const model = await openSafetensors(outDir);
    try {
      if (sharded) {
        const index = JSON.parse(fs.readFileSync(path.join(outDir, INDEX_FILE), 'utf8'));
        expect(Object.keys(index.weight_map).sort()).toEqual(model.names().sort());
        let total = 0;
        for (const name of model.names()) total += model.info(name).byteLength;
        expect(index.metadata.total_size).toBe(total);
        for (const f of model.files) expect(f.byteLength).toBeLessThanOrEqual(maxShardBytes + 64 * 1024);
      }
      for (const f of model.files) expect(f.metadata).toEqual({ format: 'pt' });

      const expectedNames: string[] = [];
      for (const [name, t] of tensors) {
        if (!isQuantizedLinear(name, t.shape)) {
          expectedNames.push(name);
          const got = await model.read(name);
          expect([name, got.dtype, got.shape]).toEqual([name, t.dtype, t.shape]);
          expect(firstDifference(got.data as Uint16Array, t.data)).toBe(-1);
          continue;
        }
        const prefix = name.slice(0, -'.weight'.length);
        const [n, k] = t.shape;
        const c = { bits, groupSize: groupSize as GroupSize, zeroPoints: !sym, inputDtype: dtype, scaleDtype: 'float16' } as const;
        const expected = expectedGptq(t.data, n, k, c);
        const pf = 32 / bits;
        const groups = groupSize === -1 ? 1 : k / groupSize;
        const shapes = { qweight: [k / pf, n], qzeros: [groups, n / pf], scales: [groups, n], g_idx: [k] };
        for (const suffix of ['qweight', 'qzeros', 'scales', 'g_idx'] as const) {
          expectedNames.push(`${prefix}.${suffix}`);
          const got = await model.read(`${prefix}.${suffix}`);
          expect([suffix, got.dtype, got.shape]).toEqual([suffix, suffix === 'scales' ? 'F16' : 'I32', shapes[suffix]]);
          const bytes = new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength);
          expect([prefix, suffix, firstDifference(bytes, expected[suffix])]).toEqual([prefix, suffix, -1]);
        }
        // The package's own GPTQ reader gives back what quantize() makes of the same weights.
        const loaded = await readQuantizedLayer(model, prefix, config);
        const direct = quantize(fromHalves(t.data, dtype), k, n, { layout: 'out-in', bits, groupSize, zeroPoints: !sym });
        expect(firstDifference(loaded.q, direct.q)).toBe(-1);
        expect(firstDifference(loaded.scales, direct.scales)).toBe(-1);
        // Zero points that all equal 2^(bits-1) load as symmetric; otherwise they must be the same.
        if (loaded.zeros) expect(firstDifference(loaded.zeros, direct.zeros!)).toBe(-1);
        else if (direct.zeros) expect(direct.zeros.every((z) => z === 2 ** (bits - 1))).toBe(true);
      }
      expect(model.names().sort()).toEqual(expectedNames.sort());
    } finally {
      await model.close();
    }
  });

  test('bad inputs are MarlinErrors that name the file and tensor; nothing is left behind', async () => {
    const spec = { dtype: 'float16', layers: 1, hidden: 128, intermediate: 256, vocab: 64, shards: 1 } as const;
    const options = { bits: 4 as const, groupSize: 128 as const, sym: true, quantize: hostQuantizer };

    const noConfig = fresh('in');
    await writeFloatModel(noConfig, spec, random);
    fs.rmSync(path.join(noConfig, 'config.json'));
    await expect(quantizeModel(noConfig, fresh('out'), options)).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', message: expect.stringContaining('config.json') });

    const quantized = fresh('in');
    await writeFloatModel(quantized, spec, random);
    fs.writeFileSync(path.join(quantized, 'config.json'), JSON.stringify({ quantization_config: { quant_method: 'gptq' } }));
    await expect(quantizeModel(quantized, fresh('out'), options)).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', message: expect.stringContaining('already quantized') });

    const good = fresh('in');
    const tensors = await writeFloatModel(good, spec, random);
    const busy = fresh('out');
    fs.mkdirSync(busy);
    fs.writeFileSync(path.join(busy, 'x'), '');
    await expect(quantizeModel(good, busy, options)).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining('not empty') });
    await expect(quantizeModel(good, good, options)).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining('is the input directory') });
    await expect(quantizeModel(good, fresh('out'), { ...options, groupSize: 32, bits: 8 })).resolves.toMatchObject({ quantized: 7 });

    // A non-finite weight in the last layer: BAD_CHECKPOINT naming it; the shards written so far are removed.
    const nan = fresh('in');
    const t = await writeFloatModel(nan, spec, random);
    const name = 'model.layers.0.mlp.down_proj.weight';
    const w = t.get(name)!;
    w.data[3 * 256 + 17] = 0x7e00;
    await saveSafetensors(path.join(nan, SINGLE_FILE), Object.fromEntries(t));
    const out = fresh('out');
    await expect(quantizeModel(nan, out, options)).rejects.toMatchObject({
      code: 'BAD_CHECKPOINT',
      message: expect.stringMatching(new RegExp(`tensor '${name.replace(/\./g, '\\.')}': cannot be quantized: .*output 3, input 17`)),
    });
    expect(fs.readdirSync(out)).toEqual([]);

    // An F32 projection, and one whose inFeatures is not a multiple of the group.
    for (const [bad, why] of [
      [{ dtype: 'F32', shape: [128, 128], data: new Float32Array(128 * 128) }, /must be F16 or BF16, not F32/],
      [{ dtype: 'F16', shape: [128, 96], data: new Uint16Array(128 * 96) }, /cannot be quantized to 4 bits, group 128: inFeatures 96 is not a multiple of the group size 128/],
    ] as const) {
      const dir = fresh('in');
      const all = await writeFloatModel(dir, spec, random);
      await saveSafetensors(path.join(dir, SINGLE_FILE), { ...Object.fromEntries(all), 'model.layers.0.self_attn.o_proj.weight': bad });
      await expect(quantizeModel(dir, fresh('out'), options)).rejects.toMatchObject({
        code: 'BAD_CHECKPOINT',
        message: expect.stringMatching(why),
      });
    }
    expect(tensors.size).toBeGreaterThan(0);
  });
});
