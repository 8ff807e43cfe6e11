/**
 * safetensors in TypeScript: a reader for one file or a sharded model, and
 * a writer. The format (huggingface/safetensors, README "Format" and
 * safetensors/src/tensor.rs):
 *   - 8 bytes: N, a little-endian u64, the header's length;
 *   - N bytes: a UTF-8 JSON object, name -> { dtype, shape, data_offsets:
 *     [begin, end) }, plus an optional "__metadata__" string -> string map;
 *     writers pad it with spaces to a multiple of 8 bytes;
 *   - the data: offsets count from its first byte (file offset 8 + N),
 *     little-endian, row-major, no strides.
 * A sharded model is a directory with model.safetensors.index.json,
 * { "metadata": {...}, "weight_map": { tensor name: shard file name } }
 * (huggingface_hub's split_state_dict_into_shards / save_torch_state_dict).
 *
 * The reader checks the whole header when a file is opened, then reads one
 * tensor at a time with positioned reads (FileHandle.read), so a load never
 * holds more than the tensors it asked for. A tensor is read into a fresh,
 * aligned buffer and returned as a typed view of it (no second copy); read
 * into a caller's buffer (`into`, e.g. pinned staging), it is a view when
 * that buffer is aligned for its element type and a copy otherwise.
 *
 * Every malformed input is a MarlinError BAD_CHECKPOINT whose message names
 * the file and, where one is at fault, the tensor. Stricter than needed in
 * one way only: unknown dtypes are refused when the file is opened (as the
 * reference implementation does). More lenient in one: holes between
 * tensors and bytes after the last one are allowed (the reference refuses
 * them; they cannot make a read wrong).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { MarlinError } from '../errors';
import { isObject } from '../validate';

/** Element types of the format, with their sizes in bytes. */
export const SAFETENSORS_DTYPES = Object.freeze({
  /** Boolean, 1 byte. */
  BOOL: 1,
  /** Unsigned 8-bit integer. */
  U8: 1,
  /** Signed 8-bit integer. */
  I8: 1,
  /** 8-bit float: 5 exponent bits, 2 mantissa bits. */
  F8_E5M2: 1,
  /** 8-bit float: 4 exponent bits, 3 mantissa bits. */
  F8_E4M3: 1,
  /** 8-bit exponent-only float (8 exponent bits, no mantissa), used for scales. */
  F8_E8M0: 1,
  /** Signed 16-bit integer. */
  I16: 2,
  /** Unsigned 16-bit integer. */
  U16: 2,
  /** IEEE half precision (float16). */
  F16: 2,
  /** bfloat16. */
  BF16: 2,
  /** Signed 32-bit integer. */
  I32: 4,
  /** Unsigned 32-bit integer. */
  U32: 4,
  /** IEEE single precision. */
  F32: 4,
  /** IEEE double precision. */
  F64: 8,
  /** Signed 64-bit integer. */
  I64: 8,
  /** Unsigned 64-bit integer. */
  U64: 8,
} as const);

/** A safetensors dtype name, as in a file's header ("F16", "I32", ...). */
export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPES;

/** The typed array a dtype's data comes back as (16-bit floats as bit patterns). */
export interface TypedArrayOf {
  /** One byte per value. */
  BOOL: Uint8Array;
  /** Unsigned bytes. */
  U8: Uint8Array;
  /** Signed bytes. */
  I8: Int8Array;
  /** Raw 8-bit float bit patterns. */
  F8_E5M2: Uint8Array;
  /** Raw 8-bit float bit patterns. */
  F8_E4M3: Uint8Array;
  /** Raw 8-bit float bit patterns. */
  F8_E8M0: Uint8Array;
  /** Signed 16-bit integers. */
  I16: Int16Array;
  /** Unsigned 16-bit integers. */
  U16: Uint16Array;
  /** Half bit patterns (fromHalf converts them to numbers). */
  F16: Uint16Array;
  /** bfloat16 bit patterns (fromBfloat16 converts them to numbers). */
  BF16: Uint16Array;
  /** Signed 32-bit integers. */
  I32: Int32Array;
  /** Unsigned 32-bit integers. */
  U32: Uint32Array;
  /** Single-precision floats. */
  F32: Float32Array;
  /** Double-precision floats. */
  F64: Float64Array;
  /** Signed 64-bit integers, as bigint. */
  I64: BigInt64Array;
  /** Unsigned 64-bit integers, as bigint. */
  U64: BigUint64Array;
}

export type TensorData = TypedArrayOf[SafetensorsDType];

/** A tensor in memory: its dtype, shape (row-major) and data. */
export interface Tensor<D extends SafetensorsDType = SafetensorsDType> {
  /** Element type. */
  dtype: D;
  /** Dimensions, outermost first (row-major); [] for a scalar. */
  shape: number[];
  /** The elements, row-major. */
  data: TypedArrayOf[D];
}

/** Where a tensor lies: its file, and its bytes as absolute file offsets. */
export interface TensorInfo {
  /** The tensor's name in the header. */
  name: string;
  /** Element type. */
  dtype: SafetensorsDType;
  /** Dimensions, outermost first (row-major); [] for a scalar. */
  shape: number[];
  /** Path of the .safetensors file that holds it. */
  file: string;
  /** First byte of the tensor in the file (8 + header length + data_offsets[0]). */
  fileOffset: number;
  /** Size of its data, in bytes. */
  byteLength: number;
}

/** Header lengths past this are refused (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** The index file of a sharded model, and the single file of an unsharded one. */
export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** Positioned reads are issued in pieces of at most this many bytes (FileHandle.read takes at most 2 GiB - 1). */
const READ_CHUNK = 1 << 30;

export function isSafetensorsDType(dtype: unknown): dtype is SafetensorsDType {
  return typeof dtype === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPES, dtype);
}

export function dtypeSize(dtype: SafetensorsDType): number {
  return SAFETENSORS_DTYPES[dtype];
}

export function badCheckpoint(file: string, what: string, options?: { tensor?: string; cause?: unknown }): MarlinError {
  const where = options?.tensor !== undefined ? `${file}: tensor '${options.tensor}'` : file;
  return new MarlinError('BAD_CHECKPOINT', `${where}: ${what}`, options?.cause !== undefined ? { cause: options.cause } : undefined);
}

/** Elements of a shape (1 for a scalar), or -1 if not a list of non-negative safe integers or the count overflows. */
function elementCount(shape: unknown): number {
  if (!Array.isArray(shape)) return -1;
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return -1;
    count *= d;
    if (!Number.isSafeInteger(count)) return -1;
  }
  return count;
}

const VIEW_CONSTRUCTORS: Record<SafetensorsDType, new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TensorData> = {
  BOOL: Uint8Array,
  U8: Uint8Array,
  I8: Int8Array,
  F8_E5M2: Uint8Array,
  F8_E4M3: Uint8Array,
  F8_E8M0: Uint8Array,
  I16: Int16Array,
  U16: Uint16Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I32: Int32Array,
  U32: Uint32Array,
  F32: Float32Array,
  F64: Float64Array,
  I64: BigInt64Array,
  U64: BigUint64Array,
};

/**
 * `bytes` as a typed array of `dtype`: a view of the same memory when its
 * offset is a multiple of the element size, else a copy (typed arrays
 * cannot view unaligned memory). The byte length must be a multiple of the
 * element size. Little-endian hosts only (as the format is).
 */
export function typedView<D extends SafetensorsDType>(dtype: D, bytes: Uint8Array): TypedArrayOf[D] {
  const size = dtypeSize(dtype);
  if (bytes.byteLength % size !== 0)
    throw new MarlinError('BAD_ARGUMENT', `${bytes.byteLength} bytes are not a whole number of ${dtype} elements (${size} bytes each)`);
  const View = VIEW_CONSTRUCTORS[dtype];
  if (bytes.byteOffset % size === 0) return new View(bytes.buffer, bytes.byteOffset, bytes.byteLength / size) as TypedArrayOf[D];
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new View(copy.buffer, 0, bytes.byteLength / size) as TypedArrayOf[D];
}

/** Options of a tensor read. */
export interface ReadOptions {
  /**
   * Read into this buffer (at least the tensor's byte length) instead of a
   * new one: the result views it when its offset is aligned for the dtype,
   * else it is a copy of it.
   */
  into?: Uint8Array;
}

/** Reads exactly `length` bytes at `position` into `target`, in pieces; a short read is a truncated file. */
async function readExactly(
  handle: fs.promises.FileHandle,
  target: Uint8Array,
  position: number,
  length: number,
  file: string,
  tensor: string,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const want = Math.min(READ_CHUNK, length - done);
    const { bytesRead } = await handle.read(target, done, want, position + done);
    if (bytesRead === 0)
      throw badCheckpoint(file, `the file is truncated: its bytes ${position}..${position + length} hold the tensor, but it ends at ${position + done}`, {
        tensor,
      });
    done += bytesRead;
  }
}

/** One .safetensors file, its header checked, read one tensor at a time. */
export class SafetensorsFile {
  /** The file's path, as given. */
  readonly path: string;
  /** The header's "__metadata__" map (empty if absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor of the header, in data order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** Total size of the file, in bytes. */
  readonly byteLength: number;
  private handle: fs.promises.FileHandle | undefined;

  private constructor(file: string, handle: fs.promises.FileHandle, byteLength: number, metadata: Record<string, string>, tensors: Map<string, TensorInfo>) {
    this.path = file;
    this.handle = handle;
    this.byteLength = byteLength;
    this.metadata = Object.freeze(metadata);
    this.tensors = tensors;
  }

  /** Opens a file and checks its header (BAD_CHECKPOINT if malformed). */
  static async open(file: string): Promise<SafetensorsFile> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(file, 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw badCheckpoint(file, code === 'ENOENT' ? 'no such file' : `cannot be opened (${(error as Error).message})`, { cause: error });
    }
    try {
      const { size } = await handle.stat();
      const { metadata, tensors } = await readHeader(handle, file, size);
      return new SafetensorsFile(file, handle, size, metadata, tensors);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Tensor names, in data order. */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** Whether a tensor of this name is here. */
  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Where a tensor lies (BAD_CHECKPOINT if the file has no such tensor). */
  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw badCheckpoint(this.path, 'no such tensor in the file', { tensor: name });
    return info;
  }

  /** Reads one tensor (positioned reads of its bytes only). */
  async read(name: string, options: ReadOptions = {}): Promise<Tensor> {
    const info = this.info(name);
    const handle = this.handle;
    if (!handle) throw new MarlinError('DISPOSED', `${this.path} was closed`);
    let target: Uint8Array;
    if (options.into !== undefined) {
      if (!(options.into instanceof Uint8Array) || options.into.byteLength < info.byteLength)
        throw new MarlinError('BAD_ARGUMENT', `Expected a Uint8Array of at least ${info.byteLength} bytes for into (tensor '${name}')`);
      target = options.into.subarray(0, info.byteLength);
    } else {
      // Not from Node's shared pool: offset 0, so every dtype can view it.
      target = new Uint8Array(Buffer.allocUnsafeSlow(info.byteLength).buffer, 0, info.byteLength);
    }
    await readExactly(handle, target, info.fileOffset, info.byteLength, this.path, name);
    return { dtype: info.dtype, shape: info.shape.slice(), data: typedView(info.dtype, target) };
  }

  /**
   * Reads target.byteLength bytes of a tensor's data from its byte `begin`
   * into `target` (positioned reads: a large tensor can be streamed in
   * pieces through one buffer).
   */
  async readRange(name: string, begin: number, target: Uint8Array): Promise<void> {
    const info = this.info(name);
    const handle = this.handle;
    if (!handle) throw new MarlinError('DISPOSED', `${this.path} was closed`);
    if (!(target instanceof Uint8Array) || !Number.isSafeInteger(begin) || begin < 0 || begin + target.byteLength > info.byteLength)
      throw new MarlinError('BAD_ARGUMENT', `Expected a Uint8Array for bytes [${begin}, ${begin + (target?.byteLength ?? 0)}) inside the ${info.byteLength} bytes of tensor '${name}'`);
    await readExactly(handle, target, info.fileOffset + begin, target.byteLength, this.path, name);
  }

  /** Closes the file. Safe to call twice. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  /** close(), for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Reads and checks a header: lengths, JSON, dtypes, shapes, byte counts, offsets. */
async function readHeader(
  handle: fs.promises.FileHandle,
  file: string,
  size: number,
): Promise<{ metadata: Record<string, string>; tensors: Map<string, TensorInfo> }> {
  if (size < 8) throw badCheckpoint(file, `the file is truncated: ${size} bytes, fewer than the 8 of the header length`);
  const prefix = Buffer.alloc(8);
  await readExactly(handle, prefix, 0, 8, file, '(header length)');
  const headerLength = prefix.readBigUInt64LE(0);
  if (headerLength > BigInt(size - 8))
    throw badCheckpoint(file, `the header length ${headerLength} runs past the end of the file (${size} bytes: at most ${size - 8} after the 8-byte length)`);
  const n = Number(headerLength);
  if (n > MAX_HEADER_BYTES) throw badCheckpoint(file, `the header length ${n} is over the limit of ${MAX_HEADER_BYTES} bytes`);
  const headerBytes = Buffer.alloc(n);
  await readExactly(handle, headerBytes, 8, n, file, '(header)');

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw badCheckpoint(file, `the ${n}-byte header is not JSON (${(error as Error).message})`, { cause: error });
  }
  if (!isObject(header) || Array.isArray(header)) throw badCheckpoint(file, 'the header is JSON but not an object of tensors');

  const metadata: Record<string, string> = {};
  const raw = header.__metadata__;
  if (raw !== undefined) {
    if (!isObject(raw) || Array.isArray(raw)) throw badCheckpoint(file, 'the header\'s __metadata__ is not an object of strings');
    for (const [key, value] of Object.entries(raw)) {
      if (typeof value !== 'string') throw badCheckpoint(file, `the header's __metadata__ entry '${key}' is not a string`);
      metadata[key] = value;
    }
  }

  const dataStart = 8 + n;
  const dataLength = size - dataStart;
  const entries: Array<{ name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }> = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const fail = (what: string) => badCheckpoint(file, what, { tensor: name });
    if (!isObject(entry)) throw fail('its header entry is not an object { dtype, shape, data_offsets }');
    const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isSafetensorsDType(dtype))
      throw fail(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPES).join(', ')})`);
    const count = elementCount(shape);
    if (count < 0) throw fail(`its shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0))
      throw fail(`its data_offsets ${JSON.stringify(offsets)} are not two non-negative integers [begin, end]`);
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw fail(`its data_offsets [${begin}, ${end}] end before they begin`);
    const expected = count * dtypeSize(dtype);
    if (end - begin !== expected)
      throw fail(`it holds ${end - begin} bytes (data_offsets [${begin}, ${end}]) but ${dtype} x [${(shape as number[]).join(', ')}] needs ${expected}`);
    entries.push({ name, dtype, shape: (shape as number[]).slice(), begin, end });
  }

  // Offsets: no two tensors sharing a byte (empty tensors share none), and inside the data.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let reach: (typeof entries)[number] | undefined; // the non-empty tensor that ends last so far
  let contiguous = true; // the tensors so far tile the data from byte 0 without holes
  for (const e of entries) {
    if (e.end === e.begin) continue;
    if (reach && e.begin < reach.end)
      throw badCheckpoint(file, `its data_offsets [${e.begin}, ${e.end}] overlap those of tensor '${reach.name}' [${reach.begin}, ${reach.end}]`, {
        tensor: e.name,
      });
    if (e.begin > (reach?.end ?? 0)) contiguous = false;
    reach = e;
  }
  for (const e of entries) {
    if (e.end <= dataLength) continue;
    // Tensors that tile the data from 0 without holes but run past the end: the file was cut short.
    if (contiguous)
      throw badCheckpoint(
        file,
        `the file is truncated: the tensor's data_offsets [${e.begin}, ${e.end}] end past the ${dataLength} bytes of data the file holds (file size ${size}, data from byte ${dataStart})`,
        { tensor: e.name },
      );
    throw badCheckpoint(file, `its data_offsets [${e.begin}, ${e.end}] lie outside the data (${dataLength} bytes, from file byte ${dataStart})`, {
      tensor: e.name,
    });
  }

  const tensors = new Map<string, TensorInfo>();
  for (const e of entries)
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, file, fileOffset: dataStart + e.begin, byteLength: e.end - e.begin });
  return { metadata, tensors };
}

/**
 * A model's tensors across one or more files: a single .safetensors file,
 * or the shards named by a model.safetensors.index.json. Every shard's
 * header is checked when it opens, and every tensor the index names must be
 * in its shard.
 */
export class SafetensorsModel {
  /** The single file, or the index file, as opened. */
  readonly path: string;
  /** The open files (one, or each shard). */
  readonly files: readonly SafetensorsFile[];
  /** The index's "metadata" (e.g. total_size), or the single file's __metadata__. */
  readonly metadata: Readonly<Record<string, unknown>>;
  private readonly owner: Map<string, SafetensorsFile>;

  private constructor(file: string, files: SafetensorsFile[], owner: Map<string, SafetensorsFile>, metadata: Record<string, unknown>) {
    this.path = file;
    this.files = files;
    this.owner = owner;
    this.metadata = Object.freeze(metadata);
  }

  /**
   * Opens a .safetensors file, an index .json, or a directory (its
   * model.safetensors.index.json if present, else its model.safetensors).
   */
  static async open(location: string): Promise<SafetensorsModel> {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(location);
    } catch (error) {
      throw badCheckpoint(location, 'no such file or directory', { cause: error });
    }
    if (stat.isDirectory()) {
      const index = path.join(location, INDEX_FILE);
      if (fs.existsSync(index)) return SafetensorsModel.openIndex(index);
      const single = path.join(location, SINGLE_FILE);
      if (fs.existsSync(single)) return SafetensorsModel.openSingle(single);
      throw badCheckpoint(location, `the directory has neither ${INDEX_FILE} nor ${SINGLE_FILE}`);
    }
    if (location.endsWith('.json')) return SafetensorsModel.openIndex(location);
    return SafetensorsModel.openSingle(location);
  }

  private static async openSingle(file: string): Promise<SafetensorsModel> {
    const f = await SafetensorsFile.open(file);
    const owner = new Map<string, SafetensorsFile>();
    for (const name of f.tensors.keys()) owner.set(name, f);
    return new SafetensorsModel(file, [f], owner, { ...f.metadata });
  }

  private static async openIndex(indexFile: string): Promise<SafetensorsModel> {
    let text: string;
    try {
      text = await fs.promises.readFile(indexFile, 'utf8');
    } catch (error) {
      throw badCheckpoint(indexFile, `cannot be read (${(error as Error).message})`, { cause: error });
    }
    let index: unknown;
    try {
      index = JSON.parse(text);
    } catch (error) {
      throw badCheckpoint(indexFile, `the index is not JSON (${(error as Error).message})`, { cause: error });
    }
    const weightMap = isObject(index) ? index.weight_map : undefined;
    if (!isObject(weightMap) || Array.isArray(weightMap)) throw badCheckpoint(indexFile, 'the index has no "weight_map" object (tensor name -> shard file)');
    const metadata = isObject(index) && isObject(index.metadata) && !Array.isArray(index.metadata) ? { ...index.metadata } : {};

    // Shards in order of first mention; each tensor's shard.
    const shardOf = new Map<string, string>();
    const shardNames: string[] = [];
    for (const [tensor, shard] of Object.entries(weightMap)) {
      if (typeof shard !== 'string' || shard === '' || path.isAbsolute(shard) || shard.split(/[\\/]/).includes('..'))
        throw badCheckpoint(indexFile, `the index maps it to ${JSON.stringify(shard)}, not a file name inside the model's directory`, { tensor });
      shardOf.set(tensor, shard);
      if (!shardNames.includes(shard)) shardNames.push(shard);
    }

    const dir = path.dirname(indexFile);
    const files: SafetensorsFile[] = [];
    try {
      const byShard = new Map<string, SafetensorsFile>();
      for (const shard of shardNames) {
        const file = path.join(dir, shard);
        if (!fs.existsSync(file)) {
          const tensor = [...shardOf].find(([, s]) => s === shard)![0];
          throw badCheckpoint(indexFile, `the index puts it in shard ${shard}, which is missing (no file ${file})`, { tensor });
        }
        const f = await SafetensorsFile.open(file);
        files.push(f);
        byShard.set(shard, f);
      }
      const owner = new Map<string, SafetensorsFile>();
      for (const [tensor, shard] of shardOf) {
        const f = byShard.get(shard)!;
        if (!f.has(tensor)) throw badCheckpoint(indexFile, `the index puts it in shard ${shard}, whose header has no such tensor`, { tensor });
        owner.set(tensor, f);
      }
      return new SafetensorsModel(indexFile, files, owner, metadata);
    } catch (error) {
      await Promise.all(files.map((f) => f.close()));
      throw error;
    }
  }

  /** Every tensor name (the index's, or the single file's), in order. */
  names(): string[] {
    return [...this.owner.keys()];
  }

  /** Whether a tensor of this name is here. */
  has(name: string): boolean {
    return this.owner.has(name);
  }

  /** Where a tensor lies (BAD_CHECKPOINT naming the model if it has no such tensor). */
  info(name: string): TensorInfo {
    const f = this.owner.get(name);
    if (!f) throw badCheckpoint(this.path, 'no such tensor in the model', { tensor: name });
    return f.info(name);
  }

  /** Reads one tensor from its file. */
  async read(name: string, options: ReadOptions = {}): Promise<Tensor> {
    const f = this.owner.get(name);
    if (!f) throw badCheckpoint(this.path, 'no such tensor in the model', { tensor: name });
    return f.read(name, options);
  }

  /** Reads part of a tensor's data into `target` (see SafetensorsFile.readRange). */
  async readRange(name: string, begin: number, target: Uint8Array): Promise<void> {
    const f = this.owner.get(name);
    if (!f) throw badCheckpoint(this.path, 'no such tensor in the model', { tensor: name });
    return f.readRange(name, begin, target);
  }

  /** The largest tensor's byte length (what a streaming load needs at once). */
  largestTensorBytes(): number {
    let largest = 0;
    for (const name of this.owner.keys()) largest = Math.max(largest, this.info(name).byteLength);
    return largest;
  }

  /** Closes every file. Safe to call twice. */
  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }

  /** close(), for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Opens a .safetensors file, an index .json or a model directory (see SafetensorsModel.open). */
export function openSafetensors(location: string): Promise<SafetensorsModel> {
  return SafetensorsModel.open(location);
}

/** A tensor to write: its data as any typed array (or bytes) of exactly dtype x shape bytes. */
export interface TensorToWrite {
  /** Element type. */
  dtype: SafetensorsDType;
  /** Dimensions, outermost first (row-major); [] for a scalar. */
  shape: readonly number[];
  /** The data, row-major and little-endian: exactly (product of shape) x element size bytes (BAD_ARGUMENT otherwise). */
  data: ArrayBufferView;
}

/** Writes all of `bytes` at `position`, in pieces (FileHandle.write takes at most 2 GiB - 1). */
export async function writeAt(handle: fs.promises.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.byteLength; ) {
    const { bytesWritten } = await handle.write(bytes, done, Math.min(READ_CHUNK, bytes.byteLength - done), position + done);
    done += bytesWritten;
  }
}

/** A tensor's entry in a header to be written: its data comes later (see safetensorsLayout). */
export interface TensorEntry {
  /** The tensor's name in the header. */
  name: string;
  /** Element type. */
  dtype: SafetensorsDType;
  /** Dimensions, outermost first (row-major); [] for a scalar. */
  shape: readonly number[];
}

/** Where every tensor of a file to be written goes. */
export interface SafetensorsLayout {
  /** The 8-byte length and the padded JSON header: the file's first bytes. */
  header: Buffer;
  /** Tensor names in data order. */
  order: string[];
  /** Absolute file offset and byte length of each tensor. */
  places: Map<
    string,
    {
      /** Absolute file offset of the tensor's first byte. */
      offset: number;
      /** Size of its data, in bytes. */
      byteLength: number;
    }
  >;
  /** The file's total size, in bytes. */
  byteLength: number;
}

/**
 * The layout of a file holding `entries`: the reference writer's order (by
 * element size, largest first, then name) and a header padded with spaces
 * to a multiple of 8 bytes, so every tensor starts aligned for its dtype.
 * saveSafetensors and the streaming SafetensorsWriter both write it.
 */
export function safetensorsLayout(entries: readonly TensorEntry[], metadata: Readonly<Record<string, string>> = {}): SafetensorsLayout {
  const sorted = [...entries].sort((a, b) => dtypeSize(b.dtype) - dtypeSize(a.dtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  const relative = new Map<string, { begin: number; byteLength: number }>();
  for (const e of sorted) {
    const byteLength = e.shape.reduce((a, b) => a * b, 1) * dtypeSize(e.dtype);
    header[e.name] = { dtype: e.dtype, shape: [...e.shape], data_offsets: [offset, offset + byteLength] };
    relative.set(e.name, { begin: offset, byteLength });
    offset += byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.byteLength % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.byteLength), 0);
  const dataStart = 8 + json.byteLength;
  const places = new Map<string, { offset: number; byteLength: number }>();
  for (const [name, r] of relative) places.set(name, { offset: dataStart + r.begin, byteLength: r.byteLength });
  return { header: Buffer.concat([prefix, json]), order: sorted.map((e) => e.name), places, byteLength: dataStart + offset };
}

/**
 * Writes tensors to one .safetensors file. Tensors are laid out by element
 * size (largest first) then name, and the header is padded with spaces to
 * a multiple of 8 bytes, so every tensor's data starts aligned for its
 * dtype (the reference writer's order). The data is written tensor by
 * tensor from the given arrays (no copy of the whole file in memory), to
 * a temporary file renamed into place at the end.
 */
export async function saveSafetensors(
  file: string,
  tensors: Readonly<Record<string, TensorToWrite>> | ReadonlyMap<string, TensorToWrite>,
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  const list: Array<[string, TensorToWrite]> = tensors instanceof Map ? [...tensors] : Object.entries(tensors as Record<string, TensorToWrite>);
  const checked: Array<{ name: string; t: TensorToWrite; bytes: Uint8Array; shape: number[] }> = [];
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new MarlinError('BAD_ARGUMENT', 'Expected a tensor name other than "__metadata__" (the header key reserved for metadata)');
    if (!isObject(t) || !isSafetensorsDType(t.dtype))
      throw new MarlinError('BAD_ARGUMENT', `Expected a dtype (${Object.keys(SAFETENSORS_DTYPES).join(', ')}) for tensor '${name}' but received ${JSON.stringify(isObject(t) ? t.dtype : t)}`);
    const count = elementCount(t.shape);
    if (count < 0) throw new MarlinError('BAD_ARGUMENT', `Expected a shape of non-negative integers for tensor '${name}' but received ${JSON.stringify(t.shape)}`);
    if (!ArrayBuffer.isView(t.data)) throw new MarlinError('BAD_ARGUMENT', `Expected a typed array or DataView as data for tensor '${name}'`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const need = count * dtypeSize(t.dtype);
    if (bytes.byteLength !== need)
      throw new MarlinError('BAD_ARGUMENT', `Expected ${need} bytes (${t.dtype} x [${t.shape.join(', ')}]) of data for tensor '${name}' but received ${bytes.byteLength}`);
    checked.push({ name, t, bytes, shape: [...t.shape] });
  }
  for (const [key, value] of Object.entries(metadata))
    if (typeof value !== 'string') throw new MarlinError('BAD_ARGUMENT', `Expected a string for metadata entry '${key}' but received ${typeof value}`);

  const layout = safetensorsLayout(
    checked.map((c) => ({ name: c.name, dtype: c.t.dtype, shape: c.shape })),
    metadata,
  );
  const byName = new Map(checked.map((c) => [c.name, c]));

  const temporary = `${file}.tmp-${process.pid}-${Date.now()}`;
  const handle = await fs.promises.open(temporary, 'w');
  try {
    await writeAt(handle, layout.header, 0);
    for (const name of layout.order) await writeAt(handle, byName.get(name)!.bytes, layout.places.get(name)!.offset);
    await handle.close();
    await fs.promises.rename(temporary, file);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
}
