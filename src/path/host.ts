/**
 * The host facts netfilter expressions need, answered from the snapshot: `fib` lookups through the
 * route simulator (K: nft_fib4_eval / nft_fib6_eval), masquerade's source address (K:
 * nf_nat_masquerade.c → inet_select_addr: the first primary address of the out interface whose
 * subnet holds the next hop, else the first primary) and redirect's destination.
 */
import { formatAddress, parseAddress, prefixContains, parsePrefix, type ParsedAddress } from '../net/address.js';
import type { HostView } from '../netfilter/expr.js';
import type { PacketState } from '../netfilter/packet.js';
import { simulateRoute } from '../route/simulate.js';
import type { Snapshot } from '../snapshot/types.js';

export interface HostContext {
  /** The next hop of the route the packet currently follows (its gateway, else its destination). */
  nextHop?: ParsedAddress;
}

function primaryAddresses(snapshot: Snapshot, dev: string, family: 4 | 6) {
  return snapshot.addresses.filter((a) => a.dev === dev && a.family === family && !a.flags.includes('secondary') && !a.flags.includes('temporary')
    && !a.flags.includes('tentative') && !a.flags.includes('dadfailed') && a.scope !== 'host');
}

/** inet_dev_addr_type: the type of an address as the local table sees it. */
function addressType(snapshot: Snapshot, address: ParsedAddress, dev: string | undefined): string {
  if (address.family === 4) {
    const value = address.value as number;
    if (value === 0xffffffff) return 'broadcast';
    if (value >>> 28 === 0xe) return 'multicast';
  } else if (((address.value as bigint) >> 120n) === 0xffn) return 'multicast';
  const text = formatAddress(address);
  for (const route of snapshot.routes) {
    if (route.table !== 255 || route.family !== address.family) continue;
    const dst = route.dst.includes('/') ? route.dst.split('/')[0] : route.dst;
    const length = route.dst.includes('/') ? Number(route.dst.split('/')[1]) : address.family === 4 ? 32 : 128;
    if (length !== (address.family === 4 ? 32 : 128) || dst !== text) continue;
    if (dev && route.dev && route.dev !== dev && route.type === 'local') return 'unicast';
    return route.type;
  }
  return 'unicast';
}

export function hostView(snapshot: Snapshot, context: HostContext): HostView {
  return {
    fib(flags, result, packet) {
      const bySource = flags.includes('saddr');
      const dev = flags.includes('iif') ? packet.iif : flags.includes('oif') ? packet.oif : undefined;
      const target = bySource ? packet.saddr : packet.daddr;
      if (result === 'type') {
        const type = addressType(snapshot, target, dev);
        return { value: ({ unicast: 1, local: 2, broadcast: 3, anycast: 4, multicast: 5 } as Record<string, number>)[type] ?? 1, why: `${formatAddress(target)} is ${type}` };
      }
      if (packet.iif === 'lo' && !packet.oif) return { value: 'lo', why: 'loopback traffic' };
      // The lookup runs as for a local packet (iif lo), to the source for a reverse-path check.
      const decision = simulateRoute(snapshot, { destination: formatAddress(target), ...(flags.includes('mark') ? { mark: packet.mark } : {}) });
      const found = decision.result;
      if (found.type === 'error' || found.type === 'local' || !found.dev) return { value: '', why: `no usable route to ${formatAddress(target)}` };
      if (dev && found.dev !== dev) return { value: '', why: `the route to ${formatAddress(target)} goes out of ${found.dev}, not ${dev}` };
      return { value: found.dev, why: `the route to ${formatAddress(target)} goes out of ${found.dev}` };
    },
    masqueradeAddress(packet) {
      if (!packet.oif) return undefined;
      const candidates = primaryAddresses(snapshot, packet.oif, packet.family);
      if (packet.family === 6) return parseAddress((candidates.find((a) => a.scope === 'global') ?? candidates[0])?.local ?? '');
      const hop = context.nextHop ?? packet.daddr;
      const onLink = candidates.find((a) => {
        const prefix = parsePrefix(`${a.local}/${a.prefixlen}`);
        return prefix && prefixContains(prefix, hop);
      });
      const chosen = onLink ?? candidates[0];
      return chosen ? parseAddress(chosen.local) : undefined;
    },
    redirectAddress(packet) {
      if (!packet.iif || packet.iif === 'lo') return parseAddress(packet.family === 4 ? '127.0.0.1' : '::1');
      const chosen = primaryAddresses(snapshot, packet.iif, packet.family)[0];
      return chosen ? parseAddress(chosen.local) : undefined;
    },
  };
}
