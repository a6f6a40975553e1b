/**
 * Tailscale's own view of this node, where the tailscale CLI exists: what it advertises
 * (`tailscale debug prefs`) and its backend state (`tailscale status --json`). Hosts without
 * Tailscale simply have no facts here; the checks then fall back to what the kernel shows.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { CommandRunner } from '../../system/exec.js';
import type { HostState } from '../types.js';

export interface TailscalePrefs {
  AdvertiseRoutes?: string[] | null;
  RouteAll?: boolean;
  ExitNodeID?: string;
  ExitNodeAllowLANAccess?: boolean;
  NetfilterMode?: number;
  CorpDNS?: boolean;
  WantRunning?: boolean;
}

export interface TailscaleFacts {
  prefs: TailscalePrefs;
  backendState?: string;
  /** The command the facts came from, for evidence. */
  source: string;
}

export const TAILSCALE_GATHERER = 'tailscale';

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

export async function gatherTailscale(state: HostState, runner: CommandRunner | undefined): Promise<void> {
  if (!runner) {
    state.gatherErrors[TAILSCALE_GATHERER] = 'mesh state is not part of a saved snapshot';
    return;
  }
  if (runner.where === 'local' && !localCliExists('tailscale')) {
    state.gatherErrors[TAILSCALE_GATHERER] = '`tailscale` is not installed';
    return;
  }
  try {
    const prefs = await runner.run('tailscale', ['debug', 'prefs'], { allowFailure: true, timeoutMs: 5000 });
    if (prefs.exitCode !== 0) {
      state.gatherErrors[TAILSCALE_GATHERER] = `\`${prefs.command}\` failed: ${prefs.stderr.trim().split('\n')[0] || `exit ${prefs.exitCode}`}`;
      return;
    }
    const facts: TailscaleFacts = { prefs: JSON.parse(prefs.stdout) as TailscalePrefs, source: prefs.command };
    const status = await runner.run('tailscale', ['status', '--json'], { allowFailure: true, timeoutMs: 5000 });
    try {
      facts.backendState = (JSON.parse(status.stdout) as { BackendState?: string }).BackendState;
    } catch { /* status is optional evidence */ }
    state.facts[TAILSCALE_GATHERER] = facts;
  } catch (error) {
    // Most hosts have no tailscale CLI: that is a fact about the host, not a failure.
    state.gatherErrors[TAILSCALE_GATHERER] = (error as Error).message.split('\n')[0];
  }
}
