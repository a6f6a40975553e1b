/**
 * `netmend doctor mesh` and `netmend doctor` end to end with the tailscale CLI stand-in (the
 * daemon cannot run in the lab) printing each scenario's JSON, in a namespace with a LAN and a
 * held-open tunnel: verdicts, JSON document, exit codes, netcheck only when a peer is relayed,
 * the CLI calls made on the remote host over a real ssh login, a missing `tailscale` skipping
 * its checks, and every topic green on the healthy host.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Lab, labUnavailable, projectRoot, uniqueName } from './harness.js';
import { doctorJson, type DoctorRun } from './doctor-json.js';
import { startSshd } from './sshd.js';
import { EXPECTED_TAILSCALE, LAN, scenarios, TAILSCALE_IDS, writeScenario } from '../mesh/tailscale-scenarios.js';

const STAND_INS = join(projectRoot, 'test', 'mesh', 'stand-ins');

interface Host {
  lab: Lab;
  ns: string;
  root: string;
}

/** A host in LAN 192.168.77.0/24 behind 192.168.77.1, with a tailscale0-like tunnel holding 100.101.0.1. */
async function meshHost(t: TestContext): Promise<Host> {
  const lab = Lab.forTest(t);
  const { host: ns } = await lab.linkedPair(
    { label: 'mt', ifPrefix: 'lan', addresses: ['192.168.77.10/24'] },
    { label: 'mg', ifPrefix: 'gwl', addresses: ['192.168.77.1/24'] },
    { gateway: '192.168.77.1' },
  );
  const tun = uniqueName('tailscale');
  await lab.tun(ns, tun, { addresses: ['100.101.0.1/32'] });
  // A well-kept host: no link-local addressing on the tunnel (what `netmend fix link-local` leaves).
  await lab.ip(ns, 'link', 'set', 'dev', tun, 'addrgenmode', 'none');
  await lab.ip(ns, '-6', 'addr', 'flush', 'dev', tun, 'scope', 'link');
  await lab.ip(ns, '-6', 'route', 'flush', 'dev', tun);
  await lab.tailscaleRules(ns, { families: [4] });
  await lab.ip(ns, 'route', 'add', '100.101.0.2', 'dev', tun, 'table', '52');
  const root = lab.tmpdir();
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'resolv.conf'), 'nameserver 192.168.77.1\nsearch tailnet-1234.ts.net\n');
  return { lab, ns, root };
}

function doctor(host: Host, scenarioDir: string | undefined, args: string[], env: NodeJS.ProcessEnv = {}): Promise<DoctorRun> {
  const withStandIn = scenarioDir ? { PATH: `${STAND_INS}:${process.env.PATH}`, NETMEND_TAILSCALE_SCENARIO: scenarioDir } : {};
  return doctorJson(host.lab, host.ns, [...args, '--root', host.root], { ...withStandIn, ...env });
}

test('doctor mesh: every tailscale scenario through the CLI stand-in, with exit codes and netcheck only when relayed', { skip: labUnavailable(), timeout: 240_000 }, async (t) => {
  const host = await meshHost(t);
  const all = scenarios(Date.now());
  for (const [name, scenario] of Object.entries(all)) {
    const dir = join(host.lab.tmpdir(), name);
    const root = host.lab.tmpdir();
    writeScenario(dir, scenario, root);
    const run = await doctor({ ...host, root }, dir, ['doctor', 'mesh']);
    assert.equal(run.document.version, 1);
    assert.deepEqual(TAILSCALE_IDS.map((id) => run.byId[id].status), EXPECTED_TAILSCALE[name], `${name}: ${JSON.stringify(run.byId, null, 1)}`);
    const fails = EXPECTED_TAILSCALE[name].includes('fail');
    assert.equal(run.code, fails ? 1 : 0, name);
    const calls = readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n').sort();
    const relayed = name.startsWith('relayed-');
    assert.deepEqual(calls, relayed ? ['netcheck', 'prefs', 'serve', 'status'] : ['prefs', 'serve', 'status'], name);
    if (name === 'funnel-stale') {
      assert.ok(run.byId['mesh.funnel-stale'].evidence.includes(`certificate for an old name: /var/lib/tailscale/certs/oldbox.tailnet-1234.ts.net.crt`), run.byId['mesh.funnel-stale'].evidence.join('\n'));
    }
    if (name === 'routes-shadow-lan') assert.match(run.byId['mesh.routes-not-accepted'].summary, new RegExp(`covers this host's own LAN ${LAN.replace(/[./]/g, '\\$&')}`));
  }
  // Warnings alone give exit 1 only when asked.
  const dir = join(host.lab.tmpdir(), 'warn');
  writeScenario(dir, all['funnel-stale']);
  assert.equal((await doctor(host, dir, ['doctor', 'mesh'])).code, 0);
  assert.equal((await doctor(host, dir, ['doctor', 'mesh', '--fail-on', 'warn'])).code, 1);
});

test('doctor mesh: no tailscale on the host skips its checks with the reason', { skip: labUnavailable(), timeout: 60_000 }, async (t) => {
  const host = await meshHost(t);
  const run = await doctor(host, undefined, ['doctor', 'mesh'], { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' });
  for (const id of TAILSCALE_IDS) assert.deepEqual([run.byId[id].status, run.byId[id].summary], ['skip', '`tailscale` is not installed'], id);
  assert.equal(run.code, 0);
});

test('doctor mesh --ssh: the tailscale CLI runs on the remote host', { skip: labUnavailable(), timeout: 120_000 }, async (t) => {
  const host = await meshHost(t);
  const dir = join(host.lab.tmpdir(), 'remote');
  writeScenario(dir, scenarios(Date.now())['exit-node-offline']);
  const sshd = await startSshd(host.lab, host.ns, { env: { PATH: `${STAND_INS}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`, NETMEND_TAILSCALE_SCENARIO: dir } });
  // The local process has no stand-in on PATH: only the remote side can answer.
  const run = await doctor(host, undefined, ['doctor', 'mesh', '--ssh', sshd.target], { NETMEND_SSH_OPTIONS: sshd.sshOptionsEnv });
  assert.equal(run.byId['mesh.exit-node'].status, 'fail', JSON.stringify(run.byId, null, 1));
  assert.match(run.byId['mesh.exit-node'].evidence[0], /^ssh root@127\.0\.0\.1: tailscale debug prefs: ExitNodeID "n6CNTRL"/);
  assert.equal(run.code, 1);
  assert.deepEqual(readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n').sort(), ['prefs', 'serve', 'status']);
  assert.match(run.byId['mesh.nat-mapping'].summary, /no STUN server given/);
  assert.match(sshd.log(), /Accepted publickey/);
  // STUN cannot be sent from the remote host's socket: said so, not faked.
  const stun = await doctor(host, undefined, ['doctor', 'mesh', '--ssh', sshd.target, '--stun', '192.0.2.1'], { NETMEND_SSH_OPTIONS: sshd.sshOptionsEnv });
  assert.equal(stun.byId['mesh.nat-mapping'].status, 'skip');
  assert.match(stun.byId['mesh.nat-mapping'].summary, /run `netmend doctor mesh --stun \.\.\.` on the host itself/);
});

test('netmend doctor: every topic green on a healthy Tailscale host', { skip: labUnavailable(), timeout: 120_000 }, async (t) => {
  const host = await meshHost(t);
  const dir = join(host.lab.tmpdir(), 'healthy');
  writeScenario(dir, scenarios(Date.now()).healthy, host.root);
  const run = await doctor(host, dir, ['doctor']);
  const topics = new Set(run.document.checks.map((check) => check.id.split('.')[0]));
  assert.deepEqual([...topics].sort(), ['dns', 'forward', 'mesh', 'routes']);
  const bad = run.document.checks.filter((check) => check.status === 'fail' || check.status === 'error' || check.status === 'warn');
  assert.deepEqual(bad, [], JSON.stringify(bad, null, 1));
  assert.equal(run.code, 0);
  for (const id of TAILSCALE_IDS) assert.equal(run.byId[id].status, 'pass', id);
  // routes.* and mesh.* both need Tailscale's prefs and status: each command runs once per run.
  assert.deepEqual(readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n').sort(), ['prefs', 'serve', 'status']);
});
