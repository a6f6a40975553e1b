/**
 * `netmend node up/down/status` at their edges: bad config, a second node on the same name,
 * unknown interfaces. Each must fail with the right exit code and leave nothing behind.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generatePrivateKey } from '../../src/mesh/keys.js';
import { Lab, labUnavailable, uniqueName } from './harness.js';
import { b64, newNode, startNode, twoHosts, waitFor } from './mesh-interop-lab.js';

const skip = labUnavailable();

test('node up with a bad key in the config: exit 2 naming FILE:LINE, no interface, no socket', { skip, timeout: 60_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('c');
  const iface = uniqueName('nmc');
  const file = join(lab.tmpdir(), `${iface}.conf`);
  writeFileSync(file, `[Interface]\nPrivateKey = ${b64(generatePrivateKey())}\nAddress = 10.70.0.1/24\n\n[Peer]\nPublicKey = not-a-key\nAllowedIPs = 10.70.0.2/32\n`, { mode: 0o600 });
  const result = await lab.netmend(ns, ['node', 'up', '-c', file], { env: { NETMEND_RUN_DIR: lab.tmpdir() } });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, new RegExp(`${iface}\\.conf:6`));
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.equal(existsSync(`/var/run/wireguard/${iface}.sock`), false);
  assert.notEqual((await lab.exec(ns, 'ip', ['link', 'show', iface])).code, 0);
});

test('a second node up on a running interface is refused (exit 3) and the first keeps running', { skip, timeout: 90_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA } = await twoHosts(lab);
  const first = newNode('netmend', nsA, '10.232.0.1', 51091);
  await startNode(lab, first, []);
  const file = join(lab.tmpdir(), `${first.iface}.conf`);
  writeFileSync(file, `[Interface]\nPrivateKey = ${b64(generatePrivateKey())}\nListenPort = 51092\n`, { mode: 0o600 });
  const second = await lab.netmend(nsA, ['node', 'up', '-c', file], { env: { NETMEND_RUN_DIR: lab.tmpdir() } });
  assert.equal(second.code, 3, second.stderr);
  assert.match(second.stderr, /control socket|served by another process/);
  assert.equal(first.process!.exitCode, null);
  assert.equal((await lab.exec(nsA, 'wg', ['show', first.iface, 'listen-port'])).stdout.trim(), '51091');
});

test('node status and node down name an interface that is not running: exit 2', { skip, timeout: 30_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const name = uniqueName('nmz');
  const status = await lab.netmend(undefined, ['node', 'status', name]);
  assert.equal(status.code, 2, status.stderr);
  assert.match(status.stderr, new RegExp(`no mesh node is running as ${name}`));
  const down = await lab.netmend(undefined, ['node', 'down', name], { env: { NETMEND_RUN_DIR: lab.tmpdir() } });
  assert.equal(down.code, 2, down.stderr);
});

test('SIGINT shuts the node down cleanly: interface, routes and socket removed', { skip, timeout: 60_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA, nsB } = await twoHosts(lab);
  const node = newNode('netmend', nsA, '10.232.0.1', 51093);
  const peer = newNode('wireguard-go', nsB, '10.232.0.2', 51094);
  await startNode(lab, node, [{ node: peer, allowedIps: ['10.232.0.2/32', '10.77.0.0/16'] }]);
  assert.match(await lab.ip(nsA, 'route', 'show'), /10\.77\.0\.0\/16 dev/);
  node.process!.kill('SIGINT');
  await waitFor(() => node.process!.exitCode !== null, 10_000, 'exit');
  assert.equal(node.process!.exitCode, 0, node.log.join(''));
  assert.equal(existsSync(`/var/run/wireguard/${node.iface}.sock`), false);
  assert.notEqual((await lab.exec(nsA, 'ip', ['link', 'show', node.iface])).code, 0);
  assert.doesNotMatch(await lab.ip(nsA, 'route', 'show'), /10\.77\.0\.0/);
});

test('deleting the interface (as wg-quick down does) stops the node and removes its socket', { skip, timeout: 60_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { nsA } = await twoHosts(lab);
  const node = newNode('netmend', nsA, '10.232.0.1', 51095);
  await startNode(lab, node, []);
  await lab.ip(nsA, 'link', 'del', node.iface);
  await waitFor(() => node.process!.exitCode !== null, 10_000, 'node exit after ip link del');
  assert.equal(node.process!.exitCode, 0, node.log.join(''));
  assert.equal(existsSync(`/var/run/wireguard/${node.iface}.sock`), false);
  assert.match(node.log.join(''), /was deleted: shutting down/);
});
