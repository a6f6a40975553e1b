/**
 * mesh.nat-mapping's measurement: STUN Binding requests to the --stun servers from the mesh port
 * (an ephemeral port when the mesh daemon holds it). Only from the host netmend runs on: over
 * --ssh there is no way to send UDP from the remote host's socket.
 */
import { measureNatMapping, type NatMeasurement, type StunTarget } from '../../net/stun.js';
import type { CommandRunner } from '../../system/exec.js';
import { TAILSCALE_DEFAULT_PORT } from '../../tailscale/json.js';
import type { HostState } from '../types.js';

export const STUN_GATHERER = 'stun';

const STUN_TIMEOUT_MS = 3000;

export interface StunFacts {
  servers: StunTarget[];
  measurement?: NatMeasurement;
}

export async function gatherStun(state: HostState, runner: CommandRunner | undefined, servers: StunTarget[], meshPort = TAILSCALE_DEFAULT_PORT): Promise<void> {
  if (servers.length === 0) {
    state.facts[STUN_GATHERER] = { servers } satisfies StunFacts;
    return;
  }
  if (!runner) throw new Error('a saved snapshot cannot be measured: run the STUN test on the host itself');
  if (runner.where !== 'local') throw new Error(`STUN probes leave from this host's sockets: run \`netmend doctor mesh --stun ...\` on the host itself, not over ${runner.where}`);
  const measurement = await measureNatMapping(servers, { localPort: meshPort, timeoutMs: STUN_TIMEOUT_MS });
  state.facts[STUN_GATHERER] = { servers, measurement } satisfies StunFacts;
}
