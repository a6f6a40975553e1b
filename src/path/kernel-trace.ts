/**
 * The kernel's own account of a packet (`nft -a monitor trace`, netfilter.md §7) in path explain's
 * terms, and the comparison of the two: verdict, deciding rule (table, chain, handle), egress
 * interface, and every rule that matched, in order. Used by the differential lab test; kept here
 * so anything that cross-checks an explanation against a live kernel reads the trace one way.
 */
import type { PathExplanation, PathVerdict } from './simulate.js';
import type { Hook, Ruleset } from '../netfilter/types.js';

export interface TraceEvent {
  id: string;
  family: string;
  table: string;
  chain: string;
  kind: 'packet' | 'rule' | 'policy' | 'other';
  /** Rule handle (`# handle N`), when a rule. */
  handle?: number;
  /** accept, drop, continue, jump X, return, …: the `(verdict …)` of a rule or the policy. */
  verdict?: string;
  /** The rule text as nft printed it, or the packet line. */
  text: string;
  iif?: string;
  oif?: string;
  ipId?: number;
}

const LINE = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (packet|rule|policy|verdict|unknown)\b:?\s*(.*)$/;

export function parseTraceLine(line: string): TraceEvent | undefined {
  const match = LINE.exec(line.trim());
  if (!match) return undefined;
  const [, id, family, table, chain, kind, rest] = match;
  const event: TraceEvent = { id, family, table, chain, kind: kind === 'packet' || kind === 'rule' || kind === 'policy' ? kind : 'other', text: rest };
  if (kind === 'packet') {
    event.iif = /\biif "([^"]+)"/.exec(rest)?.[1];
    event.oif = /\boif "([^"]+)"/.exec(rest)?.[1];
    // The IPv4 id, or for IPv6 the flow label, which the lab's senders use as the packet's id.
    const ipId = /\bip id (\d+)/.exec(rest)?.[1] ?? /\bip6 flowlabel (\d+)/.exec(rest)?.[1];
    if (ipId) event.ipId = Number(ipId);
  } else if (kind === 'rule') {
    const handle = /# handle (\d+)/.exec(rest)?.[1];
    if (handle) event.handle = Number(handle);
    event.verdict = /\(verdict ([^)]+)\)\s*$/.exec(rest)?.[1];
    event.text = rest.replace(/\s*# handle \d+.*$/, '').replace(/\s*\(verdict [^)]+\)\s*$/, '');
  } else if (kind === 'policy') {
    event.verdict = rest.split(/\s+/)[0];
  }
  return event;
}

/** Events grouped by trace id, in the order their first line arrived. */
export function groupTrace(text: string): TraceEvent[][] {
  // Trace ids are reused by later packets (netfilter.md §7): a packet line of a chain the group
  // has already seen, or with another IP id, starts a new packet.
  const groups: TraceEvent[][] = [];
  const open = new Map<string, { events: TraceEvent[]; chains: Set<string>; ipId?: number }>();
  for (const line of text.split('\n')) {
    const event = parseTraceLine(line);
    if (!event) continue;
    const chainKey = `${event.family} ${event.table} ${event.chain}`;
    let group = open.get(event.id);
    if (group && event.kind === 'packet' && (group.chains.has(chainKey) || (group.ipId !== undefined && event.ipId !== undefined && group.ipId !== event.ipId))) group = undefined;
    if (!group) {
      group = { events: [], chains: new Set() };
      open.set(event.id, group);
      groups.push(group.events);
    }
    if (event.kind === 'packet') {
      group.chains.add(chainKey);
      group.ipId ??= event.ipId;
    }
    group.events.push(event);
  }
  return groups;
}

export interface Outcome {
  verdict: PathVerdict;
  /** `family table chain handle` of the dropping/rejecting rule ('policy' for a chain policy). */
  rule: string | null;
  dev: string | null;
  /** `family table chain handle` of every rule that matched, in order. */
  matched: string[];
}

/** The base chain hooks of a ruleset, keyed `family table chain`. */
export function chainHooks(ruleset: Ruleset): Map<string, Hook> {
  const hooks = new Map<string, Hook>();
  for (const table of ruleset.tables) for (const chain of table.chains.values()) if (chain.base) hooks.set(`${chain.family} ${table.name} ${chain.name}`, chain.base.hook);
  return hooks;
}

/**
 * What the kernel did with one packet, from its trace events. A drop (or reject, traced as drop)
 * names its rule; otherwise the last hook reached says delivered (input) or forwarded
 * (postrouting, with the oif of its packet line); a trace that stops after prerouting or output
 * without a verdict is a routing failure (no route, rp_filter), which the kernel does not trace.
 */
export function kernelOutcome(events: readonly TraceEvent[], hooks: ReadonlyMap<string, Hook>, ruleText?: ReadonlyMap<string, string>): Outcome {
  const matched: string[] = [];
  let lastHook: Hook | undefined;
  let oif: string | null = null;
  for (const event of events) {
    const key = `${event.family} ${event.table} ${event.chain}`;
    const hook = hooks.get(key);
    if (event.kind === 'packet' && hook) {
      lastHook = hook;
      oif = event.oif ?? null;
    }
    if (event.kind === 'rule' && event.handle !== undefined) {
      matched.push(`${key} ${event.handle}`);
      if (event.verdict === 'drop' || event.verdict === 'queue') {
        const text = ruleText?.get(`${key} ${event.handle}`) ?? event.text;
        const verdict = /\breject\b/.test(text) ? 'rejected' : 'dropped';
        return { verdict, rule: `${key} ${event.handle}`, dev: null, matched };
      }
    }
    if (event.kind === 'policy' && event.verdict === 'drop') return { verdict: 'dropped', rule: `${key} policy`, dev: null, matched };
  }
  if (lastHook === 'input') return { verdict: 'delivered', rule: null, dev: 'lo', matched };
  if (lastHook === 'postrouting') return { verdict: 'forwarded', rule: null, dev: oif, matched };
  return { verdict: 'no-route', rule: null, dev: null, matched };
}

/** The same facts from netmend's explanation. */
export function explanationOutcome(explanation: PathExplanation): Outcome {
  const { result } = explanation;
  const matched = explanation.steps.filter((step) => step.kind === 'rule' && step.matched === true)
    .map((step) => step.kind === 'rule' ? `${step.family} ${step.table} ${step.chain} ${step.handle}` : '');
  const rule = result.rule ? `${result.rule.family} ${result.rule.table} ${result.rule.chain} ${result.rule.handle ?? 'policy'}` : null;
  return { verdict: result.verdict, rule: result.verdict === 'dropped' || result.verdict === 'rejected' ? rule : null, dev: result.verdict === 'forwarded' ? result.dev : result.verdict === 'delivered' ? 'lo' : null, matched };
}

/** Where the two disagree; empty when they agree. `from` drops matched rules the trace cannot see (before nftrace was set). */
export function compareOutcomes(netmend: Outcome, kernel: Outcome, options: { traceStartsAt?: (rule: string) => boolean } = {}): string[] {
  const out: string[] = [];
  if (netmend.verdict !== kernel.verdict) out.push(`verdict: netmend ${netmend.verdict}, kernel ${kernel.verdict}`);
  if ((netmend.rule ?? null) !== (kernel.rule ?? null)) out.push(`rule: netmend ${netmend.rule}, kernel ${kernel.rule}`);
  if ((netmend.dev ?? null) !== (kernel.dev ?? null)) out.push(`dev: netmend ${netmend.dev}, kernel ${kernel.dev}`);
  let ours = netmend.matched;
  if (options.traceStartsAt) {
    const start = ours.findIndex(options.traceStartsAt);
    if (start >= 0) ours = ours.slice(start);
  }
  if (ours.join(',') !== kernel.matched.join(',')) out.push(`matched rules: netmend [${ours.join(', ')}], kernel [${kernel.matched.join(', ')}]`);
  return out;
}
