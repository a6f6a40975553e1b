/**
 * One packet as netfilter sees it at a hook: addresses and ports (rewritten by NAT as it goes),
 * interfaces, marks, and a conntrack-lite entry: state, status bits, ct mark, the original and
 * reply tuples and which NAT bindings are set (K: nf_conntrack_core.c, nf_nat_core.c).
 */
import type { ParsedAddress } from '../net/address.js';

export const IPPROTO = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;

export interface Tuple {
  saddr: ParsedAddress;
  daddr: ParsedAddress;
  sport?: number;
  dport?: number;
}

export interface ConntrackEntry {
  /** CT_STATE bits of this packet: new 8, established 2, related 4, invalid 1, untracked 64. */
  state: number;
  /** CT_STATUS bits: snat 16, dnat 32, seen-reply 2, confirmed 8. */
  status: number;
  mark: number;
  /** 0 original, 1 reply. */
  direction: 0 | 1;
  /** The tuple as first seen (before any NAT). */
  original: Tuple;
  /** Bindings already made for this flow (NAT chains run only for a manip type not yet bound). */
  natBound: { dst: boolean; src: boolean };
  /**
   * For a reply: what conntrack restores (reverse NAT). The destination at the −100 slot of
   * prerouting/output, the source at the +100 slot of input/postrouting (netfilter.md §3).
   */
  reverse?: { dst?: Endpoint; src?: Endpoint };
}

export interface Endpoint {
  addr: ParsedAddress;
  port?: number;
}

export interface PacketState {
  family: 4 | 6;
  saddr: ParsedAddress;
  daddr: ParsedAddress;
  l4proto: number;
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  tcpFlags?: number;
  iif?: string;
  oif?: string;
  mark: number;
  /** PKTTYPE: 0 host, 1 broadcast, 2 multicast. */
  pkttype: number;
  /** Socket owner of a locally generated packet (root by default); undefined when forwarded. */
  skuid?: number;
  skgid?: number;
  ttl: number;
  dscp: number;
  nftrace: number;
  ct: ConntrackEntry;
  /** Set by `flow add @ft`: the flow would be offloaded from its next packet on. */
  offloadedBy?: string;
}

export function clonePacket(packet: PacketState): PacketState {
  return { ...packet, ct: { ...packet.ct, original: { ...packet.ct.original }, natBound: { ...packet.ct.natBound }, ...(packet.ct.reverse ? { reverse: { ...packet.ct.reverse } } : {}) } };
}

export function hasPorts(l4proto: number): boolean {
  return l4proto === IPPROTO.tcp || l4proto === IPPROTO.udp || l4proto === 132 || l4proto === 136 || l4proto === 33;
}
