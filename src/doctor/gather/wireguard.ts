/**
 * WireGuard state for mesh.wg-handshake: `wg show IFACE dump` (kernel WireGuard, wireguard-go and
 * the netmend node alike), or, where wg(8) is missing on this host, the UAPI sockets in
 * /var/run/wireguard read directly. When a peer's last handshake is stale, a second dump a few
 * seconds later shows whether packets are still being sent to it (a dead tunnel) or it is just
 * idle. Userspace sockets are shared by every network namespace, so only interfaces that are
 * links of the diagnosed host count.
 */
import { CheckCouldNotRunError } from '../../errors.js';
import type { CommandRunner } from '../../system/exec.js';
import { fromUapiStatus, parseWgDump, type WgInterface } from '../../wireguard/dump.js';
import type { HostState } from '../types.js';

export const WIREGUARD_GATHERER = 'wireguard';

/** WireGuard's REJECT_AFTER_TIME: a session older than this carries no traffic. */
export const HANDSHAKE_STALE_SECONDS = 180;
/** Long enough for one handshake retry (REKEY_TIMEOUT 5 s + jitter) to show in the counters. */
export const RESAMPLE_MS = 6000;

export interface WireguardSample {
  /** ms since the epoch */
  at: number;
  interfaces: WgInterface[];
}

export interface WireguardFacts {
  /** The command (or socket directory) the state came from. */
  source: string;
  first: WireguardSample;
  /** Taken RESAMPLE_MS later, only when a peer with an endpoint had a stale handshake. */
  second?: WireguardSample;
  /** Interfaces wg could not read, with its message. */
  unreadable: string[];
}

export function hasStalePeer(sample: WireguardSample): boolean {
  const nowSeconds = sample.at / 1000;
  return sample.interfaces.some((iface) => iface.peers.some((peer) => peer.endpoint && peer.latestHandshake > 0 && nowSeconds - peer.latestHandshake > HANDSHAKE_STALE_SECONDS));
}

/** How long one interface's dump may take: a daemon that accepts but never answers is reported, not waited for. */
const DUMP_TIMEOUT_MS = 5000;

type Reading = { source: string; interfaces: WgInterface[]; unreadable: string[] };

async function readUapiSockets(state: HostState): Promise<Reading | undefined> {
  const { listInterfaces, readStatus } = await import('../../mesh/status.js');
  const names = onThisHost(state, listInterfaces());
  if (names.length === 0) return undefined;
  const reading: Reading = { source: 'UAPI sockets in /var/run/wireguard', interfaces: [], unreadable: [] };
  for (const name of names) {
    try {
      reading.interfaces.push(fromUapiStatus(await readStatus(name)));
    } catch (error) {
      // A stale socket of a stopped daemon refuses; one that accepts and stays silent is worth saying.
      if (error instanceof CheckCouldNotRunError && /did not answer/.test(error.message)) reading.unreadable.push(`Unable to access interface ${name}: ${error.message}`);
    }
  }
  return reading;
}

/**
 * `wg show interfaces`, then `wg show IFACE dump` for each of this host's interfaces, in parallel:
 * `wg show all dump` would wait on every userspace daemon of every namespace (their sockets share
 * /var/run/wireguard), so one stopped daemon elsewhere hung the whole read.
 */
async function readOnce(runner: CommandRunner, state: HostState): Promise<Reading> {
  let listed;
  try {
    listed = await runner.run('wg', ['show', 'interfaces'], { allowFailure: true, timeoutMs: 10_000 });
  } catch (error) {
    if (runner.where === 'local' && error instanceof CheckCouldNotRunError && /is not installed/.test(error.message)) {
      const reading = await readUapiSockets(state);
      if (reading) return reading;
      throw new Error('`wg` is not installed and no WireGuard control socket is in /var/run/wireguard');
    }
    throw error;
  }
  if (listed.exitCode === 127) throw new Error(`\`wg\` is not installed on ${runner.where}`);
  if (listed.exitCode !== 0) {
    const message = listed.stderr.trim().split('\n')[0] || `exit code ${listed.exitCode}`;
    if (/Permission denied|Operation not permitted/.test(message)) throw new Error(`reading WireGuard state needs root (\`${listed.command}\`: ${message})`);
    throw new Error(`\`${listed.command}\` failed: ${message}`);
  }
  const names = onThisHost(state, listed.stdout.split(/\s+/).filter(Boolean));
  const reading: Reading = { source: 'wg show IFACE dump', interfaces: [], unreadable: [] };
  const dumps = await Promise.all(names.map(async (name) => {
    try {
      return { name, result: await runner.run('wg', ['show', name, 'dump'], { allowFailure: true, timeoutMs: DUMP_TIMEOUT_MS }) };
    } catch (error) {
      if (error instanceof CheckCouldNotRunError) return { name, problem: `Unable to access interface ${name}: ${error.message} (its daemon is stopped or wedged)` };
      throw error;
    }
  }));
  for (const dump of dumps) {
    if ('problem' in dump) {
      reading.unreadable.push(dump.problem!);
      continue;
    }
    const { result, name } = dump;
    if (result.exitCode !== 0) {
      reading.unreadable.push(result.stderr.trim().split('\n')[0] || `Unable to access interface ${name}: exit code ${result.exitCode}`);
      continue;
    }
    // One interface's dump prints no name column on its first line and none on the peers' lines.
    const withName = result.stdout.split('\n').filter(Boolean).map((line) => `${name}\t${line}`).join('\n');
    reading.interfaces.push(...parseWgDump(withName));
  }
  return reading;
}

/** The names that are links of the diagnosed host (all of them when its links are unknown). */
function onThisHost(state: HostState, names: string[]): string[] {
  const links = new Set(state.snapshot.links.map((link) => link.name));
  return links.size === 0 ? names : names.filter((name) => links.has(name));
}

export async function gatherWireguard(state: HostState, runner: CommandRunner | undefined, resampleMs = RESAMPLE_MS): Promise<void> {
  if (!runner) throw new Error('WireGuard state is not part of a saved snapshot');
  const first = await readOnce(runner, state);
  const facts: WireguardFacts = { source: first.source, first: { at: Date.now(), interfaces: first.interfaces }, unreadable: first.unreadable };
  if (hasStalePeer(facts.first)) {
    await new Promise((resolve) => setTimeout(resolve, resampleMs));
    facts.second = { at: Date.now(), interfaces: (await readOnce(runner, state)).interfaces };
  }
  state.facts[WIREGUARD_GATHERER] = facts;
}
