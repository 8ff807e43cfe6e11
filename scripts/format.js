#!/usr/bin/env node
// clang-format over the C++ and CUDA sources (csrc/**/*.{h,cc,cu,cuh}) with
// the repository's .clang-format and the clang-format binary that the
// clang-format-node package pins (package.json), so every machine formats
// alike.
//   node scripts/format.js           rewrite the files that are not formatted
//   node scripts/format.js --check   list them and exit 1 (CI, npm run format:check)
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const EXTENSIONS = new Set(['.h', '.cc', '.cu', '.cuh']);

// Every C++/CUDA source under dir, relative to ROOT, sorted.
function sources(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...sources(full));
    else if (entry.isFile() && EXTENSIONS.has(path.extname(entry.name))) found.push(path.relative(ROOT, full));
  }
  return found.sort();
}

// The 1-based number of the first line where a and b differ.
function firstDifference(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  return i + 1;
}

function main(argv) {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`format: unknown argument ${unknown[0]} (usage: node scripts/format.js [--check])`);
    return 2;
  }
  const check = argv.includes('--check');
  let binary;
  try {
    binary = require('clang-format-node').clangFormatPath;
  } catch (error) {
    console.error(`format: clang-format-node is not installed (npm install): ${error.message}`);
    return 2;
  }
  const files = sources(path.join(ROOT, 'csrc'));
  const unformatted = [];
  for (const file of files) {
    const r = spawnSync(binary, ['--style=file', `--assume-filename=${file}`, file], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    if (r.error || r.status !== 0) {
      console.error(`format: clang-format failed on ${file}: ${r.error ? r.error.message : r.stderr.trim()}`);
      return 2;
    }
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    if (r.stdout === text) continue;
    unformatted.push(file);
    if (check) console.log(`${file}:${firstDifference(text, r.stdout)}: not formatted from this line on`);
    else fs.writeFileSync(path.join(ROOT, file), r.stdout);
  }
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (!check) {
    console.log(`format: rewrote ${unformatted.length} of ${files.length} files (${version})`);
    return 0;
  }
  if (unformatted.length === 0) {
    console.log(`format: all ${files.length} files in csrc/ are formatted (${version})`);
    return 0;
  }
  console.log(`format: ${unformatted.length} of ${files.length} files in csrc/ are not formatted: run npm run format (${version})`);
  return 1;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { sources, firstDifference };
