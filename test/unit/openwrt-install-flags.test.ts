/**
 * `netmend openwrt install` checks its own flags before it contacts the router. The "router" is
 * a TCP listener on 127.0.0.1 that counts the connections made to it (and closes each at once,
 * so an ssh that does connect fails fast): a refused flag must leave that count at zero.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { netmend } from '../lab/harness.js';
import { installerArguments } from '../../src/openwrt/arguments.js';

async function countingListener(t: import('node:test').TestContext): Promise<{ port: number; connections(): Promise<number> }> {
  let accepted = 0;
  let probes = 0;
  const server = createServer((socket) => { accepted += 1; socket.destroy(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    // Connections are accepted in order: once a probe of our own is in, every earlier one is.
    async connections() {
      const before = accepted;
      probes += 1;
      const probe = connect(port, '127.0.0.1');
      probe.on('error', () => {});
      const deadline = Date.now() + 30_000;
      while (accepted === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      probe.destroy();
      assert.ok(accepted > before, 'the probe connection was never accepted');
      return accepted - probes;
    },
  };
}

const refusals: Array<{ args: string[]; message: RegExp }> = [
  { args: ['--purge'], message: /--purge only goes with --uninstall/ },
  { args: ['--version', '1.90.8', '--purge'], message: /--purge only goes with --uninstall/ },
  { args: ['--version', 'v1.90'], message: /--version 'v1\.90' is not a version number/ },
  { args: ['--version', '1.90.8;reboot'], message: /is not a version number/ },
  { args: ['--version', '1.90.8', '--sha256', 'abc123'], message: /--sha256 'abc123' is not 64 hex digits/ },
  { args: ['--version', '1.90.8', '--sha256', `${'a'.repeat(63)}g`], message: /is not 64 hex digits/ },
  { args: ['--version', '1.90.8', '--lan-rule', 'banana'], message: /--lan-rule 'banana' is not an address prefix/ },
  { args: ['--version', '1.90.8', '--lan-rule', '192.168.1.0/33'], message: /is not an address prefix/ },
  { args: ['--version', '1.90.8', '--lan-rule', '192.168.1.0'], message: /is not an address prefix/ },
  { args: ['--version', '1.90.8', '--lan-rule', '192.168.1.1/24'], message: /has host bits set \(hint: did you mean 192\.168\.1\.0\/24\?\)/ },
  { args: ['--version', '1.90.8', '--base-url', 'ftp://mirror/stable'], message: /--base-url 'ftp:\/\/mirror\/stable' is not an http\(s\) URL/ },
  { args: ['--uninstall', '--version', '1.90.8'], message: /--version applies to installing, not to --uninstall/ },
  { args: ['--uninstall', '--lan-rule', '192.168.1.0/24'], message: /--lan-rule applies to installing/ },
];

test('openwrt install refuses malformed flags with one line, exit 2, and never connects to the router', async (t) => {
  const router = await countingListener(t);
  const env = { NETMEND_SSH_OPTIONS: `-p ${router.port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -F /dev/null` };
  for (const { args, message } of refusals) {
    const result = await netmend(['openwrt', 'install', '--ssh', 'root@127.0.0.1', ...args], { env });
    const shown = `${args.join(' ')} -> exit ${result.code}: ${result.stderr}`;
    assert.equal(result.code, 2, shown);
    assert.equal(result.stderr.trim().split('\n').length, 1, shown);
    assert.match(result.stderr, message, shown);
    assert.equal(await router.connections(), 0, `${args.join(' ')} contacted the router`);
  }
  // The control: valid flags do reach the listener (which hangs up: exit 2, unreachable).
  const valid = await netmend(['openwrt', 'install', '--ssh', 'root@127.0.0.1', '--version', '1.90.8', '--lan-rule', '192.168.1.0/24'], { env });
  assert.equal(valid.code, 2, valid.stderr);
  assert.match(valid.stderr, /cannot reach root@127\.0\.0\.1 over ssh/);
  assert.equal(await router.connections(), 1);
});

test('installer arguments: what passes is handed on as given (digests lowercased)', () => {
  assert.deepEqual(installerArguments({ version: 'latest', 'dry-run': true }), ['--version', 'latest', '--dry-run']);
  assert.deepEqual(
    installerArguments({ version: '1.90.8', sha256: 'AB'.repeat(32), 'lan-rule': 'fd00:1::/64', 'exit-node': true, 'base-url': 'http://10.0.0.1:8080/stable' }),
    ['--version', '1.90.8', '--base-url', 'http://10.0.0.1:8080/stable', '--sha256', 'ab'.repeat(32), '--lan-rule', 'fd00:1::/64', '--exit-node'],
  );
  assert.deepEqual(installerArguments({ uninstall: true, purge: true, 'exit-node': false }), ['--uninstall', '--purge']);
});
