/**
 * safetensors files for tests, written here from the format's description
 * (docs/formats.md, "safetensors") without lib/checkpoint: a header object
 * built by hand, its length as 8 little-endian bytes, then the data. Each
 * piece can be replaced, so tests can also write every kind of malformed
 * file. Sharded models get their index file the way huggingface_hub writes
 * it: { metadata: { total_size }, weight_map: { tensor: shard } }.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface RawTensor {
  name: string;
  /** The dtype string as written (any string, for malformed files). */
  dtype: string;
  shape: number[];
  /** Little-endian bytes of the data. */
  bytes: Uint8Array;
}

/** Little-endian bytes of a typed array (this test host is little-endian, as the format). */
export function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

export interface FileParts {
  /** The header as an object (tensors and __metadata__), before JSON encoding. */
  header: Record<string, unknown>;
  /** The data bytes that follow the header. */
  data: Uint8Array;
}

/**
 * Header and data for tensors in the given order, each starting where the
 * previous ended (`gap` bytes of zeros between tensors if asked).
 */
export function layOut(tensors: readonly RawTensor[], metadata?: Record<string, string>, gap = 0): FileParts {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes.byteLength] };
    pieces.push(t.bytes);
    at += t.bytes.byteLength;
    if (gap > 0) {
      pieces.push(new Uint8Array(gap));
      at += gap;
    }
  }
  return { header, data: Buffer.concat(pieces) };
}

/** The whole file: 8-byte length, the header text (padded with spaces to `align` bytes), the data. */
export function fileBytes(parts: FileParts, options: { align?: number; headerText?: string; declaredLength?: bigint } = {}): Buffer {
  let text = options.headerText ?? JSON.stringify(parts.header);
  const align = options.align ?? 8;
  while (Buffer.byteLength(text) % align !== 0) text += ' ';
  const header = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(options.declaredLength ?? BigInt(header.byteLength));
  return Buffer.concat([length, header, parts.data]);
}

export function writeSafetensorsFile(file: string, tensors: readonly RawTensor[], metadata?: Record<string, string>): void {
  fs.writeFileSync(file, fileBytes(layOut(tensors, metadata)));
}

/**
 * A model directory: config.json, and the tensors in `shards` files
 * (model-0000i-of-0000N.safetensors plus model.safetensors.index.json) or,
 * with shards = 1, in model.safetensors. Tensors go to shards round-robin
 * unless `shardOf` says which (so one layer's tensors can span shards).
 */
export function writeModelDir(
  dir: string,
  config: Record<string, unknown> | undefined,
  tensors: readonly RawTensor[],
  shards = 1,
  shardOf?: (name: string, index: number) => number,
): void {
  fs.mkdirSync(dir, { recursive: true });
  if (config) fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  if (shards === 1) {
    writeSafetensorsFile(path.join(dir, 'model.safetensors'), tensors);
    return;
  }
  const groups: RawTensor[][] = Array.from({ length: shards }, () => []);
  tensors.forEach((t, i) => groups[(shardOf ?? ((_, j) => j % shards))(t.name, i)].push(t));
  const weightMap: Record<string, string> = {};
  let total = 0;
  groups.forEach((group, s) => {
    const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    writeSafetensorsFile(path.join(dir, name), group, { format: 'pt' });
    for (const t of group) {
      weightMap[t.name] = name;
      total += t.bytes.byteLength;
    }
  });
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
}
