/**
 * The fallback reader: `ip -json` output (iproute2 4.14+), locally or through any CommandRunner.
 * `-N` makes ip print tables, types, protocols and scopes as numbers, so names configured in the
 * host's rt_tables cannot change what we read; names.ts turns the numbers into ours.
 */
import { InputError } from '../errors.js';
import type { CommandRunner } from '../system/exec.js';
import { formatCommand } from '../system/exec.js';
import {
  ADDRESS_FLAG_ORDER, ipv6RejectError, kindFromLinkType, normaliseProtocol, normaliseScope, parseIpProto,
  parseRouteType, parseTable, prefixWithLength, ruleActionName,
} from './names.js';
import { parseSysctlLines, SYSCTL_SCRIPT } from './sysctls.js';
import { SNAPSHOT_VERSION, type Address, type Family, type Link, type Nexthop, type Route, type Rule, type Snapshot } from './types.js';

type Json = Record<string, unknown>;

async function runJson(runner: CommandRunner, args: string[]): Promise<Json[]> {
  const result = await runner.run('ip', args);
  const display = formatCommand('ip', args);
  let data: unknown;
  try {
    data = JSON.parse(result.stdout);
  } catch (error) {
    throw new InputError(`\`${display}\` printed output that is not JSON: ${(error as Error).message}`, 'use --source ip-text for an `ip` without -json support');
  }
  if (!Array.isArray(data)) throw new InputError(`\`${display}\` printed JSON that is not a list`);
  return data as Json[];
}

function bad(display: string, what: string, item: unknown): never {
  throw new InputError(`\`${display}\` printed an entry without ${what}: ${JSON.stringify(item).slice(0, 200)}`);
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined => {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^(?:0x[0-9a-f]+|\d+)$/i.test(value)) return Number(value);
  return undefined;
};

export function linksAndAddressesFromJson(items: Json[], display = 'ip -d -json addr show'): { links: Link[]; addresses: Address[] } {
  const links: Link[] = [];
  const addresses: Address[] = [];
  for (const item of items) {
    const index = num(item.ifindex);
    const name = str(item.ifname);
    if (index === undefined || name === undefined) bad(display, 'ifindex/ifname', item);
    const linkinfo = item.linkinfo as Json | undefined;
    const linkType = str(item.link_type) ?? 'none';
    const link: Link = {
      index,
      name,
      kind: str(linkinfo?.info_kind) ?? kindFromLinkType(linkType),
      flags: Array.isArray(item.flags) ? (item.flags as string[]).filter((f) => f !== 'M-DOWN') : [],
      mtu: num(item.mtu) ?? 0,
      operstate: str(item.operstate) ?? 'UNKNOWN',
      address: linkType === 'none' ? null : (str(item.address) ?? null),
    };
    const master = str(item.master);
    if (master) link.master = master;
    links.push(link);
    for (const info of (item.addr_info as Json[] | undefined) ?? []) {
      const familyName = str(info.family);
      if (familyName !== 'inet' && familyName !== 'inet6') continue;
      const family: Family = familyName === 'inet' ? 4 : 6;
      const local = str(info.local);
      const prefixlen = num(info.prefixlen);
      if (local === undefined || prefixlen === undefined) bad(display, 'local/prefixlen', info);
      const address: Address = {
        ifindex: index,
        dev: name,
        family,
        local,
        prefixlen,
        scope: normaliseScope(String(info.scope ?? 'global')),
        flags: ADDRESS_FLAG_ORDER.filter((flag) => info[flag] === true),
      };
      const peer = str(info.address);
      if (peer && peer !== local) address.peer = peer;
      addresses.push(address);
    }
  }
  return { links, addresses };
}

function nexthopFromJson(item: Json): Nexthop {
  const hop: Nexthop = {};
  const gateway = str(item.gateway) ?? str((item.via as Json | undefined)?.host);
  if (gateway) hop.gateway = gateway;
  const dev = str(item.dev);
  if (dev) hop.dev = dev;
  const weight = num(item.weight);
  if (weight !== undefined) hop.weight = weight;
  hop.flags = Array.isArray(item.flags) ? (item.flags as string[]) : [];
  return hop;
}

export function routesFromJson(items: Json[], family: Family, display = `ip -${family} -N -json route show table all`): Route[] {
  const routes: Route[] = [];
  for (const item of items) {
    const dst = str(item.dst);
    if (dst === undefined) bad(display, 'dst', item);
    const type = parseRouteType(str(item.type));
    if (type === undefined) bad(display, 'a known type', item);
    const table = item.table === undefined ? 254 : parseTable(String(item.table));
    if (table === undefined) bad(display, 'a numeric table', item);
    const route: Route = {
      family,
      table,
      type,
      dst: prefixWithLength(dst, family),
      metric: num(item.metric) ?? 0,
      protocol: item.protocol === undefined ? 'boot' : normaliseProtocol(String(item.protocol)),
      scope: item.scope === undefined ? 'global' : normaliseScope(String(item.scope)),
      flags: Array.isArray(item.flags) ? (item.flags as string[]) : [],
    };
    const from = str(item.from);
    if (from) route.src = prefixWithLength(from, family);
    const gateway = str(item.gateway) ?? str((item.via as Json | undefined)?.host);
    if (gateway) route.gateway = gateway;
    const dev = str(item.dev);
    if (dev) route.dev = dev;
    const prefsrc = str(item.prefsrc);
    if (prefsrc) route.prefsrc = prefsrc;
    const pref = str(item.pref);
    if (pref) route.pref = pref;
    if (Array.isArray(item.nexthops)) route.nexthops = (item.nexthops as Json[]).map(nexthopFromJson);
    if (family === 6) {
      const error = ipv6RejectError(type);
      if (error !== undefined) route.error = error;
    }
    routes.push(route);
  }
  return routes;
}

function range(item: Json, name: string): [number, number] | undefined {
  const single = num(item[name]);
  if (single !== undefined) return [single, single];
  const start = num(item[`${name}_start`]);
  const end = num(item[`${name}_end`]);
  return start !== undefined && end !== undefined ? [start, end] : undefined;
}

function selector(text: string | undefined, length: number | undefined, family: Family): string | undefined {
  if (text === undefined || text === 'all') return undefined;
  return `${text}/${length ?? (family === 4 ? 32 : 128)}`;
}

export function rulesFromJson(items: Json[], family: Family, display = `ip -${family} -N -json rule show`): Rule[] {
  const rules: Rule[] = [];
  for (const item of items) {
    const priority = num(item.priority);
    if (priority === undefined) bad(display, 'priority', item);
    let action: Rule['action'] = 'lookup';
    if (item.goto !== undefined) action = 'goto';
    else if ('nop' in item) action = 'nop';
    else if (item.action !== undefined) {
      const text = String(item.action);
      const named = /^\d+$/.test(text) ? ruleActionName(Number(text)) : (['blackhole', 'unreachable', 'prohibit', 'nop', 'goto', 'lookup'].includes(text) ? (text as Rule['action']) : undefined);
      if (!named) bad(display, 'a known action', item);
      action = named;
    }
    const rule: Rule = { family, priority, not: 'not' in item, action };
    const from = selector(str(item.src), num(item.srclen), family);
    if (from) rule.from = from;
    const to = selector(str(item.dst), num(item.dstlen), family);
    if (to) rule.to = to;
    const iif = str(item.iif);
    if (iif) rule.iif = iif;
    const oif = str(item.oif);
    if (oif) rule.oif = oif;
    const fwmark = num(item.fwmark);
    const fwmask = num(item.fwmask);
    if (fwmark !== undefined || fwmask !== undefined) {
      rule.fwmark = fwmark ?? 0;
      rule.fwmask = fwmask ?? 0xffffffff;
    }
    const tos = num(item.tos);
    if (tos) rule.tos = tos;
    if (item.ipproto !== undefined) {
      const proto = parseIpProto(String(item.ipproto));
      if (proto === undefined) bad(display, 'a known ipproto', item);
      rule.ipproto = proto;
    }
    const sport = range(item, 'sport');
    if (sport) rule.sport = sport;
    const dport = range(item, 'dport');
    if (dport) rule.dport = dport;
    const uidrange = range(item, 'uid');
    if (uidrange) rule.uidrange = uidrange;
    if (action === 'lookup') {
      const table = item.table === undefined ? undefined : parseTable(String(item.table));
      if (item.table !== undefined && table === undefined) bad(display, 'a numeric table', item);
      if (table !== undefined) rule.table = table;
    }
    if (action === 'goto') {
      const target = num(item.goto);
      if (target !== undefined) rule.gotoPriority = target;
    }
    const suppressPrefixlen = num(item.suppress_prefixlen);
    if (suppressPrefixlen !== undefined) rule.suppressPrefixlen = suppressPrefixlen;
    const suppressIfgroup = num(item.suppress_ifgroup);
    if (suppressIfgroup !== undefined) rule.suppressIfgroup = suppressIfgroup;
    if (item.protocol !== undefined) rule.protocol = normaliseProtocol(String(item.protocol));
    const flags: string[] = [];
    if ('unresolved' in item) flags.push('unresolved');
    if ('iif_detached' in item) flags.push('iif_detached');
    if ('oif_detached' in item) flags.push('oif_detached');
    if (flags.length) rule.flags = flags;
    rules.push(rule);
  }
  return rules;
}

export async function readIpJsonSnapshot(runner: CommandRunner): Promise<Snapshot> {
  const [linkItems, routes4, routes6, rules4, rules6, sysctlOutput, hostOutput] = await Promise.all([
    runJson(runner, ['-d', '-json', 'addr', 'show']),
    runJson(runner, ['-4', '-N', '-json', 'route', 'show', 'table', 'all']),
    runJson(runner, ['-6', '-N', '-json', 'route', 'show', 'table', 'all']),
    runJson(runner, ['-4', '-N', '-json', 'rule', 'show']),
    runJson(runner, ['-6', '-N', '-json', 'rule', 'show']),
    runner.run('sh', ['-c', SYSCTL_SCRIPT], { allowFailure: true }),
    runner.run('cat', ['/proc/sys/kernel/hostname'], { allowFailure: true }),
  ]);
  const { links, addresses } = linksAndAddressesFromJson(linkItems);
  return {
    version: SNAPSHOT_VERSION,
    host: hostOutput.stdout.trim() || runner.where,
    takenAt: new Date().toISOString(),
    source: 'ip-json',
    links,
    addresses,
    routes: [...routesFromJson(routes4, 4), ...routesFromJson(routes6, 6)],
    rules: [...rulesFromJson(rules4, 4), ...rulesFromJson(rules6, 6)],
    sysctls: parseSysctlLines(sysctlOutput.stdout),
  };
}
