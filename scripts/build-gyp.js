#!/usr/bin/env node
// `npm run build:gyp`: builds build/Release/marlin.node with node-gyp instead
// of cmake-js (see binding.gyp). Runs `node-gyp rebuild --nodedir=<dir>`,
// where <dir> holds Node's headers (<dir>/include/node/node_api.h):
//   MARLIN_NODEDIR or npm_config_nodedir   if set
//   the prefix of the running node         e.g. /usr for /usr/bin/node
// so node-gyp never tries to download headers. Extra arguments go to
// node-gyp, e.g. `npm run build:gyp -- --verbose`.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');

function fail(message) {
  console.error(`build-gyp: ${message}`);
  process.exit(1);
}

const HOWTO =
  'Set MARLIN_NODEDIR to a directory that contains include/node/node_api.h ' +
  '(e.g. MARLIN_NODEDIR=/usr, or an unpacked node-vX.Y.Z-headers.tar.gz), then run again.';

function hasHeaders(dir) {
  // An installed Node (include/node) or a Node source tree (src).
  return (
    fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')) ||
    fs.existsSync(path.join(dir, 'src', 'node_api.h'))
  );
}

function findNodeDir() {
  const envName = ['MARLIN_NODEDIR', 'npm_config_nodedir'].find((name) => process.env[name]);
  if (envName) {
    const dir = path.resolve(process.env[envName]);
    if (!hasHeaders(dir)) fail(`${envName}=${dir} has no include/node/node_api.h.\n${HOWTO}`);
    return dir;
  }
  const prefix = path.resolve(process.execPath, '../..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  fail(`Node's headers were not found next to ${process.execPath} (no ${prefix}/include/node/node_api.h).\n${HOWTO}`);
}

function findNodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  } catch {
    const bin = path.join(root, 'node_modules', '.bin', 'node-gyp');
    if (fs.existsSync(bin)) return bin;
    fail('node-gyp is not installed; run `npm install` first (it is a devDependency).');
  }
}

const args = process.argv.slice(2);
const gyp = findNodeGyp();
const nodedir = findNodeDir();
// nvcc is the slow part: compile the kernels in parallel unless told otherwise.
const jobs = args.some((a) => /^(-j|--jobs)/.test(a)) ? [] : ['--jobs=max'];
const gypArgs = ['rebuild', `--nodedir=${nodedir}`, ...jobs, ...args];

console.log(`build-gyp: node-gyp ${gypArgs.join(' ')}`);
const result = gyp.endsWith('.js')
  ? spawnSync(process.execPath, [gyp, ...gypArgs], { cwd: root, stdio: 'inherit' })
  : spawnSync(gyp, gypArgs, { cwd: root, stdio: 'inherit' });
if (result.error) fail(`could not run node-gyp: ${result.error.message}`);
if (result.signal) fail(`node-gyp was killed by ${result.signal}`);
process.exit(result.status);
