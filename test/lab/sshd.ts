/**
 * A real OpenSSH sshd for lab tests: runs as root inside a lab namespace with a config, host key
 * and client key of its own (all in a lab.tmpdir()), and is stopped by its PID at lab teardown.
 * It never reads or changes the host's ssh setup; the only shared thing it may create is the
 * privilege-separation directory /run/sshd, and only when it is missing.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, must } from './harness.js';

export interface SshdOptions {
  /** Address sshd listens on inside the namespace; default 127.0.0.1 (lo is up in every lab namespace). */
  address?: string;
  /** TCP port; default 2222 (namespaces do not share ports, so a fixed port is safe). */
  port?: number;
  /**
   * Environment every session gets (sshd `SetEnv`), e.g. a root prefix or a PATH with stand-ins.
   * Overrides what sshd would set itself, PATH included.
   */
  env?: Record<string, string>;
  /** A command run instead of whatever the client asked for (`ForceCommand`); the request is in $SSH_ORIGINAL_COMMAND. */
  forceCommand?: string;
}

export interface Sshd {
  /** `root@ADDRESS`, what ssh and netmend's `--ssh` take. */
  target: string;
  /** ssh options for a client (port, key, no host key checks, no agent or config surprises). */
  sshOptions: string[];
  /** The same options joined by spaces, as NETMEND_SSH_OPTIONS expects. */
  sshOptionsEnv: string;
  /** The client's private key file. */
  clientKey: string;
  /** sshd's PID (it is stopped through the lab). */
  pid: number;
  /** Everything sshd wrote to stderr so far (-e): useful when a login fails. */
  log(): string;
}

function quoteSshdValue(value: string): string {
  if (/["\\\n]/.test(value)) throw new Error(`sshd config value ${JSON.stringify(value)} cannot be quoted`);
  return `"${value}"`;
}

/** Start sshd in `ns` and wait until it accepts connections. */
export async function startSshd(lab: Lab, ns: string, options: SshdOptions = {}): Promise<Sshd> {
  const address = options.address ?? '127.0.0.1';
  const port = options.port ?? 2222;
  const dir = lab.tmpdir();
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const clientKey = join(dir, 'client_ed25519');
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'netmend-lab-host', '-f', hostKey]);
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'netmend-lab-client', '-f', clientKey]);
  const authorizedKeys = join(dir, 'authorized_keys');
  const { readFileSync } = await import('node:fs');
  writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`), { mode: 0o600 });

  // sshd refuses to start without its privilege-separation directory.
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });

  const config = [
    `ListenAddress ${address.includes(':') ? `[${address}]` : address}:${port}`,
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'UseDNS no',
    // The key lives under /tmp (world-writable): the path check would reject it.
    'StrictModes no',
    'PrintMotd no',
    'PrintLastLog no',
    'LogLevel VERBOSE',
    'Subsystem sftp internal-sftp',
  ];
  if (options.env && Object.keys(options.env).length > 0) {
    config.push(`SetEnv ${Object.entries(options.env).map(([key, value]) => `${key}=${quoteSshdValue(value)}`).join(' ')}`);
  }
  if (options.forceCommand) config.push(`ForceCommand ${options.forceCommand}`);
  const configFile = join(dir, 'sshd_config');
  writeFileSync(configFile, `${config.join('\n')}\n`);
  await must('/usr/sbin/sshd', ['-t', '-f', configFile]);

  const child = lab.spawn(ns, '/usr/sbin/sshd', ['-f', configFile, '-D', '-e']);
  let log = '';
  child.stderr?.on('data', (chunk) => { log += String(chunk); });
  child.stdout?.resume();

  // Client config and known_hosts of the lab's own (not /dev/null): nothing of the host's ssh
  // setup is read, and a test never depends on a shared device node.
  const clientConfig = join(dir, 'ssh_config');
  writeFileSync(clientConfig, '');
  const knownHosts = join(dir, 'known_hosts');
  const sshOptions = [
    '-p', String(port),
    '-i', clientKey,
    '-o', 'StrictHostKeyChecking=no',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', `GlobalKnownHostsFile=${knownHosts}`,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'LogLevel=ERROR',
    '-F', clientConfig,
  ];
  const target = `root@${address.includes(':') ? `[${address}]` : address}`;
  const sshd: Sshd = {
    target,
    sshOptions,
    sshOptionsEnv: sshOptions.join(' '),
    clientKey,
    pid: child.pid ?? -1,
    log: () => log,
  };

  await lab.waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log.trim()}`);
    return log.includes('Server listening on');
  }, 10_000, `sshd listening on ${address}:${port}`);
  return sshd;
}

/** `ssh` to a lab sshd from inside namespace `ns` (sshd listens on the namespace's loopback). */
export function sshInNamespace(lab: Lab, ns: string, sshd: Sshd, remoteCommand: string, options: { input?: string } = {}) {
  return lab.exec(ns, 'ssh', ['-o', 'BatchMode=yes', ...sshd.sshOptions, sshd.target, '--', remoteCommand], options);
}

const probePorts = new WeakMap<Sshd, Set<string>>();

/**
 * How many ssh logins sshd accepted so far, its own counting logins left out: it logs in once
 * more and waits for that login's log line (found by the client port), so every earlier line has
 * been read too (sshd's children write to one pipe, in order), however loaded the machine is.
 */
export async function acceptedLogins(lab: Lab, ns: string, sshd: Sshd): Promise<number> {
  const probe = await sshInNamespace(lab, ns, sshd, 'echo "$SSH_CLIENT"');
  const port = probe.stdout.trim().split(/\s+/)[1];
  if (probe.code !== 0 || !port) throw new Error(`the counting login failed: ${probe.stderr}${sshd.log()}`);
  const ports = probePorts.get(sshd) ?? new Set<string>();
  probePorts.set(sshd, ports);
  ports.add(port);
  const logins = () => [...sshd.log().matchAll(/Accepted publickey for \S+ from \S+ port (\d+) /g)].map((login) => login[1]);
  await lab.waitFor(async () => logins().includes(port), 30_000, 'sshd to log the counting login');
  return logins().filter((login) => !ports.has(login)).length;
}
