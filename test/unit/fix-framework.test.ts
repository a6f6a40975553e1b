import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { unifiedDiff } from '../../src/fix/diff.js';
import { captureFile, loadEntry, newEntryId, saveEntry, undoEntry, type JournalEntry } from '../../src/fix/journal.js';
import { networkdDropIn, uciNetwork, udevRules, type BypassTarget } from '../../src/fix/subnet-routes.js';
import { parseUci } from '../../src/fix/uci.js';
import { localRunner } from '../../src/system/exec.js';
import { loadNetworkFiles, matchesLinkName, networkFileFor, parseNetworkd } from '../../src/system/networkd.js';
import { underRoot } from '../../src/fix/plan.js';
import { netmend } from '../lab/harness.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-fix-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** GNU diff's hunks for the same pair, headers dropped (they carry file names and times). */
function gnuDiff(t: TestContext, before: string | null, after: string | null): string {
  const dir = tempDir(t);
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  if (before !== null) writeFileSync(a, before);
  if (after !== null) writeFileSync(b, after);
  const result = spawnSync('diff', ['-u', before === null ? '/dev/null' : a, after === null ? '/dev/null' : b], { encoding: 'utf8' });
  return result.stdout.split('\n').slice(2).join('\n');
}

const numbered = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}`).join('\n') + '\n';

test('unified diffs match GNU diff -u hunk for hunk', (t) => {
  const cases: Array<[string | null, string | null]> = [
    [null, '[Match]\nName=tailscale0\n'],
    ['[Match]\nName=tailscale0\n', null],
    [numbered(1, 30), numbered(1, 30).replace('line 3\n', 'line three\n').replace('line 25\n', '')],
    [numbered(1, 10), numbered(1, 10).replace('line 5\n', 'line 5\nextra\n')],
    ["config interface 'lan'\n\toption proto 'static'\n", "config interface 'lan'\n\toption proto 'static'\n\nconfig rule 'x'\n\toption dest '10.0.0.0/24'\n"],
  ];
  for (const [before, after] of cases) {
    const ours = unifiedDiff('/etc/x', before, after).split('\n').slice(2).join('\n');
    assert.equal(ours, gnuDiff(t, before, after), `before=${JSON.stringify(before)}`);
  }
  assert.equal(unifiedDiff('/etc/x', 'same\n', 'same\n'), '');
});

test('networkd parser: keys by section, continuation lines, and a bad line named by number', () => {
  const entries = parseNetworkd('# comment\n[Match]\nName=tailscale0 wg*\n\n[RoutingPolicyRule]\nTo=10.0.0.0/24\nPriority=\\\n  5205\n', 'x.network');
  assert.deepEqual(entries.map((e) => `${e.section}.${e.key}=${e.value}@${e.line}`), ['Match.Name=tailscale0 wg*@3', 'RoutingPolicyRule.To=10.0.0.0/24@6', 'RoutingPolicyRule.Priority=5205@7']);
  assert.throws(() => parseNetworkd('[Match]\nName=a\n[Network\n', '/etc/systemd/network/a.network'), /a\.network:3: malformed section header/);
  assert.throws(() => parseNetworkd('Name=a\n', 'b.network'), /b\.network:1: 'Name=' before any \[Section\]/);
  assert.throws(() => parseNetworkd('[Match]\njust words\n', 'c.network'), /c\.network:2: not a Key=Value line/);
});

test('networkd lookup: Name globs and inversion, first file by name across directories, /etc overrides /usr/lib', (t) => {
  const file = (name: string) => ({ path: 'x', entries: parseNetworkd(`[Match]\nName=${name}\n`, 'x') });
  assert.equal(matchesLinkName(file('eth* en?0'), 'eth1'), true);
  assert.equal(matchesLinkName(file('eth* en?0'), 'enp0'), true);
  assert.equal(matchesLinkName(file('eth* en?0'), 'tailscale0'), false);
  assert.equal(matchesLinkName(file('!tailscale*'), 'eth0'), true);
  assert.equal(matchesLinkName(file('!tailscale*'), 'tailscale0'), false);

  const root = tempDir(t);
  mkdirSync(join(root, 'etc/systemd/network'), { recursive: true });
  mkdirSync(join(root, 'usr/lib/systemd/network'), { recursive: true });
  writeFileSync(join(root, 'usr/lib/systemd/network/30-eth.network'), '[Match]\nName=eth0\n');
  writeFileSync(join(root, 'usr/lib/systemd/network/50-all.network'), '[Match]\nName=*\n');
  writeFileSync(join(root, 'etc/systemd/network/30-eth.network'), '[Match]\nName=eth9\n');
  const files = loadNetworkFiles(root, underRoot);
  assert.deepEqual(files.map((f) => f.path), ['/etc/systemd/network/30-eth.network', '/usr/lib/systemd/network/50-all.network']);
  assert.equal(networkFileFor(files, 'eth9')?.path, '/etc/systemd/network/30-eth.network');
  assert.equal(networkFileFor(files, 'eth0')?.path, '/usr/lib/systemd/network/50-all.network');
});

const targets: BypassTarget[] = [
  { family: 4, prefix: '192.168.1.0/24', dev: 'br-lan', tunnel: 'tailscale0', priority: 5205, meshPriority: 5270 },
  { family: 6, prefix: 'fd00:1::/64', dev: 'br-lan', tunnel: 'tailscale0', priority: 5205, meshPriority: 5270 },
];

test('UCI output: config rule / rule6 with the option names netifd documents, readable back, idempotent', () => {
  const documented = new Set(['in', 'out', 'src', 'dest', 'priority', 'tos', 'mark', 'lookup', 'action', 'goto', 'suppress_prefixlength', 'uidrange', 'invert', 'disabled']);
  const base = "config interface 'lan'\n\toption device 'br-lan'\n\toption proto 'static'\n";
  const text = uciNetwork(base, targets, '/etc/config/network');
  const sections = parseUci(text, 'network');
  const rules = sections.filter((section) => section.type === 'rule' || section.type === 'rule6');
  assert.deepEqual(rules.map((rule) => rule.type), ['rule', 'rule6']);
  for (const rule of rules) {
    for (const option of rule.options) assert.ok(documented.has(option.key), `undocumented option ${option.key}`);
    assert.ok(!rule.options.some((option) => option.list));
  }
  assert.deepEqual(Object.fromEntries(rules[1].options.map((o) => [o.key, o.value])), { dest: 'fd00:1::/64', lookup: 'main', priority: '5205' });
  assert.equal(uciNetwork(text, targets, 'network'), text, 'applying twice adds nothing');
  assert.throws(() => parseUci("config rule\n\toption dest '10.0.0.0/24\n", '/etc/config/network'), /network:2: unbalanced quote/);
  assert.throws(() => parseUci("\toption dest x\n", 'n'), /n:1: 'option' before any 'config'/);
});

test('networkd drop-in and udev rule texts: Table=254, merged with what is there, stable', () => {
  const first = networkdDropIn(null, [targets[0]], 'd.conf');
  assert.match(first, /\[RoutingPolicyRule\]\nTo=192\.168\.1\.0\/24\nTable=254\nPriority=5205\n/);
  const merged = networkdDropIn(first, [targets[1]], 'd.conf');
  assert.match(merged, /To=192\.168\.1\.0\/24/);
  assert.match(merged, /To=fd00:1::\/64/);
  assert.equal(networkdDropIn(merged, targets, 'd.conf'), merged);
  const udev = udevRules(null, targets);
  assert.match(udev, /KERNEL=="tailscale0", RUN\+="\/sbin\/ip -4 rule add to 192\.168\.1\.0\/24 lookup main priority 5205"/);
  assert.match(udev, /RUN\+="\/sbin\/ip -6 rule add to fd00:1::\/64 lookup main priority 5205"/);
  assert.equal(udevRules(udev, targets), udev);
});

test('journal: prior bytes and mode come back exactly, absence too, and undo is safe to repeat', async (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, 'etc'), { recursive: true });
  const bytes = Buffer.from([0x5b, 0x4d, 0x5d, 0x0d, 0x0a, 0x00, 0xff, 0x41]);
  writeFileSync(join(root, 'etc/existing.conf'), bytes);
  chmodSync(join(root, 'etc/existing.conf'), 0o640);
  const entry: JournalEntry = {
    id: newEntryId(root, 'test'), fix: 'test', method: 'none', summary: 's', createdAt: new Date().toISOString(), argv: [], state: 'applied',
    files: [captureFile(root, '/etc/existing.conf'), captureFile(root, '/etc/new.conf')], live: [], reloads: [],
  };
  saveEntry(root, entry);
  writeFileSync(join(root, 'etc/existing.conf'), 'replaced\n');
  chmodSync(join(root, 'etc/existing.conf'), 0o644);
  writeFileSync(join(root, 'etc/new.conf'), 'new\n');
  for (const file of entry.files) file.written = true;
  const first = await undoEntry(root, entry, localRunner, 'undo');
  assert.equal(first.already, false);
  assert.ok(readFileSync(join(root, 'etc/existing.conf')).equals(bytes));
  assert.equal(statSync(join(root, 'etc/existing.conf')).mode & 0o777, 0o640);
  assert.throws(() => statSync(join(root, 'etc/new.conf')), /ENOENT/);
  assert.equal(loadEntry(root, entry.id).state, 'undone');
  const second = await undoEntry(root, loadEntry(root, entry.id), localRunner, 'undo');
  assert.equal(second.already, true);
  assert.ok(readFileSync(join(root, 'etc/existing.conf')).equals(bytes));
});

test('applying or undoing without root exits 4 before anything else; the plan needs no root', { skip: process.getuid?.() !== 0 ? 'needs root to drop to nobody' : undefined }, async (t) => {
  const root = tempDir(t);
  chmodSync(root, 0o777);
  const asNobody = (args: string[]) => {
    const result = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(process.cwd(), 'bin/run.js'), ...args], { encoding: 'utf8', env: { ...process.env, HOME: root, NO_COLOR: '1' } });
    return { code: result.status, stderr: result.stderr, stdout: result.stdout };
  };
  const apply = asNobody(['fix', 'subnet-routes', '--root', root, '--apply']);
  assert.equal(apply.code, 4, apply.stderr);
  assert.match(apply.stderr, /applying a fix needs root/);
  const undo = asNobody(['fix', 'undo', '--root', root]);
  assert.equal(undo.code, 4, undo.stderr);
  // A tunnel the mesh daemon has not created yet: --no-live writes only its persistent rule.
  const plan = asNobody(['fix', 'link-local', '--iface', 'wgnmplan0', '--root', root, '--method', 'sysctl', '--no-live']);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /90-netmend-link-local-wgnmplan0\.rules/);
  assert.match(plan.stdout, /wgnmplan0 does not exist now: only its persistent configuration is written/);
  assert.match(plan.stdout, /plan only: nothing changed/);
  const empty = await netmend(['fix', 'list', '--root', root]);
  assert.match(empty.stdout, /no fixes recorded/);
});
