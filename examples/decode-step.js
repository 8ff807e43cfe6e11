// One decode step of Llama-2-7B's linear layers: 32 transformer blocks x 4
// layers (fused q/k/v, o, fused gate/up, down) with random 4-bit weights of
// the real shapes, run as direct forward() calls and as one captured CUDA
// graph, replayed. Prints µs per step and steps/s at batch 1, 8 and 32.
//
// Only the linear layers: attention, norms and activations are left out, so
// each layer reads a shared input of its width instead of the previous
// layer's output (the GPU work per layer is the same).
//
//   node examples/decode-step.js            (BLOCKS=4 for a quick run)
const { randomFillSync } = require('node:crypto');
const { Device, DeviceTensor, QuantizedLinear, toHalf } = require('marlin-node');

const BLOCKS = Number(process.env.BLOCKS || 32);
const BATCHES = [1, 8, 32];
const STEPS = 50;
const LAYERS = [
  { name: 'qkv', k: 4096, n: 3 * 4096 },
  { name: 'o', k: 4096, n: 4096 },
  { name: 'gate_up', k: 4096, n: 2 * 11008 },
  { name: 'down', k: 11008, n: 4096 },
];

// Random packed weights are valid Marlin data as they are; scales are small FP16 values.
function randomLayer(device, k, n) {
  const scales = toHalf(Float32Array.from({ length: (k / 128) * n }, () => (0.5 + Math.random()) / 64));
  return QuantizedLinear.fromPacked(
    { inFeatures: k, outFeatures: n, groupSize: 128, packedWeights: randomFillSync(new Int32Array((k * n) / 8)), packedScales: scales },
    { device },
  );
}

async function main() {
  const device = Device.get(0);
  const stream = device.createStream();
  const layers = [];
  for (let b = 0; b < BLOCKS; b++) for (const shape of LAYERS) layers.push({ ...shape, layer: randomLayer(device, shape.k, shape.n) });
  const bytes = layers.reduce((sum, l) => sum + l.k * l.n * 0.5 + (l.k / 128) * l.n * 2, 0);
  console.log(`${device.name}: ${BLOCKS} blocks x ${LAYERS.length} linear layers of Llama-2-7B, ${(bytes / 1e9).toFixed(2)} GB of 4-bit weights`);
  console.log('batch  direct µs/step  graph µs/step  direct steps/s  graph steps/s  graph nodes  replay = direct');

  for (const m of BATCHES) {
    // A shared input per width and an output per layer shape.
    const inputs = new Map();
    const outputs = new Map();
    for (const { k, n } of LAYERS) {
      if (!inputs.has(k)) inputs.set(k, DeviceTensor.from(device, toHalf(Float32Array.from({ length: m * k }, () => Math.random() - 0.5)), [m, k], 'float16', stream));
      if (!outputs.has(n)) outputs.set(n, DeviceTensor.empty(device, [m, n], 'float16'));
    }
    for (const { layer } of layers) layer.reserve({ maxBatch: m, stream });
    const step = () => {
      for (const { k, n, layer } of layers) layer.forward(inputs.get(k), { out: outputs.get(n), stream });
    };

    step(); // warm-up
    await stream.synchronize();
    let start = process.hrtime.bigint();
    for (let i = 0; i < STEPS; i++) step();
    await stream.synchronize();
    const directUs = Number(process.hrtime.bigint() - start) / 1e3 / STEPS;
    const direct = await Promise.all([...outputs.values()].map((t) => t.toHost(stream)));

    const graph = stream.capture(step);
    graph.launch(); // warm-up
    await stream.synchronize();
    start = process.hrtime.bigint();
    for (let i = 0; i < STEPS; i++) graph.launch();
    await stream.synchronize();
    const graphUs = Number(process.hrtime.bigint() - start) / 1e3 / STEPS;
    const replayed = await Promise.all([...outputs.values()].map((t) => t.toHost(stream)));
    const same = replayed.every((r, i) => Buffer.compare(Buffer.from(r.buffer), Buffer.from(direct[i].buffer)) === 0);

    console.log(
      `${String(m).padStart(5)}  ${directUs.toFixed(1).padStart(14)}  ${graphUs.toFixed(1).padStart(13)}  ` +
        `${(1e6 / directUs).toFixed(0).padStart(14)}  ${(1e6 / graphUs).toFixed(0).padStart(13)}  ${String(graph.nodes).padStart(11)}  ${same ? 'yes' : 'NO'}`,
    );
    graph.dispose();
    for (const t of [...inputs.values(), ...outputs.values()]) t.dispose();
    if (!same) process.exitCode = 1;
  }
  await stream.synchronize();
  for (const { layer } of layers) layer.dispose();
  stream.dispose();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
