/**
 * Cryptokey routing (reference §9): each prefix belongs to exactly one peer, lookups take the
 * longest matching prefix. Per family, one hash map per prefix length, probed from the longest
 * length present: for IPv4 the key is the masked address as a number, so the per-packet lookup
 * allocates nothing.
 */
import ipaddr from 'ipaddr.js';
import { InputError } from '../errors.js';

export interface Prefix {
  family: 4 | 6;
  /** Masked network bytes (4 or 16). */
  bytes: Buffer;
  length: number;
}

/** Canonical dotted-quad IPv4 (no leading zeros, which ipaddr.js would read as octal) with an optional length. */
const PLAIN_V4_PREFIX = /^((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})(?:\/(3[0-2]|[12]?\d))?$/;

export function parsePrefix(text: string): Prefix {
  // The common shape without the general parser, which is slow until warm (every `wg set` pays it).
  const plain = PLAIN_V4_PREFIX.exec(text);
  if (plain) {
    const length = plain[2] === undefined ? 32 : Number(plain[2]);
    return { family: 4, bytes: mask(Buffer.from(plain[1].split('.').map(Number)), length), length };
  }
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.parse(addressText);
  } catch {
    throw new InputError(`'${text}' is not an IP prefix`, 'write it as ADDRESS/LENGTH, e.g. 10.0.0.2/32 or fd00::/64');
  }
  const family = address.kind() === 'ipv4' ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  const length = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!/^\d+$/.test(slash < 0 ? String(max) : text.slice(slash + 1)) || length > max) {
    throw new InputError(`'${text}' has a bad prefix length`, `use 0-${max}`);
  }
  const bytes = mask(Buffer.from(address.toByteArray()), length);
  return { family, bytes, length };
}

function mask(bytes: Buffer, length: number): Buffer {
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, length - i * 8));
    bytes[i] &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return bytes;
}

export function formatPrefix(prefix: Prefix): string {
  const b = prefix.bytes;
  const address = prefix.family === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : ipaddr.fromByteArray([...b]).toString();
  return `${address}/${prefix.length}`;
}

const V4_MASKS = Array.from({ length: 33 }, (_, length) => (length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0));

class FamilyTable<P> {
  /** prefix length -> masked key -> peer; lengths kept sorted, longest first. */
  private readonly byLength = new Map<number, Map<number | string, P>>();
  private lengths: number[] = [];

  constructor(private readonly key: (bytes: Buffer, offset: number, length: number) => number | string) {}

  insert(bytes: Buffer, length: number, peer: P): void {
    let table = this.byLength.get(length);
    if (!table) {
      table = new Map();
      this.byLength.set(length, table);
      this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
    }
    table.set(this.key(bytes, 0, length), peer);
  }

  remove(bytes: Buffer, length: number, peer?: P): boolean {
    const table = this.byLength.get(length);
    if (!table) return false;
    const k = this.key(bytes, 0, length);
    if (peer !== undefined && table.get(k) !== peer) return false;
    return table.delete(k);
  }

  removePeer(peer: P): void {
    for (const table of this.byLength.values()) for (const [k, p] of table) if (p === peer) table.delete(k);
  }

  lookup(packet: Buffer, offset: number): P | undefined {
    for (const length of this.lengths) {
      const found = this.byLength.get(length)!.get(this.key(packet, offset, length));
      if (found !== undefined) return found;
    }
    return undefined;
  }

  *entries(): Generator<[number | string, number, P]> {
    for (const length of this.lengths) for (const [k, p] of this.byLength.get(length)!) yield [k, length, p];
  }
}

function v4Key(bytes: Buffer, offset: number, length: number): number {
  return (bytes.readUInt32BE(offset) & V4_MASKS[length]) >>> 0;
}

function v6Key(bytes: Buffer, offset: number, length: number): string {
  const masked = mask(Buffer.from(bytes.subarray(offset, offset + 16)), length);
  return masked.toString('hex');
}

export class AllowedIps<P> {
  private readonly v4 = new FamilyTable<P>(v4Key);
  private readonly v6 = new FamilyTable<P>(v6Key);
  /** Per peer, its prefixes in insertion order (for `get` and removal). */
  private readonly byPeer = new Map<P, Map<string, Prefix>>();

  insert(prefix: Prefix, peer: P): void {
    const id = formatPrefix(prefix);
    for (const [other, prefixes] of this.byPeer) if (other !== peer && prefixes.delete(id)) break;
    (prefix.family === 4 ? this.v4 : this.v6).insert(prefix.bytes, prefix.length, peer);
    let mine = this.byPeer.get(peer);
    if (!mine) this.byPeer.set(peer, (mine = new Map()));
    mine.set(id, prefix);
  }

  remove(prefix: Prefix, peer: P): void {
    if ((prefix.family === 4 ? this.v4 : this.v6).remove(prefix.bytes, prefix.length, peer)) this.byPeer.get(peer)?.delete(formatPrefix(prefix));
  }

  removePeer(peer: P): void {
    this.v4.removePeer(peer);
    this.v6.removePeer(peer);
    this.byPeer.delete(peer);
  }

  prefixesOf(peer: P): Prefix[] {
    return [...(this.byPeer.get(peer)?.values() ?? [])];
  }

  /** The peer owning an address; `offset` points at the 4 or 16 address bytes inside a packet. */
  lookupV4(packet: Buffer, offset: number): P | undefined {
    return this.v4.lookup(packet, offset);
  }

  lookupV6(packet: Buffer, offset: number): P | undefined {
    return this.v6.lookup(packet, offset);
  }

  /** Peer for an IP packet's destination (outbound) or source (inbound check). */
  lookupPacket(packet: Buffer, which: 'source' | 'destination'): P | undefined {
    const version = packet.length > 0 ? packet[0] >> 4 : 0;
    if (version === 4 && packet.length >= 20) return this.v4.lookup(packet, which === 'source' ? 12 : 16);
    if (version === 6 && packet.length >= 40) return this.v6.lookup(packet, which === 'source' ? 8 : 24);
    return undefined;
  }

  lookupAddress(address: string): P | undefined {
    const prefix = parsePrefix(address);
    return prefix.family === 4 ? this.v4.lookup(prefix.bytes, 0) : this.v6.lookup(prefix.bytes, 0);
  }
}
