/**
 * The UDP bind's receive path (native/udp.c, src/mesh/bind.ts) on loopback: batches small enough
 * for the bind's inbox and batches too big for it (handed over in their own buffer) must both
 * reach JavaScript whole, in order, with their sender.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NativeEndpoint, RECORD_RAW, UdpBind, type ReceivedBatch } from '../../src/mesh/bind.js';
import { waitFor } from '../lab/mesh-interop-lab.js';

/** Datagram `i` of a burst: its index in front, then bytes that depend on it and on their place. */
function datagram(i: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let j = 0; j < length; j++) bytes[j] = (i * 31 + j * 7) & 0xff;
  bytes[0] = 0x55; // not a WireGuard message type: delivered raw
  bytes.writeUInt32BE(i, 4);
  return bytes;
}

test('received datagrams reach JavaScript whole and in order, from batches in the inbox and from batches too big for it', async () => {
  const received: Array<{ bytes: Buffer; port: number; kind: number }> = [];
  let batches = 0;
  const onBatch = (batch: ReceivedBatch) => {
    batches += 1;
    // The batch is valid during the call only: what is kept is copied, as the node does.
    for (let i = 0; i < batch.count; i++) received.push({ bytes: Buffer.from(batch.payload(i)), port: batch.port(i), kind: batch.kind(i) });
  };
  const receiver = new UdpBind(0, 0, 9001, onBatch);
  const sender = new UdpBind(0, 0, 9002, () => {});
  try {
    const to = new NativeEndpoint();
    to.set({ address: '127.0.0.1', port: receiver.port, family: 4 });
    // Sent in one go, before the receiver's loop turn: each burst is read in few recvmmsg batches.
    const small = Array.from({ length: 300 }, (_, i) => datagram(i, 60 + (i % 90)));
    for (const message of small) sender.sendRaw(to, message);
    await waitFor(() => received.length >= small.length, 5000, 'the small datagrams');
    const smallBatches = batches;
    // 40 x 60 KB: a batch far beyond the inbox's 256 KB.
    const big = Array.from({ length: 40 }, (_, i) => datagram(1000 + i, 60_000 - i));
    for (const message of big) sender.sendRaw(to, message);
    await waitFor(() => received.length >= small.length + big.length, 5000, 'the big datagrams');

    assert.ok(smallBatches < small.length, `300 datagrams queued at once arrive in batches (${smallBatches} calls)`);
    const expected = [...small, ...big];
    assert.equal(received.length, expected.length);
    for (let i = 0; i < expected.length; i++) {
      assert.equal(received[i].kind, RECORD_RAW);
      assert.equal(received[i].port, sender.port, `datagram ${i}: the sender's port`);
      assert.ok(received[i].bytes.equals(expected[i]), `datagram ${i} (${expected[i].length} bytes) arrived whole and in its place`);
    }
    const stats = receiver.stats();
    assert.equal(stats.rxDatagrams, expected.length);
  } finally {
    sender.close();
    receiver.close();
  }
});
