#!/usr/bin/env node
// Checks the SASS of every kernel in build/Release/marlin.node for the
// CUDA 13 ptxas pitfall of ../shared/ARCHITECTURE.md: a cp.async with an L2
// cache hint whose policy descriptor is never initialised (the kernel then
// dies with "illegal instruction"). For each function, every uniform
// register pair named in a desc[URn] operand must be written before the
// first instruction that uses it. Needs cuobjdump (the CUDA toolkit).
//   node scripts/check-cache-hints.js [path/to/marlin.node]
'use strict';

const { execFileSync } = require('child_process');
const path = require('path');

const file = process.argv[2] || path.join(__dirname, '..', 'build', 'Release', 'marlin.node');
let sass;
try {
  sass = execFileSync('cuobjdump', ['-sass', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
} catch (error) {
  console.error(`check-cache-hints: cuobjdump failed on ${file}: ${error.message}`);
  process.exit(2);
}

let fn = null;
let defined = new Set();
const problems = [];
let functions = 0;
let uses = 0;
for (const line of sass.split('\n')) {
  const header = /Function : (\S+)/.exec(line);
  if (header) {
    fn = header[1];
    defined = new Set();
    functions++;
    continue;
  }
  const insn = /\/\*[0-9a-f]{4,}\*\/\s+(.*?);/.exec(line);
  if (!fn || !insn) continue;
  const text = insn[1].replace(/^@!?U?P[T0-9]+\s+/, '');
  for (const use of text.matchAll(/desc\[UR(\d+)\]/g)) {
    const r = Number(use[1]);
    uses++;
    if (!defined.has(r) || !defined.has(r + 1)) problems.push(`${fn}: desc[UR${r}] used before it is written: ${text}`);
  }
  // Destination of uniform-datapath instructions (and the 64-bit pair of .64 loads).
  const dest = /^(U[A-Z0-9_.]+|S2UR|R2UR)\s+UR(\d+)/.exec(text);
  if (dest) {
    const r = Number(dest[2]);
    defined.add(r);
    if (/\.64\b/.test(dest[1]) || /^ULDC\.64/.test(dest[1])) defined.add(r + 1);
  }
}
if (functions === 0) {
  console.error(`check-cache-hints: no kernels found in ${file}`);
  process.exit(2);
}
if (problems.length) {
  console.error(problems.slice(0, 20).join('\n'));
  console.error(`check-cache-hints: ${problems.length} descriptor use(s) before initialisation in ${functions} functions`);
  process.exit(1);
}
console.log(`check-cache-hints: ${functions} functions, ${uses} desc[UR] operands, each initialised before use`);
