/**
 * A route dump kept as the kernel sent it: the reply datagrams plus (datagram, start, end) of each
 * route message. Two ways out of it:
 *  - routes(): the Snapshot's Route objects, decoded once, on first use;
 *  - jsonChunks(): the routes as JSON text, written byte by byte from the netlink attributes
 *    without any object per route. This is what keeps `netmend snapshot` of half a million
 *    routes faster than `ip -json route show table all` and far below 200 MB.
 * Both produce the same JSON: the writer follows RouteDecoder's field order and rules, and
 * anything unusual (multipath, odd address lengths) goes through the decoder itself.
 */
import { ipv6RejectError, prefName, protocolName, routeFlagNames, routeTypeName, scopeName } from '../snapshot/names.js';
import type { ParsedAddress } from '../net/address.js';
import type { Route } from '../snapshot/types.js';
import { formatIpv6 } from './addresses.js';
import {
  RouteDecoder, u16le, u32le, RTA_CACHEINFO, RTA_DST, RTA_GATEWAY, RTA_MULTIPATH, RTA_OIF, RTA_PREF, RTA_PREFSRC, RTA_PRIORITY, RTA_SRC, RTA_TABLE, RTA_VIA, RTM_F_CLONED,
} from './decode.js';

const NLA_TYPE_MASK = 0x3fff;
const ROUTE_FLAG_MASK = 0x2000c17f;
const CHUNK_BYTES = 1 << 20;
/** Room left in a chunk before starting another route; larger routes take the slow path. */
const ROUTE_MAX_BYTES = 2048;

const ascii = (text: string) => Buffer.from(text, 'utf8');
const HEAD4 = ascii('{"family":4,"table":');
const HEAD6 = ascii('{"family":6,"table":');
const METRIC = ascii('","metric":');
const SRC = ascii(',"src":"');
const GATEWAY = ascii(',"gateway":"');
const DEV = ascii(',"dev":');
const PREFSRC = ascii(',"prefsrc":"');
const PREF = ascii(',"pref":');
const ERROR = ascii(',"error":');
const EMPTY_FLAGS = ascii('[]');
const FIRST = ascii('\n');
const NEXT = ascii(',\n');

const quotedCache = new Map<string, Buffer>();
function quoted(text: string): Buffer {
  let bytes = quotedCache.get(text);
  if (!bytes) {
    bytes = ascii(JSON.stringify(text));
    quotedCache.set(text, bytes);
  }
  return bytes;
}

export class RawRouteDump {
  private buffers: Buffer[] = [];
  /** Triples (datagram index, payload start, message end). */
  private records = new Uint32Array(3 * 4096);
  private size = 0;

  get count(): number {
    return this.size;
  }

  /** Keep one route message; false for a cache clone, dropped here as `ip route show` hides them. */
  add(buffer: Buffer, payload: number, end: number): boolean {
    // rtm_flags is little-endian at payload + 8: RTM_F_CLONED (0x200) is bit 1 of its second byte.
    if (buffer[payload + 9] & (RTM_F_CLONED >> 8)) return false;
    if (this.buffers[this.buffers.length - 1] !== buffer) this.buffers.push(buffer);
    if ((this.size + 1) * 3 > this.records.length) {
      const grown = new Uint32Array(this.records.length * 2);
      grown.set(this.records);
      this.records = grown;
    }
    const at = this.size * 3;
    this.records[at] = this.buffers.length - 1;
    this.records[at + 1] = payload;
    this.records[at + 2] = end;
    this.size++;
    return true;
  }

  /** Forget the routes from `count` on (an interrupted dump being retried). */
  truncate(count: number): void {
    this.size = Math.min(this.size, count);
    const keepBuffers = this.size ? this.records[(this.size - 1) * 3] + 1 : 0;
    this.buffers.length = keepBuffers;
  }

  /** Decode everything into Route objects and release the raw datagrams. */
  routes(linkName: (index: number) => string): Route[] {
    const decoder = new RouteDecoder(linkName);
    const routes: Route[] = new Array(this.size);
    let kept = 0;
    const buffers = this.buffers;
    for (let i = 0; i < this.size; i++) {
      const at = i * 3;
      const index = this.records[at];
      // Datagrams are consumed in order: let the GC take each one once its routes are objects.
      if (index > 0) (buffers as Array<Buffer | undefined>)[index - 1] = undefined;
      const route = decoder.decode(buffers[index], this.records[at + 1], this.records[at + 2]);
      if (route) routes[kept++] = route;
    }
    routes.length = kept;
    this.buffers = [];
    this.records = new Uint32Array(0);
    this.size = 0;
    return routes;
  }

  /** Route `index` in wire form: its datagram, payload start and message end. */
  bufferOf(index: number): Buffer {
    return this.buffers[this.records[index * 3]];
  }

  payloadOf(index: number): number {
    return this.records[index * 3 + 1];
  }

  endOf(index: number): number {
    return this.records[index * 3 + 2];
  }

  /**
   * The routes as the body of a JSON array, in the layout of snapshotJsonChunks: "\n{route}"
   * then ",\n{route}" for each; chunks of about 1 MB. With reuseBuffer every chunk is the same
   * memory, overwritten after the consumer returns: only for consumers that write synchronously.
   */
  *jsonChunks(linkName: (index: number) => string, reuseBuffer = false): Generator<Buffer> {
    const writer = new RouteJsonWriter(linkName, reuseBuffer);
    for (let i = 0; i < this.size; i++) {
      if (writer.position > CHUNK_BYTES - ROUTE_MAX_BYTES) yield writer.take();
      const at = i * 3;
      writer.put(i === 0 ? FIRST : NEXT);
      writer.route(this.buffers[this.records[at]], this.records[at + 1], this.records[at + 2]);
    }
    if (writer.position) yield writer.take();
  }
}

/**
 * A run of output bytes determined by (key, key2): kept once it has been written for the same keys
 * twice in a row, and then copied instead of formatted while the keys stay the same. Keys that
 * change from route to route cost one comparison each.
 */
interface Repeat {
  key: number;
  key2: number;
  bytes: Buffer | undefined;
}

class RouteJsonWriter {
  private out = Buffer.allocUnsafe(CHUNK_BYTES);
  position = 0;
  private readonly head: Repeat = { key: -1, key2: -1, bytes: undefined };
  private readonly middle: Repeat = { key: -1, key2: -1, bytes: undefined };
  private readonly tail: Repeat = { key: -1, key2: -1, bytes: undefined };
  private readonly decoder: RouteDecoder;
  private readonly devCache = new Map<number, Buffer>();

  constructor(private readonly linkName: (index: number) => string, private readonly reuseBuffer: boolean) {
    this.decoder = new RouteDecoder(linkName);
  }

  take(): Buffer {
    const chunk = this.out.subarray(0, this.position);
    if (!this.reuseBuffer || this.out.length !== CHUNK_BYTES) this.out = Buffer.allocUnsafe(CHUNK_BYTES);
    this.position = 0;
    return chunk;
  }

  put(bytes: Buffer): void {
    this.out.set(bytes, this.position);
    this.position += bytes.length;
  }

  private putText(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    if (this.position + bytes.length > this.out.length) {
      const bigger = Buffer.allocUnsafe(this.position + bytes.length + CHUNK_BYTES);
      this.out.copy(bigger, 0, 0, this.position);
      this.out = bigger;
    }
    this.put(bytes);
  }

  private decimal(value: number): void {
    const out = this.out;
    if (value < 10) {
      out[this.position++] = 48 + value;
      return;
    }
    if (value < 100) {
      out[this.position++] = 48 + ((value / 10) | 0);
      out[this.position++] = 48 + (value % 10);
      return;
    }
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    let position = this.position + digits;
    this.position = position;
    for (let rest = value; digits > 0; digits--) {
      out[--position] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
  }

  private ipv4(buffer: Buffer, offset: number): void {
    this.decimal(buffer[offset]);
    this.out[this.position++] = 0x2e;
    this.decimal(buffer[offset + 1]);
    this.out[this.position++] = 0x2e;
    this.decimal(buffer[offset + 2]);
    this.out[this.position++] = 0x2e;
    this.decimal(buffer[offset + 3]);
  }

  /** An address attribute's text (no quotes); false for lengths only the decoder handles. */
  private address(buffer: Buffer, offset: number, length: number): boolean {
    if (length === 4) this.ipv4(buffer, offset);
    else if (length === 16) this.putText(formatIpv6(buffer, offset));
    else return false;
    return true;
  }

  private name(cache: Array<Buffer | undefined>, value: number, name: (value: number) => string): Buffer {
    return (cache[value] ??= quoted(name(value)));
  }

  /**
   * After writing a run's bytes (from `start` to here) for (key, key2): keeps a copy of them when
   * the previous route wrote the same run for the same keys, else notes the keys (see Repeat).
   */
  private repeat(memo: Repeat, key: number, key2: number, start: number): void {
    if (memo.key === key && memo.key2 === key2) memo.bytes ??= Buffer.from(this.out.subarray(start, this.position));
    else {
      memo.key = key;
      memo.key2 = key2;
      memo.bytes = undefined;
    }
  }

  route(buffer: Buffer, payload: number, end: number): void {
    const family = buffer[payload] === 2 ? 4 : 6;
    const dstLength = buffer[payload + 1];
    const srcLength = buffer[payload + 2];
    const flags = u32le(buffer, payload + 8);
    let table = buffer[payload + 4];
    let dst = -1;
    let dstBytes = 0;
    let src = -1;
    let srcBytes = 0;
    let gateway = -1;
    let gatewayBytes = 0;
    let prefsrc = -1;
    let prefsrcBytes = 0;
    let oif = 0;
    let metric = 0;
    let pref = -1;
    let error = 0;
    for (let at = payload + 12; at + 4 <= end;) {
      const length = u16le(buffer, at);
      if (length < 4) break;
      const data = at + 4;
      switch (u16le(buffer, at + 2) & NLA_TYPE_MASK) {
        case RTA_DST: dst = data; dstBytes = length - 4; break;
        case RTA_SRC: src = data; srcBytes = length - 4; break;
        case RTA_OIF: oif = u32le(buffer, data); break;
        case RTA_GATEWAY: gateway = data; gatewayBytes = length - 4; break;
        case RTA_VIA: gateway = data + 2; gatewayBytes = length - 6; break;
        case RTA_PRIORITY: metric = u32le(buffer, data); break;
        case RTA_PREFSRC: prefsrc = data; prefsrcBytes = length - 4; break;
        case RTA_TABLE: table = u32le(buffer, data); break;
        case RTA_PREF: pref = buffer[data]; break;
        case RTA_CACHEINFO: if (length >= 20) error = buffer.readInt32LE(data + 12); break;
        case RTA_MULTIPATH:
          this.viaDecoder(buffer, payload, end);
          return;
      }
      at += (length + 3) & ~3;
    }
    const addressBytes = family === 4 ? 4 : 16;
    if ((dst >= 0 && dstBytes !== addressBytes) || (src >= 0 && srcBytes !== addressBytes) || (gateway >= 0 && gatewayBytes !== 4 && gatewayBytes !== 16) || (prefsrc >= 0 && prefsrcBytes !== 4 && prefsrcBytes !== 16)) {
      this.viaDecoder(buffer, payload, end);
      return;
    }
    // Three runs of bytes repeat from route to route in a big table (see Repeat): the head up to
    // the destination, the metric/protocol/scope/flags between destination and gateway, and the
    // gateway/device tail. Each is written once more and then copied while it repeats.
    const typeNumber = buffer[payload + 7];
    const headKey = typeNumber * 2 + (family === 4 ? 0 : 1);
    if (this.head.bytes !== undefined && this.head.key === headKey && this.head.key2 === table) this.put(this.head.bytes);
    else {
      const start = this.position;
      this.put(family === 4 ? HEAD4 : HEAD6);
      this.decimal(table);
      this.put((typeThenDst[typeNumber] ??= ascii(`,"type":${JSON.stringify(routeTypeName(typeNumber))},"dst":"`)));
      this.repeat(this.head, headKey, table, start);
    }
    if (dst >= 0) this.address(buffer, dst, dstBytes);
    else this.putText(family === 4 ? '0.0.0.0' : '::');
    this.out[this.position++] = 0x2f;
    this.decimal(dstLength);
    const protocolAndScope = (buffer[payload + 5] << 8) | buffer[payload + 6];
    const routeFlags = flags & ROUTE_FLAG_MASK;
    if (this.middle.bytes !== undefined && this.middle.key === metric && this.middle.key2 === protocolAndScope * 0x1_0000_0000 + routeFlags) this.put(this.middle.bytes);
    else {
      const start = this.position;
      this.put(METRIC);
      this.decimal(metric);
      this.put((protocolScopeFlags[protocolAndScope] ??= ascii(`,"protocol":${JSON.stringify(protocolName(buffer[payload + 5]))},"scope":${JSON.stringify(scopeName(buffer[payload + 6]))},"flags":`)));
      if (routeFlags) this.putText(JSON.stringify(routeFlagNames(flags)));
      else this.put(EMPTY_FLAGS);
      this.repeat(this.middle, metric, protocolAndScope * 0x1_0000_0000 + routeFlags, start);
    }
    if (src >= 0 && srcLength) {
      this.put(SRC);
      this.address(buffer, src, srcBytes);
      this.out[this.position++] = 0x2f;
      this.decimal(srcLength);
      this.out[this.position++] = 0x22;
    }
    // The common tail: an IPv4 gateway and a device, nothing after them.
    const simpleTail = gatewayBytes === 4 && oif !== 0 && prefsrc < 0 && pref < 0 && !(family === 6 && typeNumber >= 6 && typeNumber <= 9);
    const gatewayKey = simpleTail ? u32le(buffer, gateway) : -1;
    if (simpleTail && this.tail.bytes !== undefined && this.tail.key === gatewayKey && this.tail.key2 === oif) {
      this.put(this.tail.bytes);
      return;
    }
    const tailStart = this.position;
    if (gateway >= 0) {
      this.put(GATEWAY);
      this.address(buffer, gateway, gatewayBytes);
      this.out[this.position++] = 0x22;
    }
    if (oif) {
      this.put(DEV);
      let dev = this.devCache.get(oif);
      if (!dev) {
        dev = quoted(this.linkName(oif));
        this.devCache.set(oif, dev);
      }
      this.put(dev);
    }
    if (prefsrc >= 0) {
      this.put(PREFSRC);
      this.address(buffer, prefsrc, prefsrcBytes);
      this.out[this.position++] = 0x22;
    }
    if (pref >= 0) {
      this.put(PREF);
      this.put(this.name(prefNames, pref, prefName));
    }
    if (family === 6 && typeNumber >= 6 && typeNumber <= 9) {
      this.put(ERROR);
      this.putText(String(error || ipv6RejectError(routeTypeName(typeNumber))));
    }
    this.out[this.position++] = 0x7d;
    if (simpleTail) this.repeat(this.tail, gatewayKey, oif, tailStart);
  }

  /** The rare shapes: decode to an object and let JSON.stringify write it. */
  private viaDecoder(buffer: Buffer, payload: number, end: number): void {
    const route = this.decoder.decode(buffer, payload, end);
    this.putText(JSON.stringify(route));
  }
}

/** `,"type":"unicast","dst":"` per route type number. */
const typeThenDst: Array<Buffer | undefined> = [];
/** `,"protocol":"boot","scope":"global","flags":` per (protocol << 8 | scope). */
const protocolScopeFlags: Array<Buffer | undefined> = [];
const prefNames: Array<Buffer | undefined> = [];

/** Whether the route's destination prefix contains one of the addresses (malformed ones: yes). */
export function routeContainsAny(buffer: Buffer, payload: number, end: number, addresses: ReadonlyArray<{ family: number; bytes: Buffer }>): boolean {
  const family = buffer[payload];
  const dstLength = buffer[payload + 1];
  let dst = -1;
  let dstBytes = 0;
  for (let at = payload + 12; at + 4 <= end;) {
    const length = buffer.readUInt16LE(at);
    if (length < 4) break;
    if ((buffer.readUInt16LE(at + 2) & NLA_TYPE_MASK) === RTA_DST) {
      dst = at + 4;
      dstBytes = length - 4;
      break;
    }
    at += (length + 3) & ~3;
  }
  for (const target of addresses) {
    if (target.family !== family) continue;
    if (dstLength === 0) return true;
    if (dst < 0 || dstBytes * 8 < dstLength || target.bytes.length * 8 < dstLength) return true;
    if (prefixBytesMatch(buffer, dst, target.bytes, dstLength)) return true;
  }
  return false;
}

const RTN_LOCAL = 2;
const RT_TABLE_LOCAL = 255;

/**
 * Chooses, while a route dump streams in, the routes a lookup of a few addresses can depend on,
 * so `route explain` on half a million routes decodes a handful instead of all of them. Kept:
 * every route whose prefix contains one of the addresses (tested on the wire bytes), the local
 * table and every `local` route (source checks, fib_has_custom_local_routes), and the first route
 * of each table so the simulator still knows which tables exist. A longest-prefix lookup of one
 * of the addresses gives the same answer over the kept routes as over all of them.
 */
export class RouteContainmentSelection {
  private readonly targets: Array<{ family: number; bytes: Buffer }>;
  private readonly seenTables = new Set<number>();

  /** addresses: (family AF_INET or AF_INET6, address bytes in network order). */
  constructor(addresses: ReadonlyArray<{ family: number; bytes: Buffer }>) {
    this.targets = [...addresses];
  }

  keep(buffer: Buffer, payload: number, end: number): boolean {
    if (buffer.readUInt32LE(payload + 8) & RTM_F_CLONED) return false;
    const table = routeTable(buffer, payload, end);
    const tableKey = tableKeyOf(buffer[payload], table);
    if (!this.seenTables.has(tableKey)) {
      this.seenTables.add(tableKey);
      return true;
    }
    if (table === RT_TABLE_LOCAL || buffer[payload + 7] === RTN_LOCAL) return true;
    return routeContainsAny(buffer, payload, end, this.targets);
  }
}

function prefixBytesMatch(buffer: Buffer, at: number, address: Buffer, bits: number): boolean {
  const whole = bits >>> 3;
  for (let i = 0; i < whole; i++) if (buffer[at + i] !== address[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((buffer[at + whole] ^ address[whole]) & mask) === 0;
}

/** One number for a (family byte, table) pair. */
export function tableKeyOf(family: number, table: number): number {
  return family * 0x1_0000_0000 + table;
}

/** The route's table: RTA_TABLE when present (tables above 255), else the header's byte. */
function routeTable(buffer: Buffer, payload: number, end: number): number {
  for (let at = payload + 12; at + 4 <= end;) {
    const length = buffer.readUInt16LE(at);
    if (length < 4) break;
    if ((buffer.readUInt16LE(at + 2) & NLA_TYPE_MASK) === RTA_TABLE && length >= 8) return buffer.readUInt32LE(at + 4);
    at += (length + 3) & ~3;
  }
  return buffer[payload + 4];
}

/** An address as route-dump's containment tests take it: (AF_INET or AF_INET6, bytes in network order). */
export function addressBytes(address: ParsedAddress): { family: number; bytes: Buffer } {
  if (address.family === 4) {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE((address.value as number) >>> 0);
    return { family: 2, bytes };
  }
  return { family: 10, bytes: Buffer.from((address.value as bigint).toString(16).padStart(32, '0'), 'hex') };
}
