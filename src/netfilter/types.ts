/**
 * The netfilter evaluator's model: a ruleset as `nft -j list ruleset` describes it (iptables
 * tables translated into the same shape), and what evaluating one packet through a hook says.
 * Expressions stay in libnftables-json form (J: libnftables-json(5)); the evaluator reads them
 * directly, so a rule is never re-encoded into something that could drift from what nft printed.
 */

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';
export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress' | 'egress';
export type ChainType = 'filter' | 'nat' | 'route';

/** A JSON expression or statement exactly as libnftables prints it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Where a table comes from: nftables itself, or the legacy xtables backend (iptables-legacy-save). */
export type TableOrigin = 'nftables' | 'iptables-legacy';

export interface NftRule {
  family: NftFamily;
  table: string;
  chain: string;
  /** Rule handle (per-table counter, so gaps are normal); legacy rules get their position. */
  handle: number;
  expr: Json[];
  comment?: string;
  /** One line of nft syntax for people (render.ts), or the iptables-save line for legacy rules. */
  text: string;
  /** Set when the rule carried xt expressions and they were replaced by the iptables-save rule. */
  fromIptablesSave?: string;
}

export interface BaseChainInfo {
  type: ChainType;
  hook: Hook;
  prio: number;
  policy: 'accept' | 'drop';
  devices?: string[];
}

export interface NftChain {
  family: NftFamily;
  table: string;
  name: string;
  handle: number;
  base?: BaseChainInfo;
  rules: NftRule[];
}

export interface NftSet {
  family: NftFamily;
  table: string;
  name: string;
  handle: number;
  /** Key type: one name, or several for a concatenation. */
  type: string | string[];
  /** Data type of a map ('verdict' for a vmap). */
  map?: string | string[];
  flags: string[];
  /** Elements as printed: a key, or [key, data] for maps. */
  elem: Json[];
}

export interface NftFlowtable {
  family: NftFamily;
  table: string;
  name: string;
  hook: string;
  prio: number;
  devices: string[];
}

export interface NftTable {
  family: NftFamily;
  name: string;
  handle: number;
  origin: TableOrigin;
  chains: Map<string, NftChain>;
  sets: Map<string, NftSet>;
  flowtables: Map<string, NftFlowtable>;
  /** ct helper/timeout/expectation and synproxy objects: they enable conntrack by existing (conntrack.ts). */
  conntrackObjects?: string[];
}

export interface Ruleset {
  tables: NftTable[];
  /** Things said while reading: xt rules without an iptables-save counterpart, unsupported objects. */
  warnings: string[];
}

/** The key of a rule in answers and in the differential test. */
export interface RuleRef {
  family: NftFamily;
  table: string;
  chain: string;
  /** null for a chain policy. */
  handle: number | null;
  text: string;
}
