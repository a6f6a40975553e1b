/**
 * Plain WireGuard (kernel, wireguard-go, the netmend node): a peer with an endpoint whose last
 * handshake is older than 180 s, or never happened, while packets keep going out to it; a peer
 * with no endpoint that never connected (this side cannot start the tunnel); a peer reached
 * through NAT without a persistent keepalive (the NAT forgets the mapping and the peer can no
 * longer reach this host).
 */
import { parseAddress, parsePrefix, prefixContains, type ParsedAddress } from '../../../net/address.js';
import type { WgInterface, WgPeer } from '../../../wireguard/dump.js';
import { HANDSHAKE_STALE_SECONDS, WIREGUARD_GATHERER, type WireguardFacts } from '../../gather/wireguard.js';
import { decide } from '../../simulate.js';
import { finding, listSome, pass, skip, skipWithoutMesh } from '../../result.js';
import type { Check, CheckResult, FixSuggestion, HostState } from '../../types.js';
import { gatheredFacts, hostWithoutMesh, isSkip } from './inputs.js';

/** Address space that is not reachable from the internet as is: behind it sits a NAT. */
const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'].map((text) => parsePrefix(text)!);
const isPrivate = (address: ParsedAddress) => PRIVATE.some((prefix) => prefixContains(prefix, address));

const KEEPALIVE_SECONDS = 25;

export function endpointHost(endpoint: string): string {
  const bracket = /^\[([^\]]+)\]:\d+$/.exec(endpoint);
  return bracket ? bracket[1] : endpoint.replace(/:\d+$/, '');
}

/** This host's source toward the endpoint is private and leaves through a gateway, while the endpoint is public: a NAT lies between. */
export function natToward(state: HostState, endpoint: string): string | undefined {
  const target = parseAddress(endpointHost(endpoint));
  if (!target || isPrivate(target)) return undefined;
  const decision = decide(state.snapshot, { destination: endpointHost(endpoint) });
  const { result } = decision;
  if (result.type !== 'unicast' || !result.gateway || !result.dev) return undefined;
  const source = result.prefsrc ?? state.snapshot.addresses.find((address) => address.dev === result.dev && address.family === target.family && address.scope === 'global')?.local;
  const parsedSource = source ? parseAddress(source) : undefined;
  if (!parsedSource || !isPrivate(parsedSource)) return undefined;
  return `this host reaches ${endpointHost(endpoint)} from private ${source} via ${result.gateway} dev ${result.dev}: a NAT rewrites it`;
}

const short = (key: string) => `${key.slice(0, 8)}…`;

interface PeerFinding {
  status: 'warn' | 'fail';
  line: string;
  fix?: FixSuggestion;
}

function judgePeer(state: HostState, facts: WireguardFacts, iface: WgInterface, peer: WgPeer): PeerFinding | undefined {
  const nowSeconds = facts.first.at / 1000;
  const name = `${iface.name} peer ${short(peer.publicKey)}`;
  const later = facts.second?.interfaces.find((candidate) => candidate.name === iface.name)?.peers.find((candidate) => candidate.publicKey === peer.publicKey);
  const sentMeanwhile = later ? later.txBytes - peer.txBytes : 0;
  const interval = facts.second ? Math.round((facts.second.at - facts.first.at) / 1000) : 0;
  const checkPath: FixSuggestion = {
    command: `check the peer at ${peer.endpoint}`,
    explanation: `no answer means: UDP to ${peer.endpoint} is dropped on the way (a firewall; see \`netmend doctor forward\`), the peer is down, or the keys do not match (there, \`wg show\` must print public key ${peer.publicKey} and list peer ${iface.publicKey ?? 'this host'})`,
  };
  if (peer.endpoint) {
    if (peer.latestHandshake === 0 && peer.txBytes > 0) {
      return {
        status: 'fail',
        line: `${name} (endpoint ${peer.endpoint}): no handshake ever, ${peer.txBytes} bytes sent, ${peer.rxBytes} received${sentMeanwhile > 0 ? ` (${sentMeanwhile} more within ${interval} s)` : ''}; the peer's public key here is ${peer.publicKey}, this interface's is ${iface.publicKey ?? '(unknown)'}`,
        fix: checkPath,
      };
    }
    const age = peer.latestHandshake > 0 ? Math.round(nowSeconds - peer.latestHandshake) : undefined;
    if (age !== undefined && age > HANDSHAKE_STALE_SECONDS && sentMeanwhile > 0) {
      return {
        status: 'fail',
        line: `${name} (endpoint ${peer.endpoint}): last handshake ${age} s ago, yet ${sentMeanwhile} bytes went out in the last ${interval} s without an answer`,
        fix: checkPath,
      };
    }
    const nat = peer.persistentKeepalive === 0 ? natToward(state, peer.endpoint) : undefined;
    if (nat) {
      return {
        status: 'warn',
        line: `${name} (endpoint ${peer.endpoint}): no persistent keepalive, and ${nat}; once the NAT forgets the idle mapping the peer cannot reach this host`,
        fix: { command: `wg set ${iface.name} peer ${peer.publicKey} persistent-keepalive ${KEEPALIVE_SECONDS}`, explanation: `and PersistentKeepalive = ${KEEPALIVE_SECONDS} in the [Peer] section of the config, so it survives a restart` },
      };
    }
    return undefined;
  }
  if (peer.latestHandshake === 0) {
    return {
      status: 'warn',
      line: `${name}: no endpoint here and never connected; this side cannot start the tunnel, so unless the peer has an Endpoint for this host (port ${iface.listenPort ?? '?'}) the pair never connects`,
      fix: { command: `wg set ${iface.name} peer ${peer.publicKey} endpoint HOST:PORT`, explanation: 'give at least one side of the pair the other\'s address' },
    };
  }
  return undefined;
}

const check: Check = {
  id: 'mesh.wg-handshake',
  topic: 'mesh',
  title: 'WireGuard peers: stale or missing handshakes while sending, no endpoint on either side, NAT without keepalive',
  needs: [WIREGUARD_GATHERER],
  run(state): CheckResult {
    const facts = gatheredFacts<WireguardFacts>(check, state, WIREGUARD_GATHERER, 'WireGuard state');
    if (isSkip(facts)) return facts;
    const interfaces = facts.first.interfaces;
    if (interfaces.length === 0 && facts.unreadable.length === 0) return hostWithoutMesh(state) ? skipWithoutMesh(check) : skip(check, 'no WireGuard interface on this host');
    const findings: PeerFinding[] = [];
    for (const iface of interfaces) for (const peer of iface.peers) {
      const judged = judgePeer(state, facts, iface, peer);
      if (judged) findings.push(judged);
    }
    for (const line of facts.unreadable) findings.push({ status: 'warn', line: `${facts.source}: ${line}` });
    const peers = interfaces.reduce((sum, iface) => sum + iface.peers.length, 0);
    if (findings.length === 0) return pass(check, `${peers} peer${peers === 1 ? '' : 's'} on ${listSome(interfaces.map((iface) => iface.name))}: handshakes recent or idle, keepalives where needed`);
    const worst = findings.find((entry) => entry.status === 'fail') ?? findings[0];
    const evidence = [`source: ${facts.source}`, ...findings.map((entry) => entry.line)];
    return finding(check, worst.status, `${findings.length} of ${peers} peer${peers === 1 ? '' : 's'} in trouble: ${worst.line.split(';')[0]}`, evidence, worst.fix);
  },
};

export default check;
