/**
 * Whether a network namespace tracks connections of an IP family. The kernel registers
 * conntrack's hooks for a family only while something in the namespace needs them
 * (nf_ct_netns_get): a `ct` expression, a NAT statement, a flow offload, `ct count`, a ct
 * helper/timeout/expectation object, synproxy, or an xtables match or target built on conntrack;
 * each asks for its table's family (inet: both). A NAT statement asks for the family it names, so
 * `dnat ip to` in an inet table enables IPv4 only, while `masquerade` and `redirect` there enable
 * both. A nat chain alone, a legacy nat table alone and `notrack` enable nothing (netfilter.md §3;
 * each case checked with nat-chain counters on the kernel). Without conntrack a packet has no
 * entry, and NAT chains, which the kernel runs behind conntrack, never see it.
 */
import type { Json, NftFamily, NftTable, Ruleset } from './types.js';

export type IpVersion = 4 | 6;

/** Statements whose expression holds a conntrack reference for its table's families. */
const CONNTRACK_STATEMENTS = new Set(['masquerade', 'redirect', 'flow', 'ct count', 'ct helper', 'ct timeout', 'ct expectation', 'synproxy']);
/** xtables extensions whose checkentry takes a conntrack reference (iptables-nft `xt`, unresolved). */
const CONNTRACK_XT = new Set(['conntrack', 'state', 'connmark', 'CONNMARK', 'connlimit', 'connbytes', 'connlabel', 'helper', 'CT', 'MASQUERADE', 'SNAT', 'DNAT', 'REDIRECT', 'NETMAP', 'cluster']);

function familiesOfTable(family: NftFamily): IpVersion[] {
  return family === 'ip' ? [4] : family === 'ip6' ? [6] : family === 'inet' ? [4, 6] : [];
}

function isObject(value: Json): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether an expression reads or writes the conntrack entry (`ct state`, `ct mark`, … anywhere inside). */
function readsConntrack(value: Json): boolean {
  if (Array.isArray(value)) return value.some(readsConntrack);
  if (!isObject(value)) return false;
  return Object.entries(value).some(([key, inner]) => key === 'ct' || readsConntrack(inner));
}

/** The families one statement enables conntrack for, in a table of `family`. */
function statementFamilies(statement: Json, family: NftFamily): IpVersion[] {
  if (!isObject(statement)) return [];
  const [kind] = Object.keys(statement);
  const body = statement[kind];
  if (kind === 'snat' || kind === 'dnat') {
    const named = isObject(body) ? body.family : undefined;
    if (family === 'inet' && (named === 'ip' || named === 'ip6')) return [named === 'ip' ? 4 : 6];
    return familiesOfTable(family);
  }
  if (CONNTRACK_STATEMENTS.has(kind)) return familiesOfTable(family);
  if (kind === 'xt' && isObject(body) && CONNTRACK_XT.has(String(body.name ?? '').split(' ')[0])) return familiesOfTable(family);
  return readsConntrack(statement) ? familiesOfTable(family) : [];
}

function tableFamilies(table: NftTable): Set<IpVersion> {
  const found = new Set<IpVersion>();
  if (table.conntrackObjects?.length) for (const version of familiesOfTable(table.family)) found.add(version);
  for (const chain of table.chains.values()) {
    for (const rule of chain.rules) {
      for (const statement of rule.expr) for (const version of statementFamilies(statement, table.family)) found.add(version);
    }
  }
  return found;
}

const cache = new WeakMap<Ruleset, Set<IpVersion>>();

/** Whether the namespace whose ruleset this is tracks connections of IP version `version`. */
export function tracksConnections(ruleset: Ruleset, version: IpVersion): boolean {
  let families = cache.get(ruleset);
  if (!families) {
    families = new Set();
    for (const table of ruleset.tables) for (const found of tableFamilies(table)) families.add(found);
    cache.set(ruleset, families);
  }
  return families.has(version);
}
