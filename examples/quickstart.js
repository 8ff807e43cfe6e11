// Quantize a 4096 x 4096 layer to 4 bits and multiply a batch of 16 by it.
const { Device, QuantizedLinear, dequantize, quantize, fromHalf, toHalf } = require('marlin-node');
const { referenceMatmul, relativeError } = require('marlin-node/testing'); // helpers for checks like the one below

async function main() {
  const device = Device.get(0);
  const inFeatures = 4096;
  const outFeatures = 4096;
  const m = 16; // tokens in flight

  // Weights W [inFeatures, outFeatures] (y = x W), quantized with one FP16 scale per 128 input features.
  const w = Float32Array.from({ length: inFeatures * outFeatures }, () => Math.random() - 0.5);
  const quantized = quantize(w, inFeatures, outFeatures, 128);
  const layer = QuantizedLinear.fromQuantized(quantized, { device });

  const x = toHalf(Float32Array.from({ length: m * inFeatures }, () => Math.random() - 0.5));
  const xGpu = device.upload(x, [m, inFeatures], 'float16');
  const yGpu = layer.forward(xGpu); // queued on the GPU; returns at once
  const y = fromHalf(await yGpu.toHost()); // resolves when the GPU is done, without blocking

  // Check one row against float64 on the CPU (A [m, k] times B [k, n]).
  const expected = referenceMatmul(fromHalf(x), dequantize(quantized), m, inFeatures, outFeatures, [0]);
  console.log(`${device.name}: y = x W for x [${m}, ${inFeatures}], W 4-bit [${inFeatures}, ${outFeatures}]`);
  console.log(`y[0][0..3] = ${Array.from(y.subarray(0, 4), (v) => v.toFixed(4)).join(', ')}`);
  console.log(`relative error of row 0 against float64: ${relativeError(y.subarray(0, outFeatures), expected).toExponential(2)}`);

  for (const t of [layer, xGpu, yGpu]) t.dispose();
}

main().catch((error) => {
  console.error(`${error.code ?? 'ERROR'}: ${error.message}`);
  process.exit(1);
});
