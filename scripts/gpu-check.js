#!/usr/bin/env node
// npm run gpu-check: the GPU tests under compute-sanitizer (memcheck,
// racecheck, synccheck; the wgmma family's cases apart, as they run only on
// compute capability 9.0) and the SASS check for the CUDA 13 cache-hint
// miscompile (scripts/check-cache-hints.js), on a machine with a GPU and the
// CUDA toolkit. Prints one summary line per check, then an overall line;
// exits 1 when any check fails or cannot run (a missing tool fails it). The
// wgmma checks say "skipped" on GPUs of another compute capability: nothing
// of theirs runs there (a build without sm_90 code on an H100 fails them).
//   node scripts/gpu-check.js [--only memcheck,...,cache-hints] [--dry-run]
// --dry-run prints the commands instead of running them. The tools are
// looked up in $CUDA_HOME/bin, then /usr/local/cuda/bin, then PATH.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');

// racecheck and synccheck are slow: they run over the formats suite's GEMMs,
// repeated runs and GPU dequantization, and over the checkpoint suite's
// forward() tests, whose layers come through the repack kernel (its shared
// tile is what they check there) only.
const RACE_FILES = ['test/gpu/formats.test.ts', 'test/gpu/checkpoint.test.ts'];
const RACE_PATTERN = 'forward\\(\\) for m|repeated runs|dequantizeWeights';
// The layers of those files have one or two 256-column tiles, which the
// chooser keeps on the mma family, so the wgmma family (compute capability
// 9.0) gets runs of its own over its suite's FP16 group-128 cases: forward()
// at 1-1000 rows (every tile height), stream-k and split-k, symmetric and
// with zero points, and the symmetric cross-tile stream-k case under
// memcheck; forward() and stream-k, symmetric, under the slower two.
const WGMMA_FILES = ['test/gpu/wgmma.test.ts'];
const WGMMA_MEM_PATTERN = ' float16/u4/g128/(sym|zp).*(stream-k at m|forward\\(\\) for m|split-k, splits|row tiles)';
const WGMMA_RACE_PATTERN = ' float16/u4/g128/sym.*(stream-k at m|forward\\(\\) for m)';
// name: { tool (default: the name), files, pattern (a jest -t), hopper (the
// tests run on compute capability 9.0 only) }.
const SANITIZED_TESTS = {
  memcheck: { files: ['test/gpu/formats.test.ts', 'test/gpu/gemm.test.ts', 'test/gpu/checkpoint.test.ts'] },
  racecheck: { files: RACE_FILES, pattern: RACE_PATTERN },
  synccheck: { files: RACE_FILES, pattern: RACE_PATTERN },
  'wgmma-memcheck': { tool: 'memcheck', files: WGMMA_FILES, pattern: WGMMA_MEM_PATTERN, hopper: true },
  'wgmma-racecheck': { tool: 'racecheck', files: WGMMA_FILES, pattern: WGMMA_RACE_PATTERN, hopper: true },
  'wgmma-synccheck': { tool: 'synccheck', files: WGMMA_FILES, pattern: WGMMA_RACE_PATTERN, hopper: true },
};
const CHECKS = [...Object.keys(SANITIZED_TESTS), 'cache-hints'];

const USAGE = `usage: node scripts/gpu-check.js [--only ${CHECKS.join(',')}] [--dry-run]`;

/** { checks, dryRun } from the command line, or { error }. */
function parseArgs(argv) {
  let checks = CHECKS;
  let dryRun = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dry-run') dryRun = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const value = a === '--only' ? argv[++i] : a.slice('--only='.length);
      if (!value) return { error: `--only needs a list of checks (${CHECKS.join(', ')})` };
      const wanted = value.split(',').filter(Boolean);
      const unknown = wanted.filter((c) => !CHECKS.includes(c));
      if (unknown.length > 0) return { error: `unknown check ${unknown.join(', ')} (the checks: ${CHECKS.join(', ')})` };
      checks = CHECKS.filter((c) => wanted.includes(c));
    } else if (a === '--help' || a === '-h') return { help: true };
    else return { error: `unknown argument ${a}` };
  }
  return { checks, dryRun };
}

/** The path of a CUDA tool: $CUDA_HOME/bin, /usr/local/cuda/bin, then PATH; undefined if none. */
function findTool(name, env = process.env) {
  const dirs = [];
  if (env.CUDA_HOME) dirs.push(path.join(env.CUDA_HOME, 'bin'));
  dirs.push('/usr/local/cuda/bin');
  for (const dir of (env.PATH || '').split(path.delimiter)) if (dir) dirs.push(dir);
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The command line of one sanitizer check's run: [program, ...args]. */
function sanitizerCommand(sanitizer, name, jestJson) {
  const { tool = name, files, pattern } = SANITIZED_TESTS[name];
  const jest = [path.join('node_modules', 'jest', 'bin', 'jest.js'), '--runInBand', '--json', `--outputFile=${jestJson}`, ...files];
  if (pattern) jest.push('-t', pattern);
  // jest runs in the node process the sanitizer starts (not through npx), so that it sees the kernels.
  return [sanitizer, '--tool', tool, '--error-exitcode', '9', '--print-limit', '10', process.execPath, ...jest];
}

/**
 * The errors compute-sanitizer reported, or undefined without a summary:
 * the N of memcheck's and synccheck's "ERROR SUMMARY: N errors", or for
 * racecheck, which prints "RACECHECK SUMMARY: H hazards displayed (E
 * errors, W warnings)" instead, E + W (a warning is a hazard too: this
 * check wants none).
 */
function sanitizerErrors(output) {
  const errors = /=+ ERROR SUMMARY: (\d+) errors?/.exec(output);
  if (errors) return Number(errors[1]);
  const hazards = /=+ RACECHECK SUMMARY: \d+ hazards? displayed \((\d+) errors?, (\d+) warnings?\)/.exec(output);
  return hazards ? Number(hazards[1]) + Number(hazards[2]) : undefined;
}

/** { passed, failed, skipped } from a jest --json file, or undefined. */
function jestCounts(file) {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8'));
    return {
      passed: r.numPassedTests,
      failed: r.numFailedTests + r.numRuntimeErrorTestSuites,
      skipped: r.numPendingTests + r.numTodoTests,
    };
  } catch {
    return undefined;
  }
}

/**
 * One sanitizer run's verdict from its exit status, its output and jest's
 * counts: { ok, line }. Passing needs exit 0, a sanitizer summary of 0
 * errors, and tests that ran with none failed. Skipped tests fail a run of
 * whole files (a GPU test skipped was not checked); where a -t pattern picks
 * the tests, jest counts the others as skipped, and they are not held
 * against it.
 */
function sanitizerVerdict(tool, status, output, counts, seconds, filtered = false) {
  const errors = sanitizerErrors(output);
  const tests = counts ? `${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped` : 'no jest results';
  const problems = [];
  if (errors === undefined) problems.push('no error or hazard summary from compute-sanitizer');
  else if (errors > 0) problems.push(`${errors} sanitizer errors`);
  if (!counts) problems.push('jest wrote no results');
  else {
    if (counts.failed > 0) problems.push(`${counts.failed} tests failed`);
    if (counts.skipped > 0 && !filtered) problems.push(`${counts.skipped} tests skipped`);
    if (counts.passed === 0) problems.push('no test ran');
  }
  if (status !== 0 && problems.length === 0) problems.push(`exit status ${status}`);
  const ok = status === 0 && problems.length === 0;
  const verdict = ok ? 'passed' : `FAILED (${problems.join('; ')})`;
  return { ok, line: `${tool}: ${verdict}: ${errors ?? '?'} sanitizer errors; tests ${tests}; ${seconds} s` };
}

/**
 * Whether a compute capability 9.0 check found no GPU of its kind: its suite
 * said GPU 0 is another compute capability (test/helpers/hopper.ts; a build
 * without sm_90 code says otherwise, and fails the check) and no test ran or
 * failed.
 */
function hopperSkipped(output, counts) {
  return /\bsuite SKIPPED: GPU 0 is compute capability \d+\.\d+, not 9\.0/.test(output) && counts !== undefined && counts.passed === 0 && counts.failed === 0;
}

/**
 * The overall line and status from the per-check results ({ name, ok,
 * skipped }): a skipped check is named, and neither passes nor fails.
 */
function overall(results) {
  const failed = results.filter((r) => !r.ok).map((r) => r.name);
  const skipped = results.filter((r) => r.ok && r.skipped).map((r) => r.name);
  const ran = results.length - skipped.length;
  const skips = skipped.length > 0 ? `; skipped: ${skipped.join(', ')}` : '';
  let line;
  if (failed.length > 0) line = `gpu-check: FAILED: ${failed.join(', ')} (${ran - failed.length} of ${results.length} checks passed${skips})`;
  else if (ran === 0) line = `gpu-check: nothing checked (skipped: ${skipped.join(', ')})`;
  else line = `gpu-check: passed (${ran} of ${results.length} checks${skips})`;
  return { line, status: failed.length === 0 ? 0 : 1 };
}

// Runs a command with its output shown as it comes; resolves to its exit
// status and the last 1 MB of its output (where the sanitizer's summary is).
function run(command, env) {
  const start = Date.now();
  return new Promise((resolve) => {
    let output = '';
    const keep = (chunk, to) => {
      to.write(chunk);
      output = (output + chunk.toString()).slice(-(1 << 20));
    };
    const child = spawn(command[0], command.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk) => keep(chunk, process.stdout));
    child.stderr.on('data', (chunk) => keep(chunk, process.stderr));
    const done = (status) => resolve({ status, output, seconds: Math.round((Date.now() - start) / 1000) });
    child.on('error', (error) => {
      output += `${command[0]}: ${error.message}\n`;
      done(-1);
    });
    child.on('close', (code, signal) => done(signal ? `signal ${signal}` : code));
  });
}

async function main(argv) {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (args.error) {
    console.error(`gpu-check: ${args.error}\n${USAGE}`);
    return 2;
  }
  const env = { ...process.env, MARLIN_REQUIRE_GPU: '1' };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-check-'));
  const results = [];
  const lines = [];
  const report = (name, ok, line, skipped = false) => {
    results.push({ name, ok, skipped });
    lines.push(line);
  };
  for (const name of args.checks) {
    if (name === 'cache-hints') {
      const cuobjdump = findTool('cuobjdump');
      const command = [process.execPath, path.join('scripts', 'check-cache-hints.js')];
      if (!cuobjdump) {
        report(name, false, `${name}: FAILED (cuobjdump not found in $CUDA_HOME/bin, /usr/local/cuda/bin or PATH: install the CUDA toolkit or set CUDA_HOME)`);
        continue;
      }
      const toolEnv = { ...env, PATH: `${path.dirname(cuobjdump)}${path.delimiter}${env.PATH ?? ''}` };
      console.log(`=== ${name}: ${command.join(' ')} (cuobjdump: ${cuobjdump})`);
      if (args.dryRun) continue;
      const r = await run(command, toolEnv);
      const summary = r.output.trim().split('\n').pop();
      report(name, r.status === 0, `${name}: ${r.status === 0 ? 'passed' : `FAILED (exit status ${r.status})`}: ${summary}; ${r.seconds} s`);
      continue;
    }
    const sanitizer = findTool('compute-sanitizer');
    if (!sanitizer) {
      report(name, false, `${name}: FAILED (compute-sanitizer not found in $CUDA_HOME/bin, /usr/local/cuda/bin or PATH: install the CUDA toolkit or set CUDA_HOME)`);
      continue;
    }
    const jestJson = path.join(tmp, `${name}.json`);
    const command = sanitizerCommand(sanitizer, name, jestJson);
    console.log(`=== ${name}: MARLIN_REQUIRE_GPU=1 ${command.map((a) => (/[^\w./=:-]/.test(a) ? `'${a}'` : a)).join(' ')}`);
    if (args.dryRun) continue;
    const r = await run(command, env);
    const counts = jestCounts(jestJson);
    if (SANITIZED_TESTS[name].hopper && r.status === 0 && hopperSkipped(r.output, counts)) {
      report(name, true, `${name}: skipped: GPU 0 is not compute capability 9.0 (the wgmma family runs on no other); ${r.seconds} s`, true);
      continue;
    }
    const v = sanitizerVerdict(name, r.status, r.output, counts, r.seconds, SANITIZED_TESTS[name].pattern !== undefined);
    report(name, v.ok, v.line);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  if (args.dryRun && results.length === 0) return 0;
  console.log('');
  for (const line of lines) console.log(line);
  const o = overall(results);
  console.log(o.line);
  return o.status;
}

if (require.main === module)
  main(process.argv.slice(2)).then(
    (status) => (process.exitCode = status),
    (error) => {
      console.error(`gpu-check: ${error.stack}`);
      process.exitCode = 2;
    },
  );

module.exports = { CHECKS, SANITIZED_TESTS, parseArgs, findTool, sanitizerCommand, sanitizerErrors, jestCounts, sanitizerVerdict, hopperSkipped, overall };
