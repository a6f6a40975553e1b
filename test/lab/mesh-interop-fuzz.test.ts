/**
 * Fuzz: tens of thousands of random and mutated datagrams at the netmend node's UDP port, from
 * the real peer's namespace, including initiations with a valid mac1 fast enough to put the node
 * under load (cookie replies). Afterwards the node still serves the real peer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, labUnavailable, projectRoot } from './harness.js';
import { newNode, ping, pingUntilReply, startNode, twoHosts, wgDump, wireguardGoMissing } from './mesh-interop-lab.js';

const skip = labUnavailable() ?? wireguardGoMissing();

function fuzzerSource(target: string, port: number, publicKeyHex: string, count: number): string {
  return `
    const dgram = require('node:dgram');
    const crypto = require('node:crypto');
    const { blake2s } = require(${JSON.stringify(`${projectRoot}node_modules/@noble/hashes/blake2.js`)});
    const pub = Buffer.from('${publicKeyHex}', 'hex');
    const mac1Key = Buffer.from(blake2s(Buffer.concat([Buffer.from('mac1----'), pub])));
    const socket = dgram.createSocket('udp4');
    const sizes = { 1: 148, 2: 92, 3: 64 };
    let replies = 0;
    socket.on('message', () => { replies += 1; });
    function packet(i) {
      const kind = i % 8;
      if (kind === 0) return crypto.randomBytes(crypto.randomInt(0, 1500));
      if (kind <= 3) { const b = crypto.randomBytes(sizes[kind]); b.writeUInt32LE(kind, 0); return b; }
      if (kind === 4) { const b = crypto.randomBytes(32 + crypto.randomInt(0, 1400)); b.writeUInt32LE(4, 0); return b; }
      if (kind === 5) { const b = crypto.randomBytes(crypto.randomInt(1, 200)); b[0] = 1 + (i % 4); return b; }
      // An initiation with a valid mac1: it gets past the cheap check into the DH path.
      const b = crypto.randomBytes(148); b.writeUInt32LE(1, 0);
      Buffer.from(blake2s(b.subarray(0, 116), { key: mac1Key, dkLen: 16 })).copy(b, 116);
      if (kind === 7) b[4 + (i % 100)] ^= 0x80; // and a mutation of that after the mac
      return b;
    }
    let sent = 0;
    function burst() {
      for (let k = 0; k < 500 && sent < ${count}; k++, sent++) socket.send(packet(sent), ${port}, '${target}');
      if (sent < ${count}) setImmediate(burst); else setTimeout(() => { console.log(JSON.stringify({ sent, replies })); process.exit(0); }, 1000);
    }
    socket.bind(0, burst);`;
}

test('fuzz: random and mutated packets never crash the node, and the real peer is still served', { skip, timeout: 300_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const mine = newNode('netmend', nsA, '10.232.0.1', 51071);
  const theirs = newNode('wireguard-go', nsB, '10.232.0.2', 51072);
  await startNode(lab, theirs, [{ node: mine, endpoint: '10.231.0.1:51071' }]);
  await startNode(lab, mine, [{ node: theirs, endpoint: '10.231.0.2:51072' }]);
  assert.ok(await pingUntilReply(lab, nsA, '10.232.0.2'), mine.log.join(''));
  const before = (await wgDump(lab, nsA, mine.iface))[0];

  const fuzz = await lab.exec(nsB, process.execPath, ['-e', fuzzerSource('10.231.0.1', 51071, mine.publicKey.toString('hex'), 40_000)], { timeoutMs: 240_000 });
  assert.equal(fuzz.code, 0, fuzz.stderr);
  const { sent, replies } = JSON.parse(fuzz.stdout.trim().split('\n').pop()!);
  t.diagnostic(`fuzzer sent ${sent} datagrams, got ${replies} cookie replies back`);
  assert.equal(sent, 40_000);
  assert.ok(replies > 0, 'a flood of valid-mac1 initiations puts the node under load: it answers with cookie replies');

  assert.equal(mine.process!.exitCode, null, `node died: ${mine.log.join('').slice(-2000)}`);
  assert.doesNotMatch(mine.log.join(''), /raised|internal error|TypeError|RangeError/);
  const after = (await wgDump(lab, nsA, mine.iface))[0];
  assert.equal(after.endpoint, before.endpoint, 'garbage never moved the endpoint');
  const result = await ping(lab, nsA, '10.232.0.2', 5);
  assert.ok(result.ok, result.output);
  assert.ok((await ping(lab, nsB, '10.232.0.1', 3)).ok);
});
