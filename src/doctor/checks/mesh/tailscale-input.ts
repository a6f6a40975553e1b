/**
 * What the Tailscale mesh checks share: the gathered CLI outputs, or the skip that says which
 * of them is missing and why (not installed, daemon not answering, not logged in).
 */
import type { TailscaleStatus } from '../../../tailscale/json.js';
import { MESH_TAILSCALE_GATHERER, type MeshTailscaleFacts } from '../../gather/mesh-tailscale.js';
import { skip } from '../../result.js';
import type { Check, CheckResult, HostState } from '../../types.js';

export interface TailscaleInput {
  facts: MeshTailscaleFacts;
  status: TailscaleStatus;
}

/** The facts, or a skip result. `running`: the check only means something on a connected node. */
export function tailscaleInput(check: Pick<Check, 'id'>, state: HostState, options: { running: boolean }): TailscaleInput | CheckResult {
  const gatherError = state.gatherErrors[MESH_TAILSCALE_GATHERER];
  if (gatherError) return skip(check, gatherError);
  const facts = state.facts[MESH_TAILSCALE_GATHERER] as MeshTailscaleFacts | undefined;
  if (!facts) return skip(check, 'Tailscale state was not read');
  const status = facts.status.value;
  if (!status) return skip(check, `tailscaled did not answer \`${facts.status.command}\` (see mesh.daemon)`);
  if (options.running && status.BackendState !== 'Running') return skip(check, `Tailscale is not connected (BackendState ${status.BackendState ?? 'absent'}; see mesh.daemon)`);
  return { facts, status };
}

export function isSkip(input: TailscaleInput | CheckResult): input is CheckResult {
  return 'status' in input && typeof input.status === 'string';
}

export function formatDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
