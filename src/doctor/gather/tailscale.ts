/**
 * Tailscale's own view of this node, where the tailscale CLI exists: what it advertises
 * (`tailscale debug prefs`) and its backend state (`tailscale status --json`). Hosts without
 * Tailscale simply have no facts here; the checks then fall back to what the kernel shows.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { CommandRunner, RunResult } from '../../system/exec.js';
import type { TailscalePrefs, TailscaleStatus } from '../../tailscale/json.js';
import type { HostState } from '../types.js';

export interface TailscaleFacts {
  prefs: TailscalePrefs;
  backendState?: string;
  /** The command the facts came from, for evidence. */
  source: string;
}

/** One JSON output of the tailscale CLI, with the command that printed it or why it could not be read. */
export interface TailscaleOutput<T> {
  command: string;
  value?: T;
  /** Why there is no value: the command's error, or "not JSON". */
  error?: string;
}

export const TAILSCALE_GATHERER = 'tailscale';

export const NOT_INSTALLED = 'is not installed';

/** Whether `tailscale` is on this host's PATH: saves starting a process (and loading execa) for nothing. */
export function localCliExists(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch { /* not here */ }
  }
  return false;
}

function firstLine(result: RunResult): string {
  return result.stderr.trim().split('\n').find((line) => !line.startsWith('# Warning')) || `exit code ${result.exitCode}`;
}

/** Runs `tailscale ARGS` and parses its JSON; throws when the CLI is missing on the host. */
export async function readTailscaleJson<T>(runner: CommandRunner, args: string[], timeoutMs: number): Promise<TailscaleOutput<T>> {
  const result = await runner.run('tailscale', args, { allowFailure: true, timeoutMs });
  // ssh reports a missing remote command as 127 ("command not found").
  if (result.exitCode === 127) throw new Error(`\`tailscale\` ${NOT_INSTALLED} on ${runner.where}`);
  if (result.exitCode !== 0) return { command: result.command, error: firstLine(result) };
  try {
    return { command: result.command, value: JSON.parse(result.stdout) as T };
  } catch {
    return { command: result.command, error: `printed no JSON: ${result.stdout.trim().split('\n')[0].slice(0, 80)}` };
  }
}

/** `tailscale status --json`: asked by several gatherers, run once per doctor run (sharingQueries in index.ts). */
export function readTailscaleStatus(runner: CommandRunner): Promise<TailscaleOutput<TailscaleStatus>> {
  return readTailscaleJson<TailscaleStatus>(runner, ['status', '--json'], 10_000);
}

/** `tailscale debug prefs`: likewise run once per doctor run. */
export function readTailscalePrefs(runner: CommandRunner): Promise<TailscaleOutput<TailscalePrefs>> {
  return readTailscaleJson<TailscalePrefs>(runner, ['debug', 'prefs'], 10_000);
}

export async function gatherTailscale(state: HostState, runner: CommandRunner | undefined): Promise<void> {
  if (!runner) {
    state.gatherErrors[TAILSCALE_GATHERER] = 'mesh state is not part of a saved snapshot';
    return;
  }
  if (runner.where === 'local' && !localCliExists('tailscale')) {
    state.gatherErrors[TAILSCALE_GATHERER] = `\`tailscale\` ${NOT_INSTALLED}`;
    return;
  }
  try {
    const [prefs, status] = await Promise.all([readTailscalePrefs(runner), readTailscaleStatus(runner)]);
    if (!prefs.value) {
      state.gatherErrors[TAILSCALE_GATHERER] = `\`${prefs.command}\` failed: ${prefs.error}`;
      return;
    }
    // status is optional evidence: the prefs alone say what this node advertises.
    state.facts[TAILSCALE_GATHERER] = { prefs: prefs.value, backendState: status.value?.BackendState, source: prefs.command } satisfies TailscaleFacts;
  } catch (error) {
    // Most hosts have no tailscale CLI: that is a fact about the host, not a failure.
    state.gatherErrors[TAILSCALE_GATHERER] = (error as Error).message.split('\n')[0];
  }
}
