/**
 * The doctor on the other state sources: busybox `ip` text (as on OpenWrt: rules without a mask,
 * no link kinds), a saved snapshot, and a host read over a real ssh login. Each must reach the
 * same verdicts as the live netlink read of the same namespace.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, labUnavailable, uniqueName } from './harness.js';
import { doctorJson, type DoctorRun } from './doctor-json.js';
import { startSshd } from './sshd.js';

type Verdicts = Record<string, string>;

async function verdicts(lab: Lab, ns: string | undefined, args: string[], env: NodeJS.ProcessEnv = {}): Promise<DoctorRun & { verdicts: Verdicts }> {
  const run = await doctorJson(lab, ns, ['doctor', 'routes', ...args], env);
  return { ...run, verdicts: Object.fromEntries(run.document.checks.map((check) => [check.id, check.status])) };
}

/**
 * A router as tailscaled leaves it when it drives busybox `ip` (TS_DEBUG_USE_IP_COMMAND): marks
 * without a mask, an exit node whose default captures the LAN (no throw route), a fe80 route on
 * the held-open tunnel.
 */
async function busyboxRouter(lab: Lab): Promise<{ ns: string; lan: string; tun: string }> {
  const { host: ns, hostIf: lan } = await lab.linkedPair(
    { label: 'db', ifPrefix: 'lan', addresses: ['192.168.9.1/24'] },
    { label: 'dp', ifPrefix: 'lanp', addresses: ['192.168.9.2/24'] },
    { gateway: '192.168.9.2' },
  );
  const tun = uniqueName('tailscale');
  await lab.tun(ns, tun, { addresses: ['100.100.1.2/32'] });
  await lab.waitForLinkLocalRoute(ns, tun);
  await lab.ip(ns, 'rule', 'add', 'priority', '5210', 'fwmark', '0x80000', 'lookup', 'main');
  await lab.ip(ns, 'rule', 'add', 'priority', '5230', 'fwmark', '0x80000', 'lookup', 'default');
  await lab.ip(ns, 'rule', 'add', 'priority', '5250', 'fwmark', '0x80000', 'unreachable');
  await lab.ip(ns, 'rule', 'add', 'priority', '5270', 'lookup', '52');
  await lab.ip(ns, 'route', 'add', '100.64.0.5', 'dev', tun, 'table', '52');
  await lab.ip(ns, 'route', 'add', 'default', 'dev', tun, 'table', '52');
  return { ns, lan, tun };
}

const EXPECTED: Verdicts = {
  'routes.tunnel-link-local': 'fail',
  'routes.subnet-shadows-lan': 'pass',
  'routes.exit-node-captures-lan': 'fail',
  'routes.overlapping-advertised': 'pass',
  'routes.forwarding-disabled': 'skip',
  'routes.rp-filter-strict': 'pass',
  'routes.foreign-rules-at-risk': 'skip',
  'routes.rule-order': 'pass',
};

test('doctor routes reads busybox ip text, a saved snapshot and a host over ssh to the same verdicts', { skip: labUnavailable(), timeout: 180_000 }, async (t) => {
  const lab = Lab.forTest(t);
  const router = await busyboxRouter(lab);

  const live = await verdicts(lab, router.ns, []);
  assert.deepEqual(live.verdicts, EXPECTED);
  assert.equal(live.code, 1);

  // busybox prints `fwmark 0x80000` with no mask and no link kinds: the tunnel is known by name.
  const busybox = await verdicts(lab, router.ns, ['--source', 'ip-text'], { NETMEND_IP: 'busybox ip' });
  assert.deepEqual(busybox.verdicts, EXPECTED);
  const exitNode = busybox.document.checks.find((check) => check.id === 'routes.exit-node-captures-lan')!;
  assert.ok(exitNode.evidence.includes('  rule:  5270: from all lookup 52'), exitNode.evidence.join('\n'));

  // A snapshot saved from the busybox read, analysed elsewhere.
  const dir = lab.tmpdir();
  const file = join(dir, 'router.json');
  const saved = await lab.netmend(router.ns, ['snapshot', '--source', 'ip-text', '--out', file], { env: { NETMEND_IP: 'busybox ip' } });
  assert.equal(saved.code, 0, saved.stderr);
  const fromFile = await verdicts(lab, undefined, ['--snapshot', file]);
  assert.deepEqual(fromFile.verdicts, EXPECTED);

  // The same router over a real ssh login (ip text read there, analysed here).
  const sshd = await startSshd(lab, router.ns);
  const overSsh = await verdicts(lab, router.ns, ['--ssh', sshd.target], { NETMEND_SSH_OPTIONS: sshd.sshOptionsEnv });
  assert.deepEqual(overSsh.verdicts, EXPECTED);
  assert.match(sshd.log(), /Accepted publickey/);
});
