import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { Device } from '../../src/mesh/device.js';
import { generatePrivateKey, generatePresharedKey, publicKeyOf } from '../../src/mesh/keys.js';
import { Logger } from '../../src/mesh/log.js';
import { parseUapiGet } from '../../src/mesh/status.js';
import { uapiRequest, UapiServer } from '../../src/mesh/uapi.js';
import { isRoot, run, uniqueName } from '../lab/harness.js';

async function served(t: import('node:test').TestContext, dir?: string) {
  const device = new Device({ name: uniqueName('nmu'), logger: new Logger('silent') });
  const server = new UapiServer(device, dir);
  t.after(() => { server.close(); device.close(); });
  await server.listen();
  const ask = (request: string) => uapiRequest(server.path, request);
  return { device, server, ask };
}

const canUseRunDir = isRoot();

test('set then get round-trips device and peer fields in UAPI format', { skip: !canUseRunDir && 'needs root for /var/run/wireguard' }, async (t) => {
  const { device, ask } = await served(t);
  const privateKey = generatePrivateKey();
  const peerKey = publicKeyOf(generatePrivateKey());
  const psk = generatePresharedKey();
  const set = await ask([
    'set=1', `private_key=${privateKey.toString('hex')}`, 'listen_port=0',
    `public_key=${peerKey.toString('hex')}`, `preshared_key=${psk.toString('hex')}`, 'endpoint=192.0.2.7:51820',
    'persistent_keepalive_interval=0', 'replace_allowed_ips=true', 'allowed_ip=10.40.0.0/24', 'allowed_ip=fd40::1/128', 'protocol_version=1',
  ].join('\n'));
  assert.equal(set.errno, 0);
  const get = await ask('get=1');
  assert.equal(get.errno, 0);
  assert.ok(get.lines.includes(`private_key=${privateKey.toString('hex')}`));
  assert.ok(get.lines.includes(`listen_port=${device.port}`) && device.port > 0);
  assert.ok(get.lines.includes(`public_key=${peerKey.toString('hex')}`));
  assert.ok(get.lines.includes(`preshared_key=${psk.toString('hex')}`));
  assert.ok(get.lines.includes('endpoint=192.0.2.7:51820'));
  assert.ok(get.lines.includes('allowed_ip=10.40.0.0/24'));
  assert.ok(get.lines.includes('allowed_ip=fd40::1/128'));
  assert.ok(get.lines.includes('last_handshake_time_sec=0'));
  const status = parseUapiGet('x', get.lines, Date.now(), publicKeyOf);
  assert.equal(status.publicKey, publicKeyOf(privateKey).toString('base64'));
  assert.equal(status.peers[0].presharedKey, true);
  assert.equal(status.peers[0].latestHandshake, undefined);
  assert.ok(!JSON.stringify(status).includes(privateKey.toString('hex')));

  // -CIDR removes, remove=true drops the peer, replace_peers clears all.
  assert.equal((await ask(['set=1', `public_key=${peerKey.toString('hex')}`, 'allowed_ip=-10.40.0.0/24'].join('\n'))).errno, 0);
  assert.ok(!(await ask('get=1')).lines.includes('allowed_ip=10.40.0.0/24'));
  assert.equal((await ask(['set=1', `public_key=${peerKey.toString('hex')}`, 'remove=true'].join('\n'))).errno, 0);
  assert.equal(device.peers.size, 0);
  const another = publicKeyOf(generatePrivateKey());
  await ask(['set=1', `public_key=${another.toString('hex')}`].join('\n'));
  assert.equal(device.peers.size, 1);
  assert.equal((await ask(['set=1', 'replace_peers=true'].join('\n'))).errno, 0);
  assert.equal(device.peers.size, 0);
});

test('bad requests answer a negative errno and the node keeps serving', { skip: !canUseRunDir && 'needs root for /var/run/wireguard' }, async (t) => {
  const { device, ask } = await served(t);
  const peer = publicKeyOf(generatePrivateKey()).toString('hex');
  assert.equal((await ask('set=1\nno_such_key=1')).errno, -22);
  assert.equal((await ask('set=1\nprivate_key=zz')).errno, -22);
  assert.equal((await ask('set=1\nthis line has no equals')).errno, -71);
  assert.equal((await ask(`set=1\npublic_key=${peer}\nendpoint=not-an-endpoint`)).errno, -22);
  assert.equal((await ask(`set=1\npublic_key=${peer}\nallowed_ip=10.0.0.0/40`)).errno, -22);
  assert.equal((await ask(`set=1\npublic_key=${peer}\nprotocol_version=2`)).errno, -22);
  assert.equal((await ask('bogus=1')).errno, -22);
  // update_only on an unknown peer creates nothing.
  const other = publicKeyOf(generatePrivateKey()).toString('hex');
  assert.equal((await ask(`set=1\npublic_key=${other}\nupdate_only=true\nallowed_ip=10.1.0.0/16`)).errno, 0);
  assert.equal(device.findPeer(Buffer.from(other, 'hex')), undefined);
  // our own public key as a peer is ignored.
  const privateKey = generatePrivateKey();
  await ask(`set=1\nprivate_key=${privateKey.toString('hex')}`);
  assert.equal((await ask(`set=1\npublic_key=${publicKeyOf(privateKey).toString('hex')}\nallowed_ip=10.2.0.0/16`)).errno, 0);
  assert.equal(device.findPeer(publicKeyOf(privateKey)), undefined);
  assert.equal((await ask('get=1')).errno, 0);
});

test('Debian wg drives the socket: set, show, showconf', { skip: (!canUseRunDir || !existsSync('/usr/bin/wg')) && 'needs root and wireguard-tools' }, async (t) => {
  const { device } = await served(t);
  const privateKey = generatePrivateKey();
  const peer = publicKeyOf(generatePrivateKey()).toString('base64');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(`${tmpdir()}/netmend-uapi-`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(`${dir}/key`, `${privateKey.toString('base64')}\n`, { mode: 0o600 });
  const set = await run('wg', ['set', device.name, 'private-key', `${dir}/key`, 'listen-port', '0', 'peer', peer, 'allowed-ips', '10.60.0.0/16,fd60::/64', 'endpoint', '[fd00::7]:4000', 'persistent-keepalive', '0']);
  assert.equal(set.code, 0, set.stderr);
  const show = await run('wg', ['show', device.name]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`public key: ${publicKeyOf(privateKey).toString('base64').replace(/[+/]/g, '\\$&')}`));
  assert.match(show.stdout, /endpoint: \[fd00::7\]:4000/);
  assert.match(show.stdout, /allowed ips: 10\.60\.0\.0\/16, fd60::\/64/);
  const conf = await run('wg', ['showconf', device.name]);
  assert.match(conf.stdout, /\[Peer\]/);
  // setconf sends replace_peers=true: the peer is replaced by the file's.
  const replacement = publicKeyOf(generatePrivateKey()).toString('base64');
  writeFileSync(`${dir}/c.conf`, `[Interface]\nPrivateKey = ${privateKey.toString('base64')}\n\n[Peer]\nPublicKey = ${replacement}\nAllowedIPs = 10.61.0.1/32\n`);
  const setconf = await run('wg', ['setconf', device.name, `${dir}/c.conf`]);
  assert.equal(setconf.code, 0, setconf.stderr);
  const peers = (await run('wg', ['show', device.name, 'peers'])).stdout.trim().split('\n');
  assert.deepEqual(peers, [replacement]);
  // A bad value comes back as an error from wg, as for the kernel.
  const bad = await run('wg', ['set', device.name, 'peer', peer, 'allowed-ips', '10.0.0.0/99']);
  assert.notEqual(bad.code, 0);
});

/** Raw client for the control socket's transport: writes pieces, collects replies up to n errno lines. */
async function rawExchange(path: string, pieces: string[], replies: number, options: { endAfterWriting?: boolean } = {}): Promise<string[]> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path, allowHalfOpen: true });
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`timed out; got ${JSON.stringify(text.slice(0, 200))}`)); }, 20_000);
    socket.setEncoding('utf8');
    socket.on('error', (error) => { clearTimeout(timer); reject(error); });
    socket.on('end', () => { clearTimeout(timer); reject(new Error('the server closed the connection')); });
    socket.on('connect', async () => {
      for (const piece of pieces) {
        socket.write(piece);
        await new Promise((r) => setTimeout(r, 5));
      }
      if (options.endAfterWriting) socket.end();
    });
    socket.on('data', (chunk: string) => {
      text += chunk;
      const parts = text.split(/(?<=errno=-?\d+\n\n)/);
      if (parts.filter((part) => /errno=-?\d+\n\n$/.test(part)).length >= replies) {
        clearTimeout(timer);
        socket.destroy();
        resolve(parts.slice(0, replies));
      }
    });
  });
}

test('the control socket: a request split over writes, several per write, answers in order, a reply larger than the socket buffer, half-close', { timeout: 60_000, skip: !canUseRunDir && 'needs root for /var/run/wireguard' }, async (t) => {
  const { device, server, ask } = await served(t);
  const peer = publicKeyOf(generatePrivateKey()).toString('hex');
  // Split in the middle of a line and between the request and its empty line.
  const [split] = await rawExchange(server.path, ['se', `t=1\npublic_key=${peer}\nallowed_`, 'ip=10.70.0.0/16\n', '\n'], 1);
  assert.equal(split, 'errno=0\n\n');
  assert.ok(device.findPeer(Buffer.from(peer, 'hex')));
  // Two requests in one write (with stray empty lines before the first): two replies, in order.
  const [first, second] = await rawExchange(server.path, [`\n\nset=1\npublic_key=${peer}\nallowed_ip=10.71.0.0/16\n\nget=1\n\n`], 2);
  assert.equal(first, 'errno=0\n\n');
  assert.match(second, /allowed_ip=10\.71\.0\.0\/16\n[\s\S]*errno=0\n\n$/);
  // 20,000 prefixes: a ~0.5 MB request and a reply that does not fit the socket buffer at once.
  const prefixes = Array.from({ length: 20_000 }, (_, i) => `allowed_ip=10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`);
  const [big] = await rawExchange(server.path, [`set=1\npublic_key=${peer}\n${prefixes.join('\n')}\n\n`], 1);
  assert.equal(big, 'errno=0\n\n');
  const listed = (await ask('get=1')).lines.filter((line) => line.startsWith('allowed_ip=10.1'));
  assert.equal(listed.length, 20_000);
  // The client writes its request and shuts its side at once: the reply still arrives.
  const [afterEnd] = await rawExchange(server.path, ['get=1\n\n'], 1, { endAfterWriting: true });
  assert.match(afterEnd, /errno=0\n\n$/);
  // A line of more than 1 MB closes that connection only; the socket keeps serving.
  await rawExchange(server.path, ['set=1\n', 'x'.repeat(1_100_000)], 1).then(() => assert.fail('answered an overlong line'), () => undefined);
  assert.equal((await ask('get=1')).errno, 0);
});

test('the start-up warm-up of the UAPI code touches only its own throwaway device', { skip: !canUseRunDir && 'needs root for /var/run/wireguard' }, async (t) => {
  const { device, ask } = await served(t);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const get = await ask('get=1');
  assert.equal(get.errno, 0);
  assert.deepEqual(get.lines, []);
  assert.equal(device.peers.size, 0);
  assert.equal(device.privateKey, undefined);
});

test('the control socket is 0600 from the moment it can accept connections, whatever the umask', async (t) => {
  const { mkdtempSync, rmSync, statSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { loadAddon } = await import('../../src/mesh/addon.js');
  const native = loadAddon();
  const dir = mkdtempSync(`${tmpdir()}/netmend-uapi-mode-`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A permissive umask (a service manager's, a shell's): the socket holds the private key.
  const previous = process.umask(0);
  let handle;
  try {
    handle = native.controlListen(`${dir}/m.sock`, () => undefined);
  } finally {
    process.umask(previous);
  }
  t.after(() => native.controlClose(handle));
  assert.equal((statSync(`${dir}/m.sock`).mode & 0o777).toString(8), '600');
});

test('a client that sends requests and never reads the replies: the node stops taking its requests, its memory stays bounded, and every reply still arrives in order once it reads', { timeout: 60_000, skip: !canUseRunDir && 'needs root for /var/run/wireguard' }, async (t) => {
  const { device, server, ask } = await served(t);
  const peer = publicKeyOf(generatePrivateKey()).toString('hex');
  const prefixes = Array.from({ length: 20_000 }, (_, i) => `allowed_ip=10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`);
  assert.equal((await ask(`set=1\npublic_key=${peer}\n${prefixes.join('\n')}`)).errno, 0);
  const replyBytes = (await ask('get=1')).lines.join('\n').length;
  assert.ok(replyBytes > 500_000, `a get=1 reply is ${replyBytes} bytes`);
  const requests = 100;

  const net = await import('node:net');
  const socket = net.connect({ path: server.path });
  t.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.pause();
  const rssBefore = process.memoryUsage().rss;
  socket.write('get=1\n\n'.repeat(requests));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const grownMb = (process.memoryUsage().rss - rssBefore) / 1e6;
  t.diagnostic(`${requests} get=1 requests of ${(replyBytes / 1e6).toFixed(2)} MB replies unread: the node grew by ${grownMb.toFixed(1)} MB`);
  // Answering all 100 at once would queue ~56 MB of replies in the node.
  assert.ok(grownMb < 20, `the node grew by ${grownMb.toFixed(1)} MB while the client did not read`);
  assert.equal(device.peers.size, 1);

  // The client reads now: every reply arrives, whole and in order.
  let replies = 0;
  let tail = '';
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      const text = tail + chunk.toString('latin1');
      replies += text.split('\nerrno=0\n\n').length - 1;
      tail = text.slice(-9); // shorter than the marker: a marker is never counted twice
      if (replies >= requests) resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => (replies >= requests ? resolve() : reject(new Error(`closed after ${replies} replies`))));
  });
  socket.resume();
  await done;
  assert.equal(replies, requests);
  assert.equal((await ask('get=1')).errno, 0);
});
