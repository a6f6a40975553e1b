/**
 * WireGuard state for mesh.wg-handshake: `wg show all dump` (kernel WireGuard, wireguard-go and
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

async function readUapiSockets(): Promise<WgInterface[] | undefined> {
  const { listInterfaces, readStatus } = await import('../../mesh/status.js');
  const names = listInterfaces();
  if (names.length === 0) return undefined;
  const interfaces: WgInterface[] = [];
  for (const name of names) {
    try {
      interfaces.push(fromUapiStatus(await readStatus(name)));
    } catch { /* a stale socket of a stopped daemon */ }
  }
  return interfaces;
}

async function readOnce(runner: CommandRunner): Promise<{ source: string; interfaces: WgInterface[]; unreadable: string[] }> {
  let result;
  try {
    result = await runner.run('wg', ['show', 'all', 'dump'], { allowFailure: true, timeoutMs: 10_000 });
  } catch (error) {
    if (runner.where === 'local' && error instanceof CheckCouldNotRunError && /is not installed/.test(error.message)) {
      const interfaces = await readUapiSockets();
      if (interfaces) return { source: 'UAPI sockets in /var/run/wireguard', interfaces, unreadable: [] };
      throw new Error('`wg` is not installed and no WireGuard control socket is in /var/run/wireguard');
    }
    throw error;
  }
  if (result.exitCode === 127) throw new Error(`\`wg\` is not installed on ${runner.where}`);
  const unreadable = result.stderr.split('\n').map((line) => line.trim()).filter(Boolean);
  if (result.exitCode !== 0 && !result.stdout.trim()) {
    const message = unreadable[0] ?? `exit code ${result.exitCode}`;
    if (/Permission denied|Operation not permitted/.test(message)) throw new Error(`reading WireGuard state needs root (\`${result.command}\`: ${message})`);
    // No interface at all prints nothing and succeeds; an unreadable one is reported per interface.
    if (!/Unable to access interface/.test(message)) throw new Error(`\`${result.command}\` failed: ${message}`);
  }
  return { source: result.command, interfaces: parseWgDump(result.stdout), unreadable };
}

function linkNames(state: HostState): Set<string> {
  return new Set(state.snapshot.links.map((link) => link.name));
}

function onThisHost(state: HostState, interfaces: WgInterface[]): WgInterface[] {
  const links = linkNames(state);
  return links.size === 0 ? interfaces : interfaces.filter((iface) => links.has(iface.name));
}

/** "Unable to access interface wg0: Connection refused" lines about this host's links. */
function unreadableHere(state: HostState, lines: string[]): string[] {
  const links = linkNames(state);
  return lines.filter((line) => {
    const name = /interface ([^:\s]+)/.exec(line)?.[1];
    return links.size === 0 || name === undefined || links.has(name);
  });
}

export async function gatherWireguard(state: HostState, runner: CommandRunner | undefined, resampleMs = RESAMPLE_MS): Promise<void> {
  if (!runner) throw new Error('WireGuard state is not part of a saved snapshot');
  const first = await readOnce(runner);
  const facts: WireguardFacts = {
    source: first.source,
    first: { at: Date.now(), interfaces: onThisHost(state, first.interfaces) },
    unreadable: unreadableHere(state, first.unreadable),
  };
  if (hasStalePeer(facts.first)) {
    await new Promise((resolve) => setTimeout(resolve, resampleMs));
    const second = await readOnce(runner);
    facts.second = { at: Date.now(), interfaces: onThisHost(state, second.interfaces) };
  }
  state.facts[WIREGUARD_GATHERER] = facts;
}
