/**
 * The one place that starts subprocesses. Everything that runs `ip`, `networkctl`, `ssh`,
 * `uci`, `systemctl` and friends goes through a CommandRunner, so `--ssh user@host` can swap the
 * local runner for a remote one and tests can see exactly what would run.
 */
import { CheckCouldNotRunError, InputError } from '../errors.js';

export interface RunOptions {
  /** Bytes or text for the child's stdin. */
  input?: string | Buffer;
  /** Milliseconds before the child is killed; default 30 s. */
  timeoutMs?: number;
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** Resolve even when the exit code is not 0 (the caller reads exitCode). */
  allowFailure?: boolean;
  /**
   * Start it in a session and process group of its own, out of reach of the terminal: Ctrl-C
   * sends SIGINT to the whole foreground process group, and a command a fix runs (`ip`, a
   * resolver restart, `networkctl reload`) killed half way leaves a change its rollback cannot
   * take back. netmend itself hears the signal and rolls back once the command has finished.
   * Read-only commands leave it unset and stop with netmend.
   */
  ownProcessGroup?: boolean;
  /**
   * Local only: start it with node:child_process instead of execa, whose import costs about
   * 80 ms: for a read-only command on the critical path of a fast command (the firewall listing
   * of `path explain`). Needs no input, env or process group of its own; ssh runners ignore it.
   */
  direct?: boolean;
}

export interface RunResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  /** Human name of where commands run: "local" or "ssh root@router". */
  readonly where: string;
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** A failed command: says which command, its exit code and the first line of its stderr. */
export class CommandFailedError extends CheckCouldNotRunError {
  readonly result: RunResult;
  constructor(result: RunResult, hint?: string) {
    const firstLine = result.stderr.trim().split('\n')[0] || `exit code ${result.exitCode}`;
    super(`\`${result.command}\` failed: ${firstLine}`, hint);
    this.result = result;
  }
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map(shellQuote).join(' ');
}

async function runProcess(file: string, args: readonly string[], display: string, options: RunOptions): Promise<RunResult> {
  const { execa } = await import('execa');
  let child;
  try {
    child = await execa(file, args, {
      input: options.input,
      timeout: options.timeoutMs ?? 30_000,
      env: options.env,
      reject: false,
      stripFinalNewline: false,
      encoding: 'utf8',
      detached: options.ownProcessGroup ?? false,
    });
  } catch (error) {
    throw new CheckCouldNotRunError(`could not start \`${display}\`: ${(error as Error).message}`);
  }
  if (child.failed && child.exitCode === undefined) {
    const why = child.timedOut ? `timed out after ${options.timeoutMs ?? 30_000} ms` : (child.shortMessage ?? 'could not run');
    const missing = (child as { code?: string }).code === 'ENOENT';
    throw new CheckCouldNotRunError(
      missing ? `\`${file}\` is not installed` : `\`${display}\` ${why}`,
      missing ? `install the package that provides ${file}` : undefined,
    );
  }
  const result: RunResult = {
    command: display,
    exitCode: child.exitCode ?? 1,
    stdout: String(child.stdout ?? ''),
    stderr: String(child.stderr ?? ''),
  };
  if (result.exitCode !== 0 && !options.allowFailure) throw new CommandFailedError(result);
  return result;
}

/** runProcess's contract without execa: same errors, same result, for RunOptions.direct. */
async function runDirect(file: string, args: readonly string[], display: string, options: RunOptions): Promise<RunResult> {
  const { spawn } = await import('node:child_process');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const { exitCode, stdout, stderr } = await new Promise<{ exitCode: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGTERM'); }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT'
        ? new CheckCouldNotRunError(`\`${file}\` is not installed`, `install the package that provides ${file}`)
        : new CheckCouldNotRunError(`could not start \`${display}\`: ${error.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new CheckCouldNotRunError(`\`${display}\` timed out after ${timeoutMs} ms`));
      else resolve({ exitCode: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
  const result: RunResult = { command: display, exitCode, stdout, stderr };
  if (result.exitCode !== 0 && !options.allowFailure) throw new CommandFailedError(result);
  return result;
}

export class LocalRunner implements CommandRunner {
  readonly where = 'local';
  run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const direct = options.direct && options.input === undefined && options.env === undefined && !options.ownProcessGroup;
    return (direct ? runDirect : runProcess)(file, args, formatCommand(file, args), options);
  }
}

const SSH_TARGET = /^(?!-)(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])$/;

/** How long an ssh master outlives its last session if netmend dies without closing it. */
const MASTER_IDLE_SECONDS = 30;

/**
 * One ssh connection to a destination for the whole netmend run (OpenSSH multiplexing): the
 * first command opens the master, whose control socket sits in a private directory, and every
 * later command is a session on it, so the host is logged in to once however many files and
 * commands a run gathers. Closed at exit (`ssh -O exit`, directory removed); should netmend be
 * killed, the master still ends after MASTER_IDLE_SECONDS without sessions.
 */
class SshConnection {
  /** Settles when the first command (which opens the master) is done. */
  private opened: Promise<unknown> | undefined;
  /** Why logging in failed: later commands fail the same way instead of trying again. */
  private failure: InputError | undefined;
  private controlDir: string | undefined;

  constructor(private readonly target: string, private readonly sshOptions: readonly string[]) {}

  async run(remote: string, display: string, options: RunOptions): Promise<RunResult> {
    if (this.opened) {
      await this.opened.catch(() => {});
    } else {
      const first = this.start(remote, display, options);
      this.opened = first;
      return first;
    }
    if (this.failure) throw this.failure;
    return this.start(remote, display, options);
  }

  private async start(remote: string, display: string, options: RunOptions): Promise<RunResult> {
    const sshArgs = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', ...(await this.controlOptions()), ...this.sshOptions, this.target, '--', remote];
    const result = await runProcess('ssh', sshArgs, display, { ...options, allowFailure: true });
    if (result.exitCode === 255) {
      const reason = result.stderr.trim().split('\n').pop() || 'connection failed';
      this.failure ??= new InputError(`cannot reach ${this.target} over ssh: ${reason}`, 'check the host name, the key and that sshd runs there');
      throw this.failure;
    }
    return result;
  }

  private async controlOptions(): Promise<string[]> {
    if (!this.controlDir) {
      const [{ mkdtempSync, rmSync }, { tmpdir }, { join }, { spawnSync }] = await Promise.all([
        import('node:fs'), import('node:os'), import('node:path'), import('node:child_process'),
      ]);
      // A socket path has room for about 100 bytes.
      const base = tmpdir().length <= 60 ? tmpdir() : '/tmp';
      const dir = mkdtempSync(join(base, 'netmend-ssh-'));
      this.controlDir = dir;
      process.once('exit', () => {
        spawnSync('ssh', [...this.controlArgs(dir), ...this.sshOptions, '-O', 'exit', this.target], { stdio: 'ignore', timeout: 5000 });
        rmSync(dir, { recursive: true, force: true });
      });
    }
    return this.controlArgs(this.controlDir);
  }

  private controlArgs(dir: string): string[] {
    return ['-o', `ControlPath=${dir}/master`, '-o', 'ControlMaster=auto', '-o', `ControlPersist=${MASTER_IDLE_SECONDS}`];
  }
}

const sshConnections = new Map<string, SshConnection>();

/**
 * Runs commands on another machine over ssh, non-interactively (BatchMode), so a router without
 * Node can be diagnosed from here. Exit code 255 is ssh's own failure: reported as bad input
 * (exit 2), since it is almost always a wrong or unreachable host. Runners for the same
 * destination share one connection.
 */
export class SshRunner implements CommandRunner {
  readonly where: string;
  private readonly connection: SshConnection;
  constructor(readonly target: string, readonly sshOptions: readonly string[] = []) {
    if (!SSH_TARGET.test(target)) throw new InputError(`--ssh: '${target}' is not a user@host ssh destination`);
    this.where = `ssh ${target}`;
    const key = JSON.stringify([target, sshOptions]);
    let connection = sshConnections.get(key);
    if (!connection) {
      connection = new SshConnection(target, sshOptions);
      sshConnections.set(key, connection);
    }
    this.connection = connection;
  }

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const remote = formatCommand(file, args);
    const result = await this.connection.run(remote, `${this.where}: ${remote}`, options);
    if (result.exitCode !== 0 && !options.allowFailure) throw new CommandFailedError(result);
    return result;
  }
}

/** Extra ssh options from NETMEND_SSH_OPTIONS (space separated), e.g. a port or a key for tests. */
export function sshOptionsFromEnv(): string[] {
  const raw = process.env.NETMEND_SSH_OPTIONS?.trim();
  return raw ? raw.split(/\s+/) : [];
}

export const localRunner: CommandRunner = new LocalRunner();

/**
 * Starts a process that outlives netmend (the fix confirm watchdog), detached from its session
 * and with no stdio, and returns its PID so it can be stopped by that PID later.
 */
export async function spawnDetached(file: string, args: readonly string[], env?: Record<string, string>): Promise<number> {
  const { spawn } = await import('node:child_process');
  const child = spawn(file, args, { detached: true, stdio: 'ignore', env: { ...process.env, ...env } });
  const pid = child.pid;
  if (pid === undefined) throw new CheckCouldNotRunError(`could not start \`${formatCommand(file, args)}\``);
  child.unref();
  return pid;
}
