/**
 * What the forward checks share: the router's roles (mesh tunnels, LAN links, the WAN link of the
 * default route), sample packets (a LAN client, a mesh peer, an internet host) and the `path
 * explain` story of a packet and its reply, condensed into evidence lines. Every verdict comes
 * from explainPath (src/path/simulate.ts), never from reading rules by eye.
 */
import { formatAddress, formatPrefix, parsePrefix, prefixContains, prefixContainsPrefix, type ParsedAddress, type ParsedPrefix } from '../../../net/address.js';
import { explainPath, type PathExplanation, type PathLeg, type PathQuery, type PathStep } from '../../../path/simulate.js';
import type { Family, Snapshot } from '../../../snapshot/types.js';
import { isDefaultRoute, routingView, type LanPrefix, type RoutingView } from '../../analysis.js';
import { FIREWALL_GATHERER } from '../../gather/firewall.js';
import { TAILSCALE_GATHERER, type TailscaleFacts } from '../../gather/tailscale.js';
import { skip, skipWithoutMesh } from '../../result.js';
import type { Check, CheckOptions, CheckResult, HostState } from '../../types.js';

/** tailscaled's MagicDNS addresses: routed into the tunnel, but never a peer to forward to. */
const MAGIC_DNS = new Set(['100.100.100.100', 'fd7a:115c:a1e0::53']);
/** A stand-in for "somewhere on the internet" when a packet's destination only has to be off-link. */
export const INTERNET_SAMPLE: Record<Family, string> = { 4: '1.1.1.1', 6: '2606:4700:4700::1111' };
/** A remote mesh peer's public address, as seen arriving on the WAN (TEST-NET-2). */
export const REMOTE_PEER_SAMPLE: Record<Family, string> = { 4: '198.51.100.20', 6: '2001:db8:5::20' };
/** How many advertised subnets are probed (each costs one simulated packet and its reply). */
const MAX_SUBNETS = 8;

export const FORWARD_NEEDS = [FIREWALL_GATHERER, TAILSCALE_GATHERER];

export interface MeshTarget {
  family: Family;
  /** The address a packet is sent to. */
  sample: string;
  /** The route's prefix: a peer's /32 or a subnet behind a peer. */
  prefix: string;
  dev: string;
  kind: 'peer' | 'subnet';
}

export interface Lan extends LanPrefix {
  /** A client address inside the LAN that is not the router's. */
  client: string;
}

export interface ForwardInput {
  snapshot: Snapshot;
  view: RoutingView;
  /** Connected prefixes of LAN links: not the mesh, not the link of a default route. */
  lans: Lan[];
  /** Links that carry a default route through a gateway (the WAN). */
  wans: Array<{ dev: string; gateway: string; family: Family }>;
  meshTargets: MeshTarget[];
  tailscale?: TailscaleFacts;
}

/** The n-th host address of a prefix that the router does not own. */
function hostIn(prefix: ParsedPrefix, own: Set<string>, skipFirst = 1): string | undefined {
  const max = prefix.family === 4 ? 32 : 128;
  if (prefix.length >= max) return formatAddress(prefix as ParsedAddress);
  for (let offset = skipFirst; offset < skipFirst + 8; offset++) {
    const address: ParsedAddress = prefix.family === 4
      ? { family: 4, value: (prefix.value + offset) >>> 0 }
      : { family: 6, value: prefix.value + BigInt(offset) };
    if (!prefixContains(prefix, address)) return undefined;
    const text = formatAddress(address);
    if (!own.has(text)) return text;
  }
  return undefined;
}

function meshTargets(snapshot: Snapshot, view: RoutingView): MeshTarget[] {
  const peers: MeshTarget[] = [];
  const subnets: MeshTarget[] = [];
  const seen = new Set<string>();
  for (const route of view.meshRoutes) {
    if (route.type !== 'unicast' || isDefaultRoute(route) || !route.dev) continue;
    const prefix = parsePrefix(route.dst.includes('/') ? route.dst : `${route.dst}/${route.family === 4 ? 32 : 128}`);
    if (!prefix) continue;
    const text = formatPrefix(prefix);
    if (seen.has(`${route.family} ${text}`) || text.startsWith('fe80') || text.startsWith('ff')) continue;
    seen.add(`${route.family} ${text}`);
    const host = prefix.length === (prefix.family === 4 ? 32 : 128);
    const sample = hostIn(prefix, view.ownAddresses);
    if (!sample || MAGIC_DNS.has(sample)) continue;
    // The tunnel's own connected prefix (wg0 10.9.0.1/24) holds the peers; a /32 is one peer.
    const isPeer = host || route.protocol === 'kernel';
    (isPeer ? peers : subnets).push({ family: route.family, sample, prefix: text, dev: route.dev, kind: isPeer ? 'peer' : 'subnet' });
  }
  void snapshot;
  return [...peers.slice(0, 1), ...peers.filter((peer) => peer.family === 6).slice(0, 1), ...subnets.slice(0, MAX_SUBNETS)]
    .filter((target, index, all) => all.indexOf(target) === index);
}

/** The roles and samples, or the skip saying why the checks cannot judge this host. */
export function forwardInput(check: Pick<Check, 'id'>, state: HostState, options: CheckOptions): ForwardInput | CheckResult {
  const view = routingView(state, options);
  if (view.meshIfaces.size === 0) return skipWithoutMesh(check);
  const firewallError = state.gatherErrors[FIREWALL_GATHERER];
  if (!state.snapshot.firewall) return skip(check, firewallError ?? 'firewall unknown (snapshot without firewall)');
  const wans = view.defaultGateways.map((gateway) => ({ dev: gateway.dev, gateway: gateway.gateway, family: gateway.family }));
  const wanDevs = new Set(wans.map((wan) => wan.dev));
  const lans: Lan[] = [];
  for (const lan of view.lans) {
    if (wanDevs.has(lan.dev)) continue;
    const client = hostIn(lan.prefix, view.ownAddresses);
    if (client) lans.push({ ...lan, client });
  }
  const tailscale = state.facts[TAILSCALE_GATHERER] as TailscaleFacts | undefined;
  return { snapshot: state.snapshot, view, lans, wans, meshTargets: meshTargets(state.snapshot, view), tailscale };
}

export function isInputSkip(input: ForwardInput | CheckResult): input is CheckResult {
  return 'status' in input;
}

/** Advertised to the mesh (Tailscale's AdvertiseRoutes covers the prefix). */
export function advertisedPrefix(input: ForwardInput, prefix: ParsedPrefix): string | undefined {
  for (const text of input.tailscale?.prefs.AdvertiseRoutes ?? []) {
    const advertised = parsePrefix(text);
    if (advertised && advertised.length > 0 && advertised.family === prefix.family && prefixContainsPrefix(advertised, prefix)) return text;
  }
  return undefined;
}

/** Addresses the router holds on an interface. */
export function ownOn(snapshot: Snapshot, dev: string): string[] {
  return snapshot.addresses.filter((address) => address.dev === dev && address.scope !== 'link' && address.scope !== 'host').map((address) => address.local);
}

export interface Probe {
  query: PathQuery;
  explanation?: PathExplanation;
  /** Why the packet could not be simulated (bad sample). */
  error?: string;
}

export function probe(snapshot: Snapshot, query: PathQuery): Probe {
  try {
    return { query, explanation: explainPath(snapshot, { ...query, reply: true }) };
  } catch (error) {
    return { query, error: (error as Error).message.split('\n')[0] };
  }
}

/** The packets a check sends: a ping and a TCP connection, as a user would try. */
export function pingAndTcp(query: Omit<PathQuery, 'protocol' | 'dport'>, dport = 443): PathQuery[] {
  return [{ ...query, protocol: 'icmp' }, { ...query, protocol: 'tcp', dport }];
}

function endpoint(leg: PathLeg): string {
  const p = leg.packet;
  const at = (address: string, port: number | null) => (port === null ? address : p.family === 6 ? `[${address}]:${port}` : `${address}:${port}`);
  return `${p.protocol} ${at(p.saddr, p.sport)} → ${at(p.daddr, p.dport)}${p.iif ? ` arriving on ${p.iif}` : ' sent by this host'}`;
}

/** A rule's text without its counter values, which change with every packet and say nothing here. */
export function ruleText(text: string): string {
  return text.replace(/counter packets \d+ bytes \d+/g, 'counter');
}

function stepLine(step: PathStep): string | undefined {
  switch (step.kind) {
    case 'route': return `routing: ${step.text}`;
    case 'rule':
      if (step.matched !== true || !step.verdict || step.verdict === 'continue') return step.matched === null ? `cannot judge ${step.family} ${step.table} ${step.chain} rule ${step.handle}: ${step.why}` : undefined;
      return `${step.family} ${step.table} ${step.chain} rule ${step.handle}: ${ruleText(step.text)} (${step.verdict})`;
    case 'policy': return `${step.family} ${step.table} ${step.chain} policy ${step.verdict}`;
    case 'rewrite': return `${step.what}: ${step.field} ${step.from} → ${step.to}`;
    default: return undefined;
  }
}

function legLines(title: string, leg: PathLeg): string[] {
  const lines = [`${title}: ${endpoint(leg)}`];
  for (const step of leg.steps) {
    const line = stepLine(step);
    if (line) lines.push(`  ${line}`);
  }
  lines.push(`  → ${leg.result.verdict}: ${ruleText(leg.result.summary)}`);
  for (const why of leg.result.uncertain) lines.push(`  uncertain: ${why}`);
  return lines;
}

/** `path explain` of the packet and, when it got through, of its reply: the deciding lines only. */
export function story(explanation: PathExplanation): string[] {
  const lines = legLines('packet', explanation);
  if (explanation.reply) lines.push(...legLines('reply', explanation.reply));
  return lines;
}

/** The command that replays a probe with every rule shown. */
export function explainCommand(query: PathQuery): string {
  const parts = ['netmend path explain', query.destination];
  if (query.from) parts.push('--from', query.from);
  if (query.iif) parts.push('--iif', query.iif);
  if (query.protocol) parts.push('--proto', query.protocol);
  if (query.dport !== undefined) parts.push('--dport', String(query.dport));
  parts.push('--reply');
  return parts.join(' ');
}

/** Whether an address is one the router holds (so a source rewritten to it is masqueraded). */
export function isOwn(input: ForwardInput, address: string): boolean {
  return input.view.ownAddresses.has(address);
}

/** The reply got back to where the packet came from. */
export function replyReturned(explanation: PathExplanation): boolean {
  const reply = explanation.reply;
  if (!reply) return false;
  if (explanation.packet.iif === null) return reply.result.verdict === 'delivered';
  return reply.result.verdict === 'forwarded' && reply.result.dev === explanation.packet.iif && reply.result.daddr === explanation.packet.saddr;
}

export function uncertainOf(explanation: PathExplanation): string[] {
  return [...explanation.result.uncertain, ...(explanation.reply?.result.uncertain ?? [])];
}
