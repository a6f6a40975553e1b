/**
 * The base chains a hook runs, in the kernel's order (netfilter.md §1): every table of the
 * packet's family plus `inet`, sorted by priority; nat chains ignore their own priority and run in
 * the NAT core's slot (−100 at prerouting/output, +100 at input/postrouting), among themselves by
 * priority; on equal priority the chain registered last runs first (nf_hook_entries_grow), which
 * is the later table, then the later chain of a table.
 */
import type { Hook, NftChain, NftTable, Ruleset } from './types.js';

/** The NAT slot a nat chain's hook runs in (K: nf_nat_proto.c nf_nat_ipv4_ops). */
export function natSlot(hook: Hook): { prio: number; manip: 'dst' | 'src' } | undefined {
  switch (hook) {
    case 'prerouting': case 'output': return { prio: -100, manip: 'dst' };
    case 'postrouting': case 'input': return { prio: 100, manip: 'src' };
    default: return undefined;
  }
}

export interface OrderedChain {
  table: NftTable;
  chain: NftChain;
  /** Where it runs: its priority, or the NAT slot for nat chains. */
  position: number;
  note?: string;
}

export function baseChainsAt(ruleset: Ruleset, hook: Hook, family: 4 | 6): OrderedChain[] {
  const own = family === 4 ? 'ip' : 'ip6';
  const found: Array<OrderedChain & { tableOrder: number; prio: number }> = [];
  ruleset.tables.forEach((table, tableOrder) => {
    if (table.family !== own && table.family !== 'inet') return;
    for (const chain of table.chains.values()) {
      if (!chain.base || chain.base.hook !== hook) continue;
      const slot = chain.base.type === 'nat' ? natSlot(hook) : undefined;
      found.push({ table, chain, position: slot ? slot.prio : chain.base.prio, prio: chain.base.prio, tableOrder });
    }
  });
  found.sort((a, b) => a.position - b.position || a.prio - b.prio || b.tableOrder - a.tableOrder || b.chain.handle - a.chain.handle);
  for (let i = 1; i < found.length; i++) {
    const [a, b] = [found[i - 1], found[i]];
    if (a.position === b.position && a.prio === b.prio && a.table !== b.table) {
      b.note = `same priority ${b.prio} as ${a.chain.family} ${a.chain.table} ${a.chain.name}: the kernel runs the chain registered last first`;
    }
    if (a.chain.base!.type === 'nat' && b.chain.base!.type !== 'nat' && b.position === a.position) {
      b.note = `priority ${b.prio} equals the NAT slot: the order relative to the nat chains depends on registration`;
    }
  }
  return found;
}
