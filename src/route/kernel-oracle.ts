/**
 * The kernel's own answer (`ip -json route get`) in the simulator's terms, and the comparison
 * of the two on what the kernel decides: result type or error, device, gateway and table. Used by
 * the differential test; kept here so anything that wants to cross-check a simulated decision
 * against a live kernel reads `ip route get` the same way.
 */
import { canonicalAddress } from '../net/address.js';
import { TABLE_IDS, type Family } from '../snapshot/types.js';
import type { RouteErrorName, RouteQuery, RouteResult } from './types.js';

const ERRNO_BY_MESSAGE: Record<string, RouteErrorName> = {
  'Network is unreachable': 'ENETUNREACH',
  'No route to host': 'EHOSTUNREACH',
  'Permission denied': 'EACCES',
  'Invalid argument': 'EINVAL',
  'Invalid cross-device link': 'EXDEV',
};

/**
 * The `ip route get` arguments for a query (without `ip -n NS -json`). A zone (fe80::1%eth0)
 * becomes `oif eth0`, which is what a socket bound to that scope asks the kernel.
 */
export function ipRouteGetArgs(family: Family, query: RouteQuery): string[] {
  const [destination, zone] = query.destination.split('%');
  const args = [`-${family}`, 'route', 'get', destination];
  if (zone) args.push('oif', zone);
  if (query.from) args.push('from', query.from);
  if (query.iif) args.push('iif', query.iif);
  if (query.mark !== undefined) args.push('mark', String(query.mark));
  return args;
}

function tableId(value: unknown): number {
  if (value === undefined || value === null) return TABLE_IDS.main;
  if (typeof value === 'number') return value;
  const text = String(value);
  return TABLE_IDS[text] ?? Number(text);
}

/**
 * `ip -json route get` output (or its error) as a RouteResult. Returns undefined with a reason
 * when the output is neither a route nor a known error. With `ip -d` (details) the table is
 * always printed, so a missing table means the kernel consulted none (0.0.0.0, multicast or
 * broadcast from a given source, input broadcasts); without it a missing table is main.
 */
export function parseIpRouteGet(stdout: string, stderr: string, exitCode: number, options: { details?: boolean } = {}): RouteResult | { unparsed: string } {
  if (exitCode !== 0) {
    const message = /RTNETLINK answers: (.+)/.exec(stderr)?.[1]?.trim();
    const error = message ? ERRNO_BY_MESSAGE[message] : undefined;
    return error ? { type: 'error', error } : { unparsed: stderr.trim() || `exit ${exitCode}` };
  }
  let items: Array<Record<string, unknown>>;
  try {
    items = JSON.parse(stdout);
  } catch {
    return { unparsed: stdout.trim() };
  }
  const item = items[0];
  if (!item) return { unparsed: 'empty answer' };
  const result: RouteResult = { type: (item.type as RouteResult['type']) ?? 'unicast' };
  if (item.table !== undefined || !options.details) result.table = tableId(item.table);
  if (typeof item.dev === 'string') result.dev = item.dev;
  if (typeof item.gateway === 'string') result.gateway = canonicalAddress(item.gateway) ?? item.gateway;
  if (typeof item.prefsrc === 'string') result.prefsrc = item.prefsrc;
  return result;
}

export interface CompareContext {
  family: Family;
  /**
   * Whether the IPv4 rule list is the kernel's default one. Without custom rules the kernel keeps
   * tables local and main merged in one trie and reports local routes as table main.
   */
  defaultRules4: boolean;
  /** Compare the source address too (locally generated queries without --from). */
  source?: boolean;
}

/** The fields on which simulation and kernel disagree; empty when they agree. */
export function disagreements(simulated: RouteResult, kernel: RouteResult, context: CompareContext): string[] {
  const out: string[] = [];
  if (simulated.type === 'error' || kernel.type === 'error') {
    if (simulated.type !== kernel.type || simulated.error !== kernel.error) {
      out.push(`result: simulated ${simulated.error ?? simulated.type}, kernel ${kernel.error ?? kernel.type}`);
    }
    return out;
  }
  if (simulated.type !== kernel.type) out.push(`type: simulated ${simulated.type}, kernel ${kernel.type}`);
  if ((simulated.dev ?? null) !== (kernel.dev ?? null)) out.push(`dev: simulated ${simulated.dev}, kernel ${kernel.dev}`);
  const simulatedGateway = simulated.gateway ? canonicalAddress(simulated.gateway) : undefined;
  if ((simulatedGateway ?? null) !== (kernel.gateway ?? null)) out.push(`gateway: simulated ${simulated.gateway}, kernel ${kernel.gateway}`);
  const mergedLocal = context.family === 4 && context.defaultRules4 && simulated.table === TABLE_IDS.local && kernel.table === TABLE_IDS.main;
  if (simulated.table !== kernel.table && !mergedLocal) out.push(`table: simulated ${simulated.table}, kernel ${kernel.table}`);
  if (context.source && (simulated.prefsrc ? canonicalAddress(simulated.prefsrc) : null) !== (kernel.prefsrc ? canonicalAddress(kernel.prefsrc) : null)) {
    out.push(`src: simulated ${simulated.prefsrc}, kernel ${kernel.prefsrc}`);
  }
  return out;
}
