/**
 * The package as a consumer sees it: lib/ compiled with tsconfig.build.json
 * into a temporary package, installed (as a link) into a temporary project,
 * and a TypeScript file of that project type-checked against the emitted
 * declarations. Internals (addon handles, per-stream buffers) must not be
 * in them. The exports map must resolve both entries, `marlin-node` and
 * `marlin-node/testing`, from dist/, at run time and for TypeScript, and
 * the test and bench helpers must be in the second only.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ROOT, compilePackage, removeCompiled } from '../helpers/compiled';

/** What marlin-node/testing holds: helpers for tests and benchmarks, none of them in the main entry. */
const TESTING = [
  'median',
  'referenceMatmul',
  'referenceQuantizedMatmul',
  'relativeError',
  'scalePosition',
  'timeCalls',
  'weightPosition',
  'zeroPosition',
];

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
      import { Device, DeviceTensor, Event, Graph, Stream } from 'marlin-node';
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
      declare const graph: Graph;
      // @ts-expect-error internal
      graph.native;
      // @ts-expect-error made by stream.capture() only
      new Graph();
      // @ts-expect-error internal
      Graph.captured;
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

/** Runs `script` with plain Node in the consumer project; returns its stdout parsed as JSON. */
function runInProject(script: string): unknown {
  const child = spawnSync(process.execPath, ['-e', script], { cwd: project, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`node exited with ${child.status}: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

describe('the source maps', () => {
  test('carry their TypeScript sources (the package ships dist/, not lib/)', () => {
    const maps = fs.readdirSync(path.join(pkg, 'dist')).filter((name) => name.endsWith('.js.map'));
    expect(maps).toContain('index.js.map');
    for (const name of maps) {
      const map = JSON.parse(fs.readFileSync(path.join(pkg, 'dist', name), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
      const source = fs.readFileSync(path.join(ROOT, 'lib', name.replace(/\.js\.map$/, '.ts')), 'utf8');
      expect({ name, content: map.sourcesContent }).toEqual({ name, content: [source] });
    }
  });
});

describe('the API reference', () => {
  test('typedoc (npm run docs) builds it from the TSDoc of both entries without a warning', () => {
    const out = path.join(pkg, 'api');
    const typedoc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], { cwd: ROOT, encoding: 'utf8' });
    expect(`${typedoc.stdout}${typedoc.stderr}`).not.toMatch(/warning|error/i);
    expect(typedoc.status).toBe(0);
    const index = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(index).toContain('marlin-node');
    expect(fs.readdirSync(out)).toEqual(expect.arrayContaining(['index.html', 'modules']));
  });
});

describe('the exports map', () => {
  test('resolves marlin-node and marlin-node/testing to dist/, and nothing else but package.json', () => {
    const out = runInProject(`
      const tryResolve = (name) => { try { return require.resolve(name); } catch (e) { return e.code; } };
      console.log(JSON.stringify({
        main: tryResolve('marlin-node'),
        testing: tryResolve('marlin-node/testing'),
        manifest: tryResolve('marlin-node/package.json'),
        deep: tryResolve('marlin-node/dist/reference.js'),
      }));`);
    expect(out).toEqual({
      main: path.join(pkg, 'dist', 'index.js'),
      testing: path.join(pkg, 'dist', 'testing.js'),
      manifest: fs.realpathSync(path.join(ROOT, 'package.json')),
      deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });

  test('the test and bench helpers are in marlin-node/testing, not in the main entry', () => {
    const out = runInProject(`
      const main = require('marlin-node');
      const testing = require('marlin-node/testing');
      console.log(JSON.stringify({
        main: Object.keys(main).filter((name) => ${JSON.stringify(TESTING)}.includes(name)),
        testing: Object.keys(testing).sort(),
        functions: Object.values(testing).every((v) => typeof v === 'function'),
        product: ['QuantizedLinear', 'quantize', 'Device', 'probe'].filter((name) => !(name in main)),
      }));`) as { main: string[]; testing: string[]; functions: boolean; product: string[] };
    expect(out).toEqual({ main: [], testing: TESTING, functions: true, product: [] });
  });

  test('TypeScript resolves the types of both entries; the helpers are not typed on the main entry', () => {
    const errors = typecheck(`
      import { quantize, QuantizedLinear } from 'marlin-node';
      import { median, relativeError, type GpuTimes } from 'marlin-node/testing';
      // @ts-expect-error moved to marlin-node/testing
      import { referenceMatmul } from 'marlin-node';
      const m: number = median([1, 2, 3]);
      const e: number = relativeError([1], [1]);
      const t: GpuTimes = { times: [m, e], maxGapUs: 0 };
      export { quantize, QuantizedLinear, referenceMatmul, t };
    `);
    expect(errors).toBe('');
  });

  test('examples/quickstart.js takes from each entry only names it exports', () => {
    const example = fs.readFileSync(path.join(ROOT, 'examples', 'quickstart.js'), 'utf8');
    const imports = [...example.matchAll(/const \{([^}]+)\} =\s*require\('(marlin-node[^']*)'\)/g)].map((m) => ({
      entry: m[2],
      names: m[1].split(',').map((name) => name.trim()),
    }));
    expect(imports.map((i) => i.entry)).toEqual(['marlin-node', 'marlin-node/testing']);
    const missing = runInProject(`
      const imports = ${JSON.stringify(imports)};
      console.log(JSON.stringify(imports.flatMap(({ entry, names }) => names.filter((name) => !(name in require(entry))).map((name) => entry + ': ' + name))));`);
    expect(missing).toEqual([]);
  });
});
