/**
 * The fixer's guards on the real kernel: `fix link-local` only touches a mesh tunnel (never the
 * LAN carrying the default route, never the link of the SSH session, not a name that does not
 * exist), and `fix undo` treats a reload that cannot run the way --apply does and removes the
 * directories the fix created.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tailscaleScenario, tree, withoutJournal } from './fix-fixtures.js';
import { Lab, labUnavailable } from './harness.js';

const skip = labUnavailable();

/** Every directory under dir, the journal's aside. */
function directories(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const rel = `${prefix}${name}`;
    if (rel.startsWith('var') || !statSync(join(dir, name)).isDirectory()) continue;
    out.push(rel, ...directories(join(dir, name), `${rel}/`));
  }
  return out;
}

/** Waits until dev has its fe80 address and duplicate address detection is done (no longer tentative). */
async function settledLinkLocal(lab: Lab, ns: string, dev: string): Promise<void> {
  await lab.waitFor(async () => /inet6 fe80::\S+ scope link \n/.test(await lab.ip(ns, '-6', 'addr', 'show', 'dev', dev)), 15_000, `a settled link-local address on ${dev}`);
}

test('fix link-local on the LAN is refused (exit 2, hint), with --force too when it carries the default route; a mistyped --iface is exit 2 listing the interfaces; nothing changes', { skip }, async (t) => {
  const s = await tailscaleScenario(t, { lanNetworkFile: false });
  await s.lab.ip(s.host, 'route', 'add', 'default', 'via', '10.10.0.3', 'dev', s.hostIf);
  await settledLinkLocal(s.lab, s.host, s.hostIf);
  const addressesBefore = await s.lab.ip(s.host, '-6', 'addr', 'show', 'dev', s.hostIf);
  const routesBefore = await s.lab.ip(s.host, '-6', 'route', 'show', 'table', 'main');
  const filesBefore = tree(s.root);
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  const plain = await s.netmend(['fix', 'link-local', '--iface', s.hostIf, '--root', s.root, '--apply']);
  assert.equal(plain.code, 2, `${plain.stdout}\n${plain.stderr}`);
  assert.match(plain.stderr, new RegExp(`--iface ${s.hostIf} is not a mesh tunnel \\(a veth link, not tun or wireguard, not a known mesh name\\)`));
  assert.match(plain.stderr, /hint: name the mesh tunnel \(tailscale0, wg0, \.\.\.\); if .* really is a tunnel with an unusual name, add --force/);
  assert.equal(plain.stderr.trim().split('\n').length, 1, plain.stderr);

  const forced = await s.netmend(['fix', 'link-local', '--iface', s.hostIf, '--root', s.root, '--apply', '--force']);
  assert.equal(forced.code, 2, `${forced.stdout}\n${forced.stderr}`);
  assert.match(forced.stderr, new RegExp(`--iface ${s.hostIf} carries the default route \\(default via 10\\.10\\.0\\.3 dev ${s.hostIf}\\); refused even with --force`));

  for (const extra of [[], ['--no-live']]) {
    const typo = await s.netmend(['fix', 'link-local', '--iface', 'tailscal0', '--root', s.root, '--apply', ...extra]);
    assert.equal(typo.code, 2, `${extra.join(' ')}: ${typo.stdout}\n${typo.stderr}`);
    assert.match(typo.stderr, new RegExp(`--iface: no interface 'tailscal0' here \\(interfaces: (lo, )?(.*, )?${literal(s.hostIf)}.*\\)`));
    assert.match(typo.stderr, /tailscale0/, 'the list names the tunnel the user meant');
  }

  assert.equal(await s.lab.ip(s.host, '-6', 'addr', 'show', 'dev', s.hostIf), addressesBefore, 'the LAN keeps its link-local address');
  assert.equal(await s.lab.ip(s.host, '-6', 'route', 'show', 'table', 'main'), routesBefore);
  assert.doesNotMatch(await s.lab.ip(s.host, '-d', 'link', 'show', s.hostIf), /addrgenmode none/);
  assert.deepEqual(tree(s.root), filesBefore, 'no udev rule or any other file persisted');
  assert.equal(existsSync(join(s.root, 'var/lib/netmend')), false, 'no journal entry');
});

test('fix link-local --force on a tunnel with an unusual name: applied and undone; refused when it carries the SSH session', { skip }, async (t) => {
  const lab = Lab.forTest(t);
  // Not tun/wireguard and no mesh name: the kind of link --force exists for.
  const { host, hostIf: overlay } = await lab.linkedPair({ label: 'fg', ifPrefix: 'ovl', addresses: ['10.20.0.4/24'] }, { label: 'fp', ifPrefix: 'ovp' });
  await settledLinkLocal(lab, host, overlay);
  const root = lab.tmpdir();
  const netmend = (args: string[], env: NodeJS.ProcessEnv = {}) => lab.netmend(host, args, { env: { SSH_CONNECTION: '', ...env }, timeoutMs: 60_000 });
  const addressesBefore = await lab.ip(host, '-6', 'addr', 'show', 'dev', overlay);

  const overSsh = await netmend(['fix', 'link-local', '--iface', overlay, '--root', root, '--apply', '--force'], { SSH_CONNECTION: '10.20.0.9 50022 10.20.0.4 22' });
  assert.equal(overSsh.code, 2, `${overSsh.stdout}\n${overSsh.stderr}`);
  assert.match(overSsh.stderr, new RegExp(`--iface ${overlay} carries your SSH session from 10\\.20\\.0\\.9 \\(SSH_CONNECTION\\); refused even with --force`));
  assert.equal(await lab.ip(host, '-6', 'addr', 'show', 'dev', overlay), addressesBefore);
  assert.equal(existsSync(join(root, 'var/lib/netmend')), false);

  const applied = await netmend(['fix', 'link-local', '--iface', overlay, '--root', root, '--apply', '--force']);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, new RegExp(`warning: --force: treating ${overlay} \\(a veth link\\) as a mesh tunnel`));
  assert.doesNotMatch(await lab.ip(host, '-6', 'addr', 'show', 'dev', overlay), /fe80:/);
  assert.doesNotMatch(await lab.ip(host, '-6', 'route', 'show', 'table', 'main'), new RegExp(`fe80::/64 dev ${overlay}`));

  const undo = await netmend(['fix', 'undo', '--root', root]);
  assert.equal(undo.code, 0, `${undo.stdout}\n${undo.stderr}`);
  assert.match(await lab.ip(host, '-6', 'addr', 'show', 'dev', overlay), /inet6 fe80::/);
  assert.match(await lab.ip(host, '-6', 'route', 'show', 'table', 'main'), new RegExp(`fe80::/64 dev ${overlay}`));
});

test('no system bus: `networkctl reload` failing is a warning for --apply and for undo alike (exit 0); undo removes the .network.d directory the fix created', { skip }, async (t) => {
  const s = await tailscaleScenario(t);
  // networkd counts as running under this --root, so the fix reloads it; the bus address names
  // nothing, so networkctl fails here as on a host without a system bus (and never reaches the host's).
  mkdirSync(join(s.root, 'run/systemd/netif'), { recursive: true });
  writeFileSync(join(s.root, 'run/systemd/netif/state'), 'OPER_STATE=routable\n');
  const noBus = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=/nonexistent/netmend-no-bus-${process.pid}` };
  const filesBefore = tree(s.root);
  const dirsBefore = directories(s.root);
  const dropInDir = join(s.root, 'etc/systemd/network/20-lan.network.d');

  const applied = await s.netmend(['fix', 'subnet-routes', '--root', s.root, '--apply'], noBus);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /warning: `networkctl reload` failed: /);
  assert.ok(existsSync(join(dropInDir, '50-netmend-subnet-routes.conf')));

  const undo = await s.netmend(['fix', 'undo', '--root', s.root], noBus);
  assert.equal(undo.code, 0, `${undo.stdout}\n${undo.stderr}`);
  assert.match(undo.stdout, /warning: `networkctl reload` failed: /);
  assert.doesNotMatch(undo.stdout, /problem/);
  assert.match(undo.stdout, /removed directory \/etc\/systemd\/network\/20-lan\.network\.d/);
  assert.equal(existsSync(dropInDir), false, 'the empty drop-in directory the fix created is gone');
  assert.deepEqual(directories(s.root), dirsBefore, 'only what the fix created was removed');
  assert.deepEqual(withoutJournal(tree(s.root)), filesBefore, 'every file as it was');
});
