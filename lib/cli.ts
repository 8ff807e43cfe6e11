#!/usr/bin/env node
/**
 * The marlin-node command. `npx marlin-node quantize` writes a GPTQ
 * checkpoint from a float model (lib/quantize-model.ts does the work).
 * `npx marlin-node doctor` checks this machine for
 * marlin-node and prints a line per finding, then a verdict; the exit code
 * is 1 when marlin-node cannot run here (no GPU, no kernels for a GPU, the
 * self-test failed, the addon does not load). A thin script over the
 * public API: the findings come from checkSetup() and selfTest(); the
 * self-test runs in a child process (`marlin-node self-test`), so that a
 * kernel that faults cannot take the caller down with it. Nothing it
 * prints is a stack trace.
 */
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { parseArgs } from 'node:util';

import type * as Api from './index';

const USAGE = `usage: marlin-node <command> [options]

commands:
  doctor [--no-self-test] [--timeout SECONDS]
      Checks this machine for marlin-node: Node.js, the addon, CUDA, each GPU
      and whether the addon has kernels for it, cuBLAS, and a self-test GEMM
      on every usable GPU (in a child process; --timeout: per GPU, default
      120). Prints a line per finding; exits with 1 if marlin-node cannot run.
  quantize <model-dir> <out-dir> [--bits 4|8] [--group 32|64|128|-1] [--sym|--asym]
           [--max-shard-size SIZE] [--device N]
      Quantizes the linear layers of a FP16/BF16 model directory (config.json
      and safetensors) on GPU N (default 0) by round-to-nearest and writes a
      GPTQ checkpoint (checkpoint_format gptq, desc_act false) that vLLM and
      transformers load. Defaults: 4 bits, groups of 128, symmetric, shards
      of at most 5GB (SIZE: bytes, or a number with KB, MB or GB).
  self-test [--device N]
      Runs one small quantized layer on GPU N (default 0) and compares it
      with float64 on the CPU; prints the result as one JSON line.
  help
      Prints this text.
`;

/** The engines field of package.json: the oldest Node.js supported. */
const MIN_NODE = [20, 17, 0];

export type Status = 'ok' | 'info' | 'warn' | 'FAIL' | 'skip';

/** One line of the doctor's report, with optional lines of detail under it. */
export interface Finding {
  status: Status;
  label: string;
  detail: string;
  more?: string[];
}

export function formatFinding(f: Finding): string {
  return [`${f.status.padEnd(5)} ${f.label}: ${f.detail}`, ...(f.more ?? []).map((line) => `      ${line}`)].join('\n');
}

/** What a self-test child reported. */
export type SelfTestOutcome = { passed: true; result: Api.SelfTestResult } | { passed: false; reason: string; result?: Api.SelfTestResult };

const errorText = (error: unknown): string => {
  const e = error as { code?: unknown; message?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return typeof e?.code === 'string' ? `${e.code}: ${message}` : message;
};

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
const capability = (arch: number): string => `${Math.floor(arch / 10)}.${arch % 10}`;

export function environmentFindings(): Finding[] {
  const version = process.versions.node.split('.').map(Number);
  const first = MIN_NODE.findIndex((min, i) => version[i] !== min);
  const oldNode = first >= 0 && version[first] < MIN_NODE[first];
  return [
    {
      status: oldNode ? 'FAIL' : 'ok',
      label: 'Node.js',
      detail: `${process.version} (Node-API ${process.versions.napi})${oldNode ? `: marlin-node needs ${MIN_NODE.join('.')} or newer` : ''}`,
    },
    {
      status: process.platform === 'linux' ? 'ok' : 'FAIL',
      label: 'platform',
      detail: `${process.platform} ${process.arch} (${os.type()} ${os.release()})${process.platform === 'linux' ? '' : ': marlin-node runs on Linux'}`,
    },
    { status: 'info', label: 'CPU', detail: `${os.availableParallelism()} threads for quantizeAsync (${os.cpus()[0]?.model ?? 'unknown model'})` },
  ];
}

/** The kernels a GPU gets from this build, in words. */
function kernelsFor(gpu: Api.GpuReport, report: Api.SetupReport): string {
  if (gpu.kernelArch === 0) return `none (built for ${report.archs.map((a) => `sm_${a}`).join(', ')})`;
  if (gpu.kernelArch === gpu.arch && report.archs.includes(gpu.arch)) return `sm_${gpu.arch} machine code`;
  return `PTX of compute_${gpu.kernelArch} (compiled by the driver on first use)`;
}

/** The findings of checkSetup(): addon, build, CUDA, GPUs, cuBLAS. */
export function setupFindings(report: Api.SetupReport): Finding[] {
  const cuda = (v: number): string => `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
  // The mma family is compiled for every architecture, the wgmma and decode families for sm_90a only.
  const mmaPerArch =
    report.archs.length > 0 ? (report.variants - report.wgmmaVariants - report.decodeVariants) / report.archs.length : 0;
  const sm90a =
    (report.wgmmaVariants > 0 ? `, ${report.wgmmaVariants} wgmma (sm_90a)` : '') +
    (report.decodeVariants > 0 ? `, ${report.decodeVariants} decode (sm_90a)` : '');
  const findings: Finding[] = [
    { status: 'ok', label: 'addon', detail: `loaded from ${report.addonFile}` },
    {
      status: 'info',
      label: 'kernels compiled',
      detail: `${report.archs.map((a) => `sm_${a}`).join(', ')} machine code, PTX of compute_${report.ptxArch}; ${mmaPerArch} mma variants per architecture${sm90a}`,
    },
    { status: 'ok', label: 'CUDA runtime', detail: `${cuda(report.runtimeVersion)} (linked into the addon)` },
    report.driverVersion === 0
      ? { status: 'FAIL', label: 'CUDA driver', detail: 'none (no NVIDIA driver is loaded)' }
      : {
          status: report.driverVersion < report.runtimeVersion ? 'FAIL' : 'ok',
          label: 'CUDA driver',
          detail: `supports CUDA ${cuda(report.driverVersion)}${report.driverVersion < report.runtimeVersion ? `, older than the runtime ${cuda(report.runtimeVersion)}: update the driver` : ''}`,
        },
  ];
  if (report.gpus.length === 0) findings.push({ status: 'FAIL', label: 'GPUs', detail: `none (${report.problem ?? 'no CUDA device is present'})` });
  for (const gpu of report.gpus) {
    const what = `${gpu.name}, compute capability ${capability(gpu.arch)}, ${gpu.multiProcessorCount} SMs, ${gib(gpu.memoryBytes)}`;
    findings.push({
      // A GPU too old for the kernels is a warning while another one can run them.
      status: gpu.usable ? 'ok' : gpu.arch >= 80 ? 'FAIL' : 'warn',
      label: `GPU ${gpu.index}`,
      detail: `${what}; kernels: ${kernelsFor(gpu, report)}${gpu.usable ? '' : `; not usable: ${gpu.reason}`}`,
    });
  }
  findings.push(
    report.cublas
      ? { status: 'ok', label: 'cuBLAS', detail: 'available (fp16Matmul, the dense baseline)' }
      : { status: 'info', label: 'cuBLAS', detail: 'not built in (only fp16Matmul, the dense baseline, needs it)' },
  );
  return findings;
}

export function selfTestFinding(device: number, outcome: SelfTestOutcome, describeFormat: (f: Api.WeightFormat) => string): Finding {
  const label = `self-test GPU ${device}`;
  if (!outcome.passed && !outcome.result) return { status: 'FAIL', label, detail: outcome.reason };
  const r = outcome.result!;
  const detail =
    `${describeFormat(r.format)}, x [${r.m}, ${r.inFeatures}] by W [${r.inFeatures}, ${r.outFeatures}]: relative error ${r.relativeError.toExponential(1)} ` +
    `(limit ${r.tolerance.toExponential(1)}), ${r.ms.toFixed(0)} ms in a child process`;
  return { status: outcome.passed ? 'ok' : 'FAIL', label, detail: outcome.passed ? detail : `${outcome.reason}: ${detail}` };
}

/** Whether marlin-node can run here, and if not the first reason why. */
export function verdict(findings: readonly Finding[], report: Api.SetupReport | undefined): { usable: boolean; line: string } {
  const failed = findings.find((f) => f.status === 'FAIL');
  if (!report || failed) return { usable: false, line: `result: marlin-node cannot run here: ${failed ? `${failed.label}: ${failed.detail}` : 'the addon does not load'}` };
  const usable = report.gpus.filter((g) => g.usable).map((g) => g.index);
  return { usable: true, line: `result: marlin-node can run here (GPU ${usable.join(', ')})` };
}

/** A command line that runs `marlin-node self-test` in a child Node, the way this process runs. */
export function selfTestCommand(device: number): [string, string[]] {
  return [process.execPath, [...process.execArgv, __filename, 'self-test', '--device', String(device)]];
}

/**
 * Runs a self-test child (`command`) and reads its one JSON line. A child
 * that dies (a signal, a non-zero exit without a result) or outlives
 * `timeoutMs` (it is killed) is a failure with the reason in words.
 */
export function runSelfTestChild(command: [string, string[]], timeoutMs: number): Promise<SelfTestOutcome> {
  return new Promise((resolve) => {
    const child = spawn(command[0], command[1], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ passed: false, reason: `could not start a child process: ${error.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lastLine = (text: string): string => text.trim().split('\n').pop() ?? '';
      if (timedOut) return resolve({ passed: false, reason: `did not finish within ${timeoutMs / 1000} s (the child process was killed)` });
      let reply: { passed?: unknown; result?: Api.SelfTestResult; error?: string } | undefined;
      try {
        reply = JSON.parse(lastLine(stdout)) as typeof reply;
      } catch {
        reply = undefined;
      }
      if (reply?.result && reply.passed === true) return resolve({ passed: true, result: reply.result });
      if (reply?.result) return resolve({ passed: false, reason: 'wrong results', result: reply.result });
      if (reply?.error) return resolve({ passed: false, reason: reply.error });
      const died = signal ? `the child process died of ${signal}` : `the child process exited with code ${code} and no result`;
      const said = lastLine(stderr);
      resolve({ passed: false, reason: said ? `${died}: ${said}` : died });
    });
  });
}

/**
 * Loads the package and its addon (which the package loads at first use);
 * a failure to load either is a finding, not a crash.
 */
function loadApi(): { api: typeof Api } | { error: unknown } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const api = require('./index') as typeof Api;
    const found = api.probe();
    if (found.code === 'NOT_BUILT') return { error: new api.MarlinError('NOT_BUILT', found.reason ?? 'the native addon is not built') };
    return { api };
  } catch (error) {
    return { error };
  }
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function doctor(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'no-self-test': { type: 'boolean' }, timeout: { type: 'string' } } });
  const timeoutS = values.timeout === undefined ? 120 : Number(values.timeout);
  if (!(timeoutS > 0)) throw new UsageError(`--timeout takes a number of seconds, not ${values.timeout}`);
  print('marlin-node doctor');
  const findings = environmentFindings();
  findings.forEach((f) => print(formatFinding(f)));
  const loaded = loadApi();
  if ('error' in loaded) {
    const [first, ...rest] = errorText(loaded.error).split('\n');
    const f: Finding = { status: 'FAIL', label: 'addon', detail: `does not load: ${first}`, more: rest };
    print(formatFinding(f));
    print(verdict([...findings, f], undefined).line);
    return 1;
  }
  const { api } = loaded;
  const report = api.checkSetup();
  for (const f of setupFindings(report)) {
    findings.push(f);
    print(formatFinding(f));
  }
  const usable = report.gpus.filter((g) => g.usable);
  if (values['no-self-test']) {
    findings.push({ status: 'skip', label: 'self-test', detail: 'not run (--no-self-test)' });
    print(formatFinding(findings[findings.length - 1]));
  } else if (usable.length === 0) {
    findings.push({ status: 'skip', label: 'self-test', detail: 'not run (no usable GPU)' });
    print(formatFinding(findings[findings.length - 1]));
  }
  if (!values['no-self-test'])
    for (const gpu of usable) {
      const outcome = await runSelfTestChild(selfTestCommand(gpu.index), timeoutS * 1000);
      const f = selfTestFinding(gpu.index, outcome, api.describeFormat);
      findings.push(f);
      print(formatFinding(f));
    }
  const v = verdict(findings, report);
  print(v.line);
  return v.usable ? 0 : 1;
}

async function selfTestMain(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { device: { type: 'string' } } });
  const device = values.device === undefined ? 0 : Number(values.device);
  if (!Number.isSafeInteger(device) || device < 0) throw new UsageError(`--device takes a GPU index, not ${values.device}`);
  const loaded = loadApi();
  if ('error' in loaded) {
    print(JSON.stringify({ passed: false, error: `the addon does not load: ${errorText(loaded.error).split('\n')[0]}` }));
    return 1;
  }
  try {
    const result = await loaded.api.selfTest(device);
    print(JSON.stringify({ passed: result.passed, result }));
    return result.passed ? 0 : 1;
  } catch (error) {
    print(JSON.stringify({ passed: false, error: errorText(error) }));
    return 1;
  }
}

/** A bad command line: exit code 2. `oneLine`: the message alone, without the usage text. */
export class UsageError extends Error {
  readonly oneLine: boolean;
  constructor(message: string, oneLine = false) {
    super(message);
    this.oneLine = oneLine;
  }
}

/** What `marlin-node quantize` was asked to do. */
export interface QuantizeCommand {
  inDir: string;
  outDir: string;
  bits: 4 | 8;
  groupSize: 32 | 64 | 128 | -1;
  sym: boolean;
  maxShardBytes: number;
  device: number;
}

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30 };

/** Parses quantize's arguments; a bad one is a one-line UsageError. */
export function parseQuantizeArgs(args: string[]): QuantizeCommand {
  const bad = (what: string) => new UsageError(`quantize: ${what} (marlin-node help shows the usage)`, true);
  // parseArgs takes "-1" after --group for an option; --group=-1 is unambiguous.
  const joined = args.flatMap((a, i) => (a === '--group' && args[i + 1]?.startsWith('-') ? [] : args[i - 1] === '--group' && a.startsWith('-') ? [`--group=${a}`] : [a]));
  let parsed;
  try {
    parsed = parseArgs({
      args: joined,
      allowPositionals: true,
      options: {
        bits: { type: 'string' },
        group: { type: 'string' },
        sym: { type: 'boolean' },
        asym: { type: 'boolean' },
        'max-shard-size': { type: 'string' },
        device: { type: 'string' },
      },
    });
  } catch (error) {
    throw bad((error as Error).message.split('\n')[0]);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 2) throw bad(`expected <model-dir> <out-dir>, got ${positionals.length} path(s)`);
  const bits = values.bits === undefined ? 4 : Number(values.bits);
  if (bits !== 4 && bits !== 8) throw bad(`--bits takes 4 or 8, not ${values.bits}`);
  const groupSize = values.group === undefined ? 128 : Number(values.group);
  if (groupSize !== 32 && groupSize !== 64 && groupSize !== 128 && groupSize !== -1) throw bad(`--group takes 32, 64, 128 or -1, not ${values.group}`);
  if (values.sym && values.asym) throw bad('--sym and --asym exclude each other');
  let maxShardBytes = 5e9;
  if (values['max-shard-size'] !== undefined) {
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(values['max-shard-size'].trim());
    const unit = m ? SIZE_UNITS[m[2].toUpperCase()] : undefined;
    if (!m || unit === undefined || !(Number(m[1]) * unit >= 1)) throw bad(`--max-shard-size takes a size such as 2GB or 500MB, not ${values['max-shard-size']}`);
    maxShardBytes = Math.floor(Number(m[1]) * unit);
  }
  const device = values.device === undefined ? 0 : Number(values.device);
  if (!Number.isSafeInteger(device) || device < 0) throw bad(`--device takes a GPU index, not ${values.device}`);
  return { inDir: positionals[0], outDir: positionals[1], bits, groupSize, sym: !values.asym, maxShardBytes, device };
}

const formatBytes = (bytes: number): string => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`);

/**
 * Progress of the quantize command: a bar redrawn in place on a terminal
 * (at most 10 times a second), else a plain line every 10% of the bytes.
 */
export function progressPrinter(out: { isTTY?: boolean; write(s: string): unknown }, now: () => number = Date.now): {
  update(p: Api.QuantizeProgress): void;
  done(): void;
} {
  const start = now();
  let lastDraw = -Infinity;
  let lastTenth = 0;
  let drawn = false;
  const line = (p: Api.QuantizeProgress): string => {
    const seconds = (now() - start) / 1000;
    const fraction = p.bytes > 0 ? p.bytesDone / p.bytes : 1;
    return `${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytes)}, ${p.tensorsDone}/${p.tensors} tensors, ${seconds.toFixed(1)} s`;
  };
  return {
    update(p) {
      const fraction = p.bytes > 0 ? p.bytesDone / p.bytes : 1;
      if (out.isTTY) {
        if (now() - lastDraw < 100 && p.tensorsDone < p.tensors) return;
        lastDraw = now();
        const width = 30;
        const filled = Math.round(fraction * width);
        out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${line(p)}\x1b[K`);
        drawn = true;
      } else {
        const tenth = Math.floor(fraction * 10);
        if (tenth <= lastTenth && p.tensorsDone < p.tensors) return;
        lastTenth = tenth;
        out.write(`quantize: ${line(p)}\n`);
      }
    },
    done() {
      if (drawn) out.write('\n');
    },
  };
}

async function quantizeMain(args: string[]): Promise<number> {
  const c = parseQuantizeArgs(args);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const api = require('./index') as typeof Api;
  const progress = progressPrinter(process.stderr);
  let quantizer: Api.GptqQuantizer | undefined;
  try {
    quantizer = new api.GptqQuantizer(api.Device.get(c.device));
    const q = quantizer;
    const report = await api.quantizeModel(c.inDir, c.outDir, {
      bits: c.bits,
      groupSize: c.groupSize,
      sym: c.sym,
      maxShardBytes: c.maxShardBytes,
      quantize: (w, inFeatures, outFeatures, o) => q.quantize(w, inFeatures, outFeatures, o),
      onProgress: (p) => progress.update(p),
    });
    progress.done();
    print(
      `quantized ${report.quantized} linear layers (${c.bits}-bit, group ${c.groupSize}, ${c.sym ? 'sym' : 'asym'}) and copied ${report.copied} tensors: ` +
        `${formatBytes(report.inputBytes)} -> ${formatBytes(report.outputBytes)} in ${report.seconds.toFixed(1)} s, written to ${c.outDir}`,
    );
    return 0;
  } catch (error) {
    progress.done();
    process.stderr.write(`marlin-node quantize: ${errorText(error).split('\n')[0]}\n`);
    return 1;
  } finally {
    await quantizer?.dispose();
  }
}

/** Runs a command line (without `node` and the script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    if (command === 'doctor') return await doctor(args);
    if (command === 'self-test') return await selfTestMain(args);
    if (command === 'quantize') return await quantizeMain(args);
    if (command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(USAGE);
      return 0;
    }
    throw new UsageError(command === undefined ? 'a command is needed' : `unknown command "${command}"`);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      if (error instanceof UsageError && error.oneLine) process.stderr.write(`marlin-node ${error.message}\n`);
      else process.stderr.write(`marlin-node: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    print(formatFinding({ status: 'FAIL', label: command ?? 'marlin-node', detail: `unexpected error: ${errorText(error)}` }));
    return 1;
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
