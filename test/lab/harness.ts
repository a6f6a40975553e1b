/**
 * The lab: real network namespaces, veth pairs, TUN devices held open and tailscaled-style
 * policy routing, built per test with unique names and torn down even when the test fails.
 * Nothing here touches the host's own interfaces, rules, /etc or /run.
 */
import { ChildProcess, execFile, execFileSync, spawn, type StdioOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';

const execFileAsync = promisify(execFile);

export const projectRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const netmendBin = join(projectRoot, 'bin', 'run.js');

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Skip reason for lab tests on a machine where they cannot run (not root, no netns support). */
export function labUnavailable(): string | undefined {
  if (!isRoot()) return 'lab tests need root (network namespaces)';
  if (!existsSync('/usr/sbin/ip') && !existsSync('/sbin/ip') && !existsSync('/usr/bin/ip')) return 'iproute2 is not installed';
  return undefined;
}

let counter = 0;
/** A name unique on this machine among concurrently running tests: process id plus a counter. */
export function uniqueName(prefix: string, maxLength = 15): string {
  counter += 1;
  const name = `${prefix}${(process.pid % 100000).toString(36)}${counter.toString(36)}`;
  if (name.length > maxLength) throw new Error(`lab name ${name} is longer than ${maxLength}`);
  return name;
}

export interface CommandOutput {
  stdout: string;
  stderr: string;
  code: number;
}

export async function run(file: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CommandOutput> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env: options.env ?? process.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 512 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ stdout: String(stdout), stderr: String(stderr), code });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Run a command and throw with its stderr when it fails. */
export async function must(file: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const result = await run(file, args, options);
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}

let tunHolderPath: string | undefined;
function tunHolder(): string {
  if (tunHolderPath) return tunHolderPath;
  const dir = join(tmpdir(), 'netmend-lab-tools');
  mkdirSync(dir, { recursive: true });
  const target = join(dir, 'tun-holder');
  if (!existsSync(target)) {
    const partial = `${target}.${process.pid}`;
    execFileSync('cc', ['-O2', '-o', partial, join(projectRoot, 'test', 'lab', 'tun-holder.c')]);
    renameSync(partial, target);
  }
  tunHolderPath = target;
  return target;
}

/** One end of Lab.linkedPair: its namespace label, interface name prefix and addresses (with prefix length). */
export interface PairEnd {
  label: string;
  ifPrefix: string;
  addresses?: string[];
}

export interface LinkedPair {
  host: string;
  peer: string;
  hostIf: string;
  peerIf: string;
}

export interface NatPath {
  client: string;
  /** The client's interface toward the router. */
  clientIf: string;
  router: string;
  server: string;
  /** The router's outside interface, where a test puts its NAT rule. */
  outside: string;
}

export class Lab {
  readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly dirs: string[] = [];
  private readonly cleanups: Array<() => Promise<void> | void> = [];

  /** A new lab whose teardown is registered on the test context (runs even when the test fails). */
  static forTest(t: TestContext): Lab {
    const lab = new Lab();
    t.after(() => lab.destroy());
    return lab;
  }

  /** A namespace with lo up, forwarding off, as a fresh host would be. */
  async netns(label = 'h'): Promise<string> {
    const name = uniqueName(`nm${label}`, 30);
    await must('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** `ip -n NS ARGS...` */
  ip(ns: string, ...args: string[]): Promise<string> {
    return must('ip', ['-n', ns, ...args]);
  }

  /** Run a command inside a namespace, returning its output whatever the exit code. */
  exec(ns: string, file: string, args: string[] = [], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CommandOutput> {
    return run('ip', ['netns', 'exec', ns, file, ...args], options);
  }

  /** `ip -batch` inside a namespace: many route or rule commands at once. */
  async batch(ns: string, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const dir = this.tmpdir();
    const file = join(dir, `batch-${uniqueName('b', 30)}`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, `${lines.join('\n')}\n`);
    await must('ip', ['-n', ns, '-batch', file]);
  }

  /** A veth pair created directly inside the two namespaces, so no name ever lives on the host. */
  async veth(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
    await must('ip', ['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    await this.ip(nsA, 'link', 'set', ifA, 'up');
    await this.ip(nsB, 'link', 'set', ifB, 'up');
  }

  /**
   * A host namespace and its neighbour (a LAN peer, an ISP) joined by a veth: each end gets its
   * addresses (IPv6 ones without duplicate address detection), and the host a default route via
   * `gateway` when given. Interface names are unique names made from the ends' prefixes.
   */
  async linkedPair(host: PairEnd, peer: PairEnd, options: { gateway?: string } = {}): Promise<LinkedPair> {
    const pair = { host: await this.netns(host.label), peer: await this.netns(peer.label), hostIf: uniqueName(host.ifPrefix), peerIf: uniqueName(peer.ifPrefix) };
    await this.veth(pair.host, pair.hostIf, pair.peer, pair.peerIf);
    for (const [ns, dev, addresses] of [[pair.host, pair.hostIf, host.addresses], [pair.peer, pair.peerIf, peer.addresses]] as const) {
      for (const address of addresses ?? []) {
        if (address.includes(':')) await this.ip(ns, '-6', 'addr', 'add', address, 'dev', dev, 'nodad');
        else await this.ip(ns, 'addr', 'add', address, 'dev', dev);
      }
    }
    if (options.gateway) await this.ip(pair.host, 'route', 'add', 'default', 'via', options.gateway, 'dev', pair.hostIf);
    return pair;
  }

  /**
   * A client behind a forwarding router, and a server outside it: client -> router (`routerInside`
   * | 198.51.100.1 on `outside`) -> server (`servers`, in 198.51.100.0/24). No NAT rule: each test
   * sets its own on `outside`. The router forgets idle UDP mappings after `udpTimeoutSeconds`
   * (real routers: 30-180 s), so a test meets fresh flows soon after changing the NAT.
   */
  async natPath(labels: [string, string, string], options: { client: string; routerInside: string; servers: string[]; udpTimeoutSeconds: number }): Promise<NatPath> {
    const inside = await this.linkedPair(
      { label: labels[0], ifPrefix: 'nmci', addresses: [options.client] },
      { label: labels[1], ifPrefix: 'nmri', addresses: [options.routerInside] },
      { gateway: options.routerInside.replace(/\/\d+$/, '') },
    );
    const server = await this.netns(labels[2]);
    const outside = uniqueName('nmro');
    const serverIf = uniqueName('nmso');
    await this.veth(inside.peer, outside, server, serverIf);
    await this.ip(inside.peer, 'addr', 'add', '198.51.100.1/24', 'dev', outside);
    for (const address of options.servers) await this.ip(server, 'addr', 'add', address, 'dev', serverIf);
    await this.exec(inside.peer, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const timeout = String(options.udpTimeoutSeconds);
    await this.exec(inside.peer, 'sysctl', ['-qw', `net.netfilter.nf_conntrack_udp_timeout=${timeout}`, `net.netfilter.nf_conntrack_udp_timeout_stream=${timeout}`]);
    return { client: inside.host, clientIf: inside.hostIf, router: inside.peer, server, outside };
  }

  /**
   * A TUN device held open by a process, as tailscaled holds tailscale0: it gets carrier, and
   * the kernel adds its fe80 address and `fe80::/64` route. Resolves once the device exists.
   */
  async tun(ns: string, name: string, options: { mtu?: number; addresses?: string[] } = {}): Promise<ChildProcess> {
    const child = this.spawn(ns, tunHolder(), [name]);
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout?.on('data', (chunk) => {
        output += String(chunk);
        if (output.includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`tun-holder ${name} exited with ${code}`)));
    });
    await this.ip(ns, 'link', 'set', name, 'mtu', String(options.mtu ?? 1280), 'up');
    for (const address of options.addresses ?? []) await this.ip(ns, 'addr', 'add', address, 'dev', name);
    return child;
  }

  /** Wait until `ip -6 route show` in the namespace lists a fe80::/64 route on dev. */
  async waitForLinkLocalRoute(ns: string, dev: string, timeoutMs = 5000): Promise<void> {
    await this.waitFor(async () => (await this.ip(ns, '-6', 'route', 'show', 'table', 'main', 'dev', dev)).includes('fe80::/64'), timeoutMs, `fe80::/64 on ${dev}`);
  }

  async waitFor(predicate: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await predicate()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  /**
   * The rules tailscaled installs on Linux (base 5200; 1300 under mwan3), for IPv4 and IPv6,
   * and optionally routes in its table 52.
   */
  async tailscaleRules(ns: string, options: { base?: number; families?: Array<4 | 6>; table?: number } = {}): Promise<void> {
    const base = options.base ?? 5200;
    const table = String(options.table ?? 52);
    for (const family of options.families ?? [4, 6]) {
      const f = `-${family}`;
      await this.ip(ns, f, 'rule', 'add', 'pref', String(base + 10), 'fwmark', '0x80000/0xff0000', 'lookup', 'main');
      await this.ip(ns, f, 'rule', 'add', 'pref', String(base + 30), 'fwmark', '0x80000/0xff0000', 'lookup', 'default');
      await this.ip(ns, f, 'rule', 'add', 'pref', String(base + 50), 'fwmark', '0x80000/0xff0000', 'unreachable');
      await this.ip(ns, f, 'rule', 'add', 'pref', String(base + 70), 'lookup', table);
    }
  }

  /**
   * A background process inside a namespace, stopped by its PID at teardown. `ip netns exec`
   * keeps extra stdio entries open (e.g. a fourth pipe as a private message channel on fd 3).
   */
  spawn(ns: string, file: string, args: string[], options: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, file, ...args], { env: options.env ?? process.env, stdio: options.stdio ?? 'pipe' });
    this.children.push(child);
    return child;
  }

  /** A temporary directory removed at teardown. */
  tmpdir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'netmend-lab-'));
    this.dirs.push(dir);
    return dir;
  }

  /** Extra teardown work, run before namespaces are deleted (last registered runs first). */
  onCleanup(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  /** netmend itself, run inside a namespace (or on the host when ns is undefined). */
  netmend(ns: string | undefined, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CommandOutput> {
    const env = { ...process.env, NO_COLOR: '1', ...options.env };
    if (ns === undefined) return run(process.execPath, [netmendBin, ...args], { ...options, env });
    return run('ip', ['netns', 'exec', ns, process.execPath, netmendBin, ...args], { ...options, env });
  }

  async destroy(): Promise<void> {
    for (const fn of this.cleanups.reverse()) {
      try { await fn(); } catch { /* keep tearing down */ }
    }
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 2000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    }
    for (const ns of this.namespaces) await run('ip', ['netns', 'del', ns]);
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** A namespace like a host without any mesh: one LAN link carrying the default route to a gateway namespace. */
export async function hostWithoutMesh(lab: Lab, label = 'nm'): Promise<string> {
  const ns = await lab.netns(label);
  const gateway = await lab.netns(`${label}g`);
  await lab.veth(ns, 'lan0', gateway, 'uplink0');
  await lab.batch(ns, ['addr add 192.0.2.10/24 dev lan0', 'route add default via 192.0.2.1']);
  return ns;
}

/** Run netmend outside any namespace (file-based tests: --snapshot, --root). */
export function netmend(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CommandOutput> {
  return run(process.execPath, [netmendBin, ...args], { ...options, env: { ...process.env, NO_COLOR: '1', ...options.env } });
}

export { execFileAsync };

const MESH_TOOLS = new Set(['tailscale', 'tailscaled', 'wg', 'wg-quick', 'wireguard-go']);

/** A PATH with every program of this machine except the mesh tools (removed when the test ends). */
export function pathWithoutMeshTools(t: TestContext): string {
  const bin = mkdtempSync(join(tmpdir(), 'netmend-nomesh-bin-'));
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  const seen = new Set<string>();
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    let names: string[];
    try { names = readdirSync(dir); } catch { continue; }
    for (const name of names) {
      if (MESH_TOOLS.has(name) || seen.has(name)) continue;
      seen.add(name);
      symlinkSync(join(dir, name), join(bin, name));
    }
  }
  return bin;
}
