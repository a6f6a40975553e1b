/**
 * Runs a fix: prints the plan (default) or applies it with --apply/--yes — root first, then
 * parse, path and symlink refusals, lockout check, journal, atomic writes, live steps, reloads,
 * in-process verification with rollback, and over SSH the confirm watchdog. SIGINT or SIGTERM
 * while the fix applies rolls it back through the journal (exit 130 / 143).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode, InputError, isRoot, NeedsRootError, NetmendError, type ExitCodeValue } from '../errors.js';
import { exitOnSignals, takeOverSignals } from '../cli/signals.js';
import { readState } from '../snapshot/load.js';
import type { Snapshot } from '../snapshot/types.js';
import { writeFileAtomic } from '../system/atomic-write.js';
import { formatCommand, localRunner, spawnDetached, type CommandRunner } from '../system/exec.js';
import { assertInsideRoot } from '../system/root-path.js';
import { unifiedDiff } from './diff.js';
import type { FixFlagValues } from './flags.js';
import { captureFile, missingDirectories, newEntryId, runReloads, saveEntry, undoEntry, withJournalLock, type JournalEntry } from './journal.js';
import { checkLockout, sshPeerFromEnv } from './lockout.js';
import { refuseSymlinkTarget, underRoot, type FileChange, type FixContext, type FixPlan, type PlanBuilder } from './plan.js';
import { undoCommandProblem } from './undo-commands.js';
import { verifyChecks } from './verify.js';

export interface RunFixOptions {
  /** Tunnel interfaces for the doctor checks (--iface). */
  ifaces?: string[];
  runner?: CommandRunner;
  /** Where lines go (the command's stdout). */
  print?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Thrown when a fix was refused or rolled back: exit 1 with the evidence already printed. */
export class FixFailedError extends NetmendError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.findings, hint });
    this.name = 'FixFailedError';
  }
}

/** A fix stopped by SIGINT/SIGTERM and rolled back: the shell's 128 + signal number (130, 143). */
export class FixInterruptedError extends NetmendError {
  readonly signal: NodeJS.Signals;
  constructor(signal: NodeJS.Signals, message: string) {
    // 130/143 are not among the exit codes a finding can have; they are what a shell reports for a signal.
    super(message, { exitCode: (128 + constants.signals[signal]) as ExitCodeValue });
    this.name = 'FixInterruptedError';
    this.signal = signal;
  }
}

/**
 * SIGINT/SIGTERM while a fix applies. The step in progress (a file written atomically, one live
 * command) is finished, not torn; then everything is rolled back through the journal. Waits
 * that only read (the settle before verification, DNS queries) end at once through `aborted`.
 * Further signals during the rollback are acknowledged and ignored: stopping half way through
 * the rollback would leave exactly the half-done state it exists to prevent.
 */
class Interruption {
  signal?: NodeJS.Signals;
  private readonly controller = new AbortController();
  private readonly handler = (signal: NodeJS.Signals) => {
    if (this.signal) {
      process.stderr.write(`netmend: ${signal}: still rolling back, please wait\n`);
      return;
    }
    this.signal = signal;
    process.stderr.write(`netmend: ${signal}: stopping; the fix in progress is rolled back\n`);
    this.controller.abort();
  };

  private readonly release: () => void;

  constructor() {
    // The general exit-on-signal handler would end the process half way through the rollback.
    exitOnSignals();
    this.release = takeOverSignals(this.handler);
  }

  get aborted(): AbortSignal {
    return this.controller.signal;
  }

  /** Throws when a signal came in, so the apply stops before its next step. */
  check(): void {
    if (this.signal) throw new FixInterruptedError(this.signal, `interrupted by ${this.signal}`);
  }

  /** A read-only wait that a signal cuts short. */
  async race<T>(work: Promise<T>): Promise<T> {
    this.check();
    let onAbort = () => {};
    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => reject(new FixInterruptedError(this.signal!, `interrupted by ${this.signal}`));
      this.aborted.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([work, stopped]);
    } finally {
      // Once the work is done, a later signal must not reject a promise nobody waits for.
      this.aborted.removeEventListener('abort', onAbort);
    }
  }

  dispose(): void {
    this.release();
  }
}

interface PendingFile {
  change: FileChange;
  realPath: string;
  before: string | null;
}

function readCurrent(realPath: string): string | null {
  try {
    return readFileSync(realPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new InputError(`cannot read ${realPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/**
 * Files whose content would change, after refusing (exit 2, nothing changed) symlinked targets
 * and targets that do not parse.
 */
function pendingFiles(plan: FixPlan, root: string): PendingFile[] {
  const pending: PendingFile[] = [];
  for (const change of plan.files) {
    // The same rules as for paths read back from the journal: what undo will refuse is never written.
    assertInsideRoot(root, change.path);
    const realPath = underRoot(root, change.path);
    refuseSymlinkTarget(realPath);
    const before = readCurrent(realPath);
    if (before !== null && change.parseExisting) change.parseExisting(before, realPath);
    if (before === change.content) continue;
    pending.push({ change, realPath, before });
  }
  return pending;
}

/**
 * A planner bug, caught before anything is journalled: an undo step or reload that `fix undo`
 * would refuse to run (src/fix/undo-commands.ts) would leave a change nothing can take back.
 */
function refuseUndoThatUndoRefuses(plan: FixPlan): void {
  for (const command of [...plan.live.flatMap((step) => step.undo), ...plan.reloads]) {
    const problem = undoCommandProblem(command);
    if (problem) throw new Error(`fix ${plan.fix} plans a step that undo would refuse: ${problem}`);
  }
}

export function formatPlan(plan: FixPlan, pending: PendingFile[]): string[] {
  const lines: string[] = [`fix ${plan.fix} (${plan.method}): ${plan.summary}`];
  if (pending.length === 0 && plan.live.length === 0) {
    lines.push('nothing to do: the fix is already in place');
    return lines;
  }
  for (const file of pending) {
    lines.push('', `file ${file.realPath}: ${file.change.reason}`);
    const diff = unifiedDiff(file.change.path, file.before, file.change.content).trimEnd();
    lines.push(...diff.split('\n'));
  }
  if (plan.live.length > 0) {
    lines.push('', 'live changes:');
    for (const step of plan.live) lines.push(`  # ${step.description}`, `  ${formatCommand(step.command[0], step.command.slice(1))}`);
  }
  if (plan.reloads.length > 0) {
    lines.push('', 'then:');
    for (const command of plan.reloads) lines.push(`  ${formatCommand(command[0], command.slice(1))}`);
  }
  for (const warning of plan.warnings) lines.push(`warning: ${warning}`);
  return lines;
}

const VERIFY_SETTLE_MS = 1000;

async function liveSnapshot(flags: FixFlagValues): Promise<Snapshot> {
  return readState({ source: flags.source });
}

/** Records the confirm deadline, then starts the detached watchdog that rolls back at it. */
async function armWatchdog(root: string, entry: JournalEntry, seconds: number): Promise<void> {
  const deadline = new Date(Date.now() + seconds * 1000).toISOString();
  entry.confirm = { deadline, confirmed: false };
  saveEntry(root, entry);
  const args = [process.argv[1], 'fix', 'watchdog', entry.id, '--timeout', String(seconds)];
  if (root) args.push('--root', root);
  entry.confirm.watchdogPid = await spawnDetached(process.execPath, args);
  saveEntry(root, entry);
}

/**
 * The whole fix flow. Returns normally on success (exit 0); throws InputError (2),
 * NeedsRootError (4), FixFailedError (1) as the rules say.
 */
export async function runFix(flags: FixFlagValues, build: PlanBuilder, options: RunFixOptions = {}): Promise<void> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const env = options.env ?? process.env;
  const apply = flags.apply || flags.yes;
  if (apply && !isRoot()) throw new NeedsRootError('applying a fix');
  if (apply && flags.snapshot) throw new InputError('--snapshot plans against a saved state; --apply changes the live host', 'drop --snapshot to apply');
  const root = flags.root;
  const runner = options.runner ?? localRunner;
  const peer = sshPeerFromEnv(env);
  const snapshot = flags.snapshot ? await readState({ snapshotFile: flags.snapshot }) : await liveSnapshot(flags);
  const context: FixContext = { root, runner, snapshot, method: (flags as { method?: string }).method ?? 'auto', live: flags.live, force: flags.force, sshPeer: peer };
  const plan = await build(context);
  refuseUndoThatUndoRefuses(plan);
  const pending = pendingFiles(plan, root);
  for (const line of formatPlan(plan, pending)) print(line);
  if (pending.length === 0 && plan.live.length === 0) return;
  if (!apply) {
    print(''); print('plan only: nothing changed. Run again with --apply to make these changes.');
    return;
  }

  if (peer && plan.live.length > 0) {
    const verdict = await checkLockout(snapshot, plan.live, peer);
    if (verdict.evidence.length > 0) {
      print(''); print('SSH lockout check:');
      for (const line of verdict.evidence) print(`  ${line}`);
    }
    if (verdict.refusal) {
      if (!flags.force) throw new FixFailedError(`refusing: ${verdict.refusal}; nothing changed`, 'run it from a console, or add --force if you accept losing this session');
      print(`warning: --force: ${verdict.refusal}`);
    }
  }

  await withJournalLock(root, () => applyPlan(plan, pending, flags, runner, print, peer, options.ifaces ?? []));
}

async function applyPlan(plan: FixPlan, pending: PendingFile[], flags: FixFlagValues, runner: CommandRunner, print: (line: string) => void,
  peer: ReturnType<typeof sshPeerFromEnv>, ifaces: string[]): Promise<void> {
  const interruption = new Interruption();
  try {
    await applyJournalled(plan, pending, flags, runner, print, peer, ifaces, interruption);
  } finally {
    interruption.dispose();
  }
}

async function applyJournalled(plan: FixPlan, pending: PendingFile[], flags: FixFlagValues, runner: CommandRunner, print: (line: string) => void,
  peer: ReturnType<typeof sshPeerFromEnv>, ifaces: string[], interruption: Interruption): Promise<void> {
  const root = flags.root;
  const createdDirs = [...new Set(pending.flatMap((file) => missingDirectories(root, file.change.path)))];
  const entry: JournalEntry = {
    id: newEntryId(root, plan.fix),
    fix: plan.fix,
    method: plan.method,
    summary: plan.summary,
    createdAt: new Date().toISOString(),
    argv: process.argv.slice(2),
    state: 'applying',
    files: pending.map((file) => captureFile(root, file.change.path)),
    createdDirs,
    live: plan.live.map((step) => ({ description: step.description, command: [...step.command], undo: step.undo.map((command) => [...command]), done: false })),
    reloads: plan.reloads.map((command) => [...command]),
  };
  saveEntry(root, entry);

  const rollBack = async (because: string): Promise<void> => {
    const report = await undoEntry(root, entry, runner, because);
    for (const problem of report.problems) print(`rollback problem: ${problem}`);
    for (const warning of report.warnings) print(`warning: ${warning}`);
  };
  const interrupted = async (): Promise<never> => {
    const signal = interruption.signal!;
    await rollBack(`interrupted by ${signal}`);
    throw new FixInterruptedError(signal, `${signal}: fix ${plan.fix} stopped and rolled back (journal ${entry.id})`);
  };

  try {
    for (const [index, file] of pending.entries()) {
      interruption.check();
      mkdirSync(dirname(file.realPath), { recursive: true });
      entry.files[index].written = true;
      saveEntry(root, entry);
      if (file.change.content === null) {
        const { unlinkSync } = await import('node:fs');
        unlinkSync(file.realPath);
      } else {
        writeFileAtomic(file.realPath, file.change.content, { mode: file.change.mode });
      }
    }
    for (const [index, step] of plan.live.entries()) {
      interruption.check();
      // Marked done before running: a half-applied step is undone too (its undo tolerates absence).
      entry.live[index].done = true;
      saveEntry(root, entry);
      // Out of reach of the terminal's Ctrl-C: this process hears it and rolls back once the step is whole.
      await runner.run(step.command[0], step.command.slice(1), { ownProcessGroup: true });
    }
  } catch (error) {
    // A Ctrl-C reaches the running command too: its failure is the interruption, not a bad fix.
    if (interruption.signal) return interrupted();
    await rollBack('apply failed');
    if (error instanceof NetmendError) throw new FixFailedError(`${error.message}; everything was rolled back`, error.hint);
    throw error;
  }
  const reloads = await runReloads(runner, plan.reloads);
  for (const warning of reloads.warnings) print(`warning: ${warning}`);
  if (interruption.signal) return interrupted();

  if (flags.live && (plan.verify.length > 0 || plan.verifyAsync)) {
    let outcome: { ok: boolean; report: string[] };
    try {
      outcome = await interruption.race((async () => {
        // A daemon that fights the change (re-adding an address, a rule) does so within moments:
        // read the state only after it has had the chance, so the verdict is not a lucky snapshot.
        await sleep(VERIFY_SETTLE_MS, undefined, { signal: interruption.aborted });
        const result = plan.verify.length > 0 ? await verifyChecks(plan.verify, await liveSnapshot(flags), ifaces, flags.root || '/') : { ok: true, report: [] };
        if (plan.verifyAsync) {
          const extra = await plan.verifyAsync(interruption.aborted);
          result.ok &&= extra.ok;
          result.report.push(...extra.report);
        }
        return result;
      })());
    } catch (error) {
      if (interruption.signal) return interrupted();
      throw error;
    }
    print(''); print('verification:');
    for (const line of outcome.report) print(`  ${line}`);
    if (!outcome.ok) {
      await rollBack('verification failed');
      throw new FixFailedError(`fix ${plan.fix} did not remove the finding; rolled back (journal ${entry.id})`, 'see the evidence above');
    }
  } else if (!flags.live) {
    print(''); print('verification skipped: --no-live changed only the persistent configuration');
  }
  if (interruption.signal) return interrupted();

  entry.state = 'applied';
  saveEntry(root, entry);
  print(''); print(`applied: journal ${entry.id}; undo with \`netmend fix undo ${entry.id}\``);
  if (peer && plan.live.length > 0) {
    const seconds = flags['confirm-timeout'];
    await armWatchdog(root, entry, seconds);
    print(`over SSH: the change rolls back in ${seconds} s unless you run \`netmend fix confirm${root ? ` --root ${root}` : ''}\``);
  }
  if (interruption.signal) {
    // The fix was complete and journalled when the signal came: it stays, and says how to undo it.
    throw new FixInterruptedError(interruption.signal, `${interruption.signal} after fix ${plan.fix} was applied; it stays (undo with \`netmend fix undo ${entry.id}\`)`);
  }
}
