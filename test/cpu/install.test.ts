/**
 * The install script (scripts/install.js) without building anything: what
 * it says when the toolchain is missing, where it looks for nvcc, when it
 * uses a prebuilt binary, and what it leaves in build/. Builds are
 * prevented with --dry-run, or by a toolchain that cannot be found.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const INSTALL = path.join(ROOT, 'scripts', 'install.js');
const ADDON = path.join(ROOT, 'build', 'Release', 'marlin.node');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const install = require(INSTALL) as {
  findNvcc(env: NodeJS.ProcessEnv, defaultCuda?: string): { file?: string; problem?: string };
  removeIntermediates(buildDir: string): number;
  uncoveredGpus(info: { archs: number[]; gpus?: Array<{ arch: number; codeArch: number }> }): number[];
  checkCacheHints(nvcc: string, env: NodeJS.ProcessEnv): { ok?: boolean; failed?: string; skipped?: string };
  HELP: string[];
};

let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-install-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A new empty directory under the scratch directory. */
function dir(name: string): string {
  const d = path.join(scratch, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** An executable shell script at `file` that prints `output`. */
function fakeTool(file: string, output = ''): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\necho '${output}'\n`, { mode: 0o755 });
  return file;
}

/**
 * A copy of what an installed package holds for its install script (not a
 * checkout: no .git), with `prebuild` as its prebuilt binary if given.
 * Returns its install script.
 */
function packageWith(name: string, prebuild?: string | Buffer): string {
  const root = dir(name);
  for (const file of ['scripts/install.js', 'scripts/gen-kernels.js', 'csrc/kernels/table.json']) {
    fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, file), path.join(root, file));
  }
  if (prebuild !== undefined) {
    const target = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'marlin.node');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, prebuild);
  }
  return path.join(root, 'scripts', 'install.js');
}

/** Runs an install script with exactly `env` (nothing of this process's environment). */
function run(script: string, env: NodeJS.ProcessEnv, args: string[] = []): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [script, ...args], { env, encoding: 'utf8', timeout: 60000 });
}

/** No toolchain: PATH holds nothing, CUDA_HOME points nowhere, CUDACXX is unset. */
const noTools = (): NodeJS.ProcessEnv => ({ PATH: dir('empty-path'), CUDA_HOME: path.join(scratch, 'no-cuda') });

describe('without a toolchain', () => {
  let result: SpawnSyncReturns<string>;
  beforeAll(() => {
    result = run(packageWith('no-prebuild'), noTools(), ['--dry-run']);
  });

  test('fails with a non-zero exit status', () => {
    expect(result.status).toBe(1);
  });

  test('its first lines say what is missing, in the package\'s words, before anything else', () => {
    const lines = result.stderr.split('\n');
    expect(lines[0]).toBe('marlin-node: cannot build the native addon from source:');
    expect(lines.slice(1, 5)).toEqual([
      `  - CUDA_HOME=${path.join(scratch, 'no-cuda')} has no bin/nvcc`,
      '  - cmake was not found on PATH',
      '  - a C++ compiler was not found (CXX is unset; none of c++, g++, clang++ on PATH)',
      '  - a C compiler was not found (CC is unset; none of cc, gcc, clang on PATH)',
    ]);
    expect(result.stdout).toBe('');
  });

  test('then what to install, how to point at it, the driver CUDA 13 needs, and the prebuilt binary', () => {
    const text = result.stderr;
    expect(text).toContain('the CUDA toolkit 12.x or 13.x, with nvcc');
    expect(text).toContain('CUDA 13 needs NVIDIA driver R580 or newer');
    expect(text).toContain('CMake 3.18 or newer');
    expect(text).toContain('a C++17 compiler');
    for (const variable of ['CUDACXX=', 'CUDA_HOME=', 'PATH']) expect(text).toContain(variable);
    expect(text).toMatch(new RegExp(`A prebuilt binary \\(prebuilds/${process.platform}-${process.arch}/marlin.node.*\\) would be used instead of building`));
    expect(text).toContain('npm rebuild marlin-node');
  });

  test('README gives the same instructions, line for line', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const line of install.HELP) expect(readme).toContain(line);
  });
});

describe('in a checkout of the repository', () => {
  test('the install builds from source, never with a prebuilt binary', () => {
    const r = run(INSTALL, noTools(), ['--dry-run']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('this is a checkout of the repository, which always builds from source');
  });

  test('the package carries what a build from source needs', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
    expect(r.status).toBe(0);
    const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path);
    for (const file of [
      'scripts/install.js',
      'scripts/gen-kernels.js',
      'scripts/ptxas-guard.js',
      'CMakeLists.txt',
      'csrc/kernels/table.json',
      'csrc/addon/addon.cc',
    ])
      expect(files).toContain(file);
  });
});

describe('finding nvcc, in the order the build does', () => {
  let cudacxx: string, cudaHome: string, defaultCuda: string, onPath: string;
  beforeAll(() => {
    cudacxx = fakeTool(path.join(dir('cudacxx'), 'my-nvcc'));
    cudaHome = dir('cuda-home');
    fakeTool(path.join(cudaHome, 'bin', 'nvcc'));
    defaultCuda = dir('default-cuda');
    fakeTool(path.join(defaultCuda, 'bin', 'nvcc'));
    onPath = fakeTool(path.join(dir('path-bin'), 'nvcc'));
  });

  test('CUDACXX first, then $CUDA_HOME/bin/nvcc, then the default CUDA directory, then PATH', () => {
    const PATH = path.dirname(onPath);
    expect(install.findNvcc({ CUDACXX: cudacxx, CUDA_HOME: cudaHome, PATH }, defaultCuda).file).toBe(cudacxx);
    expect(install.findNvcc({ CUDA_HOME: cudaHome, PATH }, defaultCuda).file).toBe(path.join(cudaHome, 'bin', 'nvcc'));
    expect(install.findNvcc({ PATH }, defaultCuda).file).toBe(path.join(defaultCuda, 'bin', 'nvcc'));
    expect(install.findNvcc({ PATH }, path.join(scratch, 'nowhere')).file).toBe(onPath);
  });

  test('a variable that is set but points nowhere is a problem, not a reason to look further', () => {
    const PATH = path.dirname(onPath);
    expect(install.findNvcc({ CUDACXX: '/no/such/nvcc', PATH }, defaultCuda)).toEqual({ problem: 'CUDACXX=/no/such/nvcc is not an executable file' });
    expect(install.findNvcc({ CUDA_HOME: '/no/such/cuda', PATH }, defaultCuda)).toEqual({ problem: 'CUDA_HOME=/no/such/cuda has no bin/nvcc' });
  });
});

describe('with a toolchain (stand-ins that only print their versions)', () => {
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    const bin = dir('toolchain');
    fakeTool(path.join(bin, 'nvcc'), 'Cuda compilation tools, release 12.4, V12.4.131');
    fakeTool(path.join(bin, 'cmake'), 'cmake version 3.28.3');
    for (const name of ['c++', 'cc']) fakeTool(path.join(bin, name));
    env = { PATH: bin, CUDACXX: path.join(bin, 'nvcc') };
  });

  test('prints one line: what it builds, for which architectures (gen-kernels.js --archs), and about how long', () => {
    const r = run(packageWith('toolchain-package'), { ...env, MARLIN_CUDA_ARCHS: '86,90' }, ['--dry-run']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^marlin-node: would build the native addon from source with cmake-js and nvcc 12\.4 \(.*\/nvcc\) for GPU architectures sm_86, sm_90 and PTX of sm_90; about \d+-\d+ minutes on \d+ CPU cores?/,
      ),
    ]);
  });

  test('an old CMake is named with its version', () => {
    fakeTool(path.join(scratch, 'old-cmake', 'cmake'), 'cmake version 3.16.3');
    const r = run(packageWith('toolchain-package'), { ...env, PATH: `${path.join(scratch, 'old-cmake')}:${env.PATH}` }, ['--dry-run']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('is CMake 3.16, older than 3.18');
  });

  test('an invalid MARLIN_CUDA_ARCHS stops it with the generator\'s reason', () => {
    const r = run(packageWith('toolchain-package'), { ...env, MARLIN_CUDA_ARCHS: '75' }, ['--dry-run']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('sm_75 is older than sm_80');
  });
});

describe('the prebuilt binary', () => {

  test('one that does not load is not used; MARLIN_BUILD_FROM_SOURCE=0 then fails, saying why', () => {
    const r = run(packageWith('broken-prebuild', 'not an ELF file'), { ...noTools(), MARLIN_BUILD_FROM_SOURCE: '0' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^marlin-node: MARLIN_BUILD_FROM_SOURCE=0 forbids building, and no prebuilt binary can be used: the prebuilt binary prebuilds\/linux-x64\/marlin.node does not load here: \/.*\/marlin.node: (file too short|invalid ELF header)/);
  });

  test('one that does not load, without a toolchain: the failure names both', () => {
    const r = run(packageWith('broken-prebuild-2', 'not an ELF file'), noTools(), ['--dry-run']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot build the native addon from source');
    expect(r.stderr).toMatch(/A prebuilt binary is present but not used: the prebuilt binary .* does not load here/);
  });

  (fs.existsSync(ADDON) ? test : test.skip)('one that loads is used without a toolchain, and nothing is built', () => {
    const script = packageWith('prebuild', fs.readFileSync(ADDON));
    const r = run(script, noTools());
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^marlin-node: using the prebuilt binary prebuilds\/linux-x64\/marlin.node \(sm_\d+.* and PTX of sm_\d+; MARLIN_BUILD_FROM_SOURCE=1 builds from source instead\)\n$/);
    expect(fs.existsSync(path.join(path.dirname(script), '..', 'build'))).toBe(false);
  });

  test('MARLIN_CUDA_ARCHS and MARLIN_BUILD_FROM_SOURCE=1 build from source instead', () => {
    const script = packageWith('skipped-prebuild', 'never loaded');
    for (const setting of [{ MARLIN_CUDA_ARCHS: '90' }, { MARLIN_BUILD_FROM_SOURCE: '1' }]) {
      const r = run(script, { ...noTools(), ...setting }, ['--dry-run']);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`A prebuilt binary is present but not used: ${Object.keys(setting)[0]}=`);
    }
  });
});

describe('the prebuilt binary and the GPUs here', () => {
  const archs = [80, 86, 89, 90];
  test('is used when every GPU runs its own machine code (sm_87 runs sm_86 code)', () => {
    expect(install.uncoveredGpus({ archs, gpus: [{ arch: 90, codeArch: 90 }, { arch: 87, codeArch: 86 }] })).toEqual([]);
    expect(install.uncoveredGpus({ archs, gpus: [] })).toEqual([]); // no GPU visible: nothing to say
  });
  test('is not used for a GPU that would run only its PTX (sm_120 gets sm_90 pipelines too deep for its shared memory)', () => {
    expect(install.uncoveredGpus({ archs, gpus: [{ arch: 90, codeArch: 90 }, { arch: 120, codeArch: 90 }, { arch: 100, codeArch: 90 }] })).toEqual([120, 100]);
    expect(install.uncoveredGpus({ archs, gpus: [{ arch: 75, codeArch: 0 }] })).toEqual([75]);
  });
});

describe('after a build', () => {
  test('only build/Release/marlin.node is left in build/', () => {
    const build = dir('build');
    for (const [file, bytes] of [['Release/marlin.node', 100], ['Release/marlin.exp', 10], ['CMakeCache.txt', 20], ['CMakeFiles/k.dir/a.cu.o', 1000], ['build.ninja', 30]] as const) {
      fs.mkdirSync(path.dirname(path.join(build, file)), { recursive: true });
      fs.writeFileSync(path.join(build, file), Buffer.alloc(bytes));
    }
    expect(install.removeIntermediates(build)).toBe(1060);
    expect(fs.readdirSync(build)).toEqual(['Release']);
    expect(fs.readdirSync(path.join(build, 'Release'))).toEqual(['marlin.node']);
  });
});

describe('the SASS check of the cache hints after a build', () => {
  /** A CUDA bin folder with an nvcc stand-in and, if `sass` is given, a cuobjdump that prints it. */
  function toolkit(name: string, sass?: string): string {
    const bin = dir(name);
    fs.writeFileSync(path.join(bin, 'nvcc'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    if (sass !== undefined) {
      fs.writeFileSync(path.join(bin, 'k.sass'), sass);
      fs.writeFileSync(path.join(bin, 'cuobjdump'), `#!/bin/sh\ncat ${JSON.stringify(path.join(bin, 'k.sass'))}\n`, { mode: 0o755 });
    }
    return path.join(bin, 'nvcc');
  }
  const fn = (name: string, insns: string[]) =>
    [`\tFunction : ${name}`, ...insns.map((insn, i) => `        /*${(16 * i).toString(16).padStart(4, '0')}*/                   ${insn} ; /* 0x0 */`)].join('\n');
  const env = { PATH: process.env.PATH };

  test('no cuobjdump beside nvcc: skipped, saying why', () => {
    const nvcc = toolkit('no-cuobjdump');
    expect(install.checkCacheHints(nvcc, env)).toEqual({ skipped: `no cuobjdump beside ${nvcc}` });
  });

  test('clean SASS passes; a cp.async reading unwritten uniform registers fails with the summary', () => {
    const good = toolkit('good', fn('_Z4goodv', ['ULDC.64 UR4, c[0x0][0x208]', 'LDGSTS.E.BYPASS.LTC128B.128 [R208+0x2000], desc[UR4][R14.64]']));
    expect(install.checkCacheHints(good, env)).toEqual({ ok: true });
    const bad = toolkit('bad', fn('_Z3badv', ['@P5 LDGSTS.E.BYPASS.LTC128B.128 [R180+UR0+0x4000], desc[UR1][R152.64]']));
    expect(install.checkCacheHints(bad, env)).toEqual({ failed: '3 uniform-register read(s) with no write before them in 1 functions' });
  });

  test('a cuobjdump that fails: skipped, with its error', () => {
    const nvcc = toolkit('broken', '');
    fs.writeFileSync(path.join(path.dirname(nvcc), 'cuobjdump'), '#!/bin/sh\necho broken >&2\nexit 3\n', { mode: 0o755 });
    expect(install.checkCacheHints(nvcc, env).skipped).toMatch(/^check-cache-hints: cannot read the SASS of /);
  });
});
