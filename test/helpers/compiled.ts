/**
 * The package as users run it: lib/ compiled by tsc (tsconfig.build.json)
 * into a temporary package directory whose csrc/, build/ and node_modules/
 * are links to this checkout's, so that compiled code finds the kernel
 * table, the addon and its dependencies where it would in dist/.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Compiles lib/ and returns the package directory (its dist/ holds the
 * JavaScript); remove it with removeCompiled. Without `addon`, the package
 * has no build/ (as if the install script had not run).
 */
export function compilePackage(options: { addon?: boolean } = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'marlin-node-compiled-'));
  const links = ['csrc', 'node_modules', 'package.json', ...(options.addon === false ? [] : ['build'])];
  for (const name of links) if (fs.existsSync(path.join(ROOT, name))) fs.symlinkSync(path.join(ROOT, name), path.join(dir, name));
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')], {
    stdio: 'pipe',
  });
  return dir;
}

export function removeCompiled(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
