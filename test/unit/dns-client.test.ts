/**
 * The DNS client against servers on loopback that misbehave on purpose: silent (UDP and TCP),
 * closed ports, each error rcode, truncation, stray replies and garbage. What matters is what a
 * user of `doctor dns` sees: the outcome, and that no query outlives its timeout.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { decodeReply, describeResult, encodeQuery, queryDns } from '../../src/dns/client.js';

/** A reply to `query` with the given rcode and A/AAAA records, the name compressed as servers do. */
function reply(query: Buffer, rcode: number, records: Array<{ type: 1 | 28; bytes: number[] }> = [], flags = 0): Buffer {
  const questionEnd = query.length;
  const header = Buffer.from(query.subarray(0, 12));
  header.writeUInt16BE(0x8180 | flags | rcode, 2);
  header.writeUInt16BE(records.length, 6);
  const parts = [header, query.subarray(12, questionEnd)];
  for (const record of records) {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(record.type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(record.bytes.length, 10);
    parts.push(rr, Buffer.from(record.bytes));
  }
  return Buffer.concat(parts);
}

function questionName(query: Buffer): string {
  const labels: string[] = [];
  for (let offset = 12; query[offset] !== 0; offset += query[offset] + 1) labels.push(query.toString('utf8', offset + 1, offset + 1 + query[offset]));
  return labels.join('.');
}

const V6 = [0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];

/** One UDP server answering by name, plus a TCP server on the same port for truncated answers. */
async function fakeServer(t: TestContext): Promise<number> {
  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', (query, peer) => {
    const name = questionName(query);
    const send = (buffer: Buffer) => udp.send(buffer, peer.port, peer.address);
    if (name === 'servfail.test') send(reply(query, 2));
    else if (name === 'nx.test') send(reply(query, 3));
    else if (name === 'refused.test') send(reply(query, 5));
    else if (name === 'empty.test') send(reply(query, 0));
    else if (name === 'garbage.test') send(Buffer.concat([query.subarray(0, 2), Buffer.from([0x81])]));
    else if (name === 'big.test') send(reply(query, 0, [], 0x0200));
    else if (name === 'stray.test') {
      const wrong = reply(query, 0, [{ type: 1, bytes: [6, 6, 6, 6] }]);
      wrong.writeUInt16BE((query.readUInt16BE(0) + 1) & 0xffff, 0);
      send(wrong);
      setTimeout(() => send(reply(query, 0, [{ type: 1, bytes: [100, 64, 0, 5] }])), 20);
    } else if (name === 'host.tailnet.ts.net') {
      const type = query.readUInt16BE(query.length - 4);
      send(reply(query, 0, type === 28 ? [{ type: 28, bytes: V6 }] : [{ type: 1, bytes: [100, 64, 0, 5] }]));
    }
  });
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const port = udp.address().port;
  const tcp: Server = createServer((socket: Socket) => {
    socket.on('data', (data) => {
      const query = data.subarray(2);
      const answer = reply(query, 0, [{ type: 1, bytes: [100, 64, 0, 7] }]);
      const length = Buffer.alloc(2);
      length.writeUInt16BE(answer.length);
      socket.end(Buffer.concat([length, answer]));
    });
  });
  await new Promise<void>((resolve) => tcp.listen(port, '127.0.0.1', resolve));
  t.after(() => { udp.close(); tcp.close(); });
  return port;
}

test('a UDP server that never answers: timeout, and the query ends at its deadline', async (t) => {
  const silent = createSocket('udp4');
  silent.on('message', () => { /* never answers */ });
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const started = Date.now();
  const result = await queryDns({ server: '127.0.0.1', port: silent.address().port, name: 'host.tailnet.ts.net', timeoutMs: 300 });
  const elapsed = Date.now() - started;
  assert.equal(result.outcome, 'timeout');
  assert.equal(result.detail, 'no reply within 300 ms');
  assert.ok(elapsed >= 290 && elapsed < 1000, `took ${elapsed} ms`);
});

test('a TCP server that accepts and never answers: timeout at the deadline too', async (t) => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => { sockets.push(socket); });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => { for (const s of sockets) s.destroy(); silent.close(); });
  const port = (silent.address() as { port: number }).port;
  const started = Date.now();
  const result = await queryDns({ server: '127.0.0.1', port, name: 'host.tailnet.ts.net', transport: 'tcp', timeoutMs: 300 });
  assert.equal(result.outcome, 'timeout');
  assert.ok(Date.now() - started < 1000);
});

test('a closed port is unreachable (the kernel says so), not a timeout', async () => {
  const probe = createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
  const port = probe.address().port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const started = Date.now();
  const udp = await queryDns({ server: '127.0.0.1', port, name: 'x.ts.net', timeoutMs: 2000 });
  assert.equal(udp.outcome, 'unreachable');
  assert.equal(udp.detail, 'ECONNREFUSED');
  assert.ok(Date.now() - started < 1000);
  const tcp = await queryDns({ server: '127.0.0.1', port, name: 'x.ts.net', transport: 'tcp', timeoutMs: 2000 });
  assert.equal(tcp.outcome, 'unreachable');
});

test('SERVFAIL, NXDOMAIN, REFUSED and NOERROR-without-records are told apart', async (t) => {
  const port = await fakeServer(t);
  const ask = (name: string) => queryDns({ server: '127.0.0.1', port, name, timeoutMs: 1000 });
  assert.deepEqual([(await ask('servfail.test')).outcome, (await ask('servfail.test')).rcode], ['servfail', 'SERVFAIL']);
  assert.equal((await ask('nx.test')).outcome, 'nxdomain');
  assert.equal((await ask('refused.test')).outcome, 'refused');
  assert.equal((await ask('empty.test')).outcome, 'nodata');
  const garbage = await ask('garbage.test');
  assert.equal(garbage.outcome, 'error');
  assert.match(garbage.detail!, /malformed reply/);
});

test('answers: A and AAAA through a compressed name; a stray reply with another id is ignored', async (t) => {
  const port = await fakeServer(t);
  const a = await queryDns({ server: '127.0.0.1', port, name: 'host.tailnet.ts.net', timeoutMs: 1000 });
  assert.equal(a.outcome, 'answer');
  assert.deepEqual(a.answers, [{ name: 'host.tailnet.ts.net', type: 'A', ttl: 60, data: '100.64.0.5' }]);
  const aaaa = await queryDns({ server: '127.0.0.1', port, name: 'host.tailnet.ts.net', type: 'AAAA', timeoutMs: 1000 });
  assert.equal(aaaa.answers[0].data, 'fd7a:115c:a1e0::5');
  assert.match(describeResult(aaaa), /^@127\.0\.0\.1#\d+ udp AAAA host\.tailnet\.ts\.net -> fd7a:115c:a1e0::5 \(\d+ ms\)$/);
  const stray = await queryDns({ server: '127.0.0.1', port, name: 'stray.test', timeoutMs: 1000 });
  assert.deepEqual(stray.answers.map((r) => r.data), ['100.64.0.5']);
});

test('a truncated UDP answer is asked again over TCP', async (t) => {
  const port = await fakeServer(t);
  const result = await queryDns({ server: '127.0.0.1', port, name: 'big.test', timeoutMs: 1000 });
  assert.equal(result.transport, 'tcp');
  assert.deepEqual(result.answers.map((r) => r.data), ['100.64.0.7']);
});

test('encodeQuery and decodeReply agree; a name that is not an address is an error, not a crash', async () => {
  const query = encodeQuery(0x1234, 'host.tailnet.ts.net.', 'AAAA');
  const decoded = decodeReply(reply(query, 0, [{ type: 28, bytes: V6 }]));
  assert.equal(decoded.id, 0x1234);
  assert.equal(decoded.answers[0].data, 'fd7a:115c:a1e0::5');
  const bad = await queryDns({ server: 'not-an-ip', name: 'x', timeoutMs: 100 });
  assert.equal(bad.outcome, 'error');
});
