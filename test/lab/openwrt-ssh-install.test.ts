/**
 * `netmend openwrt install --ssh` against a fake router reachable over real ssh: sshd in a lab
 * namespace whose sessions get the fake root (NETMEND_OPENWRT_ROOT) and the router's PATH
 * (busybox applets plus stand-ins) through sshd's SetEnv. The result must be the same as
 * running the installer on the router itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, labUnavailable } from './harness.js';
import { acceptedLogins, startSshd } from './sshd.js';
import { fakeRouter, FakeRouterOptions, Mirror, Router, treeOf } from '../openwrt/fixtures.js';

const VERSION = '1.90.8';

async function sshRouter(lab: Lab, ns: string, options: FakeRouterOptions = {}) {
  const router = await fakeRouter(lab, 'dash', { ...options, namespace: ns });
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(router.env)) if (value !== undefined && key !== 'HOME') env[key] = value;
  env.NETMEND_OPENWRT_ROOT = router.root;
  const sshd = await startSshd(lab, ns, { env });
  const netmend = (args: string[]) => lab.netmend(ns, ['openwrt', 'install', '--ssh', sshd.target, ...args], { env: { NETMEND_SSH_OPTIONS: sshd.sshOptionsEnv }, timeoutMs: 300_000 });
  return { router, sshd, netmend };
}

async function waitForDaemon(lab: Lab, router: Router): Promise<void> {
  await lab.waitFor(async () => router.readLog('runLog').includes('--port 41641'), 60_000, 'tailscaled to start on the fake router');
}

test('netmend openwrt install over ssh gives the same router as running the installer there', { skip: labUnavailable() }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('owrt');
  const mirror = await Mirror.start(lab);
  await mirror.addBuild(VERSION, 'arm64');
  const baseUrl = await mirror.serveInNamespace(lab, ns);
  const { router: remote, netmend, sshd } = await sshRouter(lab, ns);
  const pristine = treeOf(remote.root);

  const dryRun = await netmend(['--version', VERSION, '--base-url', baseUrl, '--dry-run']);
  assert.equal(dryRun.code, 0, dryRun.stderr + sshd.log());
  assert.match(dryRun.stdout, new RegExp(`^${sshd.target.replace(/[.]/g, '\\.')}: would write /usr/bin/tailscaled$`, 'm'));
  assert.deepEqual(treeOf(remote.root), pristine, 'a dry run changes nothing on the router');
  assert.equal(await acceptedLogins(lab, ns, sshd), 1, 'checking the router and running the installer share one login');

  const installed = await netmend(['--version', VERSION, '--base-url', baseUrl]);
  assert.equal(installed.code, 0, installed.stderr);
  assert.match(installed.stderr, /arm64 \(aarch64_cortex-a53\), 180000 KB MemAvailable/);
  assert.match(installed.stdout, /: installed tailscale 1\.90\.8 \(arm64\)/);
  await waitForDaemon(lab, remote);

  // The same installer run on the router itself.
  const local = await fakeRouter(lab, 'dash', { namespace: ns });
  const direct = await local.install(['--version', VERSION, '--base-url', baseUrl]);
  assert.equal(direct.code, 0, direct.stderr);
  await waitForDaemon(lab, local);
  assert.deepEqual(treeOf(remote.root, { portable: true }), treeOf(local.root, { portable: true }));
  assert.equal(
    installed.stdout.split('\n').filter(Boolean).map((line) => line.slice(`${sshd.target}: `.length)).join('\n').split(remote.root).join('<root>'),
    direct.stdout.trim().split(local.root).join('<root>'),
  );

  const uninstalled = await netmend(['--uninstall', '--purge']);
  assert.equal(uninstalled.code, 0, uninstalled.stderr);
  assert.deepEqual(treeOf(remote.root), pristine);
});

test('a router without enough RAM is refused before anything is installed (exit 3)', { skip: labUnavailable() }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('owrt');
  const { router, netmend } = await sshRouter(lab, ns, { memAvailableKb: 40_000 });
  const pristine = treeOf(router.root);
  const refused = await netmend(['--version', VERSION, '--base-url', 'http://127.0.0.1:8080/stable']);
  assert.equal(refused.code, 3, refused.stderr);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(refused.stderr, /cannot run the tailscale build: the router has 40000 KB MemAvailable; the build in RAM plus the daemon need 67584 KB/);
  assert.deepEqual(treeOf(router.root), pristine);
  assert.doesNotMatch(router.readLog('standInLog'), /uci .*batch|rc\.common/);
});

test('a router with an architecture tailscale does not build for is refused (exit 3)', { skip: labUnavailable() }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('owrt');
  const { router, netmend } = await sshRouter(lab, ns, { distribArch: 'loongarch64_generic' });
  const pristine = treeOf(router.root);
  const refused = await netmend(['--version', VERSION]);
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr, /no tailscale build for the router's architecture \('loongarch64_generic'\)/);
  assert.deepEqual(treeOf(router.root), pristine);
});

test('an unreachable router is a one-line error, exit 2', { skip: labUnavailable() }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await lab.netns('owrt');
  const result = await lab.netmend(ns, ['openwrt', 'install', '--ssh', 'root@127.0.0.1', '--version', VERSION], { env: { NETMEND_SSH_OPTIONS: '-p 2299 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -F /dev/null' } });
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, /cannot reach root@127\.0\.0\.1 over ssh/);
});
