/**
 * The fix framework's contract. Every `netmend fix ...` command works the same way:
 *
 *   1. A fix *builds* a FixPlan from the current state (a Snapshot, files under --root) and
 *      changes nothing while doing so. A plan lists
 *        - file changes: a path as seen on the target system (e.g. /etc/systemd/network/x.network),
 *          the new content or null to delete it, and optionally a parser that must accept the
 *          file currently there (so a file we cannot read correctly is refused, exit 2, naming
 *          the line);
 *        - live steps: a command for the running kernel or a daemon, run through a CommandRunner,
 *          each with the commands that undo it and, when it changes routing, how it changes the
 *          snapshot (the lockout check simulates the routing after the change with it);
 *        - reloads: commands run after the files are written (and again after undo restores
 *          them), e.g. `networkctl reload`;
 *        - verification: the doctor check ids that must pass afterwards.
 *      A plan whose file changes equal what is already there and that has no live steps is empty:
 *      the fix is already in place ("nothing to do").
 *   2. `runFix()` in src/fix/apply.ts prints the plan (default) or, with --apply/--yes, checks
 *      root first, refuses a lockout, journals the exact prior bytes of every file, writes
 *      atomically, runs the live steps, re-runs the checks in-process and rolls everything back
 *      when they still fail. Over SSH it arms the confirm watchdog (`netmend fix confirm`).
 *   3. `netmend fix list` / `fix undo [ID]` read the journal (src/fix/journal.ts).
 *
 * To add a fix: write `buildXxxPlan(context): Promise<FixPlan>` next to link-local.ts, and a
 * command in commands/fix/ that spreads `fixFlags` (src/fix/flags.ts) and calls
 * `runFix(this, flags, buildXxxPlan)`. Nothing else: journal, undo, list, diff output, atomic
 * writes, root check, lockout and rollback come from the framework.
 */
import { lstatSync } from 'node:fs';
import { InputError } from '../errors.js';
import type { Snapshot } from '../snapshot/types.js';
import type { CommandRunner } from '../system/exec.js';
import type { SshPeer } from './lockout.js';

/** A command as argv: file first. Run through a CommandRunner, never a shell. */
export type Argv = readonly [string, ...string[]];

export interface FileChange {
  /** Absolute path on the target system; the framework puts it under --root. */
  path: string;
  /** New content, or null to delete the file. */
  content: string | null;
  /** Mode for a new file (an existing file keeps its own). */
  mode?: number;
  /** Why this file changes, one line. */
  reason: string;
  /**
   * Throws an InputError naming the line when the file currently at path does not parse, so
   * the fix refuses (exit 2, nothing changed) instead of editing what it cannot read.
   */
  parseExisting?: (text: string, displayPath: string) => void;
}

export interface LiveStep {
  /** One line: what this does, for the plan and the journal. */
  description: string;
  /** The command that makes the live change. */
  command: Argv;
  /** Commands that put back exactly what was there, run in order by undo and rollback. */
  undo: Argv[];
  /** Applies the step's effect to a copy of the snapshot, for the lockout simulation. */
  simulate?: (snapshot: Snapshot) => void;
}

export interface VerifySpec {
  /** Doctor check id, e.g. 'routes.tunnel-link-local'. */
  checkId: string;
  /**
   * Evidence lines when the fix's own result is still not visible in the snapshot; used when the
   * doctor check cannot be loaded, and always as a second opinion. Empty array = fixed.
   */
  stillBroken?: (snapshot: Snapshot) => string[];
}

export interface FixPlan {
  /** The fix's name as in `netmend fix NAME`. */
  fix: string;
  /** One line: what the fix will do on this host. */
  summary: string;
  /** The persistence method chosen (networkd, sysctl, uci). */
  method: string;
  files: FileChange[];
  live: LiveStep[];
  /** Run after files are written, and again after undo restores them; failures are warnings. */
  reloads: Argv[];
  verify: VerifySpec[];
  /**
   * Verification that needs more than a routing snapshot (DNS queries, a daemon's status): run
   * after the checks above, inside the same rollback, before the fix is marked applied and before
   * the SSH confirm watchdog is armed. It should stop waiting when `aborted` fires (SIGINT/SIGTERM:
   * the fix is being rolled back). Optional.
   */
  verifyAsync?: (aborted?: AbortSignal) => Promise<{ ok: boolean; report: string[] }>;
  /** Things the user should know (printed in the plan and after applying). */
  warnings: string[];
}

/** What a fix builder gets. */
export interface FixContext {
  /** Prefix for every file path ('' for the real root). */
  root: string;
  runner: CommandRunner;
  snapshot: Snapshot;
  /** --method value (auto unless given). */
  method: string;
  /** Whether to plan live changes (false with --no-live: persistent config only). */
  live: boolean;
  /** --force: the user accepts what a fix would otherwise refuse (each fix says what it allows). */
  force: boolean;
  /** The SSH session this runs in (SSH_CONNECTION), if any: its route is never a fix's to break. */
  sshPeer?: SshPeer;
}

export type PlanBuilder = (context: FixContext) => Promise<FixPlan>;

export { underRoot } from '../system/root-path.js';

/**
 * A fix never writes through a symlink (live or dangling): the link belongs to another program,
 * and the file it names may be anywhere. Exit 2 naming the path, nothing changed. The framework
 * checks every planned file; a builder that reads its own target first calls it before reading,
 * so a dangling link is refused rather than read.
 */
export function refuseSymlinkTarget(realPath: string): void {
  let isLink = false;
  try { isLink = lstatSync(realPath).isSymbolicLink(); } catch { /* absent */ }
  if (isLink) {
    throw new InputError(`${realPath} is a symlink (managed by another program); not writing through it`, 'configure the program that owns the link, or replace the link with a file yourself');
  }
}

export function emptyPlan(fix: string, summary: string, method: string): FixPlan {
  return { fix, summary, method, files: [], live: [], reloads: [], verify: [], warnings: [] };
}

/** A deep copy of a snapshot that a LiveStep.simulate may change freely. */
export function cloneSnapshot(snapshot: Snapshot): Snapshot {
  return structuredClone(snapshot);
}
