/**
 * Devices, streams, events and device tensors. Every native resource has an
 * owner with dispose() (and [Symbol.dispose]); the native finalizer frees
 * what was forgotten; use after dispose throws DISPOSED.
 */
import { MarlinError, awaitNative, callNative } from './errors';
import {
  native,
  type DeviceProperties,
  type MemoryInfo,
  type NativeDeviceBuffer,
  type NativeEvent,
  type NativeGraph,
  type NativeStream,
  type ProbeResult,
} from './native';
import { invalid, isNonNegativeInteger } from './validate';

/**
 * Whether a usable GPU is here and, if not, why. Never throws: without the
 * addon it reports code NOT_BUILT, with the reason and how to build it.
 */
export function probe(): ProbeResult {
  try {
    return native.probe();
  } catch (error) {
    const notBuilt = error instanceof MarlinError && error.code === 'NOT_BUILT';
    return {
      available: false,
      reason: notBuilt ? error.message : `probe failed: ${error instanceof Error ? error.message : String(error)}`,
      code: notBuilt ? 'NOT_BUILT' : 'NO_GPU',
      deviceCount: 0,
      runtimeVersion: 0,
      driverVersion: 0,
      devices: [],
    };
  }
}

/**
 * A counter that orders device-side setup against graph captures: a layer
 * takes a number when its uploads are queued, a capture takes one when its
 * stream has been ordered after the default stream. @internal
 */
let serial = 0;
/** @internal */
export function nextSerial(): number {
  return ++serial;
}

function isThenable(value: unknown): boolean {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** A CUDA stream: work queued on one runs in order, asynchronously to JS. */
export class Stream {
  /** @internal */ readonly native: NativeStream;
  /** The device the stream runs on. */
  readonly device: Device;
  /** @internal GEMM workspace shared by every layer that runs on this stream (see linear.ts). */
  workspace?: DeviceTensor<'int32'>;
  /** @internal act-order layers' gathered activations, shared like the workspace (see linear.ts). */
  scratch?: DeviceTensor<'int32'>;
  /**
   * @internal While capturing: the stream was ordered after all work queued on
   * the device's default stream before the capture, which covers every
   * upload numbered (nextSerial) below this.
   */
  orderedBefore = 0;

  /** A new stream on `device` (also device.createStream()). */
  constructor(device: Device) {
    if (!(device instanceof Device)) throw invalid('BAD_ARGUMENT', 'device', 'a Device', device);
    this.device = device;
    this.native = callNative(() => new native.Stream(device.index));
  }

  /** Kept here, not asked of the addon: forward() reads it on every call. */
  private released = false;

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.released;
  }

  /** Whether capture() is recording this stream's work now. */
  get capturing(): boolean {
    return this.native.capturing;
  }

  /**
   * Records the GPU work that `record` queues on this stream into a CUDA
   * graph instead of running it, and returns the graph: `graph.launch()`
   * then replays all of it with one call. `record` must be synchronous and
   * may only queue work: layer forward() calls with `out` given, copyFrom,
   * fill, and fp16Matmul() once it has been called outside a capture.
   * Meanwhile, on this thread: allocating (a new tensor, forward() without
   * `out`, a workspace that must grow: call layer.reserve() first),
   * upload() and graph.launch() throw NOT_CAPTURABLE, and toHost(),
   * synchronize() and event.synchronize() return Promises rejected with it,
   * on any stream; waitFor() and event.record() throw it on the capturing
   * stream. If `record` throws, nothing is recorded, the error propagates
   * and the stream works as before. With drivers older than CUDA 12.3's,
   * which cannot load a kernel during a capture, run the calls once outside
   * the capture first.
   *
   * A replay reads and writes the very tensors the capture used: change the
   * inputs between replays by writing into those tensors (upload, copyFrom),
   * and read the outputs after the replay. The graph keeps the device
   * memory it uses until graph.dispose(), even if those tensors are
   * disposed first. Before capturing, the stream is ordered after the work
   * queued so far on the device's default stream (where layers upload);
   * graph.launch() on another stream orders that stream after it too.
   */
  capture(record: () => void): Graph {
    live(this, 'stream');
    if (typeof record !== 'function') throw invalid('BAD_ARGUMENT', 'record', 'a function', record);
    if (this.capturing) throw new MarlinError('NOT_CAPTURABLE', 'the stream is already capturing a graph');
    const uploads = this.device.stream;
    if (uploads !== this) {
      const queued = new Event(this.device);
      try {
        queued.record(uploads);
        this.waitFor(queued);
      } finally {
        queued.dispose();
      }
    }
    this.orderedBefore = nextSerial();
    callNative(() => this.native.beginCapture());
    let result: unknown;
    try {
      result = record();
    } catch (error) {
      this.native.endCapture(true);
      throw error;
    }
    if (isThenable(result)) {
      this.native.endCapture(true);
      // Work queued after an await would run outside the capture or be recorded by accident.
      throw new MarlinError('BAD_ARGUMENT', 'stream.capture() takes a synchronous function; it returned a Promise (nothing was recorded)');
    }
    const graph = callNative(() => this.native.endCapture(false)) as NativeGraph;
    return Graph.captured(this, graph);
  }

  /** Resolves once all work queued so far has finished; rejects with CUDA_ERROR if it failed. */
  synchronize(): Promise<void> {
    return awaitNative(() => this.native.synchronize());
  }

  /**
   * Makes the work queued on this stream from now on wait, on the GPU, until
   * the work before `event`'s most recent record() has finished. Returns at
   * once. The event may belong to another device; recording it again later
   * does not change what this stream waits for. An event never recorded is
   * no wait at all.
   */
  waitFor(event: Event): void {
    if (!(event instanceof Event)) throw invalid('BAD_ARGUMENT', 'event', 'an Event', event);
    live(this, 'stream');
    live(event, 'event');
    callNative(() => this.native.waitFor(event.native));
  }

  /** Releases the stream (queued work still runs) and its workspace. */
  dispose(): void {
    this.released = true;
    this.workspace?.dispose();
    this.workspace = undefined;
    this.scratch?.dispose();
    this.scratch = undefined;
    this.native.dispose();
  }

  /** dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * A captured sequence of GPU work (stream.capture()), replayed by launch()
 * at the cost of one call. It keeps the device memory its work uses until
 * dispose().
 */
export class Graph {
  /** The device whose work the graph replays. */
  readonly device: Device;
  /** The stream it was captured from, where launch() queues it by default. */
  readonly stream: Stream;
  /** @internal */ readonly native: NativeGraph;

  /** The capturing stream's work before the capture ended (layer uploads included): other streams wait for it once. */
  private readonly ready: Event;
  private readonly ordered = new WeakSet<Stream>();

  private constructor(stream: Stream, graph: NativeGraph, ready: Event) {
    this.device = stream.device;
    this.stream = stream;
    this.native = graph;
    this.ready = ready;
  }

  /**
   * @internal stream.capture()'s result. A factory rather than an internal
   * constructor: stripped from the typings, that would leave an implicit
   * public one; a private constructor stays private there.
   */
  static captured(stream: Stream, graph: NativeGraph): Graph {
    const ready = new Event(stream.device);
    try {
      ready.record(stream);
    } catch (error) {
      ready.dispose();
      graph.dispose();
      throw error;
    }
    return new Graph(stream, graph, ready);
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Kernels, copies and memsets in the graph. */
  get nodes(): number {
    return this.native.nodes;
  }

  /**
   * Queues one replay of the graph on `stream` (default: the stream it was
   * captured from) and returns at once. Replays on one stream run in order.
   * The first launch on another stream orders that stream after the
   * capturing stream's work up to the end of the capture (which covers the
   * uploads of the layers it calls); later work on the capturing stream
   * is not waited for. Replays of graphs that share a workspace (layers
   * captured from one stream) must not run at the same time on different
   * streams: order them with events. Throws NOT_CAPTURABLE during a capture.
   */
  launch(stream: Stream = this.stream): void {
    if (this.native.disposed) throw new MarlinError('DISPOSED', 'the graph was disposed');
    if (!(stream instanceof Stream)) throw invalid('BAD_ARGUMENT', 'stream', 'a Stream', stream);
    if (stream !== this.stream && !this.ordered.has(stream)) {
      stream.waitFor(this.ready);
      this.ordered.add(stream);
    }
    callNative(() => this.native.launch(stream.native));
  }

  /**
   * Frees the graph (a replay in flight completes) and lets go of its
   * memory: memory of tensors disposed while the graph used it is freed
   * now, which waits for the GPU like any free. Safe to call twice.
   */
  dispose(): void {
    this.ready.dispose();
    this.native.dispose();
  }

  /** dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * A CUDA event: a point in a stream's work. record() places it; then
 * synchronize() awaits the work before it, elapsedMs() measures GPU time
 * between two events, and stream.waitFor(event) orders another stream
 * after it.
 */
export class Event {
  /** @internal */ readonly native: NativeEvent;
  /** The device the event belongs to. */
  readonly device: Device;
  private recorded = false;

  /** A new event on `device` (also device.createEvent()). */
  constructor(device: Device) {
    if (!(device instanceof Device)) throw invalid('BAD_ARGUMENT', 'device', 'a Device', device);
    this.device = device;
    this.native = callNative(() => new native.Event(device.index));
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Marks the point `stream` (on this event's device) has reached; moves the event if it was recorded before. */
  record(stream: Stream = this.device.stream): void {
    live(this, 'event');
    if (!(stream instanceof Stream)) throw invalid('BAD_ARGUMENT', 'stream', 'a Stream', stream);
    live(stream, 'stream');
    if (stream.device.index !== this.device.index)
      throw new MarlinError('BAD_ARGUMENT', `the stream is on device ${stream.device.index} but the event on ${this.device.index}`);
    callNative(() => this.native.record(stream.native));
    this.recorded = true;
  }

  /**
   * Resolves once the work before the most recent record() (as of this
   * call) has finished, without blocking the event loop; rejects with
   * CUDA_ERROR if it failed. Resolves at once if the event was never
   * recorded. Recording it again or disposing it meanwhile changes nothing.
   */
  synchronize(): Promise<void> {
    return awaitNative(() => {
      live(this, 'event');
      return this.native.synchronize();
    });
  }

  /**
   * GPU milliseconds from this event to `end` (same device). Both must have
   * been recorded, and both records completed: await end.synchronize() first
   * (CUDA_ERROR with cudaError 600, "not ready", otherwise).
   */
  elapsedMs(end: Event): number {
    live(this, 'event');
    if (!(end instanceof Event)) throw invalid('BAD_ARGUMENT', 'end', 'an Event', end);
    live(end, 'end');
    if (end.device.index !== this.device.index)
      throw new MarlinError('BAD_ARGUMENT', `elapsedMs needs both events on one device (this one on ${this.device.index}, end on ${end.device.index})`);
    for (const [name, e] of [['this event', this], ['end', end]] as const)
      if (!e.recorded) throw new MarlinError('BAD_ARGUMENT', `elapsedMs needs both events recorded, but ${name} never was`);
    return callNative(() => this.native.elapsedMs(end.native));
  }

  /** Releases the event (pending synchronize() Promises still settle). Safe to call twice. */
  dispose(): void {
    this.native.dispose();
  }

  /** dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Throws DISPOSED if `owner` (named `name` in the message) was disposed. */
function live(owner: Stream | Event, name: string): void {
  if (owner.disposed) throw new MarlinError('DISPOSED', `the ${name} was disposed`);
}

/** Element types. FP16 and BF16 data are held on the host as Uint16Array bit patterns (see fp16.ts). */
export type DType = 'float16' | 'bfloat16' | 'float32' | 'int32';
/** The host array of a dtype: Uint16Array (bit patterns) for float16 and bfloat16, Float32Array, Int32Array. */
export type HostArrayOf<D extends DType> = D extends 'float16' | 'bfloat16'
  ? Uint16Array
  : D extends 'float32'
    ? Float32Array
    : Int32Array;

const BYTES_PER_ELEMENT: Record<DType, number> = { float16: 2, bfloat16: 2, float32: 4, int32: 4 };
const HOST_ARRAY: Record<DType, new (buffer: ArrayBuffer) => Uint16Array | Float32Array | Int32Array> = {
  float16: Uint16Array,
  bfloat16: Uint16Array,
  float32: Float32Array,
  int32: Int32Array,
};

/** A new ArrayBuffer; OUT_OF_MEMORY (not a RangeError) if the host has no room for it. */
function hostBytes(byteLength: number): ArrayBuffer {
  try {
    return new ArrayBuffer(byteLength);
  } catch (error) {
    throw new MarlinError('OUT_OF_MEMORY', `no host memory for a ${byteLength}-byte result`, { cause: error });
  }
}

function checkDType(dtype: unknown): DType {
  if (typeof dtype !== 'string' || !Object.hasOwn(BYTES_PER_ELEMENT, dtype))
    throw invalid('BAD_DTYPE', 'dtype', "'float16', 'bfloat16', 'float32' or 'int32'", dtype);
  return dtype as DType;
}

function checkShape(shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every(isNonNegativeInteger))
    throw invalid('BAD_SHAPE', 'shape', 'a non-empty array of non-negative integers', shape);
  return [...shape];
}

/** A dense row-major tensor in device memory. */
export class DeviceTensor<D extends DType = DType> {
  /** The device that holds the memory. */
  readonly device: Device;
  /** Dimensions, outermost first (row-major), e.g. [rows, columns]. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: D;
  /** Number of elements (the product of shape). */
  readonly length: number;
  /** Size in bytes: length times 2 (float16, bfloat16) or 4 (float32, int32). */
  readonly byteLength: number;
  /** @internal */ readonly buffer: NativeDeviceBuffer;

  private constructor(device: Device, shape: number[], dtype: D) {
    this.device = device;
    this.shape = Object.freeze(shape);
    this.dtype = dtype;
    this.length = shape.reduce((a, b) => a * b, 1);
    this.byteLength = this.length * BYTES_PER_ELEMENT[dtype];
    this.buffer = callNative(() => new native.DeviceBuffer(device.index, this.byteLength));
  }

  /** Uninitialised device memory of the given shape. */
  static empty<D extends DType>(device: Device, shape: readonly number[], dtype: D): DeviceTensor<D> {
    return new DeviceTensor(device, checkShape(shape), checkDType(dtype) as D);
  }

  /**
   * A device copy of host data. FP16 data is given as Uint16Array bit
   * patterns (see toHalf). The copy is queued on `stream`; `data` may be
   * reused as soon as this returns.
   */
  static from<D extends DType>(
    device: Device,
    data: HostArrayOf<D>,
    shape: readonly number[],
    dtype: D,
    stream: Stream = device.stream,
  ): DeviceTensor<D> {
    const t = DeviceTensor.empty(device, shape, dtype);
    try {
      t.upload(data, stream);
    } catch (error) {
      t.dispose();
      throw error;
    }
    return t;
  }

  /** Kept here, not asked of the addon: forward() reads it on every call. */
  private released = false;

  /** Whether dispose() was called; a disposed tensor throws DISPOSED when used. */
  get disposed(): boolean {
    return this.released;
  }

  private live(): void {
    if (this.released) throw new MarlinError('DISPOSED', `this ${this.describe()} tensor was disposed`);
  }

  /** "float16[16, 4096]" */
  describe(): string {
    return `${this.dtype}[${this.shape.join(', ')}]`;
  }

  private checkHost(data: unknown, name: string): HostArrayOf<D> {
    const ctor = HOST_ARRAY[this.dtype];
    if (!(data instanceof ctor)) throw invalid('BAD_DTYPE', name, `a ${ctor.name} (for ${this.dtype})`, data);
    if (data.length !== this.length)
      throw invalid('BAD_SHAPE', name, `${this.length} elements (shape [${this.shape.join(', ')}])`, data);
    return data as HostArrayOf<D>;
  }

  private checkStream(stream: Stream): void {
    if (!(stream instanceof Stream)) throw invalid('BAD_ARGUMENT', 'stream', 'a Stream', stream);
    if (stream.device.index !== this.device.index)
      throw new MarlinError('BAD_ARGUMENT', `the stream is on device ${stream.device.index} but the tensor on ${this.device.index}`);
  }

  /** Queues a copy of `data` (same length and type) into this tensor. */
  upload(data: HostArrayOf<D>, stream: Stream = this.device.stream): void {
    this.live();
    this.checkHost(data, 'data');
    this.checkStream(stream);
    callNative(() => this.buffer.upload(data, 0, stream.native));
  }

  /**
   * The tensor's contents once the work queued on `stream` before this call
   * has finished. Does not block the event loop for the copy, whatever the
   * size: this call only queues copies, and the bytes are copied into the
   * result off the JS thread. A result of more than 1 MiB goes through a temporary
   * device copy, which needs that much free device memory until it is read;
   * without room for it, the result is staged through host memory that this
   * call pins (slow: about 0.5 ms per MB). That device copy comes from CUDA's
   * stream-ordered memory pool: a result larger than the pool holds grows
   * it in this call (on an H100, 14 ms for the first 200 MB readback of a
   * process; 1-4 ms once the pool holds the size).
   */
  async toHost(stream: Stream = this.device.stream): Promise<HostArrayOf<D>> {
    this.live();
    this.checkStream(stream);
    // Written from another thread until the download settles, so nothing
    // else may hold it before then: no view of it exists until it is complete.
    const bytes = hostBytes(this.byteLength);
    await awaitNative(() => this.buffer.download(bytes, 0, stream.native));
    return new HOST_ARRAY[this.dtype](bytes) as HostArrayOf<D>;
  }

  /** Queues a device-to-device copy of `source` (same dtype and length) into this tensor. */
  copyFrom(source: DeviceTensor<D>, stream: Stream = this.device.stream): void {
    this.live();
    if (!(source instanceof DeviceTensor)) throw invalid('BAD_ARGUMENT', 'source', 'a DeviceTensor', source);
    source.live();
    if (source.dtype !== this.dtype) throw invalid('BAD_DTYPE', 'source', `a ${this.dtype} tensor`, source.describe());
    if (source.length !== this.length) throw invalid('BAD_SHAPE', 'source', `${this.length} elements`, source.describe());
    this.checkStream(stream);
    callNative(() => this.buffer.copyFrom(source.buffer, 0, 0, this.byteLength, stream.native));
  }

  /** Sets every byte to `byte` (0xff makes every FP16 value a NaN: a poison). */
  fill(byte: number, stream: Stream = this.device.stream): void {
    this.live();
    if (!isNonNegativeInteger(byte) || byte > 255) throw invalid('BAD_ARGUMENT', 'byte', 'an integer in 0..255', byte);
    this.checkStream(stream);
    callNative(() => this.buffer.fill(byte, 0, this.byteLength, stream.native));
  }

  /** Frees the device memory (after queued work that uses it). Safe to call twice. */
  dispose(): void {
    this.released = true;
    this.buffer.dispose();
  }

  /** dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** One CUDA device of compute capability 8.0 or newer. */
export class Device {
  private static readonly devices = new Map<number, Device>();

  /** CUDA device ordinal. */
  readonly index: number;
  /** The device's properties as the runtime reported them (frozen). */
  readonly properties: DeviceProperties;
  private defaultStream?: Stream;

  private constructor(index: number, properties: DeviceProperties) {
    this.index = index;
    this.properties = Object.freeze({ ...properties });
  }

  /** Number of CUDA devices (0 without a driver). */
  static count(): number {
    return callNative(() => native.deviceCount());
  }

  /** Device `index` (default 0); throws NO_GPU if it is missing or unusable, NOT_BUILT without the addon. */
  static get(index = 0): Device {
    if (!isNonNegativeInteger(index)) throw invalid('BAD_ARGUMENT', 'device index', 'a non-negative integer', index);
    const known = Device.devices.get(index);
    if (known) return known;
    const p = probe();
    if (p.code === 'NOT_BUILT') throw new MarlinError('NOT_BUILT', p.reason ?? 'the native addon is not built');
    if (!p.available && p.deviceCount === 0) throw new MarlinError('NO_GPU', `no usable CUDA device: ${p.reason}`);
    const entry = p.devices.find((d) => d.index === index);
    if (!entry) throw new MarlinError('NO_GPU', `device ${index} does not exist (${p.deviceCount} CUDA device(s) present)`);
    if (!entry.usable) throw new MarlinError('NO_GPU', `device ${index} (${entry.name}) is not usable: ${entry.reason}`);
    const device = new Device(index, entry);
    Device.devices.set(index, device);
    return device;
  }

  /** Device name (properties.name). */
  get name(): string {
    return this.properties.name;
  }

  /** "sm_90" */
  get arch(): string {
    return `sm_${this.properties.major}${this.properties.minor}`;
  }

  /** Streaming multiprocessors (properties.multiProcessorCount). */
  get multiProcessorCount(): number {
    return this.properties.multiProcessorCount;
  }

  /** The stream used when none is given. */
  get stream(): Stream {
    if (!this.defaultStream || this.defaultStream.disposed) this.defaultStream = new Stream(this);
    return this.defaultStream;
  }

  /** A new stream on this device. */
  createStream(): Stream {
    return new Stream(this);
  }

  /** A new event on this device. */
  createEvent(): Event {
    return new Event(this);
  }

  /**
   * Free and total memory of this device in bytes, as the driver counts them
   * now (free is what every process together has left).
   */
  memoryInfo(): MemoryInfo {
    return callNative(() => native.memoryInfo(this.index));
  }

  /** Resolves once the default stream's queued work has finished. */
  synchronize(): Promise<void> {
    return this.stream.synchronize();
  }

  /** Uninitialised device memory of the given shape (DeviceTensor.empty). */
  empty<D extends DType>(shape: readonly number[], dtype: D): DeviceTensor<D> {
    return DeviceTensor.empty(this, shape, dtype);
  }

  /** A device copy of host data, queued on `stream` (DeviceTensor.from). */
  upload<D extends DType>(data: HostArrayOf<D>, shape: readonly number[], dtype: D, stream?: Stream): DeviceTensor<D> {
    return DeviceTensor.from(this, data, shape, dtype, stream ?? this.stream);
  }
}

