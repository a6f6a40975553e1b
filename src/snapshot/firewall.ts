/**
 * The firewall part of a snapshot (snapshot version 2): what `nft -j list ruleset` and, where
 * needed, iptables-save printed, kept raw so a saved snapshot is evaluated exactly like the live
 * host. Version 1 snapshots have no firewall: "firewall unknown", never an empty firewall.
 */
import { InputError } from '../errors.js';
import type { Snapshot } from './types.js';

export type FirewallBackend = 'nftables' | 'iptables-nft' | 'iptables-legacy';

export interface FirewallState {
  /** `nft -j list ruleset` as parsed JSON; null when nft is missing or could not list. */
  nftables: unknown;
  /** iptables-nft-save / ip6tables-nft-save, read when nft rules carry opaque xt expressions. */
  iptablesNft?: { ipv4?: string; ipv6?: string };
  /** iptables-legacy-save / ip6tables-legacy-save, read when legacy xtables tables exist. */
  iptablesLegacy?: { ipv4?: string; ipv6?: string };
  /** Which backends hold rules. */
  backends: FirewallBackend[];
  /** What could not be read, and warnings (both backends active, …). */
  notes: string[];
}

/** Checks the shape of a snapshot's firewall (when present) so the evaluator never sees junk. */
export function validateFirewall(value: unknown, where: string): FirewallState | undefined {
  if (value === undefined || value === null) return undefined;
  const bad = (what: string): never => {
    throw new InputError(`--snapshot: ${where}: firewall ${what}`, 'take the snapshot again with `netmend snapshot --out FILE`');
  };
  if (typeof value !== 'object' || Array.isArray(value)) bad('is not an object');
  const firewall = value as Record<string, unknown>;
  if (!Array.isArray(firewall.backends) || !Array.isArray(firewall.notes)) bad('has no "backends"/"notes" arrays');
  if (firewall.nftables !== null && (typeof firewall.nftables !== 'object' || !Array.isArray((firewall.nftables as { nftables?: unknown }).nftables))) {
    bad('has "nftables" that is not `nft -j list ruleset` output');
  }
  for (const key of ['iptablesNft', 'iptablesLegacy'] as const) {
    const texts = firewall[key] as Record<string, unknown> | undefined;
    if (texts !== undefined && (typeof texts !== 'object' || Object.values(texts).some((text) => text !== undefined && typeof text !== 'string'))) bad(`has a malformed "${key}"`);
  }
  return firewall as unknown as FirewallState;
}

/** The snapshot's firewall, or a one-line input error saying why it is unknown. */
export function requireFirewall(snapshot: Snapshot, where: string): FirewallState {
  if (snapshot.firewall) return snapshot.firewall;
  const why = snapshot.version === 1 ? 'a version 1 snapshot, taken before netmend read firewalls' : 'the snapshot was taken without the firewall';
  throw new InputError(`${where}: firewall unknown (${why})`, 'take a new one with `netmend snapshot --out FILE` (snapshot version 2 includes the firewall)');
}
