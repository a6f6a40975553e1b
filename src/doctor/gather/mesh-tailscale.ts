/**
 * Tailscale's view of the mesh for the mesh.* checks: `tailscale status --json`, `tailscale debug
 * prefs`, `tailscale serve status --json`, and `tailscale netcheck --format=json` only when an
 * active peer is relayed (netcheck talks to DERP servers and takes seconds). Each output is kept
 * with the command that printed it or the reason it could not be read, so a check can say which
 * input it lacked. Certificates tailscaled cached for its DNS names are listed from its state
 * directory (under --root).
 */
import type { CommandRunner } from '../../system/exec.js';
import type { TailscaleNetcheck, TailscalePrefs, TailscaleServeConfig, TailscaleStatus } from '../../tailscale/json.js';
import type { HostState } from '../types.js';
import type { HostFiles } from './files.js';
import { localCliExists, NOT_INSTALLED, readTailscaleJson, readTailscalePrefs, readTailscaleStatus, type TailscaleOutput } from './tailscale.js';

export const MESH_TAILSCALE_GATHERER = 'mesh-tailscale';

/** tailscaled's state directories: Debian/systemd (`--statedir` default) and OpenWrt's init script. */
export const TAILSCALE_CERT_DIRS = ['/var/lib/tailscale/certs', '/etc/tailscale/certs'];

export interface MeshTailscaleFacts {
  /** When the facts were read (ms since the epoch): expiry dates are judged against it. */
  now: number;
  status: TailscaleOutput<TailscaleStatus>;
  prefs: TailscaleOutput<TailscalePrefs>;
  /** value null: `serve status --json` printed null (no serve config at all). */
  serve: TailscaleOutput<TailscaleServeConfig | null>;
  /** Read only when an active peer has no direct path. */
  netcheck?: TailscaleOutput<TailscaleNetcheck>;
  /** Cached certificate files per state directory that exists. */
  certDirs: Array<{ dir: string; files: string[] }>;
}

/** Active peers without a direct address: the only case netcheck is worth its seconds for. */
export function hasRelayedActivePeer(status: TailscaleStatus | undefined): boolean {
  return Object.values(status?.Peer ?? {}).some((peer) => peer.Active === true && !peer.CurAddr);
}

export async function gatherMeshTailscale(state: HostState, runner: CommandRunner | undefined, files: HostFiles | undefined): Promise<void> {
  if (!runner) throw new Error('mesh state is not part of a saved snapshot');
  if (runner.where === 'local' && !localCliExists('tailscale')) throw new Error(`\`tailscale\` ${NOT_INSTALLED}`);
  const now = Date.now();
  const [status, prefs, serve] = await Promise.all([
    readTailscaleStatus(runner),
    readTailscalePrefs(runner),
    readTailscaleJson<TailscaleServeConfig | null>(runner, ['serve', 'status', '--json'], 10_000),
  ]);
  const facts: MeshTailscaleFacts = { now, status, prefs, serve, certDirs: [] };
  if (hasRelayedActivePeer(status.value)) facts.netcheck = await readTailscaleJson<TailscaleNetcheck>(runner, ['netcheck', '--format=json'], 30_000);
  for (const dir of TAILSCALE_CERT_DIRS) {
    const names = await files?.list(dir);
    if (names) facts.certDirs.push({ dir, files: names });
  }
  state.facts[MESH_TAILSCALE_GATHERER] = facts;
}
