import { DEFAULT_KERNEL_TABLE, getKernelTable, selectTile, setKernelTable } from '../../lib/select';

describe('kernel selection', () => {
  afterEach(() => setKernelTable(DEFAULT_KERNEL_TABLE));

  test('small batches take 128x128 tiles, larger ones 64x256', () => {
    expect(selectTile(1, 'sm_90')).toEqual({ tileK: 128, tileN: 128 });
    expect(selectTile(16, 'sm_80')).toEqual({ tileK: 128, tileN: 128 });
    expect(selectTile(17, 'sm_90')).toEqual({ tileK: 64, tileN: 256 });
    expect(selectTile(4096, 'sm_86')).toEqual({ tileK: 64, tileN: 256 });
  });

  test('an architecture entry overrides the default rules', () => {
    const table = { ...DEFAULT_KERNEL_TABLE, sm_90: [{ maxBatch: Infinity, tileK: 64, tileN: 256 }] };
    expect(selectTile(1, 'sm_90', table)).toEqual({ tileK: 64, tileN: 256 });
    expect(selectTile(1, 'sm_80', table)).toEqual({ tileK: 128, tileN: 128 });
  });

  test('setKernelTable replaces the global table', () => {
    setKernelTable({ default: [{ maxBatch: Infinity, tileK: 64, tileN: 256 }] });
    expect(getKernelTable()).not.toBe(DEFAULT_KERNEL_TABLE);
    expect(selectTile(1, 'sm_90')).toEqual({ tileK: 64, tileN: 256 });
  });

  test('rejects tables that leave batch sizes uncovered', () => {
    expect(() => setKernelTable({ default: [{ maxBatch: 16, tileK: 128, tileN: 128 }] })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
    expect(() => setKernelTable({} as never)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });

  test('rejects a batch that is not a positive integer', () => {
    expect(() => selectTile(0, 'sm_90')).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => selectTile(1.5, 'sm_90')).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
  });
});
