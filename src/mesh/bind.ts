/**
 * The UDP side of the mesh node through the native addon (native/udp.c), which owns the sockets:
 * an IPv4 and an IPv6 socket on one port, SO_MARK, sticky source addresses (IP_PKTINFO), batched
 * receive with decryption as datagrams are read, batched sealing and sending on a writer thread.
 * What JavaScript sees per received datagram is one 64-byte record (layout below, shared with
 * udp.c) plus its bytes: the plaintext of a transport message that authenticated, or the raw
 * datagram for everything else.
 */
import { endianness } from 'node:os';
import ipaddr from 'ipaddr.js';
import { loadAddon, type BindHandle, type EndpointHandle, type NativeAddon } from './addon.js';
import type { Endpoint } from './peer.js';

export interface BindStats {
  rxDatagrams: number;
  rxSegments: number;
  rxBatches: number;
  rxBytes: number;
  txDatagrams: number;
  txBytes: number;
  txSyscalls: number;
  txErrors: number;
  txDropped: number;
  /** Sends that failed from a sticky source and went out again without it. */
  sourceCleared: number;
  lastTxErrno: number;
  gro: number;
  gso: number;
}

export const RECORD_SIZE = 64;
export const RECORD_TRANSPORT_OK = 1;
export const RECORD_TRANSPORT_BAD = 2;
export const RECORD_UNKNOWN_INDEX = 3;
export const RECORD_RAW = 4;

const LITTLE = endianness() === 'LE';

/**
 * What udp.c delivered: `count` records in place, and the bytes they point into. Both are views
 * of the bind's inbox (or of a big batch's own buffer), valid during the delivery only: a
 * payload kept for later is copied.
 */
export class ReceivedBatch {
  constructor(
    private readonly view: DataView,
    readonly bytes: Uint8Array,
    readonly data: Buffer,
    readonly count: number,
  ) {}

  kind(i: number): number { return this.bytes[i * RECORD_SIZE]; }
  family(i: number): 4 | 6 { return this.bytes[i * RECORD_SIZE + 1] === 6 ? 6 : 4; }
  port(i: number): number { return this.view.getUint16(i * RECORD_SIZE + 2, LITTLE); }
  receiverIndex(i: number): number { return this.view.getUint32(i * RECORD_SIZE + 4, LITTLE); }
  /** The transport counter as a number (exact below 2^53) and as the u64 it is. */
  counterNumber(i: number): number {
    return this.view.getUint32(i * RECORD_SIZE + 12, LITTLE) * 0x1_0000_0000 + this.view.getUint32(i * RECORD_SIZE + 8, LITTLE);
  }
  counter(i: number): bigint {
    return (BigInt(this.view.getUint32(i * RECORD_SIZE + 12, LITTLE)) << 32n) | BigInt(this.view.getUint32(i * RECORD_SIZE + 8, LITTLE));
  }
  address(i: number): Uint8Array { return this.bytes.subarray(i * RECORD_SIZE + 16, i * RECORD_SIZE + (this.family(i) === 4 ? 20 : 32)); }
  localAddress(i: number): Uint8Array { return this.bytes.subarray(i * RECORD_SIZE + 32, i * RECORD_SIZE + (this.family(i) === 4 ? 36 : 48)); }
  ifindex(i: number): number { return this.view.getUint32(i * RECORD_SIZE + 48, LITTLE); }
  payload(i: number): Buffer {
    const offset = this.view.getUint32(i * RECORD_SIZE + 52, LITTLE);
    return this.data.subarray(offset, offset + this.view.getUint32(i * RECORD_SIZE + 56, LITTLE));
  }
  wireLength(i: number): number { return this.view.getUint32(i * RECORD_SIZE + 60, LITTLE); }

  /** The sender as an Endpoint, with the local address it reached us on as sticky source. */
  endpoint(i: number): Endpoint {
    const address = Buffer.from(this.address(i));
    return {
      address: addressText(address),
      port: this.port(i),
      family: this.family(i),
      addressBytes: address,
      source: { address: Buffer.from(this.localAddress(i)), ifindex: this.ifindex(i) },
    };
  }

  /** True when datagram i came from the endpoint, to the same local address. */
  cameFrom(i: number, endpoint: Endpoint): boolean {
    if (endpoint.family !== this.family(i) || endpoint.port !== this.port(i)) return false;
    if (!sameBytes(endpoint.addressBytes ?? addressBytes(endpoint), this.address(i))) return false;
    const source = endpoint.source;
    return source !== undefined && source.ifindex === this.ifindex(i) && sameBytes(source.address, this.localAddress(i));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function addressText(bytes: Uint8Array): string {
  // IPv4 directly: this runs for every handshake message received, and the general parser is slow cold.
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  return ipaddr.fromByteArray(Array.from(bytes)).toString();
}

export function addressBytes(endpoint: Pick<Endpoint, 'address' | 'family'>): Buffer {
  return Buffer.from(ipaddr.parse(endpoint.address).toByteArray());
}

/** A peer's endpoint as the writer thread reads it: destination plus optional sticky source. */
export class NativeEndpoint {
  readonly handle: EndpointHandle;

  constructor(private readonly native: NativeAddon = loadAddon()) {
    this.handle = native.endpointCreate();
  }

  set(endpoint: Endpoint): void {
    const address = endpoint.addressBytes ?? addressBytes(endpoint);
    const source = endpoint.source && endpoint.source.address.length === address.length ? endpoint.source : undefined;
    this.native.endpointSet(this.handle, address, endpoint.port, source?.address ?? null, source?.ifindex ?? 0);
  }

  clearSource(): void {
    this.native.endpointClearSource(this.handle);
  }

  get hasSource(): boolean {
    return this.native.endpointHasSource(this.handle);
  }
}

/** Both sockets on one port. Open throws errors with code EADDRINUSE, EPERM (fwmark) etc. */
export class UdpBind {
  private readonly native: NativeAddon;
  private readonly handle: BindHandle;
  readonly port: number;
  private closed = false;

  constructor(port: number, mark: number, device: number, onBatch: (batch: ReceivedBatch) => void) {
    this.native = loadAddon();
    // The inbox's views are made once: per batch they cost more than the batch's own work after idle.
    let records: DataView | undefined;
    let recordBytes: Uint8Array | undefined;
    let inboxData: Buffer | undefined;
    const [handle, actual, inbox, recordsBytes] = this.native.udpOpen(port, mark, device, (count, handedOver) => {
      if (this.closed || !records || !recordBytes || !inboxData) return;
      try {
        onBatch(new ReceivedBatch(records, recordBytes, handedOver ? Buffer.from(handedOver) : inboxData, count));
      } catch (error) {
        process.nextTick(() => { throw error; });
      }
    });
    records = new DataView(inbox, 0, recordsBytes);
    recordBytes = new Uint8Array(inbox, 0, recordsBytes);
    inboxData = Buffer.from(inbox, recordsBytes);
    this.handle = handle;
    this.port = actual;
  }

  setMark(mark: number): void {
    this.native.udpSetMark(this.handle, mark);
  }

  /** Seals plaintexts (empty = keepalive) with counters counter, counter+1, ... and sends them. */
  sendSealed(endpoint: NativeEndpoint, key: Buffer, remoteIndex: number, counter: number, mtu: number, packets: readonly Uint8Array[]): void {
    if (!this.closed) this.native.udpSend(this.handle, endpoint.handle, key, remoteIndex, counter, mtu, packets);
  }

  /** A finished datagram (handshake message, cookie reply). */
  sendRaw(endpoint: NativeEndpoint, message: Uint8Array): void {
    if (!this.closed) this.native.udpSend(this.handle, endpoint.handle, null, 0, 0, 0, [message]);
  }

  stats(): BindStats {
    return this.native.udpStats(this.handle);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.udpClose(this.handle);
  }
}

/** Receive keys live natively, so the reader thread can decrypt; keyed by device and local index. */
export const receiveKeys = {
  add(device: number, index: number, key: Buffer): void { loadAddon().keyAdd(device, index, key); },
  remove(device: number, index: number): void { loadAddon().keyRemove(device, index); },
};

/** A single transport message opened with the reader's AEAD (for datagrams fed in one by one). */
export function openTransport(key: Buffer, message: Uint8Array): Buffer | undefined {
  return loadAddon().transportOpen(key, message) ?? undefined;
}
