/**
 * `npm run bench -- --graph`: each model's linear layers as a decode step
 * runs them, captured once into a CUDA graph and replayed, for Marlin and
 * for cuBLAS in the same activation type, next to the same calls queued
 * directly. One transformer block's layers (qkv, o, gate_up, down; each
 * reads a shared input of its width) are captured as many times as it
 * takes for their weights to exceed twice L2, each time with another copy
 * of the weights, so every block reads its weights from memory as a real
 * step does; the GPU time of a replay (CUDA events around it), divided by
 * the blocks captured, is the time per block, and times the model's depth,
 * per step. With --per-layer each layer of the block is such a unit on its
 * own (its copies back to back), which says where a block's time goes and
 * which kernel family wins on which layer. Importing this loads the addon.
 */
import { type ActivationDType, type Device, DeviceTensor, QuantizedLinear, type Stream, fp16Matmul } from '../../lib/index';
import { randomHalves, randomPackedLayer } from './data';
import { type BenchFormat, runOptionsOf } from './formats';
import { directAndGraph, rotationCount } from './measure';
import { type LayerShape, PRESETS } from './presets';
import { fp16WeightBytes, weightBytes } from './results';

/** Transformer blocks of each preset model (its depth). */
export const MODEL_DEPTH: Readonly<Record<string, number>> = Object.freeze({
  'llama2-7b': 32,
  'llama2-13b': 40,
  'llama2-70b': 80,
  'llama3-8b': 32,
  'mistral-7b': 32,
});

/** The models --graph runs when --model is not given. */
export const GRAPH_MODELS = ['llama2-7b', 'llama2-70b'];

/** What one --graph row replays: a model's transformer block, or one layer of it. */
export interface GraphUnit {
  /** The preset model. */
  model: string;
  /** With --per-layer, the layer (qkv, o, gate_up, down); else the whole block. */
  layer?: string;
  shapes: readonly LayerShape[];
  /** Transformer blocks of the model (a step runs the unit this many times). */
  depth: number;
}

/** The units of `models`: each model's block, or with perLayer each of its layers. */
export function graphUnits(models: readonly string[], perLayer: boolean): GraphUnit[] {
  return models.flatMap((model) => {
    const shapes = PRESETS[model];
    const depth = MODEL_DEPTH[model] ?? 1;
    return perLayer ? shapes.map((shape) => ({ model, layer: shape.name, shapes: [shape], depth })) : [{ model, shapes, depth }];
  });
}

/** "llama2-7b", or for one layer "llama2-7b o": how reports name a unit or row. */
export function unitName(u: { model: string; layer?: string }): string {
  return u.layer === undefined ? u.model : `${u.model} ${u.layer}`;
}

export interface GraphRow {
  model: string;
  /** With --per-layer, the layer this row replays alone. */
  layer?: string;
  m: number;
  /** Copies of the block (or the layer) captured per replay. */
  blocks: number;
  /** Kernel families the unit's layers run at this batch (the default plan, or the format's family), '+'-joined. */
  families: string;
  /** GPU µs per transformer block's linear layers (per layer with --per-layer). */
  marlinGraphUs: number;
  marlinDirectUs: number;
  denseGraphUs: number | undefined;
  denseDirectUs: number;
  /** Why the dense graph has no number (cuBLAS could not be captured), if so. */
  denseGraphError?: string;
  depth: number;
}

export async function measureGraphMode(
  device: Device,
  stream: Stream,
  units: readonly GraphUnit[],
  batches: readonly number[],
  format: BenchFormat,
  onStep: (what: string) => void = () => undefined,
): Promise<GraphRow[]> {
  const dtype: ActivationDType = format.dtype;
  const l2 = device.properties.l2CacheSize;
  const rows: GraphRow[] = [];
  for (const unit of units) {
    const { model, layer, shapes, depth } = unit;
    const name = unitName(unit);
    const marlinCopies = rotationCount(shapes.reduce((s, { k, n }) => s + weightBytes(k, n, format), 0), l2);
    const denseCopies = rotationCount(shapes.reduce((s, { k, n }) => s + fp16WeightBytes(k, n), 0), l2);
    onStep(`${name}: preparing ${marlinCopies} quantized and ${denseCopies} dense copies of ${layer === undefined ? 'a block' : 'the layer'}`);
    const owned: Array<{ dispose(): void }> = [];
    try {
      // copies[c][i]: layer i of block copy c.
      const packed = shapes.map(({ k, n }) => randomPackedLayer(k, n, format));
      const marlin = Array.from({ length: marlinCopies }, () =>
        packed.map((p) => {
          const layer = QuantizedLinear.fromPacked(p, { device, stream });
          owned.push(layer);
          return layer;
        }),
      );
      const dense = Array.from({ length: denseCopies }, (_, c) =>
        shapes.map((_s, i) => {
          const w = marlin[c % marlinCopies][i].dequantizeWeights({ stream });
          owned.push(w);
          return w;
        }),
      );
      for (const m of batches) {
        onStep(`${name} batch ${m}`);
        const inputs = new Map<number, DeviceTensor<ActivationDType>>();
        const outputs = new Map<number, DeviceTensor<ActivationDType>>();
        for (const { k, n } of shapes) {
          if (!inputs.has(k)) inputs.set(k, DeviceTensor.from(device, randomHalves(m * k, -1, 1, dtype), [m, k], dtype, stream));
          if (!outputs.has(n)) outputs.set(n, DeviceTensor.empty(device, [m, n], dtype));
        }
        try {
          for (const block of marlin) for (const layer of block) layer.reserve({ maxBatch: m, stream });
          const options = runOptionsOf(format);
          const marlinStep = (): void => {
            for (const block of marlin)
              block.forEach((layer, i) => layer.forward(inputs.get(shapes[i].k)!, { ...options, out: outputs.get(shapes[i].n)!, stream }));
          };
          const denseStep = (): void => {
            for (const block of dense)
              block.forEach((w, i) => fp16Matmul(inputs.get(shapes[i].k)!, w, { out: outputs.get(shapes[i].n)!, stream }));
          };
          const q = await directAndGraph(device, stream, marlinStep);
          if (q.graph === undefined) throw new Error(`the Marlin block could not be captured: ${q.error}`);
          const d = await directAndGraph(device, stream, denseStep);
          const plans = marlin[0].map((layer) => layer.plan(m, options).family);
          rows.push({
            model,
            ...(layer === undefined ? {} : { layer }),
            m,
            families: [...new Set(plans)].join('+'),
            blocks: marlinCopies,
            marlinGraphUs: q.graph / marlinCopies,
            marlinDirectUs: q.direct / marlinCopies,
            denseGraphUs: d.graph === undefined ? undefined : d.graph / denseCopies,
            denseDirectUs: d.direct / denseCopies,
            ...(d.error === undefined ? {} : { denseGraphError: d.error }),
            depth,
          });
        } finally {
          await stream.synchronize();
          for (const t of [...inputs.values(), ...outputs.values()]) t.dispose();
        }
      }
    } finally {
      await stream.synchronize();
      for (const o of owned.reverse()) o.dispose();
    }
  }
  return rows;
}

/** The --graph report: per unit (block or layer) and batch, µs per unit and ms per step, graph and direct, the speedups and the kernel families. */
export function formatGraphMode(rows: readonly GraphRow[], gpuName: string, dense: string, perLayer = false): string {
  const width = Math.max(11, ...rows.map((r) => unitName(r).length));
  const lines = [
    `=== Graph mode on ${gpuName}: one decode step's linear layers, replayed from a CUDA graph vs queued directly ===`,
    perLayer
      ? `µs per layer, each layer's copies back to back (GPU time, weights read from memory); step = layer x depth (that layer's share of a step).`
      : `µs per transformer block (qkv, o, gate_up, down; GPU time, weights read from memory); step = block x depth.`,
    '',
    `  ${(perLayer ? 'layer' : 'model').padEnd(width)}  batch  Marlin graph  ${dense} graph  speedup  Marlin direct  ${dense} direct  speedup  step (graph)  kernels`,
    `  ${'-'.repeat(width)}  -----  ------------  ${'-'.repeat(dense.length + 6)}  -------  -------------  ${'-'.repeat(dense.length + 7)}  -------  ------------  -------`,
  ];
  for (const r of rows) {
    const dg = r.denseGraphUs === undefined ? 'n/a' : r.denseGraphUs.toFixed(1);
    const sg = r.denseGraphUs === undefined ? 'n/a' : `${(r.denseGraphUs / r.marlinGraphUs).toFixed(2)}x`;
    lines.push(
      `  ${unitName(r).padEnd(width)}  ${String(r.m).padStart(5)}  ${r.marlinGraphUs.toFixed(1).padStart(12)}  ${dg.padStart(dense.length + 6)}  ${sg.padStart(7)}  ` +
        `${r.marlinDirectUs.toFixed(1).padStart(13)}  ${r.denseDirectUs.toFixed(1).padStart(dense.length + 7)}  ${`${(r.denseDirectUs / r.marlinDirectUs).toFixed(2)}x`.padStart(7)}  ` +
        `${((r.marlinGraphUs * r.depth) / 1000).toFixed(2).padStart(9)} ms  ${r.families}`,
    );
  }
  const errors = [...new Set(rows.flatMap((r) => (r.denseGraphError ? [r.denseGraphError] : [])))];
  for (const e of errors) lines.push(`  ${dense} graph: could not be captured: ${e}`);
  return `${lines.join('\n')}\n`;
}
