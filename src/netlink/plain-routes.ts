/**
 * The doctor's read of a big routing table. Its checks look at LANs, default routes, mesh routes
 * and mesh tables, and at the rest of the table only through route lookups. So while the dump
 * streams in, each route is classified in one pass over its attributes: a plain gateway route
 * (unicast, via a gateway, single path, to a prefix that is not default, in any table but local)
 * stays in wire form, everything else is decoded. A table holding any route out of a mesh device
 * is decoded whole, since the analysis lists every route of a mesh table.
 *
 * That covers the bulk of a big table wherever it sits: a BGP feed in main, or mwan3's copy of main
 * in one table per uplink. The routes left apart answer "which of you contain this address" from
 * typed arrays of their prefixes (IPv4) or their wire bytes (IPv6), decoding only the matches.
 */
import type { Route } from '../snapshot/types.js';
import { RouteDecoder, u16le, u32le, RTA_DST, RTA_GATEWAY, RTA_MULTIPATH, RTA_OIF, RTA_SRC, RTA_TABLE, RTA_VIA } from './decode.js';
import { maskIPv4 } from '../net/address.js';
import { RawRouteDump, routeContainsAny, tableKeyOf } from './route-dump.js';

const NLA_TYPE_MASK = 0x3fff;
const AF_INET = 2;
const RTN_UNICAST = 1;
const RT_TABLE_LOCAL = 255;

/** Per-route info word: prefix length in bits 0-7, then these flags, then the table's slot. */
const PLAIN = 1 << 8;
const IPV6 = 1 << 9;
const SLOT_SHIFT = 10;

/** Collects a route dump, sorting plain gateway routes apart from the ones the doctor decodes. */
export class PlainRouteSplitter {
  private readonly dump = new RawRouteDump();
  /** Per kept route: the info word (see PLAIN). */
  private info = new Uint32Array(4096);
  /** Per kept route: the IPv4 destination network as a number (plain IPv4 routes only). */
  private network = new Uint32Array(4096);
  /** Slot of each (family, table) seen, and whether a route out of a mesh device is in it. */
  private readonly tableSlots = new Map<number, number>();
  private meshTable = new Uint8Array(64);
  private lastTableKey = -1;
  private lastSlot = 0;

  /** meshDevices: ifindexes of the mesh links, whose routes and tables are always decoded. */
  constructor(private readonly meshDevices: ReadonlySet<number>) {}

  get count(): number {
    return this.dump.count;
  }

  private slotOf(family: number, table: number): number {
    const key = tableKeyOf(family, table);
    if (key === this.lastTableKey) return this.lastSlot;
    let slot = this.tableSlots.get(key);
    if (slot === undefined) {
      slot = this.tableSlots.size;
      this.tableSlots.set(key, slot);
      if (slot >= this.meshTable.length) {
        const grown = new Uint8Array(this.meshTable.length * 2);
        grown.set(this.meshTable);
        this.meshTable = grown;
      }
    }
    this.lastTableKey = key;
    this.lastSlot = slot;
    return slot;
  }

  add(buffer: Buffer, payload: number, end: number): void {
    const index = this.dump.count;
    if (!this.dump.add(buffer, payload, end)) return;
    if (index >= this.info.length) {
      const info = new Uint32Array(this.info.length * 2);
      info.set(this.info);
      this.info = info;
      const network = new Uint32Array(this.network.length * 2);
      network.set(this.network);
      this.network = network;
    }
    const family = buffer[payload];
    const dstLength = buffer[payload + 1];
    let table = buffer[payload + 4];
    let dst = -1;
    let dstBytes = 0;
    let oif = 0;
    let gateway = false;
    let singlePath = true;
    let viaMesh = false;
    for (let at = payload + 12; at + 4 <= end;) {
      const length = u16le(buffer, at);
      if (length < 4) break;
      switch (u16le(buffer, at + 2) & NLA_TYPE_MASK) {
        case RTA_DST: dst = at + 4; dstBytes = length - 4; break;
        case RTA_TABLE: if (length >= 8) table = u32le(buffer, at + 4); break;
        case RTA_OIF: if (length >= 8) oif = u32le(buffer, at + 4); break;
        case RTA_GATEWAY: case RTA_VIA: gateway = true; break;
        case RTA_SRC: singlePath = false; break;
        case RTA_MULTIPATH:
          singlePath = false;
          // struct rtnexthop: u16 length, u8 flags, u8 hops, s32 ifindex, then its attributes.
          for (let hop = at + 4; hop + 8 <= at + length;) {
            const hopLength = u16le(buffer, hop);
            if (hopLength < 8) break;
            if (this.meshDevices.has(u32le(buffer, hop + 4))) viaMesh = true;
            hop += (hopLength + 3) & ~3;
          }
          break;
      }
      at += (length + 3) & ~3;
    }
    if (oif !== 0 && this.meshDevices.has(oif)) viaMesh = true;
    const slot = this.slotOf(family, table);
    if (viaMesh) this.meshTable[slot] = 1;
    let plain = !viaMesh && singlePath && gateway && oif !== 0 && dstLength > 0 && buffer[payload + 7] === RTN_UNICAST && table !== RT_TABLE_LOCAL && dst >= 0;
    if (plain) {
      if (family === AF_INET) {
        plain = dstBytes === 4 && dstLength <= 32;
        if (plain) this.network[index] = maskIPv4((buffer[dst] << 24) | (buffer[dst + 1] << 16) | (buffer[dst + 2] << 8) | buffer[dst + 3], dstLength);
      } else {
        // IPv6 link-local, multicast and the low-numbered (::/8: mapped, compatible) stay decoded.
        plain = dstBytes === 16 && dstLength <= 128 && buffer[dst] !== 0xfe && buffer[dst] !== 0xff && buffer[dst] !== 0;
      }
    }
    this.info[index] = dstLength | (plain ? PLAIN : 0) | (family === AF_INET ? 0 : IPV6) | (slot << SLOT_SHIFT);
  }

  /** Forget the routes from `count` on (an interrupted dump being retried). */
  truncate(count: number): void {
    // Tables marked as mesh tables by the dropped routes stay marked: they are then decoded whole,
    // which costs time but never correctness.
    this.dump.truncate(count);
  }

  /**
   * The decoded routes (with their dump positions, to merge both halves back in kernel order) and
   * the plain gateway routes, left apart in wire form.
   */
  finish(linkName: (index: number) => string): { routes: Route[]; positions: Uint32Array; remainder: PlainRouteRemainder } {
    const dump = this.dump;
    const size = dump.count;
    const decoder = new RouteDecoder(linkName);
    const routes: Route[] = [];
    const positions = new Uint32Array(size);
    let decoded = 0;
    let apart4 = 0;
    let apart6 = 0;
    const plainIn = (info: number) => (info & PLAIN) !== 0 && this.meshTable[info >>> SLOT_SHIFT] === 0;
    for (let i = 0; i < size; i++) {
      const info = this.info[i];
      if (plainIn(info)) {
        if (info & IPV6) apart6++;
        else apart4++;
        continue;
      }
      const route = decoder.decode(dump.bufferOf(i), dump.payloadOf(i), dump.endOf(i));
      if (route) {
        routes.push(route);
        positions[decoded++] = i;
      }
    }
    const v4Positions = new Uint32Array(apart4);
    const v4Network = new Uint32Array(apart4);
    const v4Length = new Uint8Array(apart4);
    const v6Positions = new Uint32Array(apart6);
    apart4 = 0;
    apart6 = 0;
    for (let i = 0; i < size; i++) {
      const info = this.info[i];
      if (!plainIn(info)) continue;
      if (info & IPV6) {
        v6Positions[apart6++] = i;
      } else {
        v4Positions[apart4] = i;
        v4Network[apart4] = this.network[i];
        v4Length[apart4++] = info & 0xff;
      }
    }
    this.info = new Uint32Array(0);
    this.network = new Uint32Array(0);
    return { routes, positions: positions.slice(0, decoded), remainder: new PlainRouteRemainder(dump, { v4Positions, v4Network, v4Length, v6Positions }, linkName) };
  }
}

interface PlainPrefixes {
  /** Dump positions of the IPv4 routes left apart, their network and prefix length. */
  v4Positions: Uint32Array;
  v4Network: Uint32Array;
  v4Length: Uint8Array;
  /** Dump positions of the IPv6 routes left apart (their prefixes are read from the wire). */
  v6Positions: Uint32Array;
}

/** The plain gateway routes PlainRouteSplitter left in wire form, answering containment queries. */
export class PlainRouteRemainder {
  constructor(private readonly dump: RawRouteDump, private readonly prefixes: PlainPrefixes, private readonly linkName: (index: number) => string) {}

  get count(): number {
    return this.prefixes.v4Positions.length + this.prefixes.v6Positions.length;
  }

  private decodeAt(positions: number[]): Array<{ position: number; route: Route }> {
    const decoder = new RouteDecoder(this.linkName);
    const found: Array<{ position: number; route: Route }> = [];
    for (const position of positions.sort((a, b) => a - b)) {
      const route = decoder.decode(this.dump.bufferOf(position), this.dump.payloadOf(position), this.dump.endOf(position));
      if (route) found.push({ position, route });
    }
    return found;
  }

  /** Every route left apart, decoded, with its dump position. */
  all(): Array<{ position: number; route: Route }> {
    return this.decodeAt([...this.prefixes.v4Positions, ...this.prefixes.v6Positions]);
  }

  /** The routes left apart whose prefix contains one of the addresses, with their dump positions. */
  containing(addresses: ReadonlyArray<{ family: number; bytes: Buffer }>): Array<{ position: number; route: Route }> {
    const { v4Positions, v4Network, v4Length, v6Positions } = this.prefixes;
    const picked = new Set<number>();
    const v6Targets = addresses.filter((address) => address.family !== AF_INET);
    for (const address of addresses) {
      if (address.family !== AF_INET) continue;
      const value = address.bytes.readUInt32BE(0);
      for (let i = 0; i < v4Network.length; i++) {
        if (maskIPv4(value, v4Length[i]) === v4Network[i]) picked.add(v4Positions[i]);
      }
    }
    if (v6Targets.length) {
      for (const position of v6Positions) {
        if (routeContainsAny(this.dump.bufferOf(position), this.dump.payloadOf(position), this.dump.endOf(position), v6Targets)) picked.add(position);
      }
    }
    return this.decodeAt([...picked]);
  }
}
