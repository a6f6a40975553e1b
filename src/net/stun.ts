/**
 * STUN Binding requests (RFC 5389) for NAT behaviour discovery (RFC 5780 §4.3): which public
 * address and port a NAT maps this host's UDP socket to, as seen by different servers. All
 * requests of one measurement leave from one socket, so the answers describe one mapping.
 * IPv4 only: NAT mapping is an IPv4 matter.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { InputError } from '../errors.js';

const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const BINDING_ERROR = 0x0111;
const ATTR_MAPPED_ADDRESS = 0x0001;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_ERROR_CODE = 0x0009;
const ATTR_RESPONSE_ORIGIN = 0x802b;
const ATTR_OTHER_ADDRESS = 0x802c;
/** RFC 3489's name for OTHER-ADDRESS, still sent by some servers. */
const ATTR_CHANGED_ADDRESS = 0x0005;

export const DEFAULT_STUN_PORT = 3478;

export interface TransportAddress {
  address: string;
  port: number;
}

export interface StunTarget {
  /** As the user wrote it (host name or address). */
  host: string;
  port: number;
}

export interface StunResponse {
  transactionId: Buffer;
  success: boolean;
  mapped?: TransportAddress;
  /** RFC 5780 OTHER-ADDRESS: the server's alternate address and port. */
  otherAddress?: TransportAddress;
  responseOrigin?: TransportAddress;
  errorCode?: number;
}

export const formatTransport = (address: TransportAddress) => `${address.address}:${address.port}`;

/** `HOST[:PORT]` of --stun; bad input is a usage error. */
export function parseStunTarget(text: string): StunTarget {
  const match = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text.trim());
  const port = match?.[2] === undefined ? DEFAULT_STUN_PORT : Number(match[2]);
  if (!match || port < 1 || port > 65535 || /^[\d.]+$/.test(match[1]) && !isIPv4(match[1])) {
    throw new InputError(`--stun: '${text}' is not HOST[:PORT] (an IPv4 address or a host name)`, 'e.g. --stun stun1.example.net --stun 192.0.2.10:3478');
  }
  return { host: match[1], port };
}

export function encodeBindingRequest(transactionId: Buffer): Buffer {
  const message = Buffer.alloc(20);
  message.writeUInt16BE(BINDING_REQUEST, 0);
  message.writeUInt16BE(0, 2);
  message.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(message, 8, 0, 12);
  return message;
}

function readAddress(value: Buffer, xor: boolean): TransportAddress | undefined {
  if (value.length < 8 || value[1] !== 0x01) return undefined; // IPv4 only
  let port = value.readUInt16BE(2);
  let raw = value.readUInt32BE(4);
  if (xor) {
    port ^= MAGIC_COOKIE >>> 16;
    raw = (raw ^ MAGIC_COOKIE) >>> 0;
  }
  return { address: [raw >>> 24, (raw >>> 16) & 0xff, (raw >>> 8) & 0xff, raw & 0xff].join('.'), port };
}

/** A Binding response, or undefined for anything else (not STUN, a request, bad lengths). */
export function parseStunResponse(message: Buffer): StunResponse | undefined {
  if (message.length < 20 || message.readUInt32BE(4) !== MAGIC_COOKIE) return undefined;
  const type = message.readUInt16BE(0);
  if (type !== BINDING_SUCCESS && type !== BINDING_ERROR) return undefined;
  const length = message.readUInt16BE(2);
  if (length + 20 > message.length || length % 4 !== 0) return undefined;
  const response: StunResponse = { transactionId: message.subarray(8, 20), success: type === BINDING_SUCCESS };
  let mappedPlain: TransportAddress | undefined;
  for (let offset = 20; offset + 4 <= 20 + length;) {
    const attrType = message.readUInt16BE(offset);
    const attrLength = message.readUInt16BE(offset + 2);
    const value = message.subarray(offset + 4, offset + 4 + attrLength);
    if (value.length < attrLength) return undefined;
    switch (attrType) {
      case ATTR_XOR_MAPPED_ADDRESS: response.mapped = readAddress(value, true); break;
      case ATTR_MAPPED_ADDRESS: mappedPlain = readAddress(value, false); break;
      case ATTR_OTHER_ADDRESS: case ATTR_CHANGED_ADDRESS: response.otherAddress ??= readAddress(value, false); break;
      case ATTR_RESPONSE_ORIGIN: response.responseOrigin = readAddress(value, false); break;
      case ATTR_ERROR_CODE: if (value.length >= 4) response.errorCode = (value[2] & 0x07) * 100 + value[3]; break;
      default: break;
    }
    offset += 4 + Math.ceil(attrLength / 4) * 4;
  }
  response.mapped ??= mappedPlain;
  return response;
}

export interface StunAnswer {
  /** Where the request went (resolved). */
  to: TransportAddress;
  /** What the user asked for ("stun1.example.net:3478"), or the RFC 5780 test it belongs to. */
  label: string;
  mapped?: TransportAddress;
  otherAddress?: TransportAddress;
  /** Why there is no mapping: "no answer within 3000 ms", "error 420", "cannot resolve ...". */
  error?: string;
}

/** One socket, many transactions in flight, retransmitted at 0, 0.5, 1.5 s (RFC 5389 RTO 500 ms). */
class StunSocket {
  private readonly pending = new Map<string, (response: StunResponse) => void>();
  constructor(readonly socket: Socket) {
    socket.on('message', (message) => {
      const response = parseStunResponse(message);
      if (!response) return;
      this.pending.get(response.transactionId.toString('hex'))?.(response);
    });
    socket.on('error', () => { /* ICMP errors arrive per send; a timeout reports them */ });
  }

  async ask(to: TransportAddress, label: string, timeoutMs: number): Promise<StunAnswer> {
    const transactionId = randomBytes(12);
    const key = transactionId.toString('hex');
    const request = encodeBindingRequest(transactionId);
    return new Promise<StunAnswer>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      const finish = (answer: StunAnswer) => {
        timers.forEach(clearTimeout);
        this.pending.delete(key);
        resolve(answer);
      };
      this.pending.set(key, (response) => {
        if (!response.success || !response.mapped) finish({ to, label, error: response.errorCode ? `error ${response.errorCode}` : 'answer without a mapped address' });
        else finish({ to, label, mapped: response.mapped, ...(response.otherAddress ? { otherAddress: response.otherAddress } : {}) });
      });
      // A send error (no route) is the same verdict as silence: the timeout reports it.
      const send = () => this.socket.send(request, to.port, to.address, () => undefined);
      for (const at of [0, 500, 1500]) if (at < timeoutMs) timers.push(setTimeout(send, at));
      timers.push(setTimeout(() => finish({ to, label, error: `no answer within ${timeoutMs} ms` }), timeoutMs));
    });
  }
}

export interface NatMeasurement {
  /** The local UDP port the requests left from. */
  localPort: number;
  /** The port asked for, when it could not be bound (in use by the mesh daemon). */
  wantedPortBusy?: number;
  /** Test I: one answer per server. */
  answers: StunAnswer[];
  /** RFC 5780 tests II (alternate address) and III (alternate address and port) of the first server that sent OTHER-ADDRESS, when fewer than two servers answered. */
  alternate: StunAnswer[];
}

async function resolveTarget(target: StunTarget): Promise<TransportAddress | string> {
  if (isIPv4(target.host)) return { address: target.host, port: target.port };
  try {
    return { address: (await lookup(target.host, { family: 4 })).address, port: target.port };
  } catch (error) {
    return `cannot resolve ${target.host}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
}

async function bindSocket(port: number): Promise<Socket> {
  const socket = createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

/** Test I to every server from one socket bound to `localPort` (an ephemeral port when busy), then RFC 5780 tests II/III when only one server answered. */
export async function measureNatMapping(targets: StunTarget[], options: { localPort: number; timeoutMs: number }): Promise<NatMeasurement> {
  let socket: Socket;
  let wantedPortBusy: number | undefined;
  try {
    socket = await bindSocket(options.localPort);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    wantedPortBusy = options.localPort;
    socket = await bindSocket(0);
  }
  try {
    const stun = new StunSocket(socket);
    const answers = await Promise.all(targets.map(async (target): Promise<StunAnswer> => {
      const label = `${target.host}:${target.port}`;
      const to = await resolveTarget(target);
      return typeof to === 'string' ? { to: { address: target.host, port: target.port }, label, error: to } : stun.ask(to, label, options.timeoutMs);
    }));
    const alternate: StunAnswer[] = [];
    const answered = answers.filter((answer) => answer.mapped);
    const withOther = answered.find((answer) => answer.otherAddress);
    if (answered.length < 2 && withOther?.otherAddress) {
      const other = withOther.otherAddress;
      alternate.push(await stun.ask({ address: other.address, port: withOther.to.port }, `${withOther.label} alternate address ${other.address}:${withOther.to.port} (RFC 5780 test II)`, options.timeoutMs));
      alternate.push(await stun.ask(other, `${withOther.label} alternate address and port ${formatTransport(other)} (RFC 5780 test III)`, options.timeoutMs));
    }
    const localPort = socket.address().port;
    return { localPort, ...(wantedPortBusy !== undefined ? { wantedPortBusy } : {}), answers, alternate };
  } finally {
    socket.close();
  }
}
