/**
 * One packet through one netfilter hook: every base chain registered there, in the kernel's
 * order (chains.ts), each rule tried with why it matched or not, jumps and gotos followed on a
 * 16-deep stack, verdicts applied as nf_hook_slow does (accept ends only the current base chain,
 * drop ends everything), NAT chains run only for a flow's first packet, marks and rewrites
 * carried on to the next chain and to routing.
 */
import { formatAddress, type ParsedAddress } from '../net/address.js';
import { baseChainsAt, natSlot, type OrderedChain } from './chains.js';
import { tracksConnections } from './conntrack.js';
import { addressFromValue, evaluateMatch, field, statementValue, type EvalContext, type HostView } from './expr.js';
import { clonePacket, type PacketState } from './packet.js';
import { statement as renderStatement } from './render.js';
import type { Hook, Json, NftChain, NftRule, NftTable, RuleRef, Ruleset } from './types.js';
import { CT_STATE, showValue, type FieldType } from './values.js';

export type NetfilterVerdict = 'accept' | 'drop' | 'reject' | 'queue';

export type NfStep =
  | { kind: 'chain'; hook: Hook; family: string; table: string; chain: string; type: string; prio: number; policy: string; origin: string; note?: string }
  | { kind: 'skip'; hook: Hook; family: string; table: string; chain: string; why: string }
  | { kind: 'rule'; family: string; table: string; chain: string; handle: number; text: string; matched: boolean | null; why: string; verdict?: string; effects?: string[] }
  | { kind: 'policy'; family: string; table: string; chain: string; verdict: 'accept' | 'drop'; why: string }
  | { kind: 'rewrite'; what: 'dnat' | 'snat' | 'masquerade' | 'redirect' | 'payload'; field: string; from: string; to: string; rule: RuleRef }
  | { kind: 'note'; text: string };

export interface HookResult {
  hook: Hook;
  verdict: NetfilterVerdict;
  /** The rule (or chain policy, handle null) that dropped, rejected or queued the packet. */
  rule?: RuleRef;
  /** Reject details: `tcp reset`, `icmpx port-unreachable`, ... */
  reject?: string;
  packet: PacketState;
  steps: NfStep[];
  /** Why the answer is uncertain: an expression netmend cannot evaluate, an assumption. */
  uncertain: string[];
  /** A `type route` output chain changed mark or addresses, or output DNAT did: route again. */
  reroute: boolean;
}

const JUMP_STACK_SIZE = 16;

function ruleRef(rule: NftRule): RuleRef {
  return { family: rule.family, table: rule.table, chain: rule.chain, handle: rule.handle, text: rule.text };
}

function policyRef(chain: NftChain, verdict: string): RuleRef {
  return { family: chain.family, table: chain.table, chain: chain.name, handle: null, text: `policy ${verdict}` };
}

function isObject(value: Json): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type Flow =
  | { next: true }
  | { stop: true; why: string }
  | { unknown: string }
  | { verdict: 'accept' | 'drop' | 'reject' | 'queue' | 'continue' | 'return'; detail?: string }
  | { verdict: 'jump' | 'goto'; target: string };

interface RuleRun {
  context: EvalContext;
  packet: PacketState;
  steps: NfStep[];
  uncertain: string[];
  rule: NftRule;
  effects: string[];
}

function verdictOf(data: Json): Flow | undefined {
  if (!isObject(data)) return undefined;
  const [kind] = Object.keys(data);
  switch (kind) {
    case 'accept': case 'drop': case 'continue': case 'return': return { verdict: kind };
    case 'jump': case 'goto': return { verdict: kind, target: String((data[kind] as { target: string }).target) };
    case 'queue': return { verdict: 'queue' };
    default: return undefined;
  }
}

const MARK: FieldType = { kind: 'int' };

function natTarget(run: RuleRun, body: { [key: string]: Json }, family: 4 | 6): { addr?: ParsedAddress; port?: number } | Flow {
  const { packet, context } = run;
  let addrJson: Json | undefined = body.addr;
  let portJson: Json | undefined = body.port;
  const result: { addr?: ParsedAddress; port?: number } = {};
  // `dnat to ip daddr . tcp dport map { … : 10.0.0.2 . 80 }`: address and port from one map.
  if (isObject(addrJson) && 'map' in addrJson) {
    const mapBody = addrJson.map as { key: Json; data: Json };
    const key = field(mapBody.key, packet, context);
    if ('unknown' in key) return { unknown: key.unknown };
    if ('missing' in key) return { stop: true, why: key.missing };
    const lookedUp = field(addrJson, packet, context);
    if ('unknown' in lookedUp) return { unknown: lookedUp.unknown };
    if ('missing' in lookedUp) return { stop: true, why: lookedUp.missing };
    const data = lookedUp.typed.value as unknown as Json;
    if (isObject(data) && 'concat' in data && Array.isArray(data.concat)) {
      addrJson = data.concat[0];
      portJson = data.concat[1];
    } else addrJson = data;
  }
  if (addrJson !== undefined) {
    const type: FieldType = { kind: family === 4 ? 'ipv4' : 'ipv6' };
    const value = statementValue(addrJson, type, packet, context);
    if ('unknown' in value) return { unknown: value.unknown };
    if ('missing' in value) return { stop: true, why: value.missing };
    const addr = addressFromValue(value.value, family);
    if (!addr) return { unknown: `NAT address ${JSON.stringify(addrJson)}` };
    if (isObject(addrJson) && ('range' in addrJson || 'prefix' in addrJson)) run.uncertain.push(`rule ${run.rule.handle}: NAT to an address range; the kernel picks one by hash, the first is shown`);
    result.addr = addr;
  }
  if (portJson !== undefined) {
    const value = statementValue(portJson, MARK, packet, context);
    if ('unknown' in value) return { unknown: value.unknown };
    if ('missing' in value) return { stop: true, why: value.missing };
    if (typeof value.value !== 'number') return { unknown: `NAT port ${JSON.stringify(portJson)}` };
    result.port = value.value;
  }
  return result;
}

function rewrite(run: RuleRun, what: 'dnat' | 'snat' | 'masquerade' | 'redirect', target: { addr?: ParsedAddress; port?: number }): void {
  const { packet } = run;
  const isDst = what === 'dnat' || what === 'redirect';
  const before = `${formatAddress(isDst ? packet.daddr : packet.saddr)}${(isDst ? packet.dport : packet.sport) !== undefined ? `:${isDst ? packet.dport : packet.sport}` : ''}`;
  if (target.addr) {
    if (isDst) packet.daddr = target.addr;
    else packet.saddr = target.addr;
  }
  if (target.port !== undefined && (isDst ? packet.dport : packet.sport) !== undefined) {
    if (isDst) packet.dport = target.port;
    else packet.sport = target.port;
  }
  const after = `${formatAddress(isDst ? packet.daddr : packet.saddr)}${(isDst ? packet.dport : packet.sport) !== undefined ? `:${isDst ? packet.dport : packet.sport}` : ''}`;
  // The binding is made either way (IPS_*_NAT_DONE); the status bit only when the tuple changed (nf_nat_setup_info).
  packet.ct.natBound[isDst ? 'dst' : 'src'] = true;
  if (before !== after) packet.ct.status |= isDst ? 32 : 16;
  run.effects.push(`${what} ${isDst ? 'destination' : 'source'} ${before} → ${after}`);
  run.steps.push({ kind: 'rewrite', what, field: isDst ? 'destination' : 'source', from: before, to: after, rule: ruleRef(run.rule) });
}

/** One statement of a rule. */
function runStatement(run: RuleRun, s: Json): Flow {
  const { packet, context } = run;
  if (!isObject(s)) return { unknown: `statement ${JSON.stringify(s)}` };
  const [kind] = Object.keys(s);
  const body = s[kind];
  switch (kind) {
    case 'match': {
      const result = evaluateMatch(body as { op: string; left: Json; right: Json }, packet, context);
      if ('unknown' in result) return { unknown: result.unknown };
      return result.matched ? { next: true } : { stop: true, why: result.why };
    }
    case 'counter': case 'log': case 'secmark': case 'ct helper': case 'ct timeout': case 'ct expectation':
      return { next: true };
    case 'limit': case 'quota': {
      const inverted = isObject(body) && body.inv === true;
      run.uncertain.push(`rule ${run.rule.handle}: ${kind} assumed ${inverted ? 'not exceeded (so `over` does not match)' : 'not exceeded'} for this packet`);
      return inverted ? { stop: true, why: `${kind} over: assumed not exceeded` } : { next: true };
    }
    case 'notrack': {
      if (packet.ct.state !== CT_STATE.untracked) {
        packet.ct.state = CT_STATE.untracked;
        run.effects.push('notrack: no conntrack entry, so no NAT and ct state untracked');
      }
      return { next: true };
    }
    case 'flow': {
      packet.offloadedBy = String((body as { flowtable?: string }).flowtable ?? '');
      run.effects.push(`flow offload ${packet.offloadedBy}: from the next packet on, this flow bypasses prerouting/forward/postrouting (netmend follows this first packet)`);
      return { next: true };
    }
    case 'set': {
      run.effects.push(`${(body as { op: string }).op} to ${(body as { set: string }).set} (dynamic set; this packet is unaffected)`);
      return { next: true };
    }
    case 'mangle': {
      const m = body as { key: Json; value: Json };
      const key = m.key;
      if (isObject(key) && isObject(key.meta) && key.meta.key === 'nftrace') return { next: true };
      if (isObject(key) && ('tcp option' in key || (isObject(key.meta) && key.meta.key === 'priority'))) {
        run.effects.push(`${renderStatement(s)} (does not change the path)`);
        return { next: true };
      }
      const isMeta = isObject(key) && isObject(key.meta) && key.meta.key === 'mark';
      const isCt = isObject(key) && isObject(key.ct) && key.ct.key === 'mark';
      if (isMeta || isCt) {
        if (isCt && packet.ct.state === CT_STATE.untracked) return { next: true };
        const value = statementValue(m.value, MARK, packet, context);
        if ('unknown' in value) return { unknown: value.unknown };
        if ('missing' in value) return { stop: true, why: value.missing };
        const mark = (value.value as number) >>> 0;
        if (isMeta) {
          run.effects.push(`meta mark 0x${packet.mark.toString(16)} → 0x${mark.toString(16)}`);
          packet.mark = mark;
        } else {
          run.effects.push(`ct mark 0x${packet.ct.mark.toString(16)} → 0x${mark.toString(16)}`);
          packet.ct.mark = mark;
        }
        return { next: true };
      }
      if (isObject(key) && isObject(key.payload)) {
        const payload = key.payload as { protocol?: string; field?: string };
        const target = `${payload.protocol} ${payload.field}`;
        const isAddress = payload.field === 'saddr' || payload.field === 'daddr';
        const value = statementValue(m.value, isAddress ? { kind: packet.family === 4 ? 'ipv4' : 'ipv6' } : MARK, packet, context);
        if ('unknown' in value) return { unknown: value.unknown };
        if ('missing' in value) return { stop: true, why: value.missing };
        const before = field(key, packet, context);
        if (!('typed' in before)) return 'unknown' in before ? before : { stop: true, why: before.missing };
        const from = showValue(before.typed);
        if (isAddress) {
          const address = addressFromValue(value.value, packet.family);
          if (!address) return { unknown: `${target} set ${JSON.stringify(m.value)}` };
          if (payload.field === 'saddr') packet.saddr = address;
          else packet.daddr = address;
        } else if (payload.field === 'sport') packet.sport = value.value as number;
        else if (payload.field === 'dport') packet.dport = value.value as number;
        else if (payload.field === 'dscp') packet.dscp = value.value as number;
        else if (payload.field === 'ttl' || payload.field === 'hoplimit') packet.ttl = value.value as number;
        else return { unknown: `${target} set` };
        const after = field(key, packet, context);
        run.steps.push({ kind: 'rewrite', what: 'payload', field: target, from, to: 'typed' in after ? showValue(after.typed) : '?', rule: ruleRef(run.rule) });
        run.effects.push(`${target} ${from} → ${'typed' in after ? showValue(after.typed) : '?'} (stateless rewrite)`);
        return { next: true };
      }
      return { unknown: renderStatement(s) };
    }
    case 'accept': case 'drop': case 'continue': case 'return':
      return { verdict: kind };
    case 'jump': case 'goto':
      return { verdict: kind, target: String((body as { target: string }).target) };
    case 'queue': {
      const flags = isObject(body) ? ([] as Json[]).concat(body.flags ?? []) : [];
      run.uncertain.push(`rule ${run.rule.handle}: queue hands the packet to a userspace program; without one it is dropped${flags.includes('bypass') ? ' (with bypass: accepted)' : ''}`);
      return flags.includes('bypass') ? { verdict: 'accept', detail: 'queue bypass' } : { verdict: 'queue' };
    }
    case 'reject': {
      // nft hides the dependency it adds for a typed reject (`meta l4proto tcp` for tcp reset,
      // `meta nfproto` for icmp/icmpv6 in inet), but the kernel checks it: other packets do not match.
      const type = isObject(body) ? body.type : undefined;
      if (type === 'tcp reset' && packet.l4proto !== 6) return { stop: true, why: 'reject with tcp reset only matches TCP (hidden `meta l4proto tcp`)' };
      if (type === 'icmp' && packet.family !== 4) return { stop: true, why: 'reject with icmp only matches IPv4 (hidden `meta nfproto ipv4`)' };
      if (type === 'icmpv6' && packet.family !== 6) return { stop: true, why: 'reject with icmpv6 only matches IPv6 (hidden `meta nfproto ipv6`)' };
      const detail = renderStatement(s).replace(/^reject( with )?/, '') || (run.rule.family === 'inet' ? 'icmpx port-unreachable' : packet.family === 4 ? 'icmp port-unreachable' : 'icmpv6 port-unreachable');
      return { verdict: 'reject', detail };
    }
    case 'vmap': {
      const v = body as { key: Json; data: Json };
      const key = field(v.key, packet, context);
      if ('unknown' in key) return { unknown: key.unknown };
      if ('missing' in key) return { stop: true, why: key.missing };
      const lookup = field({ map: { key: v.key, data: v.data } }, packet, context);
      if ('unknown' in lookup) return { unknown: lookup.unknown };
      if ('missing' in lookup) return { stop: true, why: `vmap: ${showValue(key.typed)} is not a key (the rule does not match)` };
      const verdict = verdictOf(lookup.typed.value as unknown as Json);
      if (!verdict) return { unknown: `vmap data ${JSON.stringify(lookup.typed.value)}` };
      run.effects.push(`vmap: ${showValue(key.typed)} → ${renderStatement(lookup.typed.value as unknown as Json)}`);
      return verdict;
    }
    case 'snat': case 'dnat': case 'masquerade': case 'redirect': {
      const b = isObject(body) ? body : {};
      const family = b.family === 'ip' ? 4 : b.family === 'ip6' ? 6 : undefined;
      if (family !== undefined && family !== packet.family) {
        // nft_nat_inet_eval: NAT of the other family does nothing and the rule goes on (it matched),
        // once the lookups of its target (a map keyed by port) have found something.
        const target = natTarget(run, b, family);
        if ('stop' in target || 'unknown' in target) return target as Flow;
        run.effects.push(`${kind} ${b.family} does nothing to an IPv${packet.family} packet`);
        return { next: true };
      }
      if (packet.ct.state === CT_STATE.untracked) return { verdict: 'accept' };
      if (kind === 'masquerade') {
        const address = context.host.masqueradeAddress(packet);
        if (!address) return { verdict: 'drop', detail: `masquerade: ${packet.oif ?? 'the output interface'} has no IPv${packet.family} address` };
        const port = b.port !== undefined ? natTarget(run, { port: b.port }, packet.family) : {};
        if ('verdict' in port || 'stop' in port || 'unknown' in port || 'next' in port) return port as Flow;
        rewrite(run, 'masquerade', { addr: address, port: (port as { port?: number }).port });
        return { verdict: 'accept' };
      }
      const target = natTarget(run, b, packet.family);
      if ('verdict' in target || 'stop' in target || 'unknown' in target || 'next' in target) return target as Flow;
      if (kind === 'redirect') {
        const address = context.host.redirectAddress(packet);
        if (!address) return { verdict: 'drop', detail: 'redirect: the incoming interface has no address' };
        rewrite(run, 'redirect', { addr: address, port: target.port });
      } else rewrite(run, kind, target);
      return { verdict: 'accept' };
    }
    default:
      return { unknown: renderStatement(s) };
  }
}

/** All statements of one rule. */
function runRule(run: RuleRun): Flow {
  for (const s of run.rule.expr) {
    const flow = runStatement(run, s);
    if ('next' in flow) continue;
    return flow;
  }
  return { next: true };
}

interface ChainOutcome {
  verdict: 'accept' | 'drop' | 'reject' | 'queue';
  rule?: RuleRef;
  detail?: string;
}

function runBaseChain(table: NftTable, chain: NftChain, packet: PacketState, context: EvalContext, steps: NfStep[], uncertain: string[]): ChainOutcome {
  const stack: Array<{ chain: NftChain; position: number }> = [];
  let current = chain;
  let position = 0;
  for (;;) {
    if (position >= current.rules.length) {
      // End of a regular chain returns to the caller; end of the base chain applies its policy.
      const back = stack.pop();
      if (back) {
        current = back.chain;
        position = back.position;
        continue;
      }
      const policy = chain.base!.policy;
      steps.push({ kind: 'policy', family: chain.family, table: chain.table, chain: chain.name, verdict: policy, why: 'no rule decided: the chain policy applies' });
      return policy === 'drop' ? { verdict: 'drop', rule: policyRef(chain, policy) } : { verdict: 'accept' };
    }
    const rule = current.rules[position++];
    const run: RuleRun = { context, packet, steps, uncertain, rule, effects: [] };
    const stepsBefore = steps.length;
    const flow = runRule(run);
    const record = (matched: boolean | null, why: string, verdict?: string) => {
      const step: NfStep = { kind: 'rule', family: rule.family, table: rule.table, chain: rule.chain, handle: rule.handle, text: rule.text, matched, why };
      if (verdict) step.verdict = verdict;
      if (run.effects.length) step.effects = run.effects;
      // A rewrite step was pushed while the rule ran: keep the rule's own step before it.
      // (Searched from stepsBefore only: a scan from 0 made a 2,000-rule chain quadratic.)
      let firstRewrite = stepsBefore;
      while (firstRewrite < steps.length && steps[firstRewrite].kind !== 'rewrite') firstRewrite++;
      if (firstRewrite < steps.length) steps.splice(firstRewrite, 0, step);
      else steps.push(step);
    };
    if ('unknown' in flow) {
      uncertain.push(`cannot judge rule ${rule.handle} (${rule.family} ${rule.table} ${rule.chain}): uses ${flow.unknown}`);
      record(null, `cannot judge: uses ${flow.unknown}; netmend assumes it does not match, so the verdict is uncertain`);
      continue;
    }
    if ('stop' in flow) {
      record(false, flow.why);
      continue;
    }
    if ('next' in flow) {
      record(true, 'matched; no verdict, next rule');
      continue;
    }
    switch (flow.verdict) {
      case 'continue':
        record(true, 'matched: continue');
        continue;
      case 'accept':
        record(true, flow.detail ? `matched: accept (${flow.detail})` : 'matched: accept ends this base chain; later base chains still run', 'accept');
        return { verdict: 'accept', rule: ruleRef(rule) };
      case 'drop':
        record(true, flow.detail ? `matched: drop (${flow.detail})` : 'matched: drop', 'drop');
        return { verdict: 'drop', rule: ruleRef(rule), detail: flow.detail };
      case 'reject':
        record(true, `matched: reject with ${flow.detail}`, 'reject');
        return { verdict: 'reject', rule: ruleRef(rule), detail: flow.detail };
      case 'queue':
        record(true, 'matched: queue', 'queue');
        return { verdict: 'queue', rule: ruleRef(rule) };
      case 'return': {
        record(true, stack.length ? 'matched: return to the calling chain' : 'matched: return in a base chain applies the policy', 'return');
        const back = stack.pop();
        if (back) {
          current = back.chain;
          position = back.position;
          continue;
        }
        position = current.rules.length;
        continue;
      }
      case 'jump': case 'goto': {
        const target = table.chains.get(flow.target);
        if (!target) {
          uncertain.push(`rule ${rule.handle}: ${flow.verdict} to chain ${flow.target}, which the ruleset does not list`);
          record(null, `${flow.verdict} ${flow.target}: no such chain`);
          continue;
        }
        record(true, `matched: ${flow.verdict} ${flow.target}`, `${flow.verdict} ${flow.target}`);
        if (flow.verdict === 'jump') {
          if (stack.length >= JUMP_STACK_SIZE - 1) {
            uncertain.push(`rule ${rule.handle}: jump deeper than the kernel's ${JUMP_STACK_SIZE}-level stack`);
            continue;
          }
          stack.push({ chain: current, position });
        }
        current = target;
        position = 0;
        continue;
      }
    }
  }
}

/** Whether a NAT chain at this hook may run for this packet, and why not when it may not. */
function natChainSkip(ruleset: Ruleset, hook: Hook, packet: PacketState): string | undefined {
  const slot = natSlot(hook);
  if (!slot) return 'nat chains only run at prerouting, input, output and postrouting';
  if (!tracksConnections(ruleset, packet.family)) {
    return `nothing in this namespace enables IPv${packet.family} connection tracking (no ct expression, IPv${packet.family} NAT statement or ct object), so the kernel runs no nat chain for IPv${packet.family} packets`;
  }
  if (packet.ct.state === CT_STATE.untracked) return 'the packet is untracked (notrack): NAT chains never see it';
  if (packet.ct.direction === 1 || (packet.ct.state !== CT_STATE.new && packet.ct.state !== CT_STATE.related)) {
    return 'not the first packet of its connection: the NAT binding made for the first packet applies, NAT chains do not run';
  }
  if (packet.ct.natBound[slot.manip]) return `a ${slot.manip === 'dst' ? 'destination' : 'source'} NAT binding already exists for this connection`;
  return undefined;
}

/**
 * Runs every base chain of `hook` for the packet's family and returns the verdict, the packet as it
 * leaves the hook (marks and addresses changed) and the steps. The input packet is not modified.
 */
export function runHook(ruleset: Ruleset, hook: Hook, input: PacketState, host: HostView): HookResult {
  const packet = clonePacket(input);
  const steps: NfStep[] = [];
  const uncertain: string[] = [];
  let reroute = false;
  const chains = baseChainsAt(ruleset, hook, packet.family);
  const slot = natSlot(hook);
  let natDecided = false;
  let restored = false;
  const restore = () => {
    restored = true;
    const manip = slot?.manip;
    const endpoint = manip ? packet.ct.reverse?.[manip] : undefined;
    if (!manip || !endpoint) return;
    const isDst = manip === 'dst';
    const show = (addr: ParsedAddress, port?: number) => `${formatAddress(addr)}${port !== undefined ? `:${port}` : ''}`;
    const from = isDst ? show(packet.daddr, packet.dport) : show(packet.saddr, packet.sport);
    if (isDst) {
      packet.daddr = endpoint.addr;
      if (endpoint.port !== undefined && packet.dport !== undefined) packet.dport = endpoint.port;
    } else {
      packet.saddr = endpoint.addr;
      if (endpoint.port !== undefined && packet.sport !== undefined) packet.sport = endpoint.port;
    }
    const to = isDst ? show(packet.daddr, packet.dport) : show(packet.saddr, packet.sport);
    steps.push({ kind: 'note', text: `conntrack reverses the connection's ${isDst ? 'source NAT: destination' : 'destination NAT: source'} ${from} → ${to} (at the NAT slot, priority ${slot!.prio})` });
  };
  for (const ordered of chains) {
    const { table, chain } = ordered;
    const base = chain.base!;
    if (slot && !restored && (ordered.position > slot.prio || (base.type === 'nat' && ordered.position >= slot.prio))) restore();
    if (base.type === 'nat') {
      const skip = natDecided ? `a ${slot?.manip === 'dst' ? 'destination' : 'source'} NAT binding was made by an earlier nat chain of this hook` : natChainSkip(ruleset, hook, packet);
      if (skip) {
        steps.push({ kind: 'skip', hook, family: chain.family, table: chain.table, chain: chain.name, why: skip });
        continue;
      }
    }
    steps.push(chainStep(hook, ordered));
    const context: EvalContext = { table, hook, chainType: base.type, host };
    const before = { mark: packet.mark, saddr: formatAddress(packet.saddr), daddr: formatAddress(packet.daddr) };
    const outcome = runBaseChain(table, chain, packet, context, steps, uncertain);
    if (base.type === 'nat' && slot) {
      if (packet.ct.natBound[slot.manip]) natDecided = true;
      if (slot.manip === 'dst' && formatAddress(packet.daddr) !== before.daddr && hook === 'output') reroute = true;
    }
    if (base.type === 'route' && hook === 'output' && (packet.mark !== before.mark || formatAddress(packet.saddr) !== before.saddr || formatAddress(packet.daddr) !== before.daddr)) {
      reroute = true;
      steps.push({ kind: 'note', text: `${chain.family} ${chain.table} ${chain.name} is a route chain and changed the ${packet.mark !== before.mark ? 'mark' : 'addresses'}: the kernel routes the packet again` });
    }
    if (outcome.verdict !== 'accept') {
      return { hook, verdict: outcome.verdict, rule: outcome.rule, reject: outcome.verdict === 'reject' ? outcome.detail : undefined, packet, steps, uncertain, reroute };
    }
  }
  if (!restored) restore();
  // Whatever the chains did, the first packet of a connection leaves the NAT slot bound (a null
  // binding when no rule translated): later NAT chains of that type do not run again.
  if (slot && packet.ct.state !== CT_STATE.untracked && packet.ct.direction === 0) packet.ct.natBound[slot.manip] = true;
  return { hook, verdict: 'accept', packet, steps, uncertain, reroute };
}

function chainStep(hook: Hook, ordered: OrderedChain): NfStep {
  const { chain, table } = ordered;
  const base = chain.base!;
  const step: NfStep = { kind: 'chain', hook, family: chain.family, table: chain.table, chain: chain.name, type: base.type, prio: base.prio, policy: base.policy, origin: table.origin };
  if (ordered.note) step.note = ordered.note;
  return step;
}
