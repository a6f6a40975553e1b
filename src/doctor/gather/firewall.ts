/**
 * The firewall for the forward checks: a snapshot read live has none, so it is read here through
 * the same runner (local or ssh) `path explain` uses; a saved version 2 snapshot already holds it.
 */
import { readFirewall } from '../../netfilter/read.js';
import type { CommandRunner } from '../../system/exec.js';
import type { HostState } from '../types.js';

export const FIREWALL_GATHERER = 'firewall';

export async function gatherFirewall(state: HostState, runner: CommandRunner | undefined): Promise<void> {
  if (state.snapshot.firewall) return;
  if (!runner) throw new Error(state.snapshot.version === 1 ? 'firewall unknown: a version 1 snapshot (take a new one with `netmend snapshot --out FILE`)' : 'firewall unknown: the snapshot was taken without it');
  state.snapshot.firewall = await readFirewall(runner);
}
