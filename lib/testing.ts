/**
 * marlin-node/testing: what the package's own tests and benchmark use to
 * check and time the kernels, for code that does the same (a test of a
 * model built on marlin-node, a benchmark of one). Not needed to run a
 * model, and kept out of the main entry so that its API is only that.
 *
 * - Float64 references on the CPU: {@link referenceMatmul},
 *   {@link referenceQuantizedMatmul}, and {@link relativeError} to compare
 *   a result with one.
 * - GPU timing without launch gaps: {@link timeCalls}, {@link median}.
 * - Where one value lands in the packed Marlin layout:
 *   {@link weightPosition}, {@link scalePosition}, {@link zeroPosition}.
 *
 * @packageDocumentation
 */
export { referenceMatmul, referenceQuantizedMatmul, relativeError } from './reference';
export { timeCalls, median, type GpuTimes } from './timing';
export { weightPosition, scalePosition, zeroPosition } from './layout';
