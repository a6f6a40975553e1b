import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { netmend, netmendBin, projectRoot, run } from '../lab/harness.js';

test('--version prints name, version, platform and node', async () => {
  const result = await netmend(['--version']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^netmend\/\d+\.\d+\.\d+ linux-\w+ node-v20\./);
  // test/run.js built the prebuilds and removed native/build: a checkout loads what a user gets
  assert.match(result.stdout, /\ntun addon: loaded native\/prebuilds\/linux-\w+\/netmend_tun\.[\w.]+\.node\n$/);
});

test('an unknown flag is a one-line usage error with exit 2', async () => {
  const result = await netmend(['snapshot', '--no-such-flag']);
  assert.equal(result.code, 2);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, /no-such-flag/);
});

test('a snapshot file that is not JSON is named in a one-line error, exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'broken.json');
  writeFileSync(file, '{"version": 1, "links": [');
  const result = await netmend(['snapshot', '--snapshot', file]);
  assert.equal(result.code, 2);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, /broken\.json is not JSON/);
  assert.doesNotMatch(result.stderr, /at .*\.js:\d+/);
});

test('a missing snapshot file is named, exit 2', async () => {
  const result = await netmend(['snapshot', '--snapshot', '/nonexistent/netmend.json']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /cannot read \/nonexistent\/netmend\.json: ENOENT/);
});

// Item 6: oclif's usage errors, whole and on one line; help; mistyped commands.

const usageErrors: Array<[string[], RegExp]> = [
  [['route', 'explain'], /^netmend: Missing 1 required arg: destination \(IPv4 or IPv6 destination address\) \(hint: see `netmend route explain --help`\)$/],
  [['doctor', 'dns', '--timeout', 'abc'], /^netmend: Parsing --timeout: Expected an integer but received: abc/],
  [['openwrt', 'install'], /^netmend: Missing required flag ssh/],
  [['snapshot', '--snapshot', 'F', '--ssh', 'H'], /^netmend: --ssh=H cannot also be provided when using --snapshot/],
  [['route', 'explain', '10.0.0.1', '--snapshot', 'F', '--ssh', 'H'], /^netmend: --ssh=H cannot also be provided when using --snapshot/],
  [['doctor', '--snapshot', 'F', '--snapshot', 'G'], /^netmend: Flag --snapshot can only be specified once/],
  [['doctor', 'routes', '--fail-on', 'sometimes'], /^netmend: Expected --fail-on=sometimes to be one of: warn, fail, never/],
];

test('usage errors print the whole reason on one line, exit 2 (oclif and fast-path commands alike)', async () => {
  for (const [args, expected] of usageErrors) {
    const result = await netmend(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stdout, '', args.join(' '));
    assert.equal(result.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /The following error occurred/);
    assert.match(result.stderr.trim(), expected, args.join(' '));
  }
});

test('-h and `netmend help TOPIC` show help; help lists the exit codes, 4 included', async () => {
  const root = await netmend(['help']);
  assert.equal(root.code, 0, root.stderr);
  assert.match(root.stdout, /EXIT CODES\n(.*\n)*\s+4\s+needs root/);
  assert.match(root.stdout, /TOPICS[\s\S]*doctor/);
  assert.equal((await netmend(['-h'])).stdout, root.stdout);
  for (const args of [['doctor', 'routes', '-h'], ['help', 'doctor', 'routes'], ['doctor', 'routes', '--help']]) {
    const result = await netmend(args);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stdout, /\$ netmend doctor routes/, args.join(' '));
    assert.match(result.stdout, /EXIT CODES[\s\S]*\n\s+4\s+needs root/, args.join(' '));
  }
  const topic = await netmend(['help', 'fix']);
  assert.equal(topic.code, 0, topic.stderr);
  assert.match(topic.stdout, /fix link-local/);
  const explain = await netmend(['route', 'explain', '-h']);
  assert.equal(explain.code, 0, explain.stderr);
  assert.match(explain.stdout, /ARGUMENTS\s+DESTINATION/);
});

test('a mistyped command or help topic is exit 2 and suggests the nearest command; an extra argument is named', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['doctr'], /unknown command 'doctr' \(hint: did you mean `netmend doctor`\?/],
    [['doctor', 'routs'], /unknown command 'doctor routs' \(hint: did you mean `netmend doctor routes`\?/],
    [['rout', 'explain', '10.0.0.1'], /unknown command 'rout' \(hint: did you mean `netmend route explain`\?/],
    [['help', 'snapshto'], /unknown command 'snapshto' \(hint: did you mean `netmend snapshot`\?/],
    [['frobnicate'], /unknown command 'frobnicate' \(hint: `netmend help` lists the commands: doctor, fix/],
    // A known command with a word it takes no argument for: that word is the mistake, not the command.
    [['snapshot', 'extra'], /Unexpected argument: extra \(hint: see `netmend snapshot --help`\)/],
    [['fix', 'list', 'a', 'b'], /Unexpected arguments: a, b \(hint: see `netmend fix list --help`\)/],
  ];
  for (const [args, expected] of cases) {
    const result = await netmend(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, expected, args.join(' '));
  }
});

// Item 4: a named interface or root that does not exist.

/** A snapshot of this host (written by netmend itself), for commands that analyse one. */
async function liveSnapshotFile(dir: string): Promise<string> {
  const file = join(dir, 'host.json');
  const written = await netmend(['snapshot', '--out', file]);
  assert.equal(written.code, 0, written.stderr);
  return file;
}

test('--iface naming an interface the host does not have is exit 2 listing the interfaces it has', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = await liveSnapshotFile(dir);
  const links: string[] = JSON.parse(readFileSync(file, 'utf8')).links.map((link: { name: string }) => link.name);
  for (const args of [
    ['doctor', 'routes', '--iface', 'does-not-exist', '--snapshot', file],
    ['doctor', 'routes', '--iface', 'does-not-exist'],
    ['doctor', '--iface', links[0], '--iface', 'does-not-exist', '--snapshot', file],
    ['doctor', 'dns', '--iface', 'does-not-exist'],
  ]) {
    const result = await netmend(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.equal(result.stdout, '', `${args.join(' ')} ran the checks anyway`);
    assert.match(result.stderr, /^netmend: --iface: no interface named 'does-not-exist' on \S+.*interfaces there: /, args.join(' '));
    for (const link of links) assert.ok(result.stderr.includes(link), `${args.join(' ')} does not list ${link}: ${result.stderr}`);
  }
  const fine = await netmend(['doctor', 'routes', '--iface', links[0], '--snapshot', file]);
  assert.notEqual(fine.code, 2, fine.stderr);
  // fix forwarding's interface flags say it the same way.
  for (const [flag, args] of [['--tunnel', ['--tunnel', 'does-not-exist']], ['--lan', ['--tunnel', links[0], '--lan', 'does-not-exist']]] as const) {
    const result = await netmend(['fix', 'forwarding', ...args, '--snapshot', file]);
    assert.equal(result.code, 2, `${flag}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, new RegExp(`^netmend: ${flag}: no interface named 'does-not-exist' on \\S+.*interfaces there: `), flag);
  }
});

test('--root that does not exist (or is a file) is exit 2 naming it, for every command that takes it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, 'nonexistent');
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  for (const command of [['doctor'], ['doctor', 'routes'], ['doctor', 'dns'], ['fix', 'list'], ['fix', 'undo'], ['fix', 'dns'], ['fix', 'subnet-routes']]) {
    const result = await netmend([...command, '--root', missing]);
    assert.equal(result.code, 2, `${command.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.equal(result.stdout, '', command.join(' '));
    assert.match(result.stderr, new RegExp(`^netmend: --root: the directory ${missing} does not exist`), command.join(' '));
    const notDir = await netmend([...command, '--root', file]);
    assert.equal(notDir.code, 2, `${command.join(' ')}: ${notDir.stderr}`);
    assert.match(notDir.stderr, new RegExp(`--root: ${file} is not a directory`), command.join(' '));
  }
});

// Item 7: wrong exit codes.

test('snapshot --out into a directory that does not exist is exit 2 naming the path, not an internal error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'nonexistent-dir', 'x.json');
  for (const args of [['snapshot', '--out', out], ['snapshot', '--out', out, '--source', 'ip-json']]) {
    const result = await netmend(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /internal error/);
    assert.match(result.stderr, new RegExp(`--out: cannot write ${out}: the directory ${join(dir, 'nonexistent-dir')} does not exist`));
  }
  const intoDir = await netmend(['snapshot', '--out', dir]);
  assert.equal(intoDir.code, 2, intoDir.stderr);
  assert.match(intoDir.stderr, /--out: .* is a directory/);
});

test('an empty --ssh or --snapshot is exit 2, never a read of the local host', async () => {
  for (const args of [['snapshot', '--ssh', ''], ['doctor', 'routes', '--ssh', ''], ['route', 'explain', '127.0.0.1', '--ssh', ''], ['openwrt', 'install', '--ssh', ''], ['snapshot', '--ssh=-oProxyCommand=true']]) {
    const result = await netmend(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stdout, '', `${args.join(' ')} printed a result`);
    assert.match(result.stderr, /--ssh: '.*' is not a user@host ssh destination/, args.join(' '));
  }
  const emptySnapshot = await netmend(['route', 'explain', '127.0.0.1', '--snapshot', '']);
  assert.equal(emptySnapshot.code, 2, emptySnapshot.stderr);
  assert.equal(emptySnapshot.stdout, '');
  assert.match(emptySnapshot.stderr, /--snapshot: the file name is empty/);
});

test('node down after a crash removes the stale pid file and says so; a reused pid is never signalled', async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), 'netmend-cli-'));
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const iface = `nmstale${process.pid % 10000}`;
  const pidFile = join(runDir, `${iface}.pid`);
  const env = { NETMEND_RUN_DIR: runDir };

  // A node that died: its pid belongs to no process now.
  const gone = spawn(process.execPath, ['-e', '0']);
  await once(gone, 'exit');
  writeFileSync(pidFile, `${gone.pid}\n`);
  const crashed = await netmend(['node', 'down', iface], { env });
  assert.equal(crashed.code, 0, crashed.stderr);
  assert.match(crashed.stdout, new RegExp(`removed its stale pid file ${pidFile}`));
  assert.equal(existsSync(pidFile), false);

  // The pid was reused by an unrelated program: it must survive.
  const bystander = spawn('sleep', ['60']);
  t.after(() => bystander.kill('SIGKILL'));
  writeFileSync(pidFile, `${bystander.pid}\n`);
  const reused = await netmend(['node', 'down', iface], { env });
  assert.equal(reused.code, 0, reused.stderr);
  assert.match(reused.stdout, /is another program now.*removed its stale pid file/);
  assert.equal(existsSync(pidFile), false);
  assert.equal(bystander.exitCode, null);
  assert.equal(bystander.signalCode, null, 'node down signalled an unrelated process');
});

test('help into a reader that stops early (`netmend --help | head -1`) still exits 0', async () => {
  const child = spawn(process.execPath, [netmendBin, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.once('data', () => child.stdout.destroy());
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});

test('the oclif-free fast paths and the oclif commands answer alike: output, errors, exit codes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = await liveSnapshotFile(dir);
  const damaged = join(dir, 'damaged.json');
  const snapshot = JSON.parse(readFileSync(file, 'utf8'));
  snapshot.routes[0].type = 'teleport';
  writeFileSync(damaged, JSON.stringify(snapshot));
  const cases = [
    ['doctor', 'routes', '--snapshot', file, '--json'],
    ['doctor', '--snapshot', file, '--fail-on', 'never'],
    ['doctor', 'routes', '--snapshot', file, '--snapshot', damaged],
    ['doctor', '--snapshot', file, '--iface', 'does-not-exist'],
    ['doctor', 'routes', '--snapshot', file, '--root', join(dir, 'nonexistent')],
    ['doctor', 'routes', '--snapshot', damaged],
    ['snapshot', '--snapshot', file],
    ['snapshot', '--ssh', ''],
    ['snapshot', '--snapshot', file, '--out', join(dir, 'nonexistent', 'x.json')],
    ['route', 'explain', '127.0.0.1', '--snapshot', file],
    ['route', 'explain', '127.0.0.1', '--snapshot', damaged],
  ];
  for (const args of cases) {
    const fast = await netmend(args);
    // Straight into oclif, as bin/run.js does when no fast path takes the command.
    const script = `const { runOclif } = await import(${JSON.stringify(join(projectRoot, 'dist', 'src', 'cli', 'oclif-main.js'))});
      const code = await runOclif(${JSON.stringify(args)}, ${JSON.stringify(netmendBin)}); if (code !== undefined) process.exitCode = code;`;
    const viaOclif = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NO_COLOR: '1' } });
    assert.deepEqual(viaOclif, fast, args.join(' '));
  }
});
