/**
 * The fixer's safety with hostile or damaged input: journal entries that are truncated, edited or
 * name paths outside --root; a dangling symlink as a fix target; SIGINT/SIGTERM in the middle of
 * an apply. Everything runs the real CLI (or the real fix framework in a child process) under a
 * temporary --root; nothing outside it may change.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { newEntryId, saveEntry, type JournalEntry } from '../../src/fix/journal.js';
import { Lab, labUnavailable, netmend, projectRoot } from '../lab/harness.js';

const asRoot = process.getuid?.() === 0 ? undefined : 'fix undo and --apply need root';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-fixsafe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function put(root: string, path: string, text: string): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
}

/** A journal entry, as `fix ... --apply` writes it, for a fix that created the given files. */
function journalCreated(root: string, fix: string, paths: string[], createdAt: string): JournalEntry {
  const entry: JournalEntry = {
    id: newEntryId(root, fix, new Date(createdAt)), fix, method: 'test', summary: `${fix} for the test`, createdAt, argv: ['fix', fix, '--apply'],
    state: 'applied', files: paths.map((path) => ({ path, existed: false, written: true })), live: [], reloads: [],
  };
  saveEntry(root, entry);
  return entry;
}

function journalFile(root: string, id: string): string {
  return join(root, 'var/lib/netmend/fixes', `${id}.json`);
}

test('a truncated journal entry is reported by id and path; undo does not skip past it to an older fix; list shows it', { skip: asRoot }, async (t) => {
  const root = tempDir(t);
  put(root, 'etc/older.conf', 'written by the older fix\n');
  put(root, 'etc/newer.conf', 'written by the newer fix\n');
  const older = journalCreated(root, 'older', ['/etc/older.conf'], '2026-01-01T10:00:00.000Z');
  const newer = journalCreated(root, 'newer', ['/etc/newer.conf'], '2026-01-01T11:00:00.000Z');
  const newerPath = journalFile(root, newer.id);
  const text = readFileSync(newerPath, 'utf8');
  writeFileSync(newerPath, text.slice(0, Math.floor(text.length / 2)));

  const undo = await netmend(['fix', 'undo', '--root', root]);
  assert.equal(undo.code, 2, `${undo.stdout}\n${undo.stderr}`);
  assert.match(undo.stderr, new RegExp(`journal entry ${newer.id} \\(${newerPath.replace(/[.]/g, '\\.')}\\) is damaged: it does not parse`));
  assert.match(undo.stderr, /not skipping past it .*netmend fix undo ID/);
  assert.equal(undo.stderr.trim().split('\n').length, 1, undo.stderr);
  assert.ok(existsSync(join(root, 'etc/older.conf')), 'the older fix must not be undone in its place');
  assert.ok(existsSync(join(root, 'etc/newer.conf')));

  const list = await netmend(['fix', 'list', '--root', root]);
  assert.equal(list.code, 2, list.stdout + list.stderr);
  assert.match(list.stdout, new RegExp(`^${older.id}  applied`, 'm'));
  assert.match(list.stdout, new RegExp(`^${newer.id}  damaged  ${newerPath.replace(/[.]/g, '\\.')}: it does not parse`, 'm'));
  assert.match(list.stderr, new RegExp(`${newer.id} .* is damaged`));
  const json = await netmend(['fix', 'list', '--root', root, '--json']);
  assert.equal(json.code, 2);
  assert.deepEqual((JSON.parse(json.stdout) as Array<{ id: string; state: string }>).map((e) => [e.id, e.state]), [[older.id, 'applied'], [newer.id, 'damaged']]);

  // Naming the damaged entry is refused too: its content cannot be trusted.
  const named = await netmend(['fix', 'undo', newer.id, '--root', root]);
  assert.equal(named.code, 2, named.stdout + named.stderr);
  assert.match(named.stderr, new RegExp(`${newer.id} .* is damaged`));
  assert.ok(existsSync(join(root, 'etc/newer.conf')));

  // Told which entry, undo acts on exactly that one.
  const explicit = await netmend(['fix', 'undo', older.id, '--root', root]);
  assert.equal(explicit.code, 0, explicit.stdout + explicit.stderr);
  assert.equal(existsSync(join(root, 'etc/older.conf')), false);
  assert.ok(existsSync(join(root, 'etc/newer.conf')));
});

test('journal entries are checksummed: an edited entry, one without checksum and an empty file are damaged', { skip: asRoot }, async (t) => {
  const root = tempDir(t);
  put(root, 'etc/a.conf', 'a\n');
  const entry = journalCreated(root, 'edited', ['/etc/a.conf'], '2026-02-01T10:00:00.000Z');
  const path = journalFile(root, entry.id);
  const saved = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  assert.match(String(saved.checksum), /^sha256:[0-9a-f]{64}$/, 'every entry carries a checksum');
  // Valid JSON, a plausible change: the prior state now claims the file existed with other bytes.
  const files = saved.files as Array<Record<string, unknown>>;
  files[0].existed = true;
  files[0].priorBase64 = Buffer.from('attacker\n').toString('base64');
  writeFileSync(path, JSON.stringify(saved, null, 2));
  const noChecksum = journalCreated(root, 'nosum', ['/etc/b.conf'], '2026-02-01T09:00:00.000Z');
  const noChecksumPath = journalFile(root, noChecksum.id);
  const { checksum: _dropped, ...rest } = JSON.parse(readFileSync(noChecksumPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(noChecksumPath, JSON.stringify(rest));
  const empty = journalCreated(root, 'empty', ['/etc/c.conf'], '2026-02-01T08:00:00.000Z');
  writeFileSync(journalFile(root, empty.id), '');

  const list = await netmend(['fix', 'list', '--root', root]);
  assert.equal(list.code, 2, list.stdout + list.stderr);
  assert.match(list.stdout, new RegExp(`^${entry.id}  damaged  .*checksum does not match`, 'm'));
  assert.match(list.stdout, new RegExp(`^${noChecksum.id}  damaged  .*has no checksum`, 'm'));
  assert.match(list.stdout, new RegExp(`^${empty.id}  damaged  .*empty`, 'm'));
  assert.match(list.stderr, /3 journal entries are damaged/);

  const undo = await netmend(['fix', 'undo', entry.id, '--root', root]);
  assert.equal(undo.code, 2, undo.stdout + undo.stderr);
  assert.match(undo.stderr, /checksum does not match/);
  assert.equal(readFileSync(join(root, 'etc/a.conf'), 'utf8'), 'a\n', 'nothing restored from an edited entry');
});

test('journal paths: "..", relative and symlinked-parent paths are refused; nothing outside --root is touched', { skip: asRoot }, async (t) => {
  const outer = tempDir(t);
  const root = join(outer, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  const victim = join(outer, 'victim.txt');
  writeFileSync(victim, 'outside the root\n');
  const elsewhere = join(outer, 'elsewhere');
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, 'victim2.conf'), 'also outside\n');
  // A directory inside the root that is a symlink leading out of it.
  symlinkSync(elsewhere, join(root, 'etc/linked'));
  const outsideBefore = { victim: readFileSync(victim, 'utf8'), victim2: readFileSync(join(elsewhere, 'victim2.conf'), 'utf8') };

  const cases: Array<{ path: string; reason: RegExp; existed?: boolean }> = [
    { path: '/../victim.txt', reason: /contains '\.\.'/ },
    { path: '/etc/../../victim.txt', reason: /contains '\.\.'/, existed: true },
    { path: '../victim.txt', reason: /is not absolute/ },
    { path: '/etc//./x.conf', reason: /is not a normalised file path/ },
    { path: '/etc/linked/victim2.conf', reason: /leads to .*elsewhere, outside/ },
  ];
  let hour = 10;
  for (const { path, reason, existed } of cases) {
    const entry = journalCreated(root, 'crafted', [path], `2026-03-01T${hour++}:00:00.000Z`);
    if (existed) {
      // Restoring "prior bytes" would overwrite the victim instead of deleting it.
      entry.files[0] = { path, existed: true, priorBase64: Buffer.from('overwritten\n').toString('base64'), priorMode: 0o644, written: true };
      saveEntry(root, entry);
    }
    const undo = await netmend(['fix', 'undo', entry.id, '--root', root]);
    assert.equal(undo.code, 2, `${path}: ${undo.stdout}\n${undo.stderr}`);
    assert.match(undo.stderr, reason, path);
    assert.match(undo.stderr, new RegExp(`journal entry ${entry.id} `), path);
    assert.equal(readFileSync(victim, 'utf8'), outsideBefore.victim, `${path}: the file outside --root is untouched`);
    assert.equal(readFileSync(join(elsewhere, 'victim2.conf'), 'utf8'), outsideBefore.victim2, `${path}: the file behind the symlink is untouched`);
  }
  const list = await netmend(['fix', 'list', '--root', root]);
  assert.equal(list.code, 2);
  assert.equal(list.stdout.split('\n').filter((line) => / {2}damaged {2}/.test(line)).length, 4, list.stdout);
});

test('journal commands: undo runs only the programs netmend\'s fixes use; an entry naming any other (valid checksum) is refused by id and path before anything runs', { skip: asRoot }, async (t) => {
  const outer = tempDir(t);
  const root = join(outer, 'root');
  put(root, 'etc/created-by-the-fix.conf', 'the fix wrote this\n');
  const marker = join(outer, 'ran');
  const script = join(outer, 'script');
  writeFileSync(script, `link add x type dummy\n`);
  const crafted: Array<{ undo?: string[]; reload?: string[]; reason: RegExp }> = [
    { undo: ['sh', '-c', `touch ${marker}`], reason: /runs "sh", not a program netmend's fixes use \(ip, networkctl, systemctl, sysctl, nft, iptables/ },
    { undo: ['/usr/bin/touch', marker], reason: /runs "\/usr\/bin\/touch"/ },
    { reload: ['touch', marker], reason: /runs "touch"/ },
    { undo: ['ip', 'netns', 'exec', 'x', 'touch', marker], reason: /'netns' is not one of link, addr/ },
    { undo: ['ip', '-batch', script], reason: /'-batch' is not one of link/ },
    { undo: ['iptables', `--modprobe=/usr/bin/touch`], reason: /option --modprobe=\/usr\/bin\/touch loads or runs another file/ },
    { reload: ['nft', '-af', script], reason: /option -af loads or runs another file/ },
    { undo: ['/etc/init.d/../../usr/bin/touch', marker], reason: /runs "\/etc\/init\.d\/\.\.\/\.\.\/usr\/bin\/touch"/ },
    { undo: ['kill', '1'], reason: /one recorded process id \(not 1\)/ },
    { undo: ['systemctl', 'edit', 'x.service'], reason: /'edit' is not one of restart/ },
    { reload: [process.execPath, '-e', `require("fs").writeFileSync(${JSON.stringify(marker)}, "")`, 'dns', '--restart-resolver', '/run/x.pid'], reason: /runs ".*node"/ },
  ];
  let hour = 10;
  for (const { undo, reload, reason } of crafted) {
    const entry = journalCreated(root, 'crafted', ['/etc/created-by-the-fix.conf'], `2026-04-01T${hour++}:00:00.000Z`);
    if (undo) entry.live = [{ description: 'a live change', command: ['ip', 'link', 'set', 'dev', 'lo', 'up'], undo: [undo], done: true }];
    if (reload) entry.reloads = [reload];
    saveEntry(root, entry); // a valid checksum: the entry is refused for what it would run
    const shown = (undo ?? reload)!.join(' ');
    const path = journalFile(root, entry.id);
    for (const args of [['fix', 'undo', entry.id, '--root', root], ['fix', 'undo', '--root', root]]) {
      const result = await netmend(args);
      assert.equal(result.code, 2, `${shown} (${args.join(' ')}): ${result.stdout}\n${result.stderr}`);
      assert.match(result.stderr, new RegExp(`journal entry ${entry.id} \\(${path.replace(/[.]/g, '\\.')}\\) is damaged: undo would run `), shown);
      assert.match(result.stderr, reason, shown);
      assert.equal(existsSync(marker), false, `${shown}: nothing ran`);
      assert.equal(readFileSync(join(root, 'etc/created-by-the-fix.conf'), 'utf8'), 'the fix wrote this\n', `${shown}: nothing was undone`);
    }
    const list = await netmend(['fix', 'list', '--root', root]);
    assert.equal(list.code, 2);
    assert.match(list.stdout, new RegExp(`^${entry.id}  damaged  .*undo would run `, 'm'), list.stdout);
    rmSync(path);
  }
});

test('fix dns never writes a path that leaves --root (conf-dir with "..", a symlinked conf-dir)', { skip: asRoot }, async (t) => {
  const outer = tempDir(t);
  const root = join(outer, 'root');
  put(root, 'etc/resolv.conf', 'nameserver 127.0.0.53\n');
  const escape = join(outer, 'escape');
  mkdirSync(escape);
  put(root, 'etc/dnsmasq.conf', 'no-resolv\nconf-dir=/etc/../../escape\n');
  const dotdot = await netmend(['fix', 'dns', '--via', 'dnsmasq', '--root', root, '--apply']);
  assert.equal(dotdot.code, 2, dotdot.stdout + dotdot.stderr);
  assert.match(dotdot.stderr, /refusing path "\/etc\/\.\.\/\.\.\/escape\/netmend-mesh-dns\.conf" contains '\.\.'/);
  assert.deepEqual(readdirSync(escape), []);

  put(root, 'etc/dnsmasq.conf', 'no-resolv\nconf-dir=/etc/dnsmasq.d\n');
  symlinkSync(escape, join(root, 'etc/dnsmasq.d'));
  const linked = await netmend(['fix', 'dns', '--via', 'dnsmasq', '--root', root, '--apply']);
  assert.equal(linked.code, 2, linked.stdout + linked.stderr);
  assert.match(linked.stderr, /refusing \/etc\/dnsmasq\.d\/netmend-mesh-dns\.conf: under --root it leads to .*escape, outside/);
  assert.deepEqual(readdirSync(escape), []);
  assert.equal(existsSync(join(root, 'var/lib/netmend/fixes')) && readdirSync(join(root, 'var/lib/netmend/fixes')).some((name) => name.endsWith('.json')), false, 'no journal entry');
});

test('a dangling symlink as the fix dns target: exit 2 naming the path, plan and --apply, nothing changed', async (t) => {
  const root = tempDir(t);
  put(root, 'etc/resolv.conf', 'nameserver 127.0.0.53\n');
  put(root, 'etc/dnsmasq.conf', 'no-resolv\n');
  mkdirSync(join(root, 'etc/dnsmasq.d'));
  mkdirSync(join(root, 'etc/unbound/unbound.conf.d'), { recursive: true });
  put(root, 'etc/unbound/unbound.conf', 'server:\n    interface: 127.0.0.53\n');
  const targets = { dnsmasq: 'etc/dnsmasq.d/netmend-mesh-dns.conf', unbound: 'etc/unbound/unbound.conf.d/netmend-mesh-dns.conf' };
  for (const [via, target] of Object.entries(targets)) {
    symlinkSync('/nonexistent/netmend-gone.conf', join(root, target));
    for (const extra of [[], ...(asRoot ? [] : [['--apply']])]) {
      const result = await netmend(['fix', 'dns', '--via', via, '--root', root, ...extra]);
      assert.equal(result.code, 2, `${via} ${extra.join(' ')}: ${result.stdout}\n${result.stderr}`);
      assert.match(result.stderr, new RegExp(`${join(root, target).replace(/[.]/g, '\\.')} is a symlink`), result.stderr);
      assert.doesNotMatch(result.stderr, /internal error/);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
    rmSync(join(root, target));
  }
  assert.equal(existsSync(join(root, 'var/lib/netmend')), false, 'no journal entry');
});

/**
 * Runs the real fix framework (runFix, as every `netmend fix` command does) in a child process
 * inside a namespace, with a plan whose second live step waits for the test's go-ahead, so a
 * signal arrives exactly mid-apply. The live changes are veth pairs in that namespace, undone
 * with `ip link del` (undo runs only what netmend's fixes run). The child reports errors as the
 * CLI does (reportError gives the exit code).
 */
function startSignalFix(ns: string, root: string, work: string, blockIn: 'live' | 'verify') {
  const imports = {
    apply: new URL('../../src/fix/apply.js', import.meta.url).href,
    report: new URL('../../src/cli/report-error.js', import.meta.url).href,
  };
  const script = `
    const { runFix } = await import(${JSON.stringify(imports.apply)});
    const { reportError } = await import(${JSON.stringify(imports.report)});
    const { setTimeout: sleep } = await import('node:timers/promises');
    const { writeFileSync } = await import('node:fs');
    const work = ${JSON.stringify(work)};
    const blockIn = ${JSON.stringify(blockIn)};
    const waitForGo = 'touch ' + work + '/waiting; while [ ! -e ' + work + '/go ]; do sleep 0.05; done';
    const plan = {
      fix: 'signal-test', summary: 'a fix interrupted mid-apply', method: 'test', reloads: [], verify: [], warnings: [],
      files: [
        { path: '/etc/existing.conf', content: 'changed by the fix\\n', reason: 'change a file' },
        { path: '/etc/netmend-new/sub/new.conf', content: 'new\\n', reason: 'create a file in new directories' },
      ],
      live: [
        { description: 'a live change', command: ['ip', 'link', 'add', 'first0', 'type', 'veth', 'peer', 'name', 'first1'], undo: [['ip', 'link', 'del', 'first0']] },
        { description: 'a slow live change', command: ['sh', '-c', blockIn === 'live' ? waitForGo : 'true'], undo: [] },
        { description: 'a later live change', command: ['ip', 'link', 'add', 'later0', 'type', 'veth', 'peer', 'name', 'later1'], undo: [['ip', 'link', 'del', 'later0']] },
      ],
      verifyAsync: blockIn === 'verify' ? async (aborted) => {
        writeFileSync(work + '/waiting', '');
        await sleep(600000, undefined, { signal: aborted });
        return { ok: true, report: [] };
      } : undefined,
    };
    try {
      await runFix({ apply: true, yes: false, root: ${JSON.stringify(root)}, force: false, 'confirm-timeout': 60, live: true, source: 'auto' },
        async () => plan, { env: {}, print: (line) => process.stdout.write(line + '\\n') });
    } catch (error) {
      process.exitCode = reportError(error, false);
    }`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => { stdout += String(chunk); });
  child.stderr.on('data', (chunk) => { stderr += String(chunk); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => `${stdout}\n${stderr}` };
}

async function waitForFile(path: string, what: string, exited: Promise<unknown>): Promise<void> {
  let done = false;
  void exited.then(() => { done = true; });
  const deadline = Date.now() + 60_000;
  while (!existsSync(path)) {
    if (done) throw new Error(`the fix ended before ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Files and directories under dir (the journal aside) with their content, to compare. */
function snapshotTree(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const rel = `${prefix}${name}`;
    if (rel.startsWith('var/lib/netmend')) continue;
    if (statSync(path).isDirectory()) {
      out[`${rel}/`] = 'dir';
      Object.assign(out, snapshotTree(path, `${rel}/`));
    } else out[rel] = readFileSync(path, 'utf8');
  }
  return out;
}

for (const { signal, code, blockIn } of [
  { signal: 'SIGTERM' as const, code: 143, blockIn: 'live' as const },
  { signal: 'SIGINT' as const, code: 130, blockIn: 'verify' as const },
]) {
  test(`${signal} while a fix applies (${blockIn === 'live' ? 'during a live step' : 'while verifying'}): rolled back through the journal, exit ${code}, nothing half-done`, { skip: labUnavailable() }, async (t) => {
    const lab = Lab.forTest(t);
    const ns = await lab.netns('sig');
    const links = async () => (await lab.ip(ns, '-o', 'link', 'show')).split('\n').map((line) => /^\d+: ([^:@]+)/.exec(line)?.[1]).filter((name) => name !== undefined);
    const outer = tempDir(t);
    const root = join(outer, 'root');
    const work = join(outer, 'work');
    mkdirSync(work);
    put(root, 'etc/existing.conf', 'as it was\n');
    put(root, 'var/lib/netmend/.keep', '');
    const before = snapshotTree(root);
    const run = startSignalFix(ns, root, work, blockIn);
    t.after(() => { if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL'); });
    await waitForFile(join(work, 'waiting'), 'the fix to reach the slow step', run.exited);
    // Mid-apply: the files are written and the first live change is made.
    assert.equal(readFileSync(join(root, 'etc/existing.conf'), 'utf8'), 'changed by the fix\n');
    assert.ok((await links()).includes('first0'), 'the first live change is made');
    run.child.kill(signal);
    if (blockIn === 'live') {
      // The step in progress is finished, not torn; once the signal is acknowledged, let it end.
      const deadline = Date.now() + 30_000;
      while (!run.output().includes(`${signal}: stopping`) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
      writeFileSync(join(work, 'go'), '');
    }
    const exit = await Promise.race([run.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit within 30 s: ${run.output()}`)), 30_000))]);
    assert.deepEqual(exit, { code, signal: null }, run.output());
    assert.match(run.output(), new RegExp(`${signal}: fix signal-test stopped and rolled back \\(journal `));
    assert.deepEqual(snapshotTree(root), before, 'files restored and the directories the fix created removed');
    assert.deepEqual(await links(), ['lo'], 'the live change was undone and no later step ran');
    const list = await netmend(['fix', 'list', '--root', root]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`rolled-back \\(interrupted by ${signal}\\)  signal-test`));
  });
}
