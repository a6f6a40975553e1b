/**
 * One packet's whole path through a Linux router, netfilter included, the way the kernel walks it:
 * - arriving on an interface: prerouting → routing (after DNAT, with the mark the mangle chains
 *   set; rp_filter) → input (delivered) or forward → postrouting (forwarded);
 * - locally generated: routing → output → re-route when a route chain changed mark or addresses
 *   or output DNAT changed the destination (the source stays) → postrouting;
 * - `reply`: the answer's way back through conntrack (established, reverse NAT, no NAT chains).
 *
 * explainPath(snapshot, query) is the API: pure over the snapshot (which must hold the firewall),
 * returning the structured answer the CLI prints and the doctor builds on.
 */
import { InputError } from '../errors.js';
import { formatAddress, parseAddress, type ParsedAddress } from '../net/address.js';
import { runHook, type NfStep } from '../netfilter/evaluate.js';
import { IPPROTO, hasPorts, type PacketState } from '../netfilter/packet.js';
import { rulesetOf } from '../netfilter/ruleset.js';
import type { Hook, RuleRef, Ruleset } from '../netfilter/types.js';
import { CT_STATE, INET_PROTO } from '../netfilter/values.js';
import { formatResult, simulateRoute } from '../route/simulate.js';
import type { RouteQuery, RouteResult } from '../route/types.js';
import { requireFirewall, type FirewallBackend } from '../snapshot/firewall.js';
import type { Snapshot } from '../snapshot/types.js';
import { hostView, type HostContext } from './host.js';

export const PATH_DOCUMENT_VERSION = 1;

export interface PathQuery {
  destination: string;
  from?: string;
  /** The interface the packet arrives on; without it the packet is locally generated. */
  iif?: string;
  /** tcp, udp, icmp (icmpv6 for IPv6) or a protocol number; default icmp, or tcp when a port is given. */
  protocol?: string;
  dport?: number;
  sport?: number;
  mark?: number;
  /** Also follow the reply back. */
  reply?: boolean;
}

export type PathVerdict = 'delivered' | 'forwarded' | 'dropped' | 'rejected' | 'no-route';

export type PathStep =
  | { kind: 'hook'; hook: Hook; text: string }
  | { kind: 'route'; purpose: 'input' | 'output' | 'reroute'; text: string; reason: string; result: RouteResult }
  | NfStep;

export interface PathResult {
  verdict: PathVerdict;
  /** Out interface when forwarded or sent; 'lo' when delivered. */
  dev: string | null;
  /** The packet's addresses as they leave (after NAT) or as delivered. */
  saddr: string;
  daddr: string;
  sport: number | null;
  dport: number | null;
  /** The rule that dropped or rejected the packet (handle null: a chain policy). */
  rule: RuleRef | null;
  /** Reject with tcp reset / icmpx …, when rejected. */
  reject: string | null;
  /** One line for people. */
  summary: string;
  /** Why the answer may be wrong (unknown expressions, assumptions); empty when certain. */
  uncertain: string[];
}

export interface PathPacket {
  family: 4 | 6;
  saddr: string;
  daddr: string;
  protocol: string;
  sport: number | null;
  dport: number | null;
  iif: string | null;
  local: boolean;
  mark: number;
}

export interface PathLeg {
  packet: PathPacket;
  result: PathResult;
  steps: PathStep[];
}

export interface PathExplanation extends PathLeg {
  version: typeof PATH_DOCUMENT_VERSION;
  reply: PathLeg | null;
  firewall: { backends: FirewallBackend[]; notes: string[] };
}

function protocolNumber(text: string | undefined, family: 4 | 6, hasPort: boolean): number {
  if (text === undefined) return hasPort ? IPPROTO.tcp : family === 4 ? IPPROTO.icmp : IPPROTO.icmpv6;
  const lower = text.toLowerCase();
  if (lower === 'icmp' || lower === 'icmpv6' || lower === 'ipv6-icmp') return family === 4 ? IPPROTO.icmp : IPPROTO.icmpv6;
  if (/^\d+$/.test(lower) && Number(lower) <= 255) return Number(lower);
  if (Object.hasOwn(INET_PROTO, lower)) return INET_PROTO[lower];
  throw new InputError(`--proto: '${text}' is not tcp, udp, icmp or a protocol number`);
}

function protocolName(number: number): string {
  return Object.entries(INET_PROTO).find(([, n]) => n === number)?.[0] ?? String(number);
}

function pkttypeOf(address: ParsedAddress): number {
  if (address.family === 4) return (address.value as number) === 0xffffffff ? 1 : (address.value as number) >>> 28 === 0xe ? 2 : 0;
  return ((address.value as bigint) >> 120n) === 0xffn ? 2 : 0;
}

/** Validates the query and builds the first packet. */
function firstPacket(snapshot: Snapshot, query: PathQuery): PacketState {
  const daddr = parseAddress(query.destination);
  if (!daddr) throw new InputError(`destination '${query.destination}' is not an IPv4 or IPv6 address`, 'give an address such as 10.0.0.1 or 2001:db8::1');
  let saddr: ParsedAddress | undefined;
  if (query.from !== undefined) {
    saddr = parseAddress(query.from);
    if (!saddr) throw new InputError(`--from: '${query.from}' is not an IPv4 or IPv6 address`);
    if (saddr.family !== daddr.family) throw new InputError(`--from ${query.from} is IPv${saddr.family} but the destination is IPv${daddr.family}`);
  }
  if (query.iif !== undefined && !snapshot.links.some((link) => link.name === query.iif)) {
    throw new InputError(`--iif: no interface named '${query.iif}'`, `interfaces: ${snapshot.links.map((link) => link.name).join(', ') || 'none'}`);
  }
  if (query.iif !== undefined && !saddr) throw new InputError('--iif needs --from: a packet arriving on an interface has a source address');
  const hasPort = query.dport !== undefined || query.sport !== undefined;
  const l4proto = protocolNumber(query.protocol, daddr.family, hasPort);
  for (const [flag, port] of [['--dport', query.dport], ['--sport', query.sport]] as const) {
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new InputError(`${flag}: '${port}' is not a port (0-65535)`);
    if (port !== undefined && !hasPorts(l4proto)) throw new InputError(`${flag} needs --proto tcp or udp (the packet is ${protocolName(l4proto)})`);
  }
  const ports = hasPorts(l4proto) ? { sport: query.sport ?? 40000, dport: query.dport ?? 80 } : {};
  const icmp = l4proto === IPPROTO.icmp ? { icmpType: 8, icmpCode: 0 } : l4proto === IPPROTO.icmpv6 ? { icmpType: 128, icmpCode: 0 } : {};
  const source = saddr ?? (daddr.family === 4 ? { family: 4 as const, value: 0 } : { family: 6 as const, value: 0n });
  return {
    family: daddr.family, saddr: source, daddr, l4proto, ...ports, ...icmp,
    ...(l4proto === IPPROTO.tcp ? { tcpFlags: 2 } : {}),
    ...(query.iif !== undefined ? { iif: query.iif } : { skuid: 0, skgid: 0 }),
    mark: (query.mark ?? 0) >>> 0, pkttype: pkttypeOf(daddr), ttl: 64, dscp: 0, nftrace: 0,
    ct: { state: CT_STATE.new, status: 0, mark: 0, direction: 0, original: { saddr: source, daddr, ...ports }, natBound: { dst: false, src: false } },
  };
}

function describe(packet: PacketState): PathPacket {
  return {
    family: packet.family, saddr: formatAddress(packet.saddr), daddr: formatAddress(packet.daddr), protocol: protocolName(packet.l4proto),
    sport: packet.sport ?? null, dport: packet.dport ?? null, iif: packet.iif ?? null, local: packet.iif === undefined, mark: packet.mark,
  };
}

const HOOK_TEXT: Record<string, string> = {
  prerouting: 'prerouting: every packet that arrives, before the routing decision',
  input: 'input: packets delivered to this host',
  forward: 'forward: packets routed through this host',
  output: 'output: packets this host sends',
  postrouting: 'postrouting: every packet that leaves, after routing',
};

class Walk {
  readonly steps: PathStep[] = [];
  readonly uncertain: string[] = [];
  readonly context: HostContext = {};
  constructor(readonly snapshot: Snapshot, readonly ruleset: Ruleset) {}

  hook(hook: Hook, packet: PacketState): { packet: PacketState; end?: PathResult; reroute: boolean } {
    this.steps.push({ kind: 'hook', hook, text: HOOK_TEXT[hook] ?? hook });
    const result = runHook(this.ruleset, hook, packet, hostView(this.snapshot, this.context));
    if (!result.steps.some((step) => step.kind === 'chain' || step.kind === 'skip')) this.steps.push({ kind: 'note', text: 'no base chain at this hook' });
    this.steps.push(...result.steps);
    this.uncertain.push(...result.uncertain);
    if (result.verdict === 'accept') return { packet: result.packet, reroute: result.reroute };
    const verdict = result.verdict === 'reject' ? 'rejected' : 'dropped';
    const rule = result.rule ?? null;
    const by = rule ? `${rule.family} ${rule.table} ${rule.chain} ${rule.handle === null ? rule.text : `rule ${rule.handle}: ${rule.text}`}` : 'netfilter';
    const summary = result.verdict === 'queue'
      ? `queued to userspace by ${by} (dropped unless a program reads the queue) at ${hook}`
      : `${verdict} at ${hook} by ${by}${result.reject && !by.includes(`reject with ${result.reject}`) ? ` (reject with ${result.reject})` : ''}`;
    return { packet: result.packet, reroute: false, end: this.result(result.packet, verdict, null, summary, rule, result.reject ?? null) };
  }

  route(purpose: 'input' | 'output' | 'reroute', packet: PacketState, query: RouteQuery): RouteResult {
    const decision = simulateRoute(this.snapshot, query);
    const final = decision.steps.find((step) => step.kind === 'final');
    this.steps.push({ kind: 'route', purpose, text: formatResult(query, decision.result), reason: final?.reason ?? '', result: decision.result });
    const gateway = decision.result.gateway ? parseAddress(decision.result.gateway) : undefined;
    this.context.nextHop = gateway ?? packet.daddr;
    return decision.result;
  }

  result(packet: PacketState, verdict: PathVerdict, dev: string | null, summary: string, rule: RuleRef | null = null, reject: string | null = null): PathResult {
    return {
      verdict, dev, saddr: formatAddress(packet.saddr), daddr: formatAddress(packet.daddr), sport: packet.sport ?? null, dport: packet.dport ?? null,
      rule, reject, summary, uncertain: [...new Set(this.uncertain)],
    };
  }

  noRoute(packet: PacketState, result: RouteResult, where: string): PathResult {
    const final = this.steps[this.steps.length - 1];
    const reason = final?.kind === 'route' ? final.reason : '';
    return this.result(packet, 'no-route', null, `no route ${where}: ${result.error ?? result.type}${reason ? ` (${reason})` : ''}`);
  }

  /** A packet arriving on packet.iif. */
  inbound(start: PacketState): { result: PathResult; packet: PacketState } {
    let packet = start;
    const pre = this.hook('prerouting', packet);
    packet = pre.packet;
    if (pre.end) return { result: pre.end, packet };
    const routed = this.route('input', packet, { destination: formatAddress(packet.daddr), from: formatAddress(packet.saddr), iif: packet.iif, mark: packet.mark });
    if (routed.type === 'error') return { result: this.noRoute(packet, routed, `for the packet from ${packet.iif}`), packet };
    if (routed.dev === 'lo' || routed.type === 'local' || routed.type === 'broadcast') return this.deliver(packet);
    packet = { ...packet, oif: routed.dev };
    const forward = this.hook('forward', packet);
    packet = forward.packet;
    if (forward.end) return { result: forward.end, packet };
    const post = this.hook('postrouting', packet);
    packet = post.packet;
    if (post.end) return { result: post.end, packet };
    const via = routed.gateway ? ` via ${routed.gateway}` : '';
    return { result: this.result(packet, 'forwarded', routed.dev ?? null, `forwarded out ${routed.dev}${via} with source ${formatAddress(packet.saddr)}`), packet };
  }

  deliver(start: PacketState): { result: PathResult; packet: PacketState } {
    const input = this.hook('input', start);
    if (input.end) return { result: input.end, packet: input.packet };
    return { result: this.result(input.packet, 'delivered', 'lo', `delivered locally to ${formatAddress(input.packet.daddr)}${input.packet.dport !== undefined ? ` port ${input.packet.dport}` : ''}`), packet: input.packet };
  }

  /** A packet this host sends. */
  outbound(start: PacketState, chosenSource: boolean): { result: PathResult; packet: PacketState } {
    let packet = start;
    const query: RouteQuery = { destination: formatAddress(packet.daddr), mark: packet.mark };
    if (chosenSource) query.from = formatAddress(packet.saddr);
    let routed = this.route('output', packet, query);
    if (routed.type === 'error') return { result: this.noRoute(packet, routed, 'for the locally generated packet'), packet };
    if (!chosenSource) {
      const source = routed.prefsrc ? parseAddress(routed.prefsrc) : undefined;
      if (source) packet = { ...packet, saddr: source, ct: { ...packet.ct, original: { ...packet.ct.original, saddr: source } } };
    }
    packet = { ...packet, oif: routed.dev };
    const output = this.hook('output', packet);
    packet = output.packet;
    if (output.end) return { result: output.end, packet };
    if (output.reroute) {
      // ip_route_me_harder: a new lookup with the new mark/destination; the source stays.
      routed = this.route('reroute', packet, { destination: formatAddress(packet.daddr), from: formatAddress(packet.saddr), mark: packet.mark });
      if (routed.type === 'error') return { result: this.noRoute(packet, routed, 'after the output chains re-routed the packet'), packet };
      packet = { ...packet, oif: routed.dev };
    }
    const post = this.hook('postrouting', packet);
    packet = post.packet;
    if (post.end) return { result: post.end, packet };
    if (routed.dev === 'lo' || routed.type === 'local') {
      // Looped back: prerouting and input with iif lo (the route stays attached to the packet).
      const looped: PacketState = { ...packet, iif: 'lo', oif: undefined };
      const pre = this.hook('prerouting', looped);
      if (pre.end) return { result: pre.end, packet: pre.packet };
      return this.deliver(pre.packet);
    }
    const via = routed.gateway ? ` via ${routed.gateway}` : '';
    return { result: this.result(packet, 'forwarded', routed.dev ?? null, `sent out ${routed.dev}${via} with source ${formatAddress(packet.saddr)}`), packet };
  }
}

function runLeg(snapshot: Snapshot, ruleset: Ruleset, packet: PacketState, chosenSource: boolean): { leg: PathLeg; final: PacketState } {
  const walk = new Walk(snapshot, ruleset);
  const described = describe(packet);
  const { result, packet: final } = packet.iif !== undefined ? walk.inbound(packet) : walk.outbound(packet, chosenSource);
  if (packet.iif === undefined && described.saddr !== formatAddress(final.saddr) && final.ct.original.saddr) described.saddr = formatAddress(final.ct.original.saddr);
  return { leg: { packet: described, result, steps: walk.steps }, final };
}

/** The reply to a packet that got through: swapped addresses, established, reverse NAT by conntrack. */
function replyPacket(final: PacketState, result: PathResult): PacketState {
  const ports = final.sport !== undefined ? { sport: final.dport, dport: final.sport } : {};
  const reverse: PacketState['ct']['reverse'] = {};
  // The tuple conntrack recorded (for a packet this host sends: with the source routing chose).
  const tuple = final.ct.original;
  // What the original's source NAT changed, conntrack restores as the reply's destination...
  if (formatAddress(final.saddr) !== formatAddress(tuple.saddr) || final.sport !== tuple.sport) {
    reverse.dst = { addr: tuple.saddr, port: tuple.sport };
  }
  // ...and what destination NAT changed, as the reply's source.
  if (formatAddress(final.daddr) !== formatAddress(tuple.daddr) || final.dport !== tuple.dport) {
    reverse.src = { addr: tuple.daddr, port: tuple.dport };
  }
  const reply: PacketState = {
    family: final.family, saddr: final.daddr, daddr: final.saddr, l4proto: final.l4proto, ...ports,
    ...(final.l4proto === IPPROTO.tcp ? { tcpFlags: 0x12 } : {}),
    ...(final.l4proto === IPPROTO.icmp ? { icmpType: 0, icmpCode: 0 } : final.l4proto === IPPROTO.icmpv6 ? { icmpType: 129, icmpCode: 0 } : {}),
    mark: 0, pkttype: 0, ttl: 64, dscp: 0, nftrace: 0,
    ct: {
      state: final.ct.state === CT_STATE.untracked ? CT_STATE.untracked : CT_STATE.established, status: final.ct.status | 2 | 8, mark: final.ct.mark, direction: 1,
      original: final.ct.original, natBound: { dst: true, src: true }, reverse,
    },
  };
  // Forwarded, or sent by this host: the reply arrives on the interface it left by.
  if (result.verdict === 'forwarded') return { ...reply, iif: result.dev ?? undefined };
  // Delivered here: this host answers (locally generated).
  return { ...reply, skuid: 0, skgid: 0 };
}

export function explainPath(snapshot: Snapshot, query: PathQuery): PathExplanation {
  const firewall = requireFirewall(snapshot, 'path explain');
  const ruleset = rulesetOf(firewall);
  const packet = firstPacket(snapshot, query);
  const { leg, final } = runLeg(snapshot, ruleset, packet, query.from !== undefined);
  let reply: PathLeg | null = null;
  if (query.reply) {
    if (leg.result.verdict === 'delivered' || leg.result.verdict === 'forwarded') {
      reply = runLeg(snapshot, ruleset, replyPacket(final, leg.result), true).leg;
    } else {
      reply = null;
    }
  }
  return { version: PATH_DOCUMENT_VERSION, ...leg, reply, firewall: { backends: firewall.backends, notes: [...firewall.notes, ...ruleset.warnings] } };
}
