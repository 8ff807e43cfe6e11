/**
 * The safetensors reader and writer (lib/checkpoint/safetensors.ts).
 * Files are written by test/helpers/safetensors-bytes.ts, which builds
 * them by hand from the format's description; the reader must read them
 * back exactly, and refuse every malformed one with BAD_CHECKPOINT naming
 * the file and the tensor at fault.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  SafetensorsFile,
  SafetensorsModel,
  type Tensor,
  openSafetensors,
  saveSafetensors,
  typedView,
} from '../../lib/checkpoint/safetensors';
import { type RawTensor, bytesOf, fileBytes, layOut, writeModelDir, writeSafetensorsFile } from '../helpers/safetensors-bytes';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-safetensors-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let counter = 0;
function fresh(name = 'model.safetensors'): string {
  const dir = path.join(root, `case-${counter++}`);
  fs.mkdirSync(dir);
  return path.join(dir, name);
}

/** One tensor of every dtype, with recognisable values. */
function everyDtype(): { raw: RawTensor[]; expected: Record<string, ArrayLike<number | bigint>> } {
  const expected: Record<string, ArrayLike<number | bigint>> = {
    bool: Uint8Array.from([1, 0, 1]),
    u8: Uint8Array.from([0, 7, 255]),
    i8: Int8Array.from([-128, 0, 127]),
    f8: Uint8Array.from([0x38, 0xc0]),
    i16: Int16Array.from([-32768, 1, 32767]),
    u16: Uint16Array.from([0, 65535]),
    f16: Uint16Array.from([0x3c00, 0xc000, 0x7bff]),
    bf16: Uint16Array.from([0x3f80, 0xc040]),
    i32: Int32Array.from([-(2 ** 31), 5, 2 ** 31 - 1, -1]),
    u32: Uint32Array.from([0, 2 ** 32 - 1]),
    f32: Float32Array.from([1.5, -2.25, 3e38]),
    f64: Float64Array.from([Math.PI, -1e300]),
    i64: BigInt64Array.from([-(2n ** 63n), 3n]),
    u64: BigUint64Array.from([2n ** 64n - 1n, 0n]),
    scalar: Float32Array.from([42]),
    empty: new Float32Array(0),
  };
  const dtypes: Record<string, [string, number[]]> = {
    bool: ['BOOL', [3]],
    u8: ['U8', [3]],
    i8: ['I8', [3]],
    f8: ['F8_E4M3', [2]],
    i16: ['I16', [3]],
    u16: ['U16', [2]],
    f16: ['F16', [3]],
    bf16: ['BF16', [1, 2]],
    i32: ['I32', [2, 2]],
    u32: ['U32', [2]],
    f32: ['F32', [3]],
    f64: ['F64', [2]],
    i64: ['I64', [2]],
    u64: ['U64', [2]],
    scalar: ['F32', []],
    empty: ['F32', [0, 4]],
  };
  const raw = Object.entries(dtypes).map(([name, [dtype, shape]]) => ({ name, dtype, shape, bytes: bytesOf(expected[name] as unknown as ArrayBufferView) }));
  return { raw, expected };
}

const CLASS_OF: Record<string, string> = {
  BOOL: 'Uint8Array',
  U8: 'Uint8Array',
  I8: 'Int8Array',
  F8_E4M3: 'Uint8Array',
  I16: 'Int16Array',
  U16: 'Uint16Array',
  F16: 'Uint16Array',
  BF16: 'Uint16Array',
  I32: 'Int32Array',
  U32: 'Uint32Array',
  F32: 'Float32Array',
  F64: 'Float64Array',
  I64: 'BigInt64Array',
  U64: 'BigUint64Array',
};

function expectTensor(t: Tensor, raw: RawTensor, values: ArrayLike<number | bigint>): void {
  expect(t.dtype).toBe(raw.dtype);
  expect(t.shape).toEqual(raw.shape);
  expect(t.data.constructor.name).toBe(CLASS_OF[raw.dtype]);
  expect(Array.from(t.data as ArrayLike<number | bigint>)).toEqual(Array.from(values));
}

/** Expects `promise` to reject with BAD_CHECKPOINT whose message contains every part. */
async function expectBad(promise: Promise<unknown>, ...parts: Array<string | RegExp>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toMatchObject({ name: 'MarlinError', code: 'BAD_CHECKPOINT' });
  const message = (error as Error).message;
  for (const part of parts) expect(message).toMatch(part);
  return message;
}

describe('reading a single file', () => {
  test('every dtype comes back with its shape, values and typed array class', async () => {
    const { raw, expected } = everyDtype();
    const file = fresh();
    writeSafetensorsFile(file, raw, { format: 'pt', note: 'test' });
    await using f = await SafetensorsFile.open(file);
    expect(f.names()).toEqual(raw.map((t) => t.name)); // data order, as written
    expect(f.metadata).toEqual({ format: 'pt', note: 'test' });
    for (const t of raw) expectTensor(await f.read(t.name), t, expected[t.name]);
  });

  test('tensors at unaligned offsets read correctly; a result always owns aligned memory', async () => {
    const { raw, expected } = everyDtype();
    const file = fresh();
    // header padded to 1 byte and a 1-byte gap after each tensor: most tensors start at odd file offsets
    fs.writeFileSync(file, fileBytes(layOut(raw, undefined, 1), { align: 1 }));
    await using f = await SafetensorsFile.open(file);
    expect(raw.some((t) => f.info(t.name).fileOffset % 2 === 1)).toBe(true);
    for (const t of raw) {
      const got = await f.read(t.name);
      expectTensor(got, t, expected[t.name]);
      expect(got.data.byteOffset % got.data.BYTES_PER_ELEMENT).toBe(0);
    }
  });

  test('reading into an aligned buffer returns a view of it; into an unaligned one, a copy', async () => {
    const values = Int32Array.from([1, -2, 3, -4]);
    const file = fresh();
    writeSafetensorsFile(file, [{ name: 'w', dtype: 'I32', shape: [4], bytes: bytesOf(values) }]);
    await using f = await SafetensorsFile.open(file);
    const staging = new Uint8Array(64);
    const aligned = await f.read('w', { into: staging.subarray(8) });
    expect(aligned.data.buffer).toBe(staging.buffer);
    expect(Array.from(aligned.data as Int32Array)).toEqual([1, -2, 3, -4]);
    const unaligned = await f.read('w', { into: staging.subarray(3) });
    expect(unaligned.data.buffer).not.toBe(staging.buffer);
    expect(Array.from(unaligned.data as Int32Array)).toEqual([1, -2, 3, -4]);
    await expect(f.read('w', { into: new Uint8Array(15) })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  test('typedView views aligned bytes and copies unaligned ones', () => {
    const bytes = new Uint8Array(bytesOf(Uint16Array.from([0x1234, 0xabcd, 7])));
    const holder = new Uint8Array(16);
    holder.set(bytes, 2);
    const view = typedView('F16', holder.subarray(2, 8));
    expect(view.buffer).toBe(holder.buffer);
    expect(Array.from(view)).toEqual([0x1234, 0xabcd, 7]);
    holder.set(bytes, 5);
    const copy = typedView('F16', holder.subarray(5, 11));
    expect(copy.buffer).not.toBe(holder.buffer);
    expect(Array.from(copy)).toEqual([0x1234, 0xabcd, 7]);
  });

  test('a file with only a header (no tensors) opens', async () => {
    const file = fresh();
    fs.writeFileSync(file, fileBytes({ header: {}, data: new Uint8Array(0) }));
    await using f = await SafetensorsFile.open(file);
    expect(f.names()).toEqual([]);
  });

  test('reads after close() are refused with DISPOSED', async () => {
    const file = fresh();
    writeSafetensorsFile(file, [{ name: 'a', dtype: 'U8', shape: [1], bytes: Uint8Array.from([1]) }]);
    const f = await SafetensorsFile.open(file);
    await f.close();
    await f.close();
    await expect(f.read('a')).rejects.toMatchObject({ code: 'DISPOSED' });
  });
});

describe('reading a sharded model', () => {
  function shardedModel(shards: number): { dir: string; raw: RawTensor[] } {
    const dir = path.dirname(fresh('x'));
    const raw: RawTensor[] = [];
    for (let i = 0; i < 7; i++) raw.push({ name: `layers.${i}.weight`, dtype: 'F32', shape: [2, 3], bytes: bytesOf(Float32Array.from({ length: 6 }, (_, j) => i * 10 + j)) });
    writeModelDir(dir, { model_type: 'test' }, raw, shards);
    return { dir, raw };
  }

  test('a directory with an index reads every tensor from its shard', async () => {
    const { dir, raw } = shardedModel(3);
    await using m = await openSafetensors(dir);
    expect(m.files).toHaveLength(3);
    expect(new Set(m.names())).toEqual(new Set(raw.map((t) => t.name)));
    expect(m.metadata).toEqual({ total_size: 7 * 24 });
    for (const [i, t] of raw.entries()) {
      expect(path.basename(m.info(t.name).file)).toBe(`model-0000${(i % 3) + 1}-of-00003.safetensors`);
      expectTensor(await m.read(t.name), t, Float32Array.from({ length: 6 }, (_, j) => i * 10 + j));
    }
    expect(m.largestTensorBytes()).toBe(24);
  });

  test('the index file itself, or a single file, can be opened too', async () => {
    const { dir } = shardedModel(2);
    await using viaIndex = await SafetensorsModel.open(path.join(dir, 'model.safetensors.index.json'));
    expect(viaIndex.files).toHaveLength(2);
    const single = shardedModel(1);
    await using viaDir = await openSafetensors(single.dir);
    await using viaFile = await openSafetensors(path.join(single.dir, 'model.safetensors'));
    expect(viaDir.names()).toEqual(viaFile.names());
    expect(viaDir.files).toHaveLength(1);
  });
});

describe('malformed files: BAD_CHECKPOINT naming the file and the tensor', () => {
  const weight: RawTensor = { name: 'layer.weight', dtype: 'F16', shape: [2, 4], bytes: bytesOf(Uint16Array.from({ length: 8 }, (_, i) => 0x3c00 + i)) };
  const bias: RawTensor = { name: 'layer.bias', dtype: 'F32', shape: [4], bytes: bytesOf(Float32Array.from([1, 2, 3, 4])) };

  function write(bytes: Uint8Array): string {
    const file = fresh();
    fs.writeFileSync(file, bytes);
    return file;
  }

  test('a file shorter than the 8-byte header length', async () => {
    const file = write(Uint8Array.from([1, 0, 0]));
    await expectBad(SafetensorsFile.open(file), file, /truncated: 3 bytes/);
  });

  test('a file cut short inside the data: truncated, naming the tensor it cuts', async () => {
    const full = fileBytes(layOut([weight, bias]));
    const file = write(full.subarray(0, full.byteLength - 5));
    await expectBad(SafetensorsFile.open(file), file, "tensor 'layer.bias'", /truncated/);
  });

  test('a file that shrinks after it was opened: the read fails as truncated', async () => {
    const file = write(fileBytes(layOut([weight, bias])));
    await using f = await SafetensorsFile.open(file);
    fs.truncateSync(file, f.info('layer.bias').fileOffset + 2);
    await expectBad(f.read('layer.bias'), file, "tensor 'layer.bias'", /truncated/);
  });

  test('a header length past the end of the file', async () => {
    const file = write(fileBytes(layOut([weight]), { declaredLength: 10_000n }));
    await expectBad(SafetensorsFile.open(file), file, /header length 10000 runs past the end/);
  });

  test('a header length of 2^64 - 1 (not representable as a number)', async () => {
    const file = write(fileBytes(layOut([weight]), { declaredLength: 2n ** 64n - 1n }));
    await expectBad(SafetensorsFile.open(file), file, /header length 18446744073709551615 runs past the end/);
  });

  test('a header that is not JSON', async () => {
    const parts = layOut([weight]);
    const text = JSON.stringify(parts.header).slice(0, -1); // the closing brace dropped
    const file = write(fileBytes(parts, { headerText: text }));
    await expectBad(SafetensorsFile.open(file), file, /header is not JSON/);
  });

  test('a header that is JSON but not an object', async () => {
    const file = write(fileBytes({ header: {}, data: new Uint8Array(0) }, { headerText: '[1, 2]' }));
    await expectBad(SafetensorsFile.open(file), file, /not an object/);
  });

  test('offsets outside the data', async () => {
    const parts = layOut([weight, bias]);
    (parts.header['layer.bias'] as { data_offsets: number[] }).data_offsets = [400, 416];
    const file = write(fileBytes(parts));
    await expectBad(SafetensorsFile.open(file), file, "tensor 'layer.bias'", /\[400, 416\] lie outside the data \(32 bytes/);
  });

  test('offsets that end before they begin', async () => {
    const parts = layOut([weight, bias]);
    (parts.header['layer.bias'] as { data_offsets: number[] }).data_offsets = [32, 16];
    const file = write(fileBytes(parts));
    await expectBad(SafetensorsFile.open(file), file, "tensor 'layer.bias'", /end before they begin/);
  });

  test('overlapping offsets', async () => {
    const other: RawTensor = { ...bias, name: 'layer.other' };
    const parts = layOut([weight, bias, other]);
    (parts.header['layer.other'] as { data_offsets: number[] }).data_offsets = [8, 24]; // inside layer.weight [0, 16]
    const file = write(fileBytes(parts));
    await expectBad(SafetensorsFile.open(file), file, "tensor 'layer.other'", /overlap those of tensor 'layer.weight' \[0, 16\]/);
  });

  test('an unknown dtype', async () => {
    const file = write(fileBytes(layOut([{ ...weight, dtype: 'F12' }])));
    await expectBad(SafetensorsFile.open(file), file, "tensor 'layer.weight'", /unknown dtype "F12"/);
  });

  test('a byte count that does not match dtype x shape', async () => {
    const file = write(fileBytes(layOut([{ ...weight, shape: [3, 4] }])));
    await expectBad(SafetensorsFile.open(file), file, "tensor 'layer.weight'", /holds 16 bytes .* but F16 x \[3, 4\] needs 24/);
  });

  test('a shape that is not a list of non-negative integers', async () => {
    const file = write(fileBytes(layOut([{ ...weight, shape: [-2, -4] }])));
    await expectBad(SafetensorsFile.open(file), file, "tensor 'layer.weight'", /shape \[-2,-4\]/);
  });

  test('a __metadata__ entry that is not a string', async () => {
    const parts = layOut([weight]);
    parts.header.__metadata__ = { format: 1 };
    const file = write(fileBytes(parts));
    await expectBad(SafetensorsFile.open(file), file, /__metadata__ entry 'format'/);
  });

  test('asking for a tensor the file does not have', async () => {
    const file = write(fileBytes(layOut([weight])));
    await using f = await SafetensorsFile.open(file);
    await expectBad(f.read('layer.missing'), file, "tensor 'layer.missing'", /no such tensor/);
  });

  test('a file that does not exist', async () => {
    const file = path.join(root, 'nowhere.safetensors');
    await expectBad(SafetensorsFile.open(file), file, /no such file/);
  });

  describe('sharded models', () => {
    function sharded(): string {
      const dir = path.dirname(fresh('x'));
      writeModelDir(dir, undefined, [weight, bias], 2);
      return dir;
    }
    const indexOf = (dir: string) => path.join(dir, 'model.safetensors.index.json');

    test('a missing shard, naming the shard and a tensor it holds', async () => {
      const dir = sharded();
      fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
      await expectBad(openSafetensors(dir), indexOf(dir), "tensor 'layer.bias'", /shard model-00002-of-00002.safetensors, which is missing/);
    });

    test('an index naming a tensor its shard does not have', async () => {
      const dir = sharded();
      const index = JSON.parse(fs.readFileSync(indexOf(dir), 'utf8'));
      index.weight_map['layer.ghost'] = 'model-00001-of-00002.safetensors';
      fs.writeFileSync(indexOf(dir), JSON.stringify(index));
      await expectBad(openSafetensors(dir), indexOf(dir), "tensor 'layer.ghost'", /whose header has no such tensor/);
    });

    test('an index that is not JSON, or has no weight_map', async () => {
      const dir = sharded();
      fs.writeFileSync(indexOf(dir), '{"weight_map": ');
      await expectBad(openSafetensors(dir), indexOf(dir), /index is not JSON/);
      fs.writeFileSync(indexOf(dir), '{"metadata": {}}');
      await expectBad(openSafetensors(dir), indexOf(dir), /no "weight_map"/);
    });

    test('an index pointing outside the model directory', async () => {
      const dir = sharded();
      fs.writeFileSync(indexOf(dir), JSON.stringify({ weight_map: { 'layer.weight': '../elsewhere.safetensors' } }));
      await expectBad(openSafetensors(dir), indexOf(dir), "tensor 'layer.weight'", /not a file name inside the model's directory/);
    });

    test('a malformed shard is named as such', async () => {
      const dir = sharded();
      const shard = path.join(dir, 'model-00001-of-00002.safetensors');
      fs.writeFileSync(shard, fileBytes(layOut([{ ...weight, dtype: 'Q4' }])));
      await expectBad(openSafetensors(dir), shard, "tensor 'layer.weight'", /unknown dtype "Q4"/);
    });

    test('a directory with neither an index nor model.safetensors', async () => {
      const dir = path.dirname(fresh('x'));
      await expectBad(openSafetensors(dir), dir, /neither model.safetensors.index.json nor model.safetensors/);
    });
  });
});

describe('saveSafetensors', () => {
  test('round-trips every dtype, the metadata and empty and scalar tensors through the reader', async () => {
    const { raw, expected } = everyDtype();
    const file = fresh();
    const tensors: Record<string, { dtype: never; shape: number[]; data: ArrayBufferView }> = {};
    for (const t of raw) tensors[t.name] = { dtype: t.dtype as never, shape: t.shape, data: expected[t.name] as unknown as ArrayBufferView };
    await saveSafetensors(file, tensors, { format: 'pt', producer: 'marlin-node' });
    await using f = await SafetensorsFile.open(file);
    expect(new Set(f.names())).toEqual(new Set(raw.map((t) => t.name)));
    expect(f.metadata).toEqual({ format: 'pt', producer: 'marlin-node' });
    for (const t of raw) expectTensor(await f.read(t.name), t, expected[t.name]);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['model.safetensors']); // no temporary left
  });

  test('writes what the format specifies: 8-byte LE length, space-padded JSON, aligned contiguous data', async () => {
    const file = fresh();
    await saveSafetensors(file, {
      b: { dtype: 'U8', shape: [3], data: Uint8Array.from([1, 2, 3]) },
      a: { dtype: 'F64', shape: [1], data: Float64Array.from([0.5]) },
      c: { dtype: 'I32', shape: [2], data: Int32Array.from([-1, 9]) },
    });
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = bytes.subarray(8, 8 + n).toString('utf8');
    expect(text).toMatch(/^\{.*\} *$/);
    const header = JSON.parse(text);
    // largest elements first, then by name: every tensor starts aligned for its type
    expect(header).toEqual({
      a: { dtype: 'F64', shape: [1], data_offsets: [0, 8] },
      c: { dtype: 'I32', shape: [2], data_offsets: [8, 16] },
      b: { dtype: 'U8', shape: [3], data_offsets: [16, 19] },
    });
    expect(bytes.byteLength).toBe(8 + n + 19);
    expect(bytes.readDoubleLE(8 + n)).toBe(0.5);
    expect(bytes.readInt32LE(8 + n + 8)).toBe(-1);
    expect([...bytes.subarray(8 + n + 16)]).toEqual([1, 2, 3]);
  });

  test('refuses data that does not match dtype x shape, unknown dtypes and the reserved name', async () => {
    const file = fresh();
    await expect(saveSafetensors(file, { w: { dtype: 'F16', shape: [3], data: new Uint16Array(2) } })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(/Expected 6 bytes \(F16 x \[3\]\) of data for tensor 'w' but received 4/),
    });
    await expect(saveSafetensors(file, { w: { dtype: 'Q4' as never, shape: [1], data: new Uint8Array(1) } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(saveSafetensors(file, { __metadata__: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    expect(fs.existsSync(file)).toBe(false);
  });
});
