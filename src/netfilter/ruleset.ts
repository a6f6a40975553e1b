/** A snapshot's firewall as one evaluator ruleset (nftables, iptables-nft xt resolved, legacy tables), built once per snapshot. */
import type { FirewallState } from '../snapshot/firewall.js';
import { legacyTables, resolveXt } from './iptables.js';
import { parseNftJson } from './parse.js';
import type { NftTable, Ruleset } from './types.js';

const cache = new WeakMap<FirewallState, Ruleset>();

export function rulesetOf(firewall: FirewallState): Ruleset {
  const cached = cache.get(firewall);
  if (cached) return cached;
  const ruleset = firewall.nftables ? parseNftJson(firewall.nftables) : { tables: [], warnings: [] };
  for (const [key, family] of [['ipv4', 4], ['ipv6', 6]] as const) {
    const xtSave = firewall.iptablesNft?.[key];
    if (xtSave) ruleset.warnings.push(...resolveXt(ruleset.tables, xtSave, family));
    const legacy = firewall.iptablesLegacy?.[key];
    if (legacy) ruleset.tables.push(...legacyTables(legacy, family, 100_000 + ruleset.tables.length));
  }
  cache.set(firewall, ruleset);
  return ruleset;
}

/** An iptables-nft table: ip/ip6, holding iptables' upper-case built-in chains (tailscaled's ts-* chains live there too). */
export function isIptablesNftTable(table: NftTable): boolean {
  return table.origin === 'nftables' && (table.family === 'ip' || table.family === 'ip6') && [...table.chains.keys()].some((name) => /^[A-Z]+$/.test(name));
}
