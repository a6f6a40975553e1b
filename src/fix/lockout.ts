/**
 * Lockout safety: before a live change, simulate the routing after it for the SSH client's
 * address (SSH_CONNECTION) and refuse when the reply path would change. The route simulator is
 * loaded lazily; without it the check cannot run, which is reported rather than guessed.
 */
import { CheckCouldNotRunError } from '../errors.js';
import type { RouteDecision, RouteQuery } from '../route/types.js';
import type { Snapshot } from '../snapshot/types.js';
import { cloneSnapshot, type LiveStep } from './plan.js';

export interface SshPeer {
  clientAddress: string;
  serverAddress: string;
}

/** SSH_CONNECTION is "client-ip client-port server-ip server-port". */
export function sshPeerFromEnv(env: NodeJS.ProcessEnv = process.env): SshPeer | undefined {
  const parts = env.SSH_CONNECTION?.trim().split(/\s+/);
  if (!parts || parts.length < 4) return undefined;
  const strip = (address: string) => address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  return { clientAddress: strip(parts[0]), serverAddress: strip(parts[2]) };
}

type Simulate = (snapshot: Snapshot, query: RouteQuery) => RouteDecision;

async function loadSimulator(): Promise<Simulate> {
  // A variable specifier: the simulator is another engineer's module, loaded only on this path.
  const specifier = '../route/simulate.js';
  try {
    const module = (await import(specifier)) as { simulateRoute?: Simulate };
    if (typeof module.simulateRoute === 'function') return module.simulateRoute;
  } catch { /* reported below */ }
  throw new CheckCouldNotRunError('cannot check that the SSH session keeps its route: the route simulator is unavailable', 'rerun with --force if you have console access');
}

function describe(decision: RouteDecision): string {
  const r = decision.result;
  if (r.type === 'error') return `error ${r.error ?? ''}`.trim();
  return [r.type, r.dev && `dev ${r.dev}`, r.gateway && `via ${r.gateway}`, r.table !== undefined && `table ${r.table}`].filter(Boolean).join(' ');
}

function pathKey(decision: RouteDecision): string {
  const r = decision.result;
  return `${r.type}|${r.error ?? ''}|${r.dev ?? ''}|${r.gateway ?? ''}`;
}

/**
 * The links an SSH session depends on: the one holding the address the client connected to, and
 * the one the replies to the client leave by (the kernel's decision, simulated).
 */
export async function sshSessionLinks(snapshot: Snapshot, peer: SshPeer): Promise<string[]> {
  const links = new Set<string>();
  const arrivedOn = snapshot.addresses.find((address) => address.local === peer.serverAddress)?.dev;
  if (arrivedOn && arrivedOn !== 'lo') links.add(arrivedOn);
  const simulate = await loadSimulator();
  const replies = simulate(snapshot, { destination: peer.clientAddress, from: peer.serverAddress }).result;
  if (replies.type === 'unicast' && replies.dev) links.add(replies.dev);
  return [...links];
}

export interface LockoutVerdict {
  /** Set when the change would move or lose the route back to the SSH client. */
  refusal?: string;
  evidence: string[];
}

/** Compares the route to the SSH client before and after the live steps. */
export async function checkLockout(snapshot: Snapshot, steps: LiveStep[], peer: SshPeer): Promise<LockoutVerdict> {
  const relevant = steps.filter((step) => step.simulate);
  if (relevant.length === 0) return { evidence: [] };
  const simulate = await loadSimulator();
  const after = cloneSnapshot(snapshot);
  for (const step of relevant) step.simulate!(after);
  const query: RouteQuery = { destination: peer.clientAddress, from: peer.serverAddress };
  const before = simulate(snapshot, query);
  const then = simulate(after, query);
  const evidence = [
    `SSH client ${peer.clientAddress} (SSH_CONNECTION), reply from ${peer.serverAddress}`,
    `now:   ${describe(before)}`,
    `after: ${describe(then)}`,
  ];
  if (before.result.type === 'error' || pathKey(before) === pathKey(then)) return { evidence };
  // Replies moving onto the very link the session arrived on (the one holding the address the
  // client connected to) keep the session: the LAN admin whose replies hairpinned through the
  // mesh now gets them directly.
  const arrivedOn = snapshot.addresses.find((address) => address.local === peer.serverAddress)?.dev;
  if (arrivedOn && arrivedOn !== 'lo' && then.result.type === 'unicast' && then.result.dev === arrivedOn) {
    evidence.push(`allowed: replies move onto ${arrivedOn}, the link that holds ${peer.serverAddress}`);
    return { evidence };
  }
  return { refusal: `the change would move the route to your SSH client ${peer.clientAddress} (${describe(before)} -> ${describe(then)})`, evidence };
}
