/**
 * The package as a consumer sees it: lib/ compiled with tsconfig.build.json
 * into a temporary package, installed (as a link) into a temporary project,
 * and a TypeScript file of that project type-checked against the emitted
 * declarations. Internals (addon handles, per-stream buffers) must not be
 * in them.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ROOT, compilePackage, removeCompiled } from '../helpers/compiled';

let pkg: string;
let project: string;

beforeAll(() => {
  pkg = compilePackage();
  project = path.join(pkg, 'consumer');
  fs.mkdirSync(path.join(project, 'node_modules'), { recursive: true });
  fs.symlinkSync(pkg, path.join(project, 'node_modules', 'marlin-node'));
});
afterAll(() => removeCompiled(pkg));

/** Type-checks `source` as a consumer's index.ts (strict, nodenext); returns tsc's output, empty when it passes. */
function typecheck(source: string): string {
  fs.writeFileSync(path.join(project, 'index.ts'), source);
  const tsc = spawnSync(
    process.execPath,
    [
      require.resolve('typescript/bin/tsc'),
      '--noEmit',
      '--strict',
      '--target', 'es2022',
      '--lib', 'es2022,esnext.disposable',
      '--module', 'nodenext',
      '--moduleResolution', 'nodenext',
      '--types', 'node',
      '--typeRoots', path.join(ROOT, 'node_modules', '@types'),
      path.join(project, 'index.ts'),
    ],
    { cwd: project, encoding: 'utf8' },
  );
  return `${tsc.stdout}${tsc.stderr}`.trim();
}

describe('the published declarations', () => {
  test('have no addon handles or per-stream buffers (stripInternal), and internal code still compiles against them', () => {
    const errors = typecheck(`
      import { Device, DeviceTensor, Event, Stream } from 'marlin-node';
      declare const device: Device;
      declare const stream: Stream;
      declare const event: Event;
      declare const tensor: DeviceTensor<'float16'>;
      // @ts-expect-error internal
      stream.native;
      // @ts-expect-error internal
      stream.workspace;
      // @ts-expect-error internal
      stream.scratch;
      // @ts-expect-error internal
      event.native;
      // @ts-expect-error internal
      tensor.buffer;
      // The public surface is still there.
      const s: Stream = new Stream(device);
      s.waitFor(event);
      const shape: readonly number[] = tensor.shape;
      export { shape };
    `);
    expect(errors).toBe('');
    const declared = fs.readFileSync(path.join(pkg, 'dist', 'device.d.ts'), 'utf8');
    expect(declared).not.toMatch(/@internal|Native(Stream|Event|DeviceBuffer)\b/);
  });
});
