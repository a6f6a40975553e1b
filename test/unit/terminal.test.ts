/**
 * netmend on a real pseudo-terminal (python3's pty module): a terminal that reports 0 columns
 * (serial consoles do) must not hang the spinner, NO_COLOR / TERM=dumb / CI mean no spinner and
 * no escape codes, and SIGINT / SIGTERM / SIGHUP end a command promptly with 130 / 143 / 129.
 * A command is caught mid-run by an ssh server that accepts the connection and never answers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { netmend, netmendBin } from '../lab/harness.js';

// Runs argv on a new pty of the given width; prints {"pid": N} once started, {"exit": N} at the
// end (negative: killed by that signal), and copies everything the pty shows into a file.
const PTY_RUNNER = `
import fcntl, json, os, pty, select, struct, sys, termios
cols, out_path, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 24, cols, 0, 0))
    os.execvp(argv[0], argv)
print(json.dumps({'pid': pid}), flush=True)
status = None
with open(out_path, 'wb') as out:
    while True:
        ready, _, _ = select.select([fd], [], [], 0.1)
        data = b''
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b''
            out.write(data)
            out.flush()
        if status is None:
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = wait_status
        if status is not None and not data:
            break
print(json.dumps({'exit': os.waitstatus_to_exitcode(status)}), flush=True)
`;

/** Plain environment for a terminal: no opt-outs unless a test adds them. */
function terminalEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', ...extra };
  for (const name of ['NO_COLOR', 'CI', 'FORCE_COLOR']) if (!(name in extra)) delete env[name];
  return env;
}

interface PtyRun {
  /** Resolves with the exit code, or undefined when the command was still running at the deadline. */
  exit(deadlineMs: number): Promise<number | undefined>;
  signal(name: NodeJS.Signals): void;
  output(): string;
}

function onPty(t: TestContext, cols: number, args: string[], env: NodeJS.ProcessEnv): Promise<PtyRun> {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-pty-'));
  const outFile = join(dir, 'pty.out');
  const runner = spawn('python3', ['-c', PTY_RUNNER, String(cols), outFile, process.execPath, netmendBin, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let childPid: number | undefined;
  let exitCode: number | undefined;
  const exited: Array<() => void> = [];
  t.after(() => {
    if (exitCode === undefined && childPid !== undefined) {
      try { process.kill(childPid, 'SIGKILL'); } catch { /* gone */ }
    }
    runner.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return new Promise((resolve, reject) => {
    runner.once('error', reject);
    createInterface({ input: runner.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as { pid?: number; exit?: number };
      if (message.pid !== undefined) {
        childPid = message.pid;
        resolve({
          exit: (deadlineMs) => new Promise((done) => {
            if (exitCode !== undefined) return done(exitCode);
            const timer = setTimeout(() => done(undefined), deadlineMs);
            exited.push(() => { clearTimeout(timer); done(exitCode); });
          }),
          signal: (name) => process.kill(message.pid!, name),
          output: () => readFileSync(outFile, 'latin1'),
        });
      }
      if (message.exit !== undefined) {
        exitCode = message.exit;
        for (const notify of exited) notify();
      }
    });
  });
}

/** A TCP server that accepts ssh connections and never answers: the command waits on it. */
async function silentSshServer(t: TestContext): Promise<{ port: number; connected: (deadlineMs: number) => Promise<boolean> }> {
  const sockets: Socket[] = [];
  const waiting: Array<() => void> = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    for (const notify of waiting.splice(0)) notify();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    connected: (deadlineMs) => new Promise((resolve) => {
      if (sockets.length > 0) return resolve(true);
      const timer = setTimeout(() => resolve(false), deadlineMs);
      waiting.push(() => { clearTimeout(timer); resolve(true); });
    }),
  };
}

function sshEnv(port: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return terminalEnv({ NETMEND_SSH_OPTIONS: `-p ${port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null`, ...extra });
}

// Generous: a loaded machine may be slow, a hung command never finishes at all.
const FINISH_MS = 45_000;

async function savedSnapshot(t: TestContext): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'netmend-pty-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'host.json');
  const written = await netmend(['snapshot', '--out', file]);
  assert.equal(written.code, 0, written.stderr);
  return file;
}

test('on a 0-column terminal, doctor and doctor routes finish instead of spinning forever', { timeout: 120_000 }, async (t) => {
  const file = await savedSnapshot(t);
  for (const args of [['doctor', 'routes', '--snapshot', file], ['doctor', '--snapshot', file]]) {
    const run = await onPty(t, 0, args, terminalEnv());
    const code = await run.exit(FINISH_MS);
    assert.notEqual(code, undefined, `${args.join(' ')} still runs on a 0-column terminal: ${JSON.stringify(run.output().slice(-200))}`);
    assert.ok(code === 0 || code === 1, `${args.join(' ')} exit ${code}: ${run.output()}`);
    assert.match(run.output(), /\d+ passed/, args.join(' '));
    assert.doesNotMatch(run.output(), /reading routing state/, 'no spinner without a terminal width');
  }
});

test('a sized terminal still gets the spinner, and the cursor back', { timeout: 60_000 }, async (t) => {
  const file = await savedSnapshot(t);
  const run = await onPty(t, 80, ['doctor', 'routes', '--snapshot', file], terminalEnv());
  const code = await run.exit(FINISH_MS);
  assert.ok(code === 0 || code === 1, `exit ${code}: ${run.output()}`);
  const output = run.output();
  assert.match(output, /reading routing state/);
  assert.ok(output.lastIndexOf('\u001b[?25h') > output.lastIndexOf('\u001b[?25l'), 'the cursor stays hidden');
});

test('NO_COLOR, TERM=dumb and CI: no spinner, no colour, no cursor codes', { timeout: 120_000 }, async (t) => {
  const file = await savedSnapshot(t);
  for (const extra of [{ NO_COLOR: '1' }, { TERM: 'dumb' }, { CI: 'true' }]) {
    const run = await onPty(t, 80, ['doctor', 'routes', '--snapshot', file], terminalEnv(extra));
    const code = await run.exit(FINISH_MS);
    assert.ok(code === 0 || code === 1, `${JSON.stringify(extra)}: exit ${code}: ${run.output()}`);
    assert.doesNotMatch(run.output(), /reading routing state/, JSON.stringify(extra));
    if ('NO_COLOR' in extra || 'TERM' in extra) assert.doesNotMatch(run.output(), /\u001b/, `${JSON.stringify(extra)}: escape codes in ${JSON.stringify(run.output())}`);
  }
});

const signalCases: Array<{ cols: number; signal: NodeJS.Signals; code: number; args: string[] }> = [
  { cols: 0, signal: 'SIGINT', code: 130, args: ['doctor', 'routes', '--ssh', 'nobody@127.0.0.1'] },
  { cols: 0, signal: 'SIGTERM', code: 143, args: ['doctor', '--ssh', 'nobody@127.0.0.1'] },
  { cols: 0, signal: 'SIGTERM', code: 143, args: ['openwrt', 'install', '--ssh', 'nobody@127.0.0.1', '--version', '1.90.8'] },
  { cols: 0, signal: 'SIGINT', code: 130, args: ['openwrt', 'install', '--ssh', 'nobody@127.0.0.1', '--version', '1.90.8'] },
  { cols: 80, signal: 'SIGINT', code: 130, args: ['doctor', 'routes', '--ssh', 'nobody@127.0.0.1'] },
  { cols: 80, signal: 'SIGHUP', code: 129, args: ['openwrt', 'install', '--ssh', 'nobody@127.0.0.1', '--version', '1.90.8'] },
];

for (const { cols, signal, code, args } of signalCases) {
  const command = args.slice(0, args.findIndex((arg) => arg.startsWith('-'))).join(' ');
  test(`${signal} ends \`${command}\` waiting on ssh (${cols} columns) with exit ${code}`, { timeout: 120_000 }, async (t) => {
    const ssh = await silentSshServer(t);
    const run = await onPty(t, cols, args, sshEnv(ssh.port));
    assert.ok(await ssh.connected(FINISH_MS), `${command} never reached ssh: ${JSON.stringify(run.output().slice(-200))}`);
    run.signal(signal);
    const exit = await run.exit(FINISH_MS);
    assert.notEqual(exit, undefined, `${command} ignored ${signal}`);
    assert.equal(exit, code, `${command}: ${run.output()}`);
    const output = run.output();
    if (cols > 0) assert.ok(output.lastIndexOf('\u001b[?25h') >= output.lastIndexOf('\u001b[?25l'), 'the cursor stays hidden after the signal');
  });
}
