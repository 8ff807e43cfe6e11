/**
 * Events, stream.waitFor() and device.memoryInfo() without a GPU: the
 * argument checks the TypeScript layer makes before any native call (on
 * stand-ins for the native objects), and NO_GPU where a GPU is needed.
 */
import { Device, Event, MarlinError, Stream } from '../../lib/index';
import { native } from '../../lib/native';
import { probe } from '../../lib/device';

const gpu = probe().available;

/** A Device as far as instanceof and .index go; no GPU behind it. */
function fakeDevice(index: number): Device {
  return Object.assign(Object.create(Device.prototype), { index }) as Device;
}

/** An Event whose native side is a recorder: no GPU, no CUDA call. */
function fakeEvent(device: number, state: { disposed?: boolean; recorded?: boolean } = {}) {
  const calls = { record: jest.fn(), elapsedMs: jest.fn(() => 1.5), synchronize: jest.fn(() => Promise.resolve()), dispose: jest.fn() };
  const nativeEvent = { disposed: state.disposed ?? false, ...calls };
  const event = Object.assign(Object.create(Event.prototype), {
    native: nativeEvent,
    device: fakeDevice(device),
    recorded: state.recorded ?? false,
  }) as Event;
  return { event, calls };
}

function fakeStream(device: number, disposed = false) {
  const waitFor = jest.fn();
  const stream = Object.assign(Object.create(Stream.prototype), {
    native: { disposed, waitFor },
    released: disposed, // Stream keeps its disposal in JS (see lib/device.ts)
    device: fakeDevice(device),
  }) as Stream;
  return { stream, waitFor };
}

describe('Event and stream ordering: argument checks', () => {
  test('the package exports Event as a class with record, synchronize, elapsedMs and dispose', () => {
    for (const name of ['record', 'synchronize', 'elapsedMs', 'dispose'] as const) expect(typeof Event.prototype[name]).toBe('function');
    expect(typeof Event.prototype[Symbol.dispose]).toBe('function');
    expect(typeof Stream.prototype.waitFor).toBe('function');
    expect(typeof Device.prototype.memoryInfo).toBe('function');
  });

  test('the native module has Event.synchronize, Stream.waitFor and memoryInfo', () => {
    expect(typeof native.Event.prototype.synchronize).toBe('function');
    expect(typeof native.Stream.prototype.waitFor).toBe('function');
    expect(typeof native.memoryInfo).toBe('function');
  });

  test('new Event() takes a Device, nothing else', () => {
    expect(() => new Event(0 as never)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'Expected a Device for device but received number 0' }),
    );
    expect(() => new Event({ index: 0 } as never)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });

  test('new Stream() takes a Device, nothing else', () => {
    expect(() => new Stream(0 as never)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'Expected a Device for device but received number 0' }),
    );
  });

  test('record() takes a live Stream on the event\'s device', () => {
    const { event, calls } = fakeEvent(0);
    expect(() => event.record({} as never)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'Expected a Stream for stream but received object' }),
    );
    expect(() => event.record(fakeStream(1).stream)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'the stream is on device 1 but the event on 0' }),
    );
    expect(() => event.record(fakeStream(0, true).stream)).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    expect(calls.record).not.toHaveBeenCalled();
    const { stream } = fakeStream(0);
    event.record(stream);
    expect(calls.record).toHaveBeenCalledWith(stream.native);
  });

  test('a disposed event refuses record() and elapsedMs() with DISPOSED, and synchronize() rejects with it', async () => {
    const { event, calls } = fakeEvent(0, { disposed: true, recorded: true });
    const { event: end } = fakeEvent(0, { recorded: true });
    expect(() => event.record(fakeStream(0).stream)).toThrow(expect.objectContaining({ code: 'DISPOSED', message: 'the event was disposed' }));
    expect(() => event.elapsedMs(end)).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    expect(() => end.elapsedMs(event)).toThrow(expect.objectContaining({ code: 'DISPOSED', message: 'the end was disposed' }));
    await expect(event.synchronize()).rejects.toBeInstanceOf(MarlinError);
    await expect(event.synchronize()).rejects.toMatchObject({ code: 'DISPOSED' });
    expect(calls.synchronize).not.toHaveBeenCalled();
  });

  test('elapsedMs() needs another Event of the same device, both recorded', () => {
    const { event: start, calls } = fakeEvent(0, { recorded: true });
    expect(() => start.elapsedMs(3 as never)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'Expected an Event for end but received number 3' }),
    );
    expect(() => start.elapsedMs(fakeEvent(1, { recorded: true }).event)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: expect.stringContaining('both events on one device') }),
    );
    expect(() => start.elapsedMs(fakeEvent(0).event)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'elapsedMs needs both events recorded, but end never was' }),
    );
    expect(() => fakeEvent(0).event.elapsedMs(start)).toThrow(
      expect.objectContaining({ message: 'elapsedMs needs both events recorded, but this event never was' }),
    );
    expect(calls.elapsedMs).not.toHaveBeenCalled();
    const { event: end } = fakeEvent(0, { recorded: true });
    expect(start.elapsedMs(end)).toBe(1.5);
    expect(calls.elapsedMs).toHaveBeenCalledWith(end.native);
  });

  test('stream.waitFor() takes a live Event, of any device', () => {
    const { stream, waitFor } = fakeStream(0);
    expect(() => stream.waitFor(null as never)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: 'Expected an Event for event but received null' }),
    );
    expect(() => stream.waitFor(fakeEvent(0, { disposed: true }).event)).toThrow(
      expect.objectContaining({ code: 'DISPOSED', message: 'the event was disposed' }),
    );
    expect(() => fakeStream(0, true).stream.waitFor(fakeEvent(0).event)).toThrow(
      expect.objectContaining({ code: 'DISPOSED', message: 'the stream was disposed' }),
    );
    expect(waitFor).not.toHaveBeenCalled();
    const { event } = fakeEvent(1);
    stream.waitFor(event);
    expect(waitFor).toHaveBeenCalledWith(event.native);
  });
});

(gpu ? describe.skip : describe)('Event and memoryInfo without a GPU', () => {
  test('creating an Event throws NO_GPU', () => {
    expect(() => new Event(fakeDevice(0))).toThrow(expect.objectContaining({ code: 'NO_GPU', name: 'MarlinError' }));
    expect(() => new native.Event(0)).toThrow(expect.objectContaining({ code: 'NO_GPU' }));
  });

  test('memoryInfo() throws NO_GPU, not a crash', () => {
    expect(() => fakeDevice(0).memoryInfo()).toThrow(expect.objectContaining({ code: 'NO_GPU', name: 'MarlinError' }));
    expect(() => native.memoryInfo(0)).toThrow(expect.objectContaining({ code: 'NO_GPU', message: expect.stringContaining('no CUDA device') }));
  });
});
