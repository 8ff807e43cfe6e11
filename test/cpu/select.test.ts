import { DEFAULT_KERNEL_TABLE, getKernelTable, selectTile, setKernelTable } from '../../lib/select';

describe('kernel selection', () => {
  afterEach(() => setKernelTable(DEFAULT_KERNEL_TABLE));

  const narrow = { tileK: 128, tileN: 128 };
  const wide = { tileK: 64, tileN: 256 };

  test('up to 64 rows: 128x128 tiles, 64x256 for layers of 16384 columns or more', () => {
    expect(selectTile(1, 4096, 'sm_90')).toEqual(narrow);
    expect(selectTile(64, 12288, 'sm_80')).toEqual(narrow);
    expect(selectTile(1, 16384, 'sm_90')).toEqual(wide);
    expect(selectTile(64, 57344, 'sm_90')).toEqual(wide);
  });

  test('above 64 rows: 64x256 tiles from 8192 columns, 128x128 below', () => {
    expect(selectTile(65, 8192, 'sm_90')).toEqual(wide);
    expect(selectTile(4096, 22016, 'sm_86')).toEqual(wide);
    expect(selectTile(128, 4096, 'sm_90')).toEqual(narrow);
  });

  test('an architecture entry overrides the default rules', () => {
    const table = { ...DEFAULT_KERNEL_TABLE, sm_90: [{ maxBatch: Infinity, ...wide }] };
    expect(selectTile(1, 4096, 'sm_90', table)).toEqual(wide);
    expect(selectTile(1, 4096, 'sm_80', table)).toEqual(narrow);
  });

  test('setKernelTable replaces the global table', () => {
    setKernelTable({ default: [{ maxBatch: Infinity, ...wide }] });
    expect(getKernelTable()).not.toBe(DEFAULT_KERNEL_TABLE);
    expect(selectTile(1, 4096, 'sm_90')).toEqual(wide);
  });

  test('rejects tables that leave batch sizes or widths uncovered', () => {
    expect(() => setKernelTable({ default: [{ maxBatch: 16, ...narrow }] })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
    expect(() => setKernelTable({ default: [{ maxBatch: Infinity, minN: 128, ...narrow }] })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
    expect(() => setKernelTable({} as never)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });

  test('rejects a batch or width that is not a positive integer', () => {
    expect(() => selectTile(0, 4096, 'sm_90')).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => selectTile(1.5, 4096, 'sm_90')).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => selectTile(1, 0, 'sm_90')).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
  });
});
