#!/usr/bin/env node
// Runs one CUDA compile and warns when ptxas reports that it serialized a
// kernel's wgmma instructions ("ptxas info : (C7513) Potential Performance
// Loss: wgmma.mma_async instructions are serialized ..."). The kernel is still
// correct, but each wgmma then waits for the one before it, and the wgmma
// family loses the overlap it is built on; ptxas does it, for example, when a
// branch sits between a wgmma and its wait (docs/perf-notes.md run 29). Only
// ptxas's message shows it, so every build checks for it:
//   CMake runs every CUDA compile through this script (CMAKE_CUDA_COMPILER_LAUNCHER):
//     node scripts/ptxas-guard.js NVCC ARGS...
//   node-gyp's rule (gen-kernels.js --nvcc) calls compile() below.
// The warning starts with WARNING_PREFIX; CI fails a build that prints it.
'use strict';

const { spawnSync } = require('child_process');

const WARNING_PREFIX = 'marlin-node: warning: ptxas serialized the wgmma instructions';
const SERIALIZED = /\(C\d+\)[^\n]*wgmma\.mma_async instructions are serialized[^\n]*/;

// ptxas's first such message in a compile's standard error, or null.
function serializedWgmma(stderr) {
  const m = SERIALIZED.exec(stderr);
  return m ? m[0].trim() : null;
}

function warningFor(source, message) {
  const code = /\((C\d+)\)/.exec(message)?.[1] ?? 'ptxas';
  return `${WARNING_PREFIX} of ${source} (${code}, above): the kernel is correct but each wgmma waits for the one before it`;
}

// The .cu file a compile command reads (for the message).
function sourceOf(args) {
  return args.find((a) => /[.]cu$/.test(a)) ?? 'a CUDA source';
}

// Runs `nvcc args` with its output passed through, adds the warning where
// ptxas serialized wgmma instructions, and returns nvcc's exit status.
function compile(nvcc, args) {
  const result = spawnSync(nvcc, args, { stdio: ['inherit', 'inherit', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) {
    process.stderr.write(`marlin-node: could not run ${nvcc}: ${result.error.message}\n`);
    return 1;
  }
  process.stderr.write(result.stderr);
  const message = serializedWgmma(result.stderr);
  if (message) process.stderr.write(`${warningFor(sourceOf(args), message)}\n`);
  return result.status ?? 1;
}

module.exports = { WARNING_PREFIX, serializedWgmma, warningFor, sourceOf, compile };

if (require.main === module) {
  const [nvcc, ...args] = process.argv.slice(2);
  if (!nvcc) {
    process.stderr.write('ptxas-guard: usage: ptxas-guard.js NVCC ARGS...\n');
    process.exit(2);
  }
  process.exit(compile(nvcc, args));
}
