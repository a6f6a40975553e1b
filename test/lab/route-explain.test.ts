/**
 * `netmend route explain` end to end in a namespace: the Tailscale LAN hairpin from lab.md,
 * explained, then fixed by a rule; JSON fields; a saved snapshot; bad input exits 2; the fast
 * path and the oclif command print the same.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, labUnavailable, netmend, projectRoot, run, uniqueName } from './harness.js';

const skip = labUnavailable();

async function hairpinHost(lab: Lab): Promise<{ ns: string; lanDev: string; tun: string }> {
  const { host: ns, hostIf: lanDev } = await lab.linkedPair({ label: 're', ifPrefix: 'rev', addresses: ['10.10.0.4/24', '2001:db8:10::4/64'] }, { label: 'rl', ifPrefix: 'rel' });
  const tun = uniqueName('ret');
  await lab.tun(ns, tun, { addresses: ['100.100.1.2/32'] });
  await lab.tailscaleRules(ns);
  await lab.ip(ns, 'route', 'add', '10.10.0.0/24', 'dev', tun, 'table', '52');
  await lab.ip(ns, '-6', 'route', 'add', '2001:db8:10::/64', 'dev', tun, 'table', '52');
  return { ns, lanDev, tun };
}

test('explains the Tailscale LAN hairpin rule by rule, and the fix, as the kernel decides', { skip, timeout: 120_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { ns, lanDev, tun } = await hairpinHost(lab);
  const broken = await lab.netmend(ns, ['route', 'explain', '10.10.0.3']);
  assert.equal(broken.code, 0, broken.stderr);
  const kernel = await lab.ip(ns, 'route', 'get', '10.10.0.3');
  assert.match(kernel, new RegExp(`dev ${tun} table 52`));
  assert.match(broken.stdout, /\[no match\]\s+5210:\s+from all fwmark 0x80000\/0xff0000 lookup main\n\s+fwmark 0x80000\/0xff0000 does not match mark 0x0/);
  assert.match(broken.stdout, /\[match\]\s+5270:\s+from all lookup 52/);
  assert.match(broken.stdout, new RegExp(`result: 10\\.10\\.0\\.3 dev ${tun} table 52`));

  const json = await lab.netmend(ns, ['route', 'explain', '10.10.0.3', '--json']);
  const decision = JSON.parse(json.stdout);
  assert.equal(decision.destination, '10.10.0.3');
  assert.deepEqual([decision.result.type, decision.result.table, decision.result.dev, decision.result.gateway], ['unicast', 52, tun, null]);
  assert.equal(decision.rule.priority, 5270);
  assert.equal(decision.route.dst, '10.10.0.0/24');
  assert.ok(decision.steps.length >= 4);

  const marked = JSON.parse((await lab.netmend(ns, ['route', 'explain', '10.10.0.3', '--mark', '0x80000', '--json'])).stdout);
  assert.deepEqual([marked.result.dev, marked.rule.priority, marked.result.prefsrc], [lanDev, 5210, '10.10.0.4']);
  assert.deepEqual(JSON.parse((await lab.netmend(ns, ['route', 'explain', '10.10.0.3', '--mark', '524288', '--json'])).stdout).result, marked.result, 'decimal and hex marks agree');

  await lab.ip(ns, 'rule', 'add', 'pref', '5205', 'to', '10.10.0.0/24', 'lookup', 'main');
  const fixed = JSON.parse((await lab.netmend(ns, ['route', 'explain', '10.10.0.3', '--json'])).stdout);
  assert.deepEqual([fixed.result.dev, fixed.rule.priority], [lanDev, 5205]);
  assert.match(await lab.ip(ns, 'route', 'get', '10.10.0.3'), new RegExp(`dev ${lanDev}`));

  const v6 = JSON.parse((await lab.netmend(ns, ['route', 'explain', '2001:db8:10::3', '--json'])).stdout);
  assert.deepEqual([v6.family, v6.result.dev, v6.result.table], [6, tun, 52]);
});

test('an unreachable destination is an answer (exit 0) naming the kernel error', { skip, timeout: 60_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { ns } = await hairpinHost(lab);
  const result = await lab.netmend(ns, ['route', 'explain', '192.0.2.7', '--mark', '0x80000']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /result: RTNETLINK answers: Network is unreachable \(ENETUNREACH\)/);
  assert.match(result.stdout, /5250:\s+from all fwmark 0x80000\/0xff0000 unreachable/);
  const kernel = await run('ip', ['-n', ns, 'route', 'get', '192.0.2.7', 'mark', '0x80000']);
  assert.match(kernel.stderr, /Network is unreachable/);
});

test('a saved snapshot is explained anywhere; bad input is a one-line error with exit 2', { skip, timeout: 60_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { ns, tun } = await hairpinHost(lab);
  const dir = lab.tmpdir();
  const file = join(dir, 'host.json');
  const saved = await lab.netmend(ns, ['snapshot', '--out', file]);
  assert.equal(saved.code, 0, saved.stderr);
  const offline = JSON.parse((await netmend(['route', 'explain', '10.10.0.3', '--snapshot', file, '--json'])).stdout);
  assert.equal(offline.result.dev, tun);
  for (const [args, pattern] of [
    [['route', 'explain', '10.10.0.999', '--snapshot', file], /destination '10\.10\.0\.999' is not an IPv4 or IPv6 address/],
    [['route', 'explain', '10.10.0.3', '--mark', '0xZZ', '--snapshot', file], /--mark: '0xZZ' is not a number/],
    [['route', 'explain', '10.10.0.3', '--iif', 'nosuch0', '--snapshot', file], /--iif: no interface named 'nosuch0'/],
    [['route', 'explain', '10.10.0.3', '--from', 'fe80::1', '--snapshot', file], /--from fe80::1 is IPv6/],
    [['route', 'explain', '10.10.0.3', '--bogus'], /bogus/],
    [['route', 'explain', 'fe80::1%nosuchif', '--snapshot', file], /destination fe80::1%nosuchif: no interface named 'nosuchif'/],
    [['route', 'explain', '10.10.0.3%lo', '--snapshot', file], /only IPv6 addresses take a zone/],
  ] as Array<[string[], RegExp]>) {
    const result = await netmend(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, pattern);
    assert.doesNotMatch(result.stderr, /at .*\.js:\d+/);
  }
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{"version":1');
  const bad = await netmend(['route', 'explain', '10.0.0.1', '--snapshot', broken]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /broken\.json is not JSON/);
});

test('the fast path and the oclif command print the same explanation', { skip, timeout: 60_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { ns } = await hairpinHost(lab);
  const file = join(lab.tmpdir(), 'host.json');
  await lab.netmend(ns, ['snapshot', '--out', file]);
  const args = ['route', 'explain', '10.10.0.3', '--mark', '0x80000', '--snapshot', file];
  const fast = await netmend(args);
  // Straight into oclif, bypassing bin/run.js's fast path.
  const script = `const { run, flush } = await import('@oclif/core'); await run(${JSON.stringify(args)}, ${JSON.stringify(join(projectRoot, 'bin', 'run.js'))}); await flush();`;
  const viaOclif = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(viaOclif.code, 0, viaOclif.stderr);
  assert.equal(fast.stdout, viaOclif.stdout);
  assert.match(fast.stdout, /result: 10\.10\.0\.3 dev /);
});

test('link-local, multicast and broadcast destinations: the kernel\'s device, type and source; a zone picks the interface', { skip, timeout: 60_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const { ns, lanDev, tun } = await hairpinHost(lab);
  await lab.ip(ns, 'route', 'add', 'default', 'via', '10.10.0.1', 'dev', lanDev);
  await lab.waitForLinkLocalRoute(ns, tun);
  await lab.waitFor(async () => (await lab.ip(ns, '-6', 'addr', 'show', 'tentative')).trim() === '', 20_000, 'IPv6 duplicate address detection');
  const linkLocal = async (dev: string) => /inet6 (fe80::[0-9a-f:]+)\/64/.exec(await lab.ip(ns, '-6', 'addr', 'show', 'dev', dev))![1];
  const explain = async (destination: string) => {
    const result = await lab.netmend(ns, ['route', 'explain', destination, '--json']);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout).result as { type: string; dev: string; gateway: string | null; prefsrc: string | null; table: number | null };
  };
  // The kernel's own answers, for the record.
  assert.match(await lab.ip(ns, 'route', 'get', '255.255.255.255'), new RegExp(`^broadcast 255\\.255\\.255\\.255 dev ${lanDev} src 10\\.10\\.0\\.4`));
  const broadcast = await explain('255.255.255.255');
  assert.deepEqual([broadcast.type, broadcast.dev, broadcast.gateway, broadcast.prefsrc], ['broadcast', lanDev, null, '10.10.0.4']);
  const multicast = await explain('224.0.0.1');
  assert.deepEqual([multicast.type, multicast.dev, multicast.gateway], ['multicast', lanDev, null]);
  const zero = await explain('0.0.0.0');
  assert.deepEqual([zero.type, zero.dev, zero.prefsrc, zero.table], ['local', 'lo', '127.0.0.1', null]);
  // fe80::1 goes out of the first link with fe80::/64, from that link's own link-local address.
  const kernelLinkLocal = await lab.ip(ns, '-6', 'route', 'get', 'fe80::1');
  const kernelDev = /dev (\S+)/.exec(kernelLinkLocal)![1];
  const unscoped = await explain('fe80::1');
  assert.deepEqual([unscoped.dev, unscoped.prefsrc], [kernelDev, await linkLocal(kernelDev)]);
  const other = kernelDev === lanDev ? tun : lanDev;
  const scoped = await explain(`fe80::1%${other}`);
  assert.deepEqual([scoped.dev, scoped.prefsrc], [other, await linkLocal(other)]);
  assert.match(await lab.ip(ns, '-6', 'route', 'get', 'fe80::1', 'oif', other), new RegExp(`dev ${other} .*src ${await linkLocal(other)}`));
  const allNodes = await explain(`ff02::1%${lanDev}`);
  assert.deepEqual([allNodes.type, allNodes.dev, allNodes.prefsrc], ['multicast', lanDev, await linkLocal(lanDev)]);
});
