/**
 * Linear-layer shapes of the preset models, and the plan that measures each
 * distinct (k, n) once however many models share it. Pure: no GPU.
 */
import { K_MULTIPLE, N_MULTIPLE } from '../../lib/shapes';

/** One linear layer, y = x W with W [k, n]. */
export interface LayerShape {
  name: string;
  /** Input features. */
  k: number;
  /** Output features. */
  n: number;
}

export interface ModelPlan {
  name: string;
  layers: LayerShape[];
}

/** A distinct (k, n) and every model layer that has it. */
export interface UniqueShape {
  k: number;
  n: number;
  usedBy: string[];
}

export interface BenchPlan {
  models: ModelPlan[];
  shapes: UniqueShape[];
}

/** The name custom --shape layers are reported under. */
export const CUSTOM_MODEL = 'custom';

/** The four linear layers of a Llama-style block, fused as vLLM-style runtimes fuse them (qkv, gate+up). */
function llamaBlock(hidden: number, kvDim: number, intermediate: number): LayerShape[] {
  return [
    { name: 'qkv', k: hidden, n: hidden + 2 * kvDim },
    { name: 'o', k: hidden, n: hidden },
    { name: 'gate_up', k: hidden, n: 2 * intermediate },
    { name: 'down', k: intermediate, n: hidden },
  ];
}

export const PRESETS: Readonly<Record<string, readonly LayerShape[]>> = Object.freeze({
  'llama2-7b': llamaBlock(4096, 4096, 11008),
  'llama2-13b': llamaBlock(5120, 5120, 13824),
  // GQA: 8 kv heads of 128 -> k and v are 1024 wide each.
  'llama2-70b': llamaBlock(8192, 1024, 28672),
  'llama3-8b': llamaBlock(4096, 1024, 14336),
  'mistral-7b': llamaBlock(4096, 1024, 14336),
});

export const PRESET_NAMES: readonly string[] = Object.keys(PRESETS);

export function shapeKey(k: number, n: number): string {
  return `${k}x${n}`;
}

/** Whether the kernel supports (k, n) (the same rule lib/shapes.ts enforces). */
export function isValidShape(k: number, n: number): boolean {
  return Number.isSafeInteger(k) && Number.isSafeInteger(n) && k > 0 && n > 0 && k % K_MULTIPLE === 0 && n % N_MULTIPLE === 0;
}

/**
 * The models to report (presets by name, then "custom" if shapes were given)
 * and the distinct shapes to measure, in first-seen order.
 */
export function planBench(models: readonly string[], custom: ReadonlyArray<{ k: number; n: number }>): BenchPlan {
  const plans: ModelPlan[] = models.map((name) => {
    const layers = PRESETS[name];
    if (!layers) throw new Error(`unknown model '${name}'`);
    return { name, layers: layers.map((l) => ({ ...l })) };
  });
  if (custom.length > 0) {
    const seen = new Set<string>();
    const layers: LayerShape[] = [];
    for (const { k, n } of custom) {
      const key = shapeKey(k, n);
      if (!seen.has(key)) layers.push({ name: key, k, n });
      seen.add(key);
    }
    plans.push({ name: CUSTOM_MODEL, layers });
  }
  const unique = new Map<string, UniqueShape>();
  for (const model of plans) {
    for (const layer of model.layers) {
      const key = shapeKey(layer.k, layer.n);
      let shape = unique.get(key);
      if (!shape) unique.set(key, (shape = { k: layer.k, n: layer.n, usedBy: [] }));
      shape.usedBy.push(model.name === CUSTOM_MODEL ? CUSTOM_MODEL : `${model.name} ${layer.name}`);
    }
  }
  return { models: plans, shapes: [...unique.values()] };
}
