/** fix dns decisions that need no daemon: which resolver, how to reload it, bad flags. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { InputError } from '../../src/errors.js';
import { chooseVia, validateDnsOptions, type DnsFixOptions } from '../../src/fix/dns/plan.js';
import { parseTarget, reloadCommand } from '../../src/fix/dns/reload.js';
import { netmend } from '../lab/harness.js';

function root(t: TestContext, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-dnsfix-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

test('--via auto picks the resolver the host has: OpenWrt, then resolved, then dnsmasq, then unbound', (t) => {
  assert.equal(chooseVia(root(t, { 'etc/openwrt_release': "DISTRIB_ID='OpenWrt'\n", 'etc/dnsmasq.conf': '' }), [], 'static', []), 'openwrt');
  assert.equal(chooseVia(root(t, { 'etc/dnsmasq.conf': '' }), [], 'systemd-resolved', []), 'resolved');
  assert.equal(chooseVia(root(t, { 'etc/dnsmasq.d/x.conf': '' }), [], 'local-proxy', ['127.0.0.1']), 'dnsmasq');
  assert.equal(chooseVia(root(t, { 'etc/unbound/unbound.conf': 'server:\n' }), [], 'local-proxy', []), 'unbound');
  assert.throws(() => chooseVia(root(t, { 'etc/hostname': 'x\n' }), [], 'static', []), (e: unknown) => e instanceof InputError && /pass --via/.test(e.hint ?? ''));
});

test('reload: through the systemd unit when there is one, init.d on OpenWrt, else netmend restarts it by pid file or listener', () => {
  const self = ['/usr/bin/node', '/opt/netmend/bin/run.js'];
  const dnsmasq = { pid: 10, name: 'dnsmasq', argv: ['dnsmasq'], listening: ['127.0.0.1:53/udp'] };
  assert.deepEqual(reloadCommand('dnsmasq', { ...dnsmasq, systemdUnit: 'dnsmasq.service' }, { pidFile: '/run/dnsmasq/dnsmasq.pid' }, self, false), ['systemctl', 'restart', 'dnsmasq.service']);
  assert.deepEqual(reloadCommand('unbound', { ...dnsmasq, name: 'unbound', systemdUnit: 'unbound.service' }, { program: 'unbound', address: '127.0.0.1' }, self, false), ['systemctl', 'reload', 'unbound.service']);
  assert.deepEqual(reloadCommand('dnsmasq', dnsmasq, { pidFile: '/var/run/dnsmasq.pid' }, self, true), ['/etc/init.d/dnsmasq', 'restart']);
  assert.deepEqual(reloadCommand('dnsmasq', dnsmasq, { program: 'dnsmasq', address: '127.0.0.1' }, self, false), [...self, 'fix', 'dns', '--restart-resolver', 'dnsmasq@127.0.0.1']);
  assert.deepEqual(parseTarget('/tmp/x/local.pid'), { pidFile: '/tmp/x/local.pid' });
  assert.deepEqual(parseTarget('unbound@::1'), { program: 'unbound', address: '::1' });
  assert.throws(() => parseTarget('bind@127.0.0.1'), InputError);
});

test('bad flags are usage errors naming the flag', () => {
  const base: DnsFixOptions = { domains: ['ts.net'], server: '100.100.100.100', via: 'auto', restoreResolvConf: false, iface: 'tailscale0', self: [] };
  assert.doesNotThrow(() => validateDnsOptions(base));
  assert.throws(() => validateDnsOptions({ ...base, domains: ['ts net'] }), /--domain: 'ts net' is not a domain name/);
  assert.throws(() => validateDnsOptions({ ...base, server: '100.100.100' }), /--server/);
  assert.throws(() => validateDnsOptions({ ...base, via: 'bind' }), /--via: unknown method 'bind'/);
  assert.throws(() => validateDnsOptions({ ...base, iface: 'a-very-long-interface-name' }), /--iface/);
});

test('--restart-resolver with a pid file naming a dnsmasq that has just exited (not yet reaped): "no running resolver", exit 3, not an internal error', { skip: process.getuid?.() === 0 ? undefined : 'needs root like fix --apply' }, async (t) => {
  const dir = root(t, {});
  const pidFile = join(dir, 'dnsmasq.pid');
  // A parent that does not wait for its dnsmasq child, which exits at once: a zombie named dnsmasq.
  const parent = spawn('python3', ['-c', [
    'import os, sys',
    "pid = os.fork()",
    "if pid == 0: os.execv('/usr/sbin/dnsmasq', ['dnsmasq', '--version'])",
    `open(${JSON.stringify(pidFile)}, 'w').write(str(pid))`,
    "print('ready', flush=True)",
    'sys.stdin.read()',
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => parent.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    parent.stdout.once('data', () => resolve());
    parent.once('exit', (code) => reject(new Error(`python exited ${code}`)));
  });
  const pid = Number(readFileSync(pidFile, 'utf8'));
  for (let i = 0; i < 200 && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^State:\s+Z/m, 'the child is a zombie');

  const result = await netmend(['fix', 'dns', '--restart-resolver', pidFile]);
  assert.equal(result.code, 3, result.stdout + result.stderr);
  assert.match(result.stderr, new RegExp(`no running resolver at ${pidFile.replace(/[.]/g, '\\.')}`));
  assert.doesNotMatch(result.stderr, /internal error/);
});
