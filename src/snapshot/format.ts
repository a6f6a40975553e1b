/**
 * Routes, rules and addresses as `ip` prints them, so evidence and explanations show the user
 * the very line they would see with `ip route show table all` / `ip rule show` / `ip addr`.
 * Field order follows iproute2's print_route/print_rule; multipath routes are printed on one
 * line (`nexthop via … dev … weight 1 nexthop …`) since evidence is one line per item.
 */
import { tableName, type Address, type Route, type Rule } from './types.js';

function hostLength(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

/** `default` for a /0, the bare address for a host prefix, the prefix otherwise (as `ip`). */
export function formatDestination(prefix: string, family: 4 | 6): string {
  const slash = prefix.indexOf('/');
  if (slash < 0) return prefix;
  const length = Number(prefix.slice(slash + 1));
  if (length === 0) return 'default';
  if (length === hostLength(family)) return prefix.slice(0, slash);
  return prefix;
}

/** One route, as `ip route show table all` prints it (table shown unless main). */
export function formatRoute(route: Route): string {
  const parts: string[] = [];
  if (route.type !== 'unicast') parts.push(route.type);
  parts.push(formatDestination(route.dst, route.family));
  if (route.src) parts.push('from', route.src);
  if (route.gateway) parts.push('via', route.gateway);
  if (route.dev) parts.push('dev', route.dev);
  if (route.table !== 254) parts.push('table', tableName(route.table));
  if (route.protocol && route.protocol !== 'boot' && route.protocol !== 'unspec') parts.push('proto', route.protocol);
  if (route.family === 4 && route.scope && route.scope !== 'global' && route.scope !== 'universe') parts.push('scope', route.scope);
  if (route.prefsrc) parts.push('src', route.prefsrc);
  if (route.metric || route.family === 6) parts.push('metric', String(route.metric ?? 0));
  for (const flag of route.flags ?? []) parts.push(flag);
  if (route.pref) parts.push('pref', route.pref);
  for (const hop of route.nexthops ?? []) {
    parts.push('nexthop');
    if (hop.gateway) parts.push('via', hop.gateway);
    if (hop.dev) parts.push('dev', hop.dev);
    parts.push('weight', String(hop.weight ?? 1));
    for (const flag of hop.flags ?? []) parts.push(flag);
  }
  return parts.join(' ');
}

export function formatMark(value: number, mask?: number): string {
  const hex = `0x${(value >>> 0).toString(16)}`;
  return mask === undefined || mask >>> 0 === 0xffffffff ? hex : `${hex}/0x${(mask >>> 0).toString(16)}`;
}

function formatRange(range: [number, number]): string {
  return range[0] === range[1] ? String(range[0]) : `${range[0]}-${range[1]}`;
}

/** One rule, as `ip rule show` prints it: `5270:\tfrom all lookup 52`. */
export function formatRule(rule: Rule): string {
  const parts: string[] = [];
  if (rule.not) parts.push('not');
  parts.push('from', rule.from ? formatDestination(rule.from, rule.family) : 'all');
  if (rule.to) parts.push('to', formatDestination(rule.to, rule.family));
  if (rule.tos) parts.push('tos', `0x${rule.tos.toString(16)}`);
  if (rule.fwmark !== undefined || rule.fwmask !== undefined) parts.push('fwmark', formatMark(rule.fwmark ?? 0, rule.fwmask));
  if (rule.iif) parts.push('iif', rule.iif);
  if (rule.oif) parts.push('oif', rule.oif);
  if (rule.uidrange) parts.push('uidrange', `${rule.uidrange[0]}-${rule.uidrange[1]}`);
  if (rule.ipproto !== undefined) parts.push('ipproto', String(rule.ipproto));
  if (rule.sport) parts.push('sport', formatRange(rule.sport));
  if (rule.dport) parts.push('dport', formatRange(rule.dport));
  switch (rule.action) {
    case 'lookup':
      parts.push('lookup', tableName(rule.table ?? 254));
      if (rule.suppressPrefixlen !== undefined && rule.suppressPrefixlen >= 0) parts.push('suppress_prefixlength', String(rule.suppressPrefixlen));
      if (rule.suppressIfgroup !== undefined && rule.suppressIfgroup >= 0) parts.push('suppress_ifgroup', String(rule.suppressIfgroup));
      break;
    case 'goto':
      parts.push('goto', String(rule.gotoPriority ?? 0));
      break;
    default:
      parts.push(rule.action);
  }
  if (rule.protocol && !['boot', 'unspec', 'kernel'].includes(rule.protocol)) parts.push('proto', rule.protocol);
  for (const flag of rule.flags ?? []) parts.push(`[${flag}]`);
  return `${rule.priority}:\t${parts.join(' ')}`;
}

/** One address, as the `inet`/`inet6` line of `ip addr show dev X` prints it, prefixed with the device. */
export function formatAddress(address: Address): string {
  const parts = [address.dev, address.family === 4 ? 'inet' : 'inet6'];
  parts.push(address.peer && address.peer !== address.local ? `${address.local} peer ${address.peer}/${address.prefixlen}` : `${address.local}/${address.prefixlen}`);
  parts.push('scope', address.scope);
  for (const flag of address.flags ?? []) parts.push(flag);
  return parts.join(' ');
}
