/**
 * Shared benchmark helper: run a command several times and report its median wall time and peak
 * resident memory, as measured by GNU time (`/usr/bin/time -f`), so every bench in bench/ prints
 * figures measured the same way and can put netmend next to the reference tool of the same run.
 *
 *   const ref = await measureCommand('ip -json route', 'ip', ['-n', ns, '-json', 'route', 'show', 'table', 'all']);
 *   const ours = await measureCommand('netmend snapshot', 'ip', ['netns', 'exec', ns, 'node', 'bin/run.js', 'snapshot', '--out', f]);
 *   console.log(formatMeasurement(ref)); console.log(formatMeasurement(ours)); console.log(formatRatio(ours, ref));
 *
 * measureInterleaved runs several commands in alternation instead, for ratios that hold on a
 * loaded machine (formatRatio(ours, ref, true) adds the paired ratio).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface MeasureOptions {
  /** Timed runs (default 5). The median of these is reported. */
  runs?: number;
  /** Untimed runs first, to warm caches (default 1). */
  warmup?: number;
  env?: NodeJS.ProcessEnv;
  /** Where the command's stdout goes: discarded by default, or a file path. */
  stdoutFile?: string;
  /** Fail when the command exits non-zero (default true). */
  requireSuccess?: boolean;
  /** Kill a run after this many milliseconds (default 10 min). */
  timeoutMs?: number;
}

export interface RunFigures {
  wallMs: number;
  /** Peak resident set size of the process (ru_maxrss), in MiB. */
  peakRssMb: number;
  exitCode: number;
}

export interface Measurement {
  label: string;
  command: string;
  runs: RunFigures[];
  medianWallMs: number;
  minWallMs: number;
  /** The largest peak RSS over all timed runs, in MiB. */
  peakRssMb: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** One run under GNU time: wall clock from GNU time's %e would be 10 ms coarse, so we time it here. */
export async function runOnce(file: string, args: readonly string[], options: MeasureOptions = {}): Promise<RunFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-bench-'));
  const timeFile = join(dir, 'time');
  try {
    const { openSync, closeSync } = await import('node:fs');
    const stdoutFd = openSync(options.stdoutFile ?? '/dev/null', 'w');
    const started = process.hrtime.bigint();
    const exitCode = await new Promise<number>((resolve, reject) => {
      const child = spawn('/usr/bin/time', ['-o', timeFile, '-f', '%M', file, ...args], {
        env: options.env ?? process.env,
        stdio: ['ignore', stdoutFd, 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (chunk) => { stderr += String(chunk); });
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (code !== 0 && options.requireSuccess !== false) reject(new Error(`${file} ${args.join(' ')} exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
        else resolve(code ?? 1);
      });
    });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    closeSync(stdoutFd);
    // GNU time prints "Command exited with non-zero status N" before the figures on failure.
    const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
    const maxRssKb = Number(lines[lines.length - 1]);
    return { wallMs, peakRssMb: maxRssKb / 1024, exitCode };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Warm up, then time `runs` runs of the command one after another. */
export async function measureCommand(label: string, file: string, args: readonly string[], options: MeasureOptions = {}): Promise<Measurement> {
  const { runs, warmup, ...perCommand } = options;
  const [measurement] = await measureInterleaved([{ label, file, args, options: perCommand }], { runs, warmup });
  return measurement;
}

export interface CommandSpec {
  label: string;
  file: string;
  args: readonly string[];
  /** Per-command options (stdoutFile, requireSuccess, env); runs and warmup come from the call. */
  options?: Omit<MeasureOptions, 'runs' | 'warmup'>;
}

/**
 * Several commands measured in alternation (one run of each per round, the order rotating from
 * round to round), so a burst of load on a shared machine hits all of them alike: the ratios
 * between them stay meaningful even when the absolute figures drift.
 */
export async function measureInterleaved(specs: readonly CommandSpec[], options: Pick<MeasureOptions, 'runs' | 'warmup'> = {}): Promise<Measurement[]> {
  for (let i = 0; i < (options.warmup ?? 1); i++) for (const spec of specs) await runOnce(spec.file, spec.args, spec.options);
  const runs: RunFigures[][] = specs.map(() => []);
  for (let round = 0; round < (options.runs ?? 5); round++) {
    for (let k = 0; k < specs.length; k++) {
      const which = (k + round) % specs.length;
      runs[which].push(await runOnce(specs[which].file, specs[which].args, specs[which].options));
    }
  }
  return specs.map((spec, i) => {
    const walls = runs[i].map((r) => r.wallMs);
    return {
      label: spec.label,
      command: [spec.file, ...spec.args].join(' '),
      runs: runs[i],
      medianWallMs: median(walls),
      minWallMs: Math.min(...walls),
      peakRssMb: Math.max(...runs[i].map((r) => r.peakRssMb)),
    };
  });
}

/** "label: median 812 ms (min 790, 5 runs), peak RSS 95.3 MB" */
export function formatMeasurement(m: Measurement): string {
  return `${m.label}: median ${m.medianWallMs.toFixed(0)} ms (min ${m.minWallMs.toFixed(0)}, ${m.runs.length} runs), peak RSS ${m.peakRssMb.toFixed(1)} MB`;
}

/**
 * For two commands measured together by measureInterleaved: the median over rounds of
 * ours / reference, each round's two runs being moments apart. Steadier than the ratio of the
 * medians when the load on the machine drifts during the bench.
 */
export function pairedRatio(ours: Measurement, reference: Measurement): number {
  return pairedMedian(ours, reference, (a, b) => a / b);
}

/** Like pairedRatio, for ours - reference in milliseconds (start-up overheads). */
export function pairedDifferenceMs(ours: Measurement, reference: Measurement): number {
  return pairedMedian(ours, reference, (a, b) => a - b);
}

function pairedMedian(ours: Measurement, reference: Measurement, combine: (a: number, b: number) => number): number {
  return pairedMedianOf(ours.runs.map((r) => r.wallMs), reference.runs.map((r) => r.wallMs), combine);
}

/**
 * pairedRatio for figures measured by other means than a command run (round i of each list taken
 * moments apart, as measureInterleaved does): the median over rounds of ours[i] / reference[i].
 */
export function pairedRatioOf(ours: readonly number[], reference: readonly number[]): number {
  return pairedMedianOf(ours, reference, (a, b) => a / b);
}

function pairedMedianOf(ours: readonly number[], reference: readonly number[], combine: (a: number, b: number) => number): number {
  const rounds = Math.min(ours.length, reference.length);
  return median(Array.from({ length: rounds }, (_, i) => combine(ours[i], reference[i])));
}

/**
 * "netmend snapshot / ip -json route: time 0.58x (paired 0.57x), peak RSS 1.2x" (below 1 means
 * netmend is faster/smaller); "paired" only for measurements of one measureInterleaved call.
 */
export function formatRatio(ours: Measurement, reference: Measurement, paired = false): string {
  const time = ours.medianWallMs / reference.medianWallMs;
  const rss = ours.peakRssMb / reference.peakRssMb;
  const pairs = paired ? ` (paired ${pairedRatio(ours, reference).toFixed(2)}x)` : '';
  return `${ours.label} / ${reference.label}: time ${time.toFixed(2)}x${pairs}, peak RSS ${rss.toFixed(2)}x`;
}
