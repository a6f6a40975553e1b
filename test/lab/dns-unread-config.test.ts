/**
 * The resolver configuration the doctor reads under --root: a conf-dir file that cannot be read
 * (a dangling symlink, a symlink loop) is a finding naming the path, as dnsmasq and unbound
 * themselves refuse to start with it; a conf-dir or file whose real place is outside --root
 * (`..`, a symlink leading out) is not read at all. Runs in a namespace of its own (no mesh).
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { write } from './dns-fixtures.js';
import { hostWithoutMesh, Lab, labUnavailable } from './harness.js';

const skip = labUnavailable();

interface DoctorDocument {
  checks: Array<{ id: string; status: string; summary: string; evidence: string[] }>;
}

function parseDocument(stdout: string, what: string): Record<string, DoctorDocument['checks'][number]> {
  let document: DoctorDocument;
  try {
    document = JSON.parse(stdout) as DoctorDocument;
  } catch (error) {
    throw new Error(`${what}: stdout is not one JSON document (${(error as Error).message}): ${stdout.slice(0, 300)}`);
  }
  return Object.fromEntries(document.checks.map((check) => [check.id, check]));
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('a dangling symlink or a symlink loop in a conf-dir: dns.resolver-config fails naming the path (doctor dns and doctor), no crash', { skip }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await hostWithoutMesh(lab, 'dnu');
  const root = lab.tmpdir();
  write(root, 'etc/resolv.conf', 'nameserver 127.0.0.1\n');
  write(root, 'etc/dnsmasq.conf', 'no-resolv\nserver=192.0.2.53\n');
  write(root, 'etc/dnsmasq.d/good.conf', 'cache-size=100\n');
  symlinkSync('removed-by-a-package.conf', join(root, 'etc/dnsmasq.d/gone.conf'));
  // unbound reads its conf-dir only through an include, as Debian's unbound.conf has it.
  write(root, 'etc/unbound/unbound.conf', 'server:\n    interface: 127.0.0.1\ninclude-toplevel: "/etc/unbound/unbound.conf.d/*.conf"\n');
  mkdirSync(join(root, 'etc/unbound/unbound.conf.d'), { recursive: true });
  symlinkSync('loop.conf', join(root, 'etc/unbound/unbound.conf.d/loop.conf'));
  const gone = join(root, 'etc/dnsmasq.d/gone.conf');
  const loop = join(root, 'etc/unbound/unbound.conf.d/loop.conf');

  const human = await lab.netmend(ns, ['doctor', 'dns', '--root', root]);
  assert.equal(human.code, 1, `${human.stdout}\n${human.stderr}`);
  assert.doesNotMatch(human.stderr, /internal error/);
  assert.match(human.stdout, new RegExp(`✗ dns\\.resolver-config +dnsmasq and unbound cannot read ${escape(gone)}, ${escape(loop)} and refuse to start with it`));
  assert.match(human.stdout, new RegExp(`^ +${escape(gone)}: dangling symlink to removed-by-a-package\\.conf$`, 'm'));
  assert.match(human.stdout, new RegExp(`^ +${escape(loop)}: cannot be read \\(ELOOP\\)$`, 'm'));

  for (const args of [['doctor', 'dns'], ['doctor']]) {
    const run = await lab.netmend(ns, [...args, '--root', root, '--json'], { timeoutMs: 60_000 });
    assert.equal(run.code, 1, `${args.join(' ')}: ${run.stdout}\n${run.stderr}`);
    const byId = parseDocument(run.stdout, args.join(' '));
    assert.equal(byId['dns.resolver-config']?.status, 'fail', JSON.stringify(byId['dns.resolver-config']));
    assert.deepEqual(byId['dns.resolver-config'].evidence, [`${gone}: dangling symlink to removed-by-a-package.conf`, `${loop}: cannot be read (ELOOP)`]);
    // The other dns checks still ran on what could be read.
    for (const id of ['dns.resolv-owner', 'dns.rebind-protection']) assert.notEqual(byId[id]?.status, 'skip', `${args.join(' ')} ${id}: ${byId[id]?.summary}`);
  }

  // fix dns refuses: restarting dnsmasq with that file would take DNS down.
  const fix = await lab.netmend(ns, ['fix', 'dns', '--via', 'dnsmasq', '--root', root]);
  assert.equal(fix.code, 2, fix.stdout + fix.stderr);
  assert.match(fix.stderr, new RegExp(`${escape(gone)}: dangling symlink to removed-by-a-package\\.conf; dnsmasq refuses to start with it`));
});

test('conf-dir with "..", a conf-dir symlinked out of --root and a conf file linking out: not read, named as such', { skip }, async (t) => {
  const lab = Lab.forTest(t);
  const ns = await hostWithoutMesh(lab, 'dnu');
  const outer = lab.tmpdir();
  const root = join(outer, 'root');
  // Files of the machine netmend runs on: if read, their line would stop the doctor (exit 2)
  // naming them, and their server= would claim every name goes to the mesh resolver.
  const outside = join(outer, 'outside');
  write(outside, 'dnsmasq.d/host.conf', 'server=100.100.100.100\n');
  write(outside, 'host-only.conf', 'this line belongs to the host, not to the router image\n');
  write(root, 'etc/resolv.conf', 'nameserver 127.0.0.1\n');
  write(root, 'etc/dnsmasq.conf', `no-resolv\nserver=192.0.2.53\nconf-dir=/etc/../../outside/dnsmasq.d\nconf-dir=/etc/linked-out/,*.conf\n`);
  symlinkSync(join(outside, 'dnsmasq.d'), join(root, 'etc/linked-out'));
  mkdirSync(join(root, 'etc/dnsmasq.d'));
  symlinkSync('../../../outside/host-only.conf', join(root, 'etc/dnsmasq.d/climbs-out.conf'));

  const run = await lab.netmend(ns, ['doctor', 'dns', '--root', root, '--json']);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  const byId = parseDocument(run.stdout, 'doctor dns');
  const config = byId['dns.resolver-config'];
  assert.equal(config.status, 'skip', JSON.stringify(config));
  assert.match(config.summary, /^not read under --root: /);
  assert.equal(config.evidence.length, 3, config.evidence.join('\n'));
  assert.match(config.evidence[0], new RegExp(`^${escape(root)}/etc/\\.\\./\\.\\./outside/dnsmasq\\.d: .*dnsmasq\\.conf:3: conf-dir not read: path "/etc/\\.\\./\\.\\./outside/dnsmasq\\.d" contains '\\.\\.'$`));
  assert.match(config.evidence.join('\n'), new RegExp(`${escape(root)}/etc/linked-out: not read: /etc/linked-out: under --root it leads to ${escape(outside)}/dnsmasq\\.d, outside ${escape(root)}`));
  assert.match(config.evidence.join('\n'), new RegExp(`${escape(root)}/etc/dnsmasq\\.d/climbs-out\\.conf: not read: .* leads to ${escape(outside)}/host-only\\.conf, outside`));
  // Nothing from outside the root was taken as the router's configuration.
  assert.equal(byId['dns.split-domain'].status, 'skip', byId['dns.split-domain'].summary);
  assert.doesNotMatch(run.stdout, /outside\/dnsmasq\.d\/host\.conf/);
});
