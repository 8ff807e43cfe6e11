/**
 * `npm run bench -- --overhead`: what one forward() costs the host, next to
 * what the same kernel costs launched straight from C++, an empty kernel's
 * launch, and a CUDA graph's replay. Host times are per call, medians over
 * bursts of back-to-back calls (the GPU is idle at the start of each burst,
 * and a burst is far shorter than the launch queue), so they measure the
 * time to queue, not to run. GPU times compare a sequence of direct calls
 * with the same sequence replayed from a graph, over enough copies of the
 * weights to read them from memory, not L2. Importing this loads the addon.
 */
import { type Device, DeviceTensor, type Graph, QuantizedLinear, type Stream } from '../../lib/index';
import { type NativeGemm, native } from '../../lib/native';
import { median } from '../../lib/timing';
import { randomHalves, randomPackedLayer } from './data';
import { DEFAULT_BENCH_FORMAT } from './formats';
import { directAndGraph, rotationCount } from './measure';
import { weightBytes } from './results';

/** Calls per burst, bursts per measurement (the first few are warm-up). */
const BURST = 64;
const BURSTS = 40;
const WARMUP_BURSTS = 4;
/** Layer calls in one captured graph (the issue's unit: a decode step of 32 blocks x 4 layers). */
export const GRAPH_CALLS = 128;
/** Graph replays per burst: one, so each launch finds the GPU idle (a launch behind a running replay of the same graph may wait). */
const GRAPH_BURST = 1;

/** The layers --overhead measures by default: a 7B attention projection and two tiny ones. */
export const OVERHEAD_SHAPES: ReadonlyArray<{ k: number; n: number }> = [
  { k: 4096, n: 4096 },
  { k: 256, n: 128 },
  { k: 128, n: 64 },
];

export interface OverheadRow {
  k: number;
  n: number;
  m: number;
  /** Host µs per call. */
  emptyLaunchUs: number;
  bareLaunchUs: number;
  /** The C++ launcher (marlin::gemm: checks, plan, launch) called from C++. */
  launcherUs: number;
  /** The addon's run() called straight from JS with prepared arguments: forward() without its JS. */
  nativeRunUs: number;
  forwardUs: number;
  /** Host µs of one graph.launch() of GRAPH_CALLS forward() calls. */
  graphLaunchUs: number;
  /** GPU µs per layer call: GRAPH_CALLS direct calls in a row, and the same replayed from the graph. */
  directGpuUs: number;
  graphGpuUs: number;
  /** The same two with programmatic dependent launch (sm_90+; equal to the above elsewhere). */
  directPdlGpuUs: number;
  graphPdlGpuUs: number;
}

/** Median host ns per call of `call`, over bursts of `burst` calls that start with the GPU idle. */
async function hostNs(stream: Stream, burst: number, call: () => void): Promise<number> {
  const perCall: number[] = [];
  for (let b = 0; b < BURSTS + WARMUP_BURSTS; b++) {
    await stream.synchronize();
    const start = process.hrtime.bigint();
    for (let i = 0; i < burst; i++) call();
    const ns = Number(process.hrtime.bigint() - start);
    if (b >= WARMUP_BURSTS) perCall.push(ns / burst);
  }
  await stream.synchronize();
  return median(perCall);
}

/** Median over bursts of a function that measures itself (returns ns per call). */
async function selfTimedNs(stream: Stream, measure: () => number): Promise<number> {
  const values: number[] = [];
  for (let b = 0; b < BURSTS + WARMUP_BURSTS; b++) {
    await stream.synchronize();
    const ns = measure();
    if (b >= WARMUP_BURSTS) values.push(ns);
  }
  await stream.synchronize();
  return median(values);
}

export async function measureOverhead(device: Device, stream: Stream, shapes: ReadonlyArray<{ k: number; n: number }>, batches: readonly number[]): Promise<OverheadRow[]> {
  const format = DEFAULT_BENCH_FORMAT;
  const rows: OverheadRow[] = [];
  const emptyNs = await selfTimedNs(stream, () => native.timeEmptyLaunches(stream.native, BURST));
  for (const { k, n } of shapes) {
    const copies = rotationCount(weightBytes(k, n, format), device.properties.l2CacheSize);
    const packed = randomPackedLayer(k, n, format);
    const layers = Array.from({ length: copies }, () => QuantizedLinear.fromPacked(packed, { device, stream }));
    try {
      for (const m of batches) {
        using x = DeviceTensor.from(device, randomHalves(m * k, -1, 1), [m, k], 'float16', stream);
        using out = DeviceTensor.empty(device, [m, n], 'float16');
        for (const layer of layers) layer.reserve({ maxBatch: m, stream });
        const layer = layers[0];
        const forwardNs = await hostNs(stream, BURST, () => layer.forward(x, { out, stream }));
        // The layer's native half, reached past its JS (a private field: this is a measurement, not an API).
        const gemm = (layer as unknown as { gemm: NativeGemm }).gemm;
        const ws = stream.workspace!;
        const runNs = await hostNs(stream, BURST, () => gemm.run(x.buffer, out.buffer, ws.buffer, stream.native, m, null, undefined));
        const bareNs = await selfTimedNs(stream, () => layer.bareLaunchNs(x, out, BURST, stream));
        const launcherNs = await selfTimedNs(stream, () => layer.bareLaunchNs(x, out, BURST, stream, true));
        const sequence = (): void => {
          for (let i = 0; i < GRAPH_CALLS; i++) layers[i % copies].forward(x, { out, stream });
        };
        const graph: Graph = stream.capture(sequence);
        let graphNs: number;
        try {
          graphNs = await hostNs(stream, GRAPH_BURST, () => graph.launch(stream));
        } finally {
          graph.dispose();
        }
        // Without and with programmatic dependent launch (each graph captured with it so).
        const pdlBefore = native.programmaticLaunch();
        let plain: Awaited<ReturnType<typeof directAndGraph>>;
        let pdl: Awaited<ReturnType<typeof directAndGraph>>;
        try {
          native.programmaticLaunch(false);
          plain = await directAndGraph(device, stream, sequence);
          native.programmaticLaunch(true);
          pdl = await directAndGraph(device, stream, sequence);
        } finally {
          native.programmaticLaunch(pdlBefore);
        }
        for (const t of [plain, pdl]) if (t.graph === undefined) throw new Error(`the layer calls could not be captured: ${t.error}`);
        rows.push({
          k,
          n,
          m,
          emptyLaunchUs: emptyNs / 1000,
          bareLaunchUs: bareNs / 1000,
          launcherUs: launcherNs / 1000,
          nativeRunUs: runNs / 1000,
          forwardUs: forwardNs / 1000,
          graphLaunchUs: graphNs / 1000,
          directGpuUs: plain.direct / GRAPH_CALLS,
          graphGpuUs: plain.graph! / GRAPH_CALLS,
          directPdlGpuUs: pdl.direct / GRAPH_CALLS,
          graphPdlGpuUs: pdl.graph! / GRAPH_CALLS,
        });
      }
    } finally {
      await stream.synchronize();
      for (const l of layers) l.dispose();
    }
  }
  return rows;
}

/** The --overhead report: one row per (layer, batch). */
export function formatOverhead(rows: readonly OverheadRow[], gpuName: string): string {
  const lines = [
    `=== Host overhead of one call on ${gpuName} (fp16-u4-g128; host µs per call, median of ${BURSTS} bursts of ${BURST}) ===`,
    `empty: an empty kernel's launch from C++; bare: this layer's kernel launched from C++ with everything prepared;`,
    `gemm: the C++ launcher marlin::gemm() (checks, plan, launch) called from C++;`,
    `run: the addon's gemm.run() called from JS with prepared arguments (forward() less its TypeScript);`,
    `forward: layer.forward(x, { out, stream }) from JS; graph: one graph.launch() of ${GRAPH_CALLS} forward() calls.`,
    `GPU µs per layer: ${GRAPH_CALLS} calls queued directly vs replayed from the graph (weights rotated past L2),`,
    `without and with programmatic dependent launch (PDL, sm_90+).`,
    '',
    '  k x n        m   empty   bare   gemm    run  forward  fwd-bare  graph(128)  GPU direct  GPU graph  direct+PDL  graph+PDL',
    '  ----------  --  ------  -----  -----  -----  -------  --------  ----------  ----------  ---------  ----------  ---------',
  ];
  for (const r of rows)
    lines.push(
      `  ${`${r.k}x${r.n}`.padEnd(10)}  ${String(r.m).padStart(2)}  ${r.emptyLaunchUs.toFixed(2).padStart(6)}  ${r.bareLaunchUs.toFixed(2).padStart(5)}  ${r.launcherUs.toFixed(2).padStart(5)}  ${r.nativeRunUs.toFixed(2).padStart(5)}  ` +
        `${r.forwardUs.toFixed(2).padStart(7)}  ${(r.forwardUs - r.bareLaunchUs).toFixed(2).padStart(8)}  ${r.graphLaunchUs.toFixed(2).padStart(10)}  ` +
        `${r.directGpuUs.toFixed(2).padStart(10)}  ${r.graphGpuUs.toFixed(2).padStart(9)}  ${r.directPdlGpuUs.toFixed(2).padStart(10)}  ${r.graphPdlGpuUs.toFixed(2).padStart(9)}`,
    );
  return `${lines.join('\n')}\n`;
}
