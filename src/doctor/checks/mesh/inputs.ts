/**
 * What the mesh checks share: a gatherer's facts or the skip saying why they are missing (tool
 * not installed, not readable), and for Tailscale which CLI output is missing and why (daemon
 * not answering, not logged in).
 */
import type { TailscaleStatus } from '../../../tailscale/json.js';
import { MESH_TAILSCALE_GATHERER, type MeshTailscaleFacts } from '../../gather/mesh-tailscale.js';
import { isMeshLink } from '../../analysis.js';
import { skip, skipWithoutMesh } from '../../result.js';
import type { Check, CheckResult, HostState } from '../../types.js';

/** How the local runner and the gatherers say a program is missing (exec.ts, mesh-tailscale.ts, wireguard.ts). */
const NOT_INSTALLED = /^`[\w.-]+` is not installed\b/;

export interface TailscaleInput {
  facts: MeshTailscaleFacts;
  status: TailscaleStatus;
}

/** No tunnel interface at all (tun/wireguard kind or a known mesh name): no mesh VPN on this host. */
export function hostWithoutMesh(state: HostState): boolean {
  return !state.snapshot.links.some((link) => isMeshLink(link, []));
}

/**
 * A gatherer's facts, or the skip result that gives its reason. A mesh tool that is not
 * installed on a host without any tunnel only means there is no mesh here: the routes checks'
 * skip, which the report prints once, not the same "`tailscale` is not installed" per check.
 */
export function gatheredFacts<T>(check: Pick<Check, 'id'>, state: HostState, gatherer: string, what: string): T | CheckResult {
  const gatherError = state.gatherErrors[gatherer];
  if (gatherError && NOT_INSTALLED.test(gatherError) && hostWithoutMesh(state)) return skipWithoutMesh(check);
  if (gatherError) return skip(check, gatherError);
  const facts = state.facts[gatherer] as T | undefined;
  return facts ?? skip(check, `${what} was not read`);
}

export function isSkip<T extends object>(input: T | CheckResult): input is CheckResult {
  return 'status' in input && typeof input.status === 'string';
}

/** The facts, or a skip result. `running`: the check only means something on a connected node. */
export function tailscaleInput(check: Pick<Check, 'id'>, state: HostState, options: { running: boolean }): TailscaleInput | CheckResult {
  const facts = gatheredFacts<MeshTailscaleFacts>(check, state, MESH_TAILSCALE_GATHERER, 'Tailscale state');
  if (isSkip(facts)) return facts;
  const status = facts.status.value;
  if (!status) return skip(check, `tailscaled did not answer \`${facts.status.command}\` (see mesh.daemon)`);
  if (options.running && status.BackendState !== 'Running') return skip(check, `Tailscale is not connected (BackendState ${status.BackendState ?? 'absent'}; see mesh.daemon)`);
  return { facts, status };
}

/** The skip when this client's status lacks a field older clients do not report: names the version. */
export function skipOlderClient(check: Pick<Check, 'id'>, status: TailscaleStatus, question: string, missing: string): CheckResult {
  return skip(check, `cannot tell${question ? ` ${question}` : ''}: tailscale ${status.Version ?? '(version unknown)'} ${missing}`);
}

export function formatDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
