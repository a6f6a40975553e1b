/**
 * A small DNS client with an explicit server and a hard deadline. node:dns cannot tell a server
 * that never answers from one that refuses, nor a SERVFAIL from an NXDOMAIN, and the doctor's
 * evidence depends on exactly those differences. Over UDP by default, TCP on request or when the
 * UDP answer is truncated; the whole query (both transports) never outlasts `timeoutMs`.
 */
import { createSocket } from 'node:dgram';
import { isIP, Socket } from 'node:net';
import { randomInt } from 'node:crypto';

export type DnsTransport = 'udp' | 'tcp';

/**
 * answer: records came back; nodata: NOERROR without records of the type; nxdomain, servfail,
 * refused: the server's rcode; timeout: nothing within the deadline; unreachable: the kernel
 * said no (ICMP port unreachable, TCP reset, no route); error: a malformed reply or other rcode.
 */
export type DnsOutcome = 'answer' | 'nodata' | 'nxdomain' | 'servfail' | 'refused' | 'timeout' | 'unreachable' | 'error';

export interface DnsRecord {
  name: string;
  type: string;
  ttl: number;
  data: string;
}

export interface DnsQuery {
  server: string;
  port?: number;
  name: string;
  type?: string;
  transport?: DnsTransport;
  timeoutMs?: number;
}

export interface DnsQueryResult {
  server: string;
  port: number;
  transport: DnsTransport;
  name: string;
  type: string;
  outcome: DnsOutcome;
  /** The response code's name (NOERROR, NXDOMAIN, ...) when a reply arrived. */
  rcode?: string;
  answers: DnsRecord[];
  elapsedMs: number;
  /** Why it failed, in a few words: "no reply within 2000 ms", "ECONNREFUSED". */
  detail?: string;
}

const TYPE_CODES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 };
const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TYPE_CODES).map(([name, code]) => [code, name]));
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

export function encodeQuery(id: number, name: string, type: string): Buffer {
  const typeCode = TYPE_CODES[type.toUpperCase()];
  if (typeCode === undefined) throw new Error(`unsupported DNS record type ${type}`);
  const labels = name.replace(/\.$/, '').split('.').filter((label) => label.length > 0);
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // recursion desired
  header.writeUInt16BE(1, 4);
  parts.push(header);
  for (const label of labels) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length > 63) throw new Error(`DNS label '${label}' is longer than 63 bytes`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(typeCode, 1);
  tail.writeUInt16BE(1, 3); // class IN
  parts.push(tail);
  return Buffer.concat(parts);
}

class MalformedReply extends Error {}

function readName(message: Buffer, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let offset = start;
  let next = -1;
  for (let jumps = 0; jumps < 64; jumps++) {
    if (offset >= message.length) throw new MalformedReply('name runs past the end');
    const length = message[offset];
    if (length === 0) {
      if (next < 0) next = offset + 1;
      return { name: labels.join('.') || '.', next };
    }
    if ((length & 0xc0) === 0xc0) {
      if (offset + 1 >= message.length) throw new MalformedReply('truncated pointer');
      if (next < 0) next = offset + 2;
      offset = ((length & 0x3f) << 8) | message[offset + 1];
      continue;
    }
    if (offset + 1 + length > message.length) throw new MalformedReply('label runs past the end');
    labels.push(message.toString('utf8', offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  throw new MalformedReply('name compression loop');
}

export function formatIpv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups, as every tool prints IPv6.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

function recordData(message: Buffer, type: number, start: number, length: number): string {
  const body = message.subarray(start, start + length);
  switch (type) {
    case 1: return length === 4 ? [...body].join('.') : body.toString('hex');
    case 28: return length === 16 ? formatIpv6(body) : body.toString('hex');
    case 2: case 5: case 12: return readName(message, start).name;
    case 15: return `${body.readUInt16BE(0)} ${readName(message, start + 2).name}`;
    case 16: {
      const strings: string[] = [];
      for (let i = 0; i < body.length;) {
        const n = body[i];
        strings.push(JSON.stringify(body.toString('utf8', i + 1, i + 1 + n)));
        i += 1 + n;
      }
      return strings.join(' ');
    }
    case 6: {
      const primary = readName(message, start);
      const mailbox = readName(message, primary.next);
      return `${primary.name} ${mailbox.name} ${message.readUInt32BE(mailbox.next)}`;
    }
    default: return body.toString('hex');
  }
}

export interface DecodedReply {
  id: number;
  truncated: boolean;
  rcode: number;
  answers: DnsRecord[];
}

export function decodeReply(message: Buffer): DecodedReply {
  if (message.length < 12) throw new MalformedReply('shorter than a DNS header');
  const id = message.readUInt16BE(0);
  const flags = message.readUInt16BE(2);
  if ((flags & 0x8000) === 0) throw new MalformedReply('not a response');
  const questions = message.readUInt16BE(4);
  const answerCount = message.readUInt16BE(6);
  let offset = 12;
  for (let i = 0; i < questions; i++) offset = readName(message, offset).next + 4;
  const answers: DnsRecord[] = [];
  for (let i = 0; i < answerCount; i++) {
    const { name, next } = readName(message, offset);
    if (next + 10 > message.length) throw new MalformedReply('record header runs past the end');
    const type = message.readUInt16BE(next);
    const ttl = message.readUInt32BE(next + 4);
    const length = message.readUInt16BE(next + 8);
    if (next + 10 + length > message.length) throw new MalformedReply('record data runs past the end');
    answers.push({ name, type: TYPE_NAMES[type] ?? `TYPE${type}`, ttl, data: recordData(message, type, next + 10, length) });
    offset = next + 10 + length;
  }
  return { id, truncated: (flags & 0x0200) !== 0, rcode: flags & 0x000f, answers };
}

type Exchange = { reply: Buffer } | { failure: 'timeout' | 'unreachable' | 'error'; detail: string };

function exchangeUdp(server: string, port: number, query: Buffer, id: number, timeoutMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = createSocket(isIP(server) === 6 ? 'udp6' : 'udp4');
    let settled = false;
    const finish = (result: Exchange) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try { socket.close(); } catch { /* already closed */ }
      resolve(result);
    };
    const timer = setTimeout(() => finish({ failure: 'timeout', detail: `no reply within ${timeoutMs} ms` }), timeoutMs);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message;
      const kernelSaidNo = ['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL'].includes(code);
      finish({ failure: kernelSaidNo ? 'unreachable' : 'error', detail: code });
    });
    socket.on('message', (message) => {
      // Stray or spoofed datagrams with another id are ignored, as a resolver would.
      if (message.length >= 2 && message.readUInt16BE(0) === id) finish({ reply: message });
    });
    // A connected socket is what makes the kernel report ICMP port unreachable as ECONNREFUSED.
    socket.connect(port, server, (connectError?: NodeJS.ErrnoException) => {
      // connect(2) itself can fail (no route, no address): the callback gets the errno.
      if (connectError) {
        socket.emit('error', connectError);
        return;
      }
      socket.send(query, (error) => { if (error) socket.emit('error', error); });
    });
  });
}

function exchangeTcp(server: string, port: number, query: Buffer, timeoutMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let settled = false;
    let received = Buffer.alloc(0);
    const finish = (result: Exchange) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ failure: 'timeout', detail: `no reply within ${timeoutMs} ms` }), timeoutMs);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message;
      finish({ failure: ['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNRESET'].includes(code) ? 'unreachable' : 'error', detail: code });
    });
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) finish({ reply: received.subarray(2, 2 + received.readUInt16BE(0)) });
    });
    socket.on('end', () => finish({ failure: 'error', detail: 'connection closed before a full reply' }));
    socket.connect(port, server, () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(query.length);
      socket.write(Buffer.concat([length, query]));
    });
  });
}

const OUTCOME_BY_RCODE: Record<number, DnsOutcome> = { 2: 'servfail', 3: 'nxdomain', 5: 'refused' };

/** Ask one server one question. Never throws for network trouble: the outcome says what happened. */
export async function queryDns(query: DnsQuery): Promise<DnsQueryResult> {
  const port = query.port ?? 53;
  const type = (query.type ?? 'A').toUpperCase();
  const timeoutMs = query.timeoutMs ?? 2000;
  let transport: DnsTransport = query.transport ?? 'udp';
  const started = Date.now();
  const base = { server: query.server, port, name: query.name, type };
  const id = randomInt(0, 0x10000);
  const packet = encodeQuery(id, query.name, type);
  if (!isIP(query.server)) {
    return { ...base, transport, outcome: 'error', answers: [], elapsedMs: 0, detail: `${query.server} is not an IP address` };
  }
  let exchange = transport === 'udp'
    ? await exchangeUdp(query.server, port, packet, id, timeoutMs)
    : await exchangeTcp(query.server, port, packet, timeoutMs);
  if ('reply' in exchange && transport === 'udp') {
    const remaining = timeoutMs - (Date.now() - started);
    try {
      if (decodeReply(exchange.reply).truncated && remaining > 0) {
        transport = 'tcp';
        exchange = await exchangeTcp(query.server, port, packet, remaining);
      }
    } catch { /* decoded again below, which reports it */ }
  }
  const elapsedMs = Date.now() - started;
  if (!('reply' in exchange)) return { ...base, transport, outcome: exchange.failure, answers: [], elapsedMs, detail: exchange.detail };
  let decoded: DecodedReply;
  try {
    decoded = decodeReply(exchange.reply);
  } catch (error) {
    return { ...base, transport, outcome: 'error', answers: [], elapsedMs, detail: `malformed reply: ${(error as Error).message}` };
  }
  const rcode = RCODE_NAMES[decoded.rcode] ?? `RCODE${decoded.rcode}`;
  let outcome: DnsOutcome = OUTCOME_BY_RCODE[decoded.rcode] ?? (decoded.rcode === 0 ? 'nodata' : 'error');
  const wanted = decoded.answers.filter((record) => record.type === type);
  if (decoded.rcode === 0 && wanted.length > 0) outcome = 'answer';
  return { ...base, transport, outcome, rcode, answers: decoded.answers, elapsedMs };
}

/** The addresses of the wanted type in a result, in reply order. */
export function answerAddresses(result: DnsQueryResult): string[] {
  return result.answers.filter((record) => record.type === result.type).map((record) => record.data);
}

/** One line for evidence: `@100.100.100.100 udp A host.ts.net -> 100.64.0.5 (3 ms)`. */
export function describeResult(result: DnsQueryResult): string {
  const where = `@${result.server}${result.port === 53 ? '' : `#${result.port}`} ${result.transport} ${result.type} ${result.name}`;
  switch (result.outcome) {
    case 'answer': return `${where} -> ${answerAddresses(result).join(', ')} (${result.elapsedMs} ms)`;
    case 'nodata': return `${where} -> NOERROR, no ${result.type} records (${result.elapsedMs} ms)`;
    case 'timeout': return `${where} -> timeout: ${result.detail}`;
    case 'unreachable': return `${where} -> unreachable: ${result.detail}`;
    case 'error': return `${where} -> error: ${result.detail ?? result.rcode}`;
    default: return `${where} -> ${result.rcode} (${result.elapsedMs} ms)`;
  }
}
