import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { MarlinError, awaitNative, callNative, toMarlinError } from '../../lib/errors';
import { ADDON_PATH, PREBUILD_PATH, loadAddon } from '../../lib/native';

describe('MarlinError', () => {
  test('native errors keep their code and CUDA error number', () => {
    const raw = Object.assign(new Error('cudaMalloc failed'), { code: 'OUT_OF_MEMORY', cudaError: 2 });
    const e = toMarlinError(raw);
    expect(e).toBeInstanceOf(MarlinError);
    expect(e.code).toBe('OUT_OF_MEMORY');
    expect(e.cudaError).toBe(2);
    expect(e.cause).toBe(raw);
  });

  test('an unknown code becomes CUDA_ERROR', () => {
    expect(toMarlinError(Object.assign(new Error('x'), { code: 'WHATEVER' })).code).toBe('CUDA_ERROR');
  });

  test('callNative re-throws on the caller\'s stack', () => {
    function caller(): void {
      callNative(() => {
        throw Object.assign(new Error('bad'), { code: 'BAD_SHAPE' });
      });
    }
    try {
      caller();
      throw new Error('not thrown');
    } catch (e) {
      expect(e).toBeInstanceOf(MarlinError);
      expect((e as MarlinError).stack).toContain('caller');
    }
  });

  test('awaitNative turns a rejection into a MarlinError with the starting stack', async () => {
    async function startingSite(): Promise<void> {
      await awaitNative(() => Promise.reject(Object.assign(new Error('gpu failed'), { code: 'CUDA_ERROR' })));
    }
    await expect(startingSite()).rejects.toMatchObject({ code: 'CUDA_ERROR', name: 'MarlinError' });
    await startingSite().catch((e: MarlinError) => expect(e.stack).toContain('startingSite'));
  });
});

describe('loading the addon', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-load-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('a missing build throws NOT_BUILT with the commands that build it', () => {
    expect(() => loadAddon(root)).toThrow(
      expect.objectContaining({
        code: 'NOT_BUILT',
        message: expect.stringMatching(/is not built[\s\S]*npm rebuild marlin-node[\s\S]*npm install-scripts approve marlin-node/),
      }),
    );
  });

  test('NOT_BUILT names both places an addon is looked for: the local build and the prebuilt binary', () => {
    expect(() => loadAddon(root)).toThrow(
      expect.objectContaining({ message: expect.stringContaining(`${path.join(root, ADDON_PATH)} is missing, and there is no prebuilt ${path.join(root, PREBUILD_PATH)}`) }),
    );
    expect(PREBUILD_PATH).toBe(path.join('prebuilds', `${process.platform}-${process.arch}`, 'marlin.node'));
  });

  test('a prebuilt binary that does not load is named in NOT_BUILT with its reason', () => {
    fs.mkdirSync(path.dirname(path.join(root, PREBUILD_PATH)), { recursive: true });
    fs.writeFileSync(path.join(root, PREBUILD_PATH), 'not an ELF file either');
    try {
      expect(() => loadAddon(root)).toThrow(
        expect.objectContaining({ code: 'NOT_BUILT', message: expect.stringContaining(`${path.join(root, PREBUILD_PATH)} failed to load`) }),
      );
    } finally {
      fs.rmSync(path.join(root, 'prebuilds'), { recursive: true });
    }
  });

  test('a file that is not an addon throws NOT_BUILT saying it failed to load', () => {
    fs.mkdirSync(path.join(root, 'build', 'Release'), { recursive: true });
    fs.writeFileSync(path.join(root, ADDON_PATH), 'not an ELF file');
    expect(() => loadAddon(root)).toThrow(expect.objectContaining({ code: 'NOT_BUILT', message: expect.stringMatching(/failed to load/) }));
  });
});
