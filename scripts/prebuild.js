#!/usr/bin/env node
// `npm run prebuilds`: copies build/Release/marlin.node to
// prebuilds/<platform>-<arch>/marlin.node, the prebuilt binary a package
// carries (package.json "files"); the install script and lib/native.ts use
// it where it loads. First it checks, loading the addon in a child process,
// that the build is what every user may get: the table's default
// architectures (80;86;89;90, PTX of the newest), every kernel variant of the
// table (no MARLIN_VARIANT_FILTER), and no cuBLAS (a dynamic libcublas would
// make it load only where that CUDA library is installed). Where the CUDA
// toolkit has cuobjdump, the kernels with the L2 evict-first hint must pass
// scripts/check-cache-hints.js (elsewhere it says that it did not run).
//
//   node scripts/prebuild.js                  fail if the build is not fit to ship
//   node scripts/prebuild.js --pack           (prepack) if it is not, pack without a
//                                             prebuilt binary: remove any earlier one, say why
//   node scripts/prebuild.js --allow-partial  ship whatever is built (packaging tests only)
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const ADDON = path.join(ROOT, 'build', 'Release', 'marlin.node');
const PREBUILD = path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`, 'marlin.node');
const TABLE = JSON.parse(fs.readFileSync(path.join(ROOT, 'csrc', 'kernels', 'table.json'), 'utf8'));
const { variantCount } = require('./gen-kernels');
const { findNvcc, checkCacheHints, tryLoad } = require('./install');

/** What the addon holds (install.js reads it in a child process), or why it does not load. */
function inspect(file) {
  const loaded = tryLoad(file);
  return loaded.problem ? { problem: `it does not load: ${loaded.problem}` } : loaded;
}

/** Why this addon must not be shipped, or null. */
function unfit(info) {
  const defaults = TABLE.architectures.default;
  const variants = variantCount(TABLE, defaults);
  if (info.archs.join(';') !== defaults.join(';') || info.ptxArch !== defaults[defaults.length - 1])
    return `it is built for ${info.archs.join(';')} (PTX of ${info.ptxArch}), not the default architectures ${defaults.join(';')}: build it with MARLIN_CUDA_ARCHS unset on a machine without a GPU, or MARLIN_CUDA_ARCHS="${defaults.join(';')}"`;
  if (info.variants !== variants) return `it holds ${info.variants} kernel variants, not the table's ${variants}: build it without MARLIN_VARIANT_FILTER`;
  if (info.cublas) return 'it links cuBLAS, so it would load only where libcublas is installed: build it where cuBLAS is not found';
  if (info.hinted > 0) {
    const nvcc = findNvcc(process.env);
    const hints = nvcc.file ? checkCacheHints(nvcc.file, process.env) : { skipped: nvcc.problem };
    if (hints.failed)
      return `its kernels with the L2 evict-first hint fail the SASS check (${hints.failed}): update csrc/kernels/table.json evictFirst.exclude (CONTRIBUTING.md) or build with MARLIN_EVICT_FIRST=0`;
    if (hints.skipped) console.warn(`prebuild: the SASS check of its ${info.hinted} kernels with the L2 evict-first hint did not run (${hints.skipped}).`);
  }
  return null;
}

function main(argv) {
  const pack = argv.includes('--pack');
  const partial = argv.includes('--allow-partial');
  const found = fs.existsSync(ADDON) ? inspect(ADDON) : { problem: `${path.relative(ROOT, ADDON)} is missing (npm ci builds it)` };
  const why = found.problem || (partial ? null : unfit(found.info));
  if (why) {
    if (!pack) {
      console.error(`prebuild: ${path.relative(ROOT, ADDON)} is not fit to ship: ${why}.`);
      process.exit(1);
    }
    fs.rmSync(PREBUILD, { force: true });
    console.warn(`prebuild: packing WITHOUT a prebuilt binary (installs will build from source): ${why}.`);
    return;
  }
  fs.mkdirSync(path.dirname(PREBUILD), { recursive: true });
  fs.copyFileSync(ADDON, PREBUILD);
  const { archs, ptxArch } = found.info;
  const mb = (fs.statSync(PREBUILD).size / 1e6).toFixed(1);
  console.log(`prebuild: ${path.relative(ROOT, PREBUILD)} (${mb} MB; sm_${archs.join(', sm_')} and PTX of sm_${ptxArch})`);
}

main(process.argv.slice(2));
