#!/usr/bin/env node
// The install script (package.json "install"): gives marlin-node its native
// addon, and says what it is doing.
//
// 1. A prebuilt binary, prebuilds/<platform>-<arch>/marlin.node (packages
//    published to npm carry one for linux-x64; scripts/prebuild.js), is used
//    when it loads in a child process and the NVIDIA driver here can run it.
//    Not when MARLIN_BUILD_FROM_SOURCE=1 or MARLIN_CUDA_ARCHS is set, nor in
//    a checkout of the repository (a .git at the package root).
// 2. Otherwise it builds from source. First it looks for the toolchain the
//    way the build does (nvcc: CUDACXX, $CUDA_HOME/bin/nvcc,
//    /usr/local/cuda/bin/nvcc, PATH; cmake on PATH; CC/CXX or cc/c++ on
//    PATH): if something is missing it fails at once, saying what to install
//    and how to point the build at it, before any build output.
// 3. It prints one line: what it builds, for which GPU architectures
//    (`scripts/gen-kernels.js --archs`, the build's own resolution) and about
//    how long that takes; builds from scratch with cmake-js (so
//    MARLIN_CUDA_ARCHS and the other build variables always take effect:
//    nothing of an earlier build is reused); where the toolkit has
//    cuobjdump, checks the SASS of the kernels with the L2 evict-first hint
//    (scripts/check-cache-hints.js) and builds again without the hint if it
//    fails; loads the result in a child process; and removes the build
//    intermediates, keeping build/Release/marlin.node.
//
//   MARLIN_BUILD_FROM_SOURCE=1   always build; =0: never build (no usable
//                                prebuilt binary is then a failure)
//   MARLIN_KEEP_BUILD=1          keep the intermediates in build/
//   node scripts/install.js --dry-run   decide and check the toolchain, print
//                                what would be built, build nothing (tests)
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const ADDON = path.join(ROOT, 'build', 'Release', 'marlin.node');
const PLATFORM = `${process.platform}-${process.arch}`;
const PREBUILD = path.join(ROOT, 'prebuilds', PLATFORM, 'marlin.node');
const DEFAULT_CUDA = '/usr/local/cuda';
const MIN_CMAKE = [3, 18];

// The same text is in README.md ("If the build cannot start"); a test checks it.
const HELP = [
  'To build it, install:',
  '  - the CUDA toolkit 12.x or 13.x, with nvcc (CUDA 13 needs NVIDIA driver R580 or newer, CUDA 12 R525 or newer)',
  '  - CMake 3.18 or newer',
  '  - a C++17 compiler: g++ or clang++ (and its C compiler)',
  'and point the build at them where they are not found by default:',
  '  nvcc:  CUDACXX=/path/to/nvcc, or CUDA_HOME=/path/to/cuda (uses $CUDA_HOME/bin/nvcc),',
  '         else /usr/local/cuda/bin/nvcc, else nvcc on PATH',
  '  cmake, g++: on PATH (or CXX=/path/to/g++ CC=/path/to/gcc)',
  'then install again: npm rebuild marlin-node',
];

function say(line) {
  console.log(`marlin-node: ${line}`);
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `name` on `searchPath` (a PATH value), or null. */
function onPath(name, searchPath) {
  for (const dir of (searchPath || '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return null;
}

/** A compiler named by an environment variable: a path, or a name looked up on PATH. */
function fromEnv(env, name) {
  const value = env[name].trim();
  const file = value.includes('/') ? value : onPath(value, env.PATH);
  if (file && isExecutable(file)) return { file };
  return { problem: `${name}=${env[name]} is not an executable file` };
}

/**
 * nvcc, where the build finds it (CMakeLists.txt): CUDACXX, then
 * $CUDA_HOME/bin/nvcc, then <defaultCuda>/bin/nvcc, then PATH. A variable
 * that is set must point at nvcc: the search does not go past it.
 */
function findNvcc(env, defaultCuda = DEFAULT_CUDA) {
  if (env.CUDACXX && env.CUDACXX.trim()) return fromEnv(env, 'CUDACXX');
  if (env.CUDA_HOME && env.CUDA_HOME.trim()) {
    const file = path.join(env.CUDA_HOME, 'bin', 'nvcc');
    return isExecutable(file) ? { file } : { problem: `CUDA_HOME=${env.CUDA_HOME} has no bin/nvcc` };
  }
  const file = path.join(defaultCuda, 'bin', 'nvcc');
  if (isExecutable(file)) return { file };
  const found = onPath('nvcc', env.PATH);
  if (found) return { file: found };
  return { problem: `nvcc (the CUDA compiler) was not found: CUDACXX and CUDA_HOME are unset, and neither ${file} nor nvcc on PATH exists` };
}

/** The CUDA version of an nvcc ("13.0"), or null if it does not run. */
function nvccVersion(nvcc) {
  const r = spawnSync(nvcc, ['--version'], { encoding: 'utf8', timeout: 30000 });
  const match = /release (\d+)\.(\d+)/.exec(r.stdout || '');
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : null;
}

function findCmake(env) {
  const file = onPath('cmake', env.PATH);
  if (!file) return { problem: 'cmake was not found on PATH' };
  const r = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 30000 });
  const match = /cmake version (\d+)\.(\d+)/.exec(r.stdout || '');
  if (!match) return { problem: `${file} --version did not run` };
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major < MIN_CMAKE[0] || (major === MIN_CMAKE[0] && minor < MIN_CMAKE[1]))
    return { problem: `${file} is CMake ${major}.${minor}, older than ${MIN_CMAKE.join('.')}` };
  return { file };
}

/** A compiler for one language: its environment variable, else the first of `names` on PATH. */
function findCompiler(env, variable, names, what) {
  if (env[variable] && env[variable].trim()) return fromEnv(env, variable);
  for (const name of names) {
    const file = onPath(name, env.PATH);
    if (file) return { file };
  }
  return { problem: `${what} was not found (${variable} is unset; none of ${names.join(', ')} on PATH)` };
}

/** The toolchain, or the problems that stop a build. */
function checkToolchain(env) {
  const nvcc = findNvcc(env);
  const problems = [];
  let cuda = null;
  if (nvcc.problem) problems.push(nvcc.problem);
  else {
    cuda = nvccVersion(nvcc.file);
    if (!cuda) problems.push(`${nvcc.file} --version did not run`);
    else if (cuda.major < 12) problems.push(`${nvcc.file} is CUDA ${cuda.major}.${cuda.minor}; the build needs CUDA 12.x or 13.x`);
  }
  const cmake = findCmake(env);
  if (cmake.problem) problems.push(cmake.problem);
  const cxx = findCompiler(env, 'CXX', ['c++', 'g++', 'clang++'], 'a C++ compiler');
  if (cxx.problem) problems.push(cxx.problem);
  const cc = findCompiler(env, 'CC', ['cc', 'gcc', 'clang'], 'a C compiler');
  if (cc.problem) problems.push(cc.problem);
  return { problems, nvcc: nvcc.file, cuda, cmake: cmake.file };
}

/**
 * Loads `file` in a child process (a broken binary cannot take this one
 * down) and reads what it was built for and the CUDA versions here.
 */
function tryLoad(file) {
  const script =
    `const a = require(${JSON.stringify(file)}); const b = a.build(); const v = a.versions();` +
    'const gpus = []; for (let i = 0; i < a.deviceCount(); i++) { const p = a.deviceProperties(i); const arch = 10 * p.major + p.minor; gpus.push({ arch, codeArch: a.codeArch(arch) }); }' +
    'const variants = a.variants(); const hinted = variants.filter((x) => x.evictFirst).length;' +
    'console.log(JSON.stringify({ archs: b.archs, ptxArch: b.ptxArch, runtime: v.runtime, driver: v.driver, gpus, variants: variants.length, hinted, cublas: a.hasCublas() }));';
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120000 });
  if (r.status === 0) {
    try {
      return { info: JSON.parse(r.stdout.trim().split('\n').pop()) };
    } catch {
      // reported below
    }
  }
  const why = (r.stderr || '').split('\n').find((line) => /Error|error:/.test(line)) || r.error?.message || `exit ${r.status}`;
  return { problem: why.trim().replace(/^Error: /, '') };
}

/**
 * scripts/check-cache-hints.js on the built addon, where the toolkit of
 * `nvcc` has cuobjdump: the SASS check for the CUDA 13 ptxas miscompile of
 * the L2 evict-first hint (csrc/kernels/mma/kernel.cuh). { ok }, { failed:
 * its summary }, or { skipped: why }.
 */
function checkCacheHints(nvcc, env) {
  const bin = path.dirname(nvcc);
  if (!isExecutable(path.join(bin, 'cuobjdump'))) return { skipped: `no cuobjdump beside ${nvcc}` };
  const r = spawnSync(process.execPath, [path.join(__dirname, 'check-cache-hints.js'), ADDON], {
    encoding: 'utf8',
    env: { ...env, PATH: `${bin}${path.delimiter}${env.PATH ?? ''}` },
    timeout: 600000,
  });
  const lines = (r.stderr || '').trim().split('\n');
  if (r.status === 0) return { ok: true };
  if (r.status === 1) return { failed: lines[lines.length - 1].replace(/^check-cache-hints: /, '') };
  return { skipped: lines.find((line) => line.startsWith('check-cache-hints:')) || r.error?.message || `exit ${r.status}` };
}

/** "13.0" from 13000. */
function cudaVersion(v) {
  return `${Math.floor(v / 1000)}.${(v % 1000) / 10}`;
}

/** "sm_80, sm_86 and PTX of sm_90" */
function describeArchs(archs, ptxArch) {
  return `${archs.map((a) => `sm_${a}`).join(', ')} and PTX of sm_${ptxArch}`;
}

/**
 * The GPUs here (as tryLoad reports them) that the binary has no machine
 * code for: they would run the PTX of its newest architecture, with
 * pipeline depths sized for that architecture's shared memory, which
 * GPUs with less cannot launch. A build from source targets them instead.
 */
function uncoveredGpus(info) {
  // Machine code runs on GPUs of its major version (sm_86 code on sm_89);
  // a code architecture of another major version is the PTX.
  const covered = (g) => info.archs.includes(g.codeArch) && Math.floor(g.codeArch / 10) === Math.floor(g.arch / 10);
  return (info.gpus || []).filter((g) => !covered(g)).map((g) => g.arch);
}

/** Whether to use the prebuilt binary: { use: true, info } or { use: false, why }. */
function choosePrebuild(env) {
  if (env.MARLIN_BUILD_FROM_SOURCE === '1') return { use: false, why: 'MARLIN_BUILD_FROM_SOURCE=1 is set' };
  if (env.MARLIN_CUDA_ARCHS && env.MARLIN_CUDA_ARCHS.trim())
    return { use: false, why: `MARLIN_CUDA_ARCHS=${env.MARLIN_CUDA_ARCHS} is set (the prebuilt binary is for the default architectures)` };
  if (fs.existsSync(path.join(ROOT, '.git'))) return { use: false, why: 'this is a checkout of the repository, which always builds from source' };
  if (!fs.existsSync(PREBUILD)) return { use: false, why: `this package has no prebuilt binary for ${PLATFORM}` };
  const loaded = tryLoad(PREBUILD);
  if (loaded.problem) return { use: false, why: `the prebuilt binary ${path.relative(ROOT, PREBUILD)} does not load here: ${loaded.problem}` };
  const { runtime, driver } = loaded.info;
  if (driver > 0 && driver < runtime)
    return {
      use: false,
      why:
        `the prebuilt binary is built with CUDA ${cudaVersion(runtime)}, but this NVIDIA driver supports CUDA ${cudaVersion(driver)} at most ` +
        '(CUDA 13 needs driver R580 or newer)',
    };
  const uncovered = uncoveredGpus(loaded.info);
  if (uncovered.length)
    return {
      use: false,
      why: `it has no machine code for the GPU architecture(s) here (${uncovered.map((a) => `sm_${a}`).join(', ')}), only ${describeArchs(loaded.info.archs, loaded.info.ptxArch)}`,
    };
  return { use: true, info: loaded.info };
}

/** Roughly how long the build takes: measured 5-10 minutes for 4 architectures on 2 cores. */
function estimate(archCount, cores) {
  const low = Math.max(1, Math.round((2.5 * archCount) / cores));
  const high = Math.max(low + 1, Math.ceil((5 * archCount) / cores));
  return `about ${low}-${high} minutes on ${cores} CPU core${cores === 1 ? '' : 's'}`;
}

function resolveArchs() {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'gen-kernels.js'), '--archs'], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    return null;
  }
  return r.stdout.trim().split(';').map(Number);
}

/** Bytes under `file` (a file or a directory). */
function sizeOf(file) {
  const stat = fs.lstatSync(file);
  if (!stat.isDirectory()) return stat.size;
  return fs.readdirSync(file).reduce((sum, entry) => sum + sizeOf(path.join(file, entry)), 0);
}

/** Removes everything in `buildDir` but Release/marlin.node; returns the bytes freed. */
function removeIntermediates(buildDir) {
  let freed = 0;
  const remove = (file) => {
    freed += sizeOf(file);
    fs.rmSync(file, { recursive: true, force: true });
  };
  for (const entry of fs.readdirSync(buildDir)) {
    const file = path.join(buildDir, entry);
    if (entry !== 'Release') remove(file);
    else for (const inner of fs.readdirSync(file)) if (inner !== 'marlin.node') remove(path.join(file, inner));
  }
  return freed;
}

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
}

function fail(lines) {
  for (const line of lines) console.error(line);
  process.exit(1);
}

function main(argv, env) {
  const dryRun = argv.includes('--dry-run');
  const prebuild = choosePrebuild(env);
  if (prebuild.use) {
    say(
      `using the prebuilt binary ${path.relative(ROOT, PREBUILD)} (${describeArchs(prebuild.info.archs, prebuild.info.ptxArch)}; ` +
        'MARLIN_BUILD_FROM_SOURCE=1 builds from source instead)',
    );
    return;
  }
  // Where a prebuilt binary could have been used, say why it was not.
  const prebuildNote = fs.existsSync(PREBUILD)
    ? `A prebuilt binary is present but not used: ${prebuild.why}.`
    : `A prebuilt binary (${path.relative(ROOT, PREBUILD)}, carried by packages published to npm) would be used instead of building, but ${prebuild.why}.`;
  if (env.MARLIN_BUILD_FROM_SOURCE === '0')
    fail([`marlin-node: MARLIN_BUILD_FROM_SOURCE=0 forbids building, and no prebuilt binary can be used: ${prebuild.why}.`]);

  const archs = resolveArchs();
  if (!archs) fail(['marlin-node: cannot tell which GPU architectures to build for (the line above says why).']);
  const tools = checkToolchain(env);
  if (tools.problems.length)
    fail(['marlin-node: cannot build the native addon from source:', ...tools.problems.map((p) => `  - ${p}`), prebuildNote, ...HELP]);
  if (fs.existsSync(PREBUILD)) say(`building from source, not with the prebuilt binary: ${prebuild.why}`);

  const cores = os.availableParallelism();
  const filter = env.MARLIN_VARIANT_FILTER ? ` (only the variants matching MARLIN_VARIANT_FILTER=${env.MARLIN_VARIANT_FILTER})` : '';
  say(
    `${dryRun ? 'would build' : 'building'} the native addon from source with cmake-js and nvcc ${tools.cuda.major}.${tools.cuda.minor} (${tools.nvcc}) ` +
      `for GPU architectures ${describeArchs(archs, archs[archs.length - 1])}${filter}; ${estimate(archs.length, cores)}` +
      (archs.length > 1 ? ' (MARLIN_CUDA_ARCHS=90 builds one architecture)' : ''),
  );
  if (dryRun) return;

  const started = Date.now();
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [ROOT] });
  const buildWith = (buildEnv) => {
    // rebuild: a clean configure, so nothing of an earlier build (its architectures, flags) is reused.
    const build = spawnSync(
      process.execPath,
      [cmakeJs, 'rebuild', '--parallel', String(cores), `--CDCMAKE_CUDA_COMPILER=${tools.nvcc}`],
      { cwd: ROOT, stdio: 'inherit', env: buildEnv },
    );
    if (build.status !== 0) {
      const how = build.error ? build.error.message : build.signal ? `killed by ${build.signal}` : `exit ${build.status}`;
      fail([`marlin-node: the build failed (cmake-js: ${how}); the output above says why.`, prebuildNote]);
    }
  };
  buildWith(env);
  const hints = env.MARLIN_EVICT_FIRST === '0' ? { skipped: 'MARLIN_EVICT_FIRST=0' } : checkCacheHints(tools.nvcc, env);
  if (hints.failed) {
    const forced = env.MARLIN_EVICT_FIRST === '1' ? ' (MARLIN_EVICT_FIRST=1 put it in every kernel)' : '';
    say(`the kernels with the L2 evict-first hint fail the SASS check${forced} (${hints.failed}); building again without the hint (MARLIN_EVICT_FIRST=0: correct, a few percent slower)`);
    buildWith({ ...env, MARLIN_EVICT_FIRST: '0' });
  }
  const loaded = tryLoad(ADDON);
  if (loaded.problem) fail([`marlin-node: the build finished, but ${path.relative(ROOT, ADDON)} does not load: ${loaded.problem}`]);
  const hinted = loaded.info.hinted ?? 0;
  if (hints.skipped && hinted > 0)
    say(
      `the SASS check of the ${hinted} kernels with the L2 evict-first hint did not run (${hints.skipped}); ` +
        (env.MARLIN_EVICT_FIRST === '1'
          ? 'MARLIN_EVICT_FIRST=1 put it in every mma kernel, unchecked: CUDA 13.0 miscompiles it in some (run scripts/check-cache-hints.js)'
          : 'they are those csrc/kernels/table.json lists as checked with this nvcc (MARLIN_EVICT_FIRST=0 builds without the hint)'),
    );
  const seconds = (Date.now() - started) / 1000;
  const took = seconds < 90 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} minutes`;
  const kept = env.MARLIN_KEEP_BUILD === '1';
  const freed = kept ? 0 : removeIntermediates(path.dirname(path.dirname(ADDON)));
  say(
    `built ${path.relative(ROOT, ADDON)} (${megabytes(fs.statSync(ADDON).size)}; ${describeArchs(loaded.info.archs, loaded.info.ptxArch)}) ` +
      `in ${took}${hints.ok && hinted > 0 ? `; its ${hinted} kernels with the L2 evict-first hint passed the SASS check` : ''}; ${kept ? 'kept the intermediates in build/ (MARLIN_KEEP_BUILD=1)' : `removed ${megabytes(freed)} of intermediates from build/`}`,
  );
}

if (require.main === module) main(process.argv.slice(2), process.env);

module.exports = { findNvcc, removeIntermediates, uncoveredGpus, checkCacheHints, tryLoad, HELP };
