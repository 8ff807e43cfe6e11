#!/usr/bin/env node
// Checks the SASS of every kernel in build/Release/marlin.node for the
// CUDA 13 ptxas pitfall of ../shared/ARCHITECTURE.md: a cp.async with an L2
// cache hint whose operands are uniform registers never initialised (the
// kernel then dies with "illegal instruction"). For each function, every
// uniform register read must be written somewhere in it, and every pair
// named in a desc[URn] operand before its first use in text order. A wgmma
// descriptor operand (gdesc[URn]) is read as the pairs the instruction
// uses, B's (URn+2, URn+3) and, with A in shared memory, A's (URn, URn+1),
// each held to the same rule.
// Needs cuobjdump (the CUDA toolkit).
//   node scripts/check-cache-hints.js [path/to/marlin.node]
//   node scripts/check-cache-hints.js --sass FILE     (disassembly text)
//   --functions   also print each failing function's name once, on stdout
//   --exclusions  also print, on stdout, the failing mma kernels as entries
//                 for table.json's evictFirst.exclude ({ variant, rowBlocks })
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { variantName } = require('./gen-kernels');

// `--sass FILE` reads disassembly text instead (how the tests check this script).
const sassIndex = process.argv.indexOf('--sass');
const listFunctions = process.argv.includes('--functions');
const listExclusions = process.argv.includes('--exclusions');
const positional = process.argv.slice(2).filter((a) => a !== '--functions' && a !== '--exclusions');

// An mma kernel's generated file name and row blocks from its mangled name:
// marlin::mma::gemm_kernel<Layout<FormatOf<Act, bits, group blocks (-1: per
// column), zeros>, row blocks, tile n / 16, tile k / 16>, arch, hint>.
function mmaKernel(mangled) {
  const m =
    /_ZN6marlin3mma11gemm_kernelINS_6LayoutINS_8FormatOfILNS_3ActE(\d)ELi(\d+)ELi(n?\d+)ELb([01])EEELi(\d+)ELi(\d+)ELi(\d+)EEE/.exec(
      mangled,
    );
  if (!m) return null;
  const [, act, bits, groupBlocks, zeros, rows, tileN, tileK] = m;
  const variant = variantName({
    family: 'mma',
    act: act === '0' ? 'float16' : 'bfloat16',
    bits: Number(bits),
    group: groupBlocks.startsWith('n') ? -1 : Number(groupBlocks) * 16,
    zeros: zeros === '1',
    tileK: Number(tileK) * 16,
    tileN: Number(tileN) * 16,
  });
  return { variant, rows: Number(rows) };
}
const file = sassIndex > 0 ? process.argv[sassIndex + 1] : positional[0] || path.join(__dirname, '..', 'build', 'Release', 'marlin.node');
let sass;
try {
  sass =
    sassIndex > 0
      ? fs.readFileSync(file, 'utf8')
      : execFileSync('cuobjdump', ['-sass', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
} catch (error) {
  console.error(`check-cache-hints: cannot read the SASS of ${file}: ${error.message}`);
  process.exit(2);
}

// Per function: uniform registers written anywhere, and each read. A
// register read but never written is the miscompile seen with CUDA 13.0 (a
// cp.async whose shared-memory offset and cache-policy operands name
// uniform registers nothing writes); a desc[URn] pair read before its first
// write in text order is the original form of the pitfall.
let fn = null;
let written = new Set();
let firstWrite = new Map();
let reads = [];
const problems = [];
let functions = 0;
let uses = 0;
let gdescs = 0;
let index = 0;

function finish() {
  if (!fn) return;
  for (const { r, text, at, desc } of reads) {
    if (!written.has(r)) problems.push({ fn, text: `${fn}: UR${r} is read but never written: ${text}` });
    else if (desc && (firstWrite.get(r) > at || !firstWrite.has(r + 1) || firstWrite.get(r + 1) > at))
      problems.push({ fn, text: `${fn}: descriptor pair UR${r}, UR${r + 1} used before it is written: ${text}` });
  }
}

for (const line of sass.split('\n')) {
  const header = /Function : (\S+)/.exec(line);
  if (header) {
    finish();
    fn = header[1];
    written = new Set();
    firstWrite = new Map();
    reads = [];
    functions++;
    continue;
  }
  const insn = /\/\*[0-9a-f]{4,}\*\/\s+(.*?);/.exec(line);
  if (!fn || !insn) continue;
  index++;
  const text = insn[1].replace(/^@!?U?P[T0-9]+\s+/, '');
  // The destination of uniform-datapath instructions (and the pair of .64 / WIDE ones).
  const dest = /^(U[A-Z0-9_.]+|S2UR|CS2UR|R2UR[A-Z0-9_.]*)\s+UR(\d+)/.exec(text);
  if (dest) {
    const destReg = Number(dest[2]);
    const regs = /\.64\b|\.WIDE\b/.test(dest[1]) ? [destReg, destReg + 1] : [destReg];
    for (const r of regs) {
      written.add(r);
      if (!firstWrite.has(r)) firstWrite.set(r, index);
    }
  }
  let operands = dest ? text.slice(dest[0].length) : text;
  // A descriptor pair: both registers read, the pair held to the order rule.
  const readPair = (r) => {
    reads.push({ r, text, at: index, desc: true });
    reads.push({ r: r + 1, text, at: index, desc: false });
  };
  // wgmma: gdesc[URn] names four registers, the A operand's descriptor
  // (n, n+1) and the B operand's (n+2, n+3). With A in registers
  // (`HGMMA.<shape> Rd, Ra, gdesc[URn], ...`) the A pair is not read, and
  // ptxas leaves in it whatever it holds (or nothing): only the B pair
  // must be written.
  const wgmma = /^\S+\s+R\d+,\s*(R\d+,\s*)?gdesc\[UR(\d+)\]/.exec(operands);
  if (wgmma) {
    gdescs++;
    const n = Number(wgmma[2]);
    for (const pair of wgmma[1] ? [n + 2] : [n, n + 2]) readPair(pair);
    operands = operands.replace(/gdesc\[UR\d+\]/, '');
  }
  for (const use of operands.matchAll(/(desc\[)?UR(\d+)/g)) {
    const r = Number(use[2]);
    if (!use[1]) reads.push({ r, text, at: index, desc: false });
    else {
      uses++;
      readPair(r);
    }
  }
}
finish();
if (functions === 0) {
  console.error(`check-cache-hints: no kernels found in ${file}`);
  process.exit(2);
}
if (problems.length) {
  const failing = [...new Set(problems.map((p) => p.fn))];
  if (listFunctions) console.log(failing.join('\n'));
  if (listExclusions) {
    const byVariant = new Map();
    for (const k of failing.map(mmaKernel).filter(Boolean)) byVariant.set(k.variant, [...(byVariant.get(k.variant) ?? []), k.rows]);
    for (const [variant, rows] of [...byVariant].sort(([a], [b]) => a.localeCompare(b)))
      console.log(JSON.stringify({ variant, rowBlocks: [...new Set(rows)].sort((a, b) => a - b) }));
    const other = failing.filter((f) => !mmaKernel(f));
    if (other.length) console.error(`check-cache-hints: failing functions that are not mma kernels: ${other.join(', ')}`);
  }
  console.error(problems.slice(0, 20).map((p) => p.text).join('\n'));
  console.error(`check-cache-hints: ${problems.length} uniform-register read(s) with no write before them in ${functions} functions`);
  process.exit(1);
}
console.log(
  `check-cache-hints: ${functions} functions, ${uses} desc[UR] operands, ${gdescs} wgmma descriptors; every uniform register read is written`,
);
