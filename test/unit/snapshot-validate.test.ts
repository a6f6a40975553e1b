/**
 * A saved snapshot is validated on load: bad addresses, prefixes, prefix lengths, numbers and
 * enums are exit 2 naming the JSON path, through every command that reads --snapshot; what the
 * readers themselves write (netlink, ip -json, ip text) loads again unchanged.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import type { Snapshot } from '../../src/snapshot/types.js';
import { validateSnapshot } from '../../src/snapshot/validate.js';
import { netmend } from '../lab/harness.js';

/** A small router: LAN on eth0, a mesh tunnel, a policy rule, a multipath route. */
function router(): Snapshot {
  return {
    version: 1, host: 'router', takenAt: '2026-01-01T00:00:00Z', source: 'file',
    links: [
      { index: 1, name: 'lo', kind: 'loopback', flags: ['LOOPBACK', 'UP'], mtu: 65536, operstate: 'UNKNOWN', address: '00:00:00:00:00:00' },
      { index: 2, name: 'eth0', kind: 'ether', flags: ['UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:01' },
      { index: 3, name: 'tailscale0', kind: 'tun', flags: ['UP', 'POINTOPOINT'], mtu: 1280, operstate: 'UNKNOWN', address: null },
    ],
    addresses: [
      { ifindex: 1, dev: 'lo', family: 4, local: '127.0.0.1', prefixlen: 8, scope: 'host', flags: [] },
      { ifindex: 2, dev: 'eth0', family: 4, local: '192.168.1.10', prefixlen: 24, scope: 'global', flags: [] },
      { ifindex: 2, dev: 'eth0', family: 6, local: 'fd00:1::10', prefixlen: 64, scope: 'global', flags: [] },
    ],
    routes: [
      { family: 4, table: 254, type: 'unicast', dst: '0.0.0.0/0', gateway: '192.168.1.1', dev: 'eth0', metric: 0, protocol: 'boot', scope: 'global', flags: [] },
      { family: 4, table: 254, type: 'unicast', dst: '192.168.1.0/24', dev: 'eth0', prefsrc: '192.168.1.10', metric: 0, protocol: 'kernel', scope: 'link', flags: [] },
      { family: 4, table: 52, type: 'unicast', dst: '100.64.0.0/10', dev: 'tailscale0', metric: 0, protocol: 'static', scope: 'link', flags: [] },
      { family: 4, table: 52, type: 'unicast', dst: '10.0.0.0/8', metric: 0, protocol: 'static', scope: 'global', flags: [], nexthops: [{ gateway: '192.168.1.1', dev: 'eth0', weight: 1 }, { gateway: '192.168.1.2', dev: 'eth0', weight: 1 }] },
      { family: 6, table: 254, type: 'unicast', dst: 'fd00:1::/64', dev: 'eth0', metric: 256, protocol: 'kernel', scope: 'global', flags: [] },
      { family: 4, table: 255, type: 'local', dst: '192.168.1.10/32', dev: 'eth0', prefsrc: '192.168.1.10', metric: 0, protocol: 'kernel', scope: 'host', flags: [] },
    ],
    rules: [
      { family: 4, priority: 0, not: false, action: 'lookup', table: 255 },
      { family: 4, priority: 5270, not: false, action: 'lookup', table: 52, to: '100.64.0.0/10', fwmark: 0x80000, fwmask: 0xff0000 },
      { family: 4, priority: 32766, not: false, action: 'lookup', table: 254 },
    ],
    sysctls: { ipForward: 1, interfaces: { all: { rpFilter: 0 }, eth0: { rpFilter: 2 } } },
  };
}

const cases: Array<[string, (snapshot: Snapshot) => void, RegExp]> = [
  ['a gateway that is not an address', (s) => { (s.routes[0] as unknown as Record<string, unknown>).gateway = 'banana'; }, /routes\[0\]\.gateway: 'banana' is not an IP address/],
  ['an IPv4 prefix of /40', (s) => { s.routes[2].dst = '100.64.0.0/40'; }, /routes\[2\]\.dst: '100\.64\.0\.0\/40': \/40 is longer than an IPv4 prefix can be \(\/32\)/],
  ['an unknown route type', (s) => { (s.routes[1] as unknown as Record<string, unknown>).type = 'teleport'; }, /routes\[1\]\.type: 'teleport' is not one of unicast, local/],
  ['address 300.1.1.1/99', (s) => { s.addresses[1].local = '300.1.1.1'; s.addresses[1].prefixlen = 99; }, /addresses\[1\]\.local: '300\.1\.1\.1' is not an IPv4 address/],
  ['an IPv4 prefix length of 99', (s) => { s.addresses[1].prefixlen = 99; }, /addresses\[1\]\.prefixlen: 99 is not a prefix length from 0 to 32/],
  ['an IPv6 address in an IPv4 route', (s) => { s.routes[1].dst = 'fd00::/64'; }, /routes\[1\]\.dst: 'fd00::\/64' is not an IPv4 prefix/],
  ['a bad gateway inside a multipath route', (s) => { s.routes[3].nexthops![1].gateway = '192.168.1.256'; }, /routes\[3\]\.nexthops\[1\]\.gateway: '192\.168\.1\.256' is not an IP address/],
  ['a rule prefix that does not parse', (s) => { s.rules[1].to = '100.64.0.0/x'; }, /rules\[1\]\.to: '100\.64\.0\.0\/x' is not an IPv4 prefix/],
  ['an unknown rule action', (s) => { (s.rules[2] as unknown as Record<string, unknown>).action = 'teleport'; }, /rules\[2\]\.action: 'teleport' is not one of lookup, goto/],
  ['a negative table', (s) => { s.routes[4].table = -1; }, /routes\[4\]\.table: -1 is not a whole number from 0 to 4294967295/],
  ['a family of 5', (s) => { (s.rules[0] as unknown as Record<string, unknown>).family = 5; }, /rules\[0\]\.family: 5 is not 4 or 6/],
  ['a missing route field', (s) => { delete (s.routes[5] as unknown as Record<string, unknown>).scope; }, /routes\[5\]\.scope: missing/],
  ['a sysctl that is not a number', (s) => { (s.sysctls.interfaces.eth0 as unknown as Record<string, unknown>).rpFilter = 'strict'; }, /sysctls\.interfaces\.eth0\.rpFilter: 'strict' is not a whole number/],
];

test('the hand-built router snapshot itself is valid', () => {
  const loaded = validateSnapshot(JSON.parse(JSON.stringify(router())), 'router.json');
  assert.equal(loaded.routes.length, 6);
  assert.equal(loaded.source, 'file');
});

test('validateSnapshot refuses each bad value with an InputError naming its JSON path', () => {
  for (const [what, damage, expected] of cases) {
    const snapshot = router();
    damage(snapshot);
    assert.throws(() => validateSnapshot(JSON.parse(JSON.stringify(snapshot)), 'router.json'),
      (error: unknown) => error instanceof InputError && error.exitCode === 2 && expected.test(error.message) && error.message.startsWith('--snapshot: router.json: '),
      what);
  }
});

test('every command that reads --snapshot refuses a damaged one with exit 2 and the path, in one line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-validate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const commands = (file: string): string[][] => [
    ['route', 'explain', '192.168.1.20', '--snapshot', file],
    ['doctor', 'routes', '--snapshot', file],
    ['doctor', '--snapshot', file],
    ['snapshot', '--snapshot', file],
  ];
  for (const [index, [what, damage, expected]] of cases.slice(0, 4).entries()) {
    const snapshot = router();
    damage(snapshot);
    const file = join(dir, `damaged-${index}.json`);
    writeFileSync(file, JSON.stringify(snapshot));
    for (const args of commands(file)) {
      const result = await netmend(args);
      assert.equal(result.code, 2, `${what}: ${args.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.equal(result.stdout, '', `${what}: ${args.join(' ')} analysed it anyway`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, expected, `${what}: ${args.join(' ')}`);
    }
  }
});

test('a snapshot from each reader (netlink, ip -json, ip text) loads again and is written back unchanged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-validate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const source of ['netlink', 'ip-json', 'ip-text']) {
    const file = join(dir, `${source}.json`);
    const written = await netmend(['snapshot', '--source', source, '--out', file]);
    assert.equal(written.code, 0, `${source}: ${written.stderr}`);
    const again = await netmend(['snapshot', '--snapshot', file]);
    assert.equal(again.code, 0, `${source}: ${again.stderr}`);
    const original = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual({ ...JSON.parse(again.stdout), source: original.source }, original, source);
  }
});
