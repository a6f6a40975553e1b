/**
 * A fake OpenWrt router for installer tests: a root directory with /etc/openwrt_release, stock
 * UCI configs, a procd rc.common stand-in and an ELF header standing in for /bin/busybox; a
 * PATH with busybox applets (as on the router), the shell under test as `sh`, and stand-ins for
 * the router-only tools; and a local HTTP mirror serving fixture builds, `.sha256` files and
 * the version index, which records every request.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Lab, must, projectRoot, run, CommandOutput } from '../lab/harness.js';
import { installerScript } from '../../src/openwrt/script.js';

export const standInsDir = join(projectRoot, 'test', 'openwrt', 'stand-ins');
const configFixtures = join(projectRoot, 'test', 'openwrt', 'fixtures', 'config');

export type ShellName = 'busybox' | 'dash';
export const shells: ShellName[] = ['busybox', 'dash'];

export interface FakeRouterOptions {
  /** DISTRIB_ARCH in /etc/openwrt_release; null leaves the line out, undefined uses aarch64_cortex-a53. */
  distribArch?: string | null;
  /** Quote style of /etc/openwrt_release (forks such as PandoraBox use double quotes). */
  releaseQuotes?: "'" | '"';
  /** No /etc/openwrt_release at all. */
  noRelease?: boolean;
  /** /etc/apk/arch content (OpenWrt 25.12+). */
  apkArch?: string;
  /** Byte order written into the ELF header of /bin/busybox. */
  elf?: 'le' | 'be';
  /** /sbin/fw4 present (firewall4, nftables). Default true. */
  fw4?: boolean;
  memAvailableKb?: number;
  /** Run the router's commands inside this lab namespace (to reach a mirror listening there). */
  namespace?: string;
  /**
   * 'busybox': the router's wget is Debian's real busybox wget, built without
   * FEATURE_WGET_TIMEOUT (it crashes on -T). Default: the uclient-fetch stand-in.
   */
  wget?: 'stand-in' | 'busybox';
}

/** Lays out the fake root; returns its path. */
export function makeFakeRoot(dir: string, options: FakeRouterOptions = {}): string {
  const root = join(dir, 'root');
  for (const sub of ['etc/config', 'etc/init.d', 'etc/rc.d', 'bin', 'sbin', 'usr/bin', 'proc', 'tmp', 'overlay']) mkdirSync(join(root, sub), { recursive: true });
  if (!options.noRelease) {
    const q = options.releaseQuotes ?? "'";
    const arch = options.distribArch === undefined ? 'aarch64_cortex-a53' : options.distribArch;
    const lines = [
      `DISTRIB_ID=${q}OpenWrt${q}`,
      `DISTRIB_RELEASE=${q}23.05.5${q}`,
      `DISTRIB_REVISION=${q}r24106-10cc5fcd00${q}`,
      `DISTRIB_TARGET=${q}mediatek/filogic${q}`,
      ...(arch === null ? [] : [`DISTRIB_ARCH=${q}${arch}${q}`]),
      `DISTRIB_DESCRIPTION=${q}OpenWrt 23.05.5 r24106-10cc5fcd00${q}`,
      `DISTRIB_TAINTS=${q}${q}`,
    ];
    writeFileSync(join(root, 'etc/openwrt_release'), `${lines.join('\n')}\n`);
  }
  if (options.apkArch) {
    mkdirSync(join(root, 'etc/apk'), { recursive: true });
    writeFileSync(join(root, 'etc/apk/arch'), `${options.apkArch}\n`);
  }
  for (const name of ['network', 'firewall', 'dhcp']) copyFileSync(join(configFixtures, name), join(root, 'etc/config', name));
  copyFileSync(join(standInsDir, 'rc.common'), join(root, 'etc/rc.common'));
  for (const service of ['network', 'firewall', 'dnsmasq']) {
    writeFileSync(join(root, 'etc/init.d', service), '#!/bin/sh /etc/rc.common\n# fake router: the stand-in rc.common only records what is asked of it\n', { mode: 0o755 });
  }
  writeFileSync(join(root, 'etc/sysupgrade.conf'), '## This file contains files and directories that should\n## be preserved during an upgrade.\n\n# /etc/example.conf\n');
  // An ELF header: magic, EI_CLASS 1 (32 bit), EI_DATA (1 little, 2 big endian), version.
  const elf = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, options.elf === 'be' ? 2 : 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  writeFileSync(join(root, 'bin/busybox'), elf, { mode: 0o755 });
  if (options.fw4 !== false) writeFileSync(join(root, 'sbin/fw4'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const available = options.memAvailableKb ?? 180_000;
  writeFileSync(join(root, 'proc/meminfo'), `MemTotal:         249000 kB\nMemFree:          ${available - 20_000} kB\nMemAvailable:     ${available} kB\nBuffers:            4000 kB\nCached:            30000 kB\n`);
  return root;
}

/**
 * Every file, directory and link under root with its mode and content digest, for before/after
 * comparisons. With `portable`, the root's own path inside files is replaced by <root>, so two
 * fake roots can be compared.
 */
export function treeOf(root: string, options: { portable?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const entry of readdirSync(dir).sort()) {
      const path = join(dir, entry);
      const relPath = rel ? `${rel}/${entry}` : entry;
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) out[relPath] = `link -> ${readlinkSync(path)}`;
      else if (stat.isDirectory()) {
        out[relPath] = `dir ${(stat.mode & 0o7777).toString(8)}`;
        walk(path, relPath);
      } else {
        const bytes = options.portable ? Buffer.from(readFileSync(path, 'latin1').split(root).join('<root>'), 'latin1') : readFileSync(path);
        out[relPath] = `file ${(stat.mode & 0o7777).toString(8)} ${createHash('sha256').update(bytes).digest('hex')}`;
      }
    }
  };
  walk(root, '');
  return out;
}

let appletsDir: string | undefined;
/** busybox's applets as symlinks, the tools a router has (built once per test process). */
async function busyboxApplets(): Promise<string> {
  if (appletsDir && existsSync(appletsDir)) return appletsDir;
  const dir = mkdtempSync(join(tmpdir(), 'netmend-applets-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await must('busybox', ['--install', '-s', dir]);
  appletsDir = dir;
  return dir;
}

export interface Router {
  root: string;
  shell: ShellName;
  /** The assembled installer script on disk. */
  script: string;
  env: NodeJS.ProcessEnv;
  /** Stand-in call log (uci, wget, rc.common). */
  standInLog: string;
  /** What the logger stand-in received. */
  syslog: string;
  /** What fixture binaries record when they run. */
  runLog: string;
  procdDir: string;
  /** Runs the installer with the shell under test. */
  install(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<CommandOutput>;
  /** Runs a file (launcher, rc.common) with the shell under test. */
  sh(file: string, args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<CommandOutput>;
  read(path: string): string;
  readLog(which: 'standInLog' | 'syslog' | 'runLog'): string;
}

/** iproute2's ip by absolute path: the router's PATH puts busybox's ip first. */
function hostIp(): string {
  return ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((path) => existsSync(path)) ?? 'ip';
}

export function shellCommand(shell: ShellName): [string, string[]] {
  return shell === 'busybox' ? ['busybox', ['sh']] : ['dash', []];
}

/** A fake router whose tools are busybox applets plus stand-ins, driven through `shell`. */
export async function fakeRouter(lab: Lab, shell: ShellName, options: FakeRouterOptions = {}): Promise<Router> {
  const dir = lab.tmpdir();
  const root = makeFakeRoot(dir, options);
  const shellDir = join(dir, 'shell');
  mkdirSync(shellDir);
  symlinkSync(shell === 'busybox' ? '/usr/bin/busybox' : '/usr/bin/dash', join(shellDir, 'sh'));
  // First in PATH, so it shadows the stand-in.
  if (options.wget === 'busybox') symlinkSync('/usr/bin/busybox', join(shellDir, 'wget'));
  const applets = await busyboxApplets();
  const script = join(dir, 'install.sh');
  writeFileSync(script, installerScript(), { mode: 0o755 });
  const procdDir = join(dir, 'procd');
  mkdirSync(procdDir);
  const work = join(dir, 'work');
  mkdirSync(work);
  const logs = { standInLog: join(dir, 'stand-ins.log'), syslog: join(dir, 'syslog'), runLog: join(dir, 'run.log') };
  for (const file of Object.values(logs)) writeFileSync(file, '');
  const env: NodeJS.ProcessEnv = {
    PATH: [shellDir, standInsDir, applets, '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'),
    HOME: work,
    TMPDIR: work,
    LANG: 'C',
    NETMEND_NODE: process.execPath,
    NETMEND_STANDIN_LOG: logs.standInLog,
    NETMEND_SYSLOG: logs.syslog,
    NETMEND_FIXTURE_RUNLOG: logs.runLog,
    NETMEND_PROCD_DIR: procdDir,
    NETMEND_UCI_SAVEDIR: join(dir, 'uci-staging'),
  };
  const [bareShell, bareArgs] = shellCommand(shell);
  const [shellFile, shellArgs]: [string, string[]] = options.namespace ? [hostIp(), ['netns', 'exec', options.namespace, bareShell, ...bareArgs]] : [bareShell, bareArgs];
  // Whatever a test started through the procd stand-in is stopped by the PIDs it recorded.
  lab.onCleanup(() => {
    for (const entry of readdirSync(procdDir)) {
      if (!entry.endsWith('.supervisor') && !entry.endsWith('.pid')) continue;
      const pid = Number(readFileSync(join(procdDir, entry), 'utf8').trim());
      if (pid > 1) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    }
  });
  const router: Router = {
    root,
    shell,
    script,
    env,
    ...logs,
    procdDir,
    install: (args, extraEnv = {}) => run(shellFile, [...shellArgs, script, '--root', root, ...args], { env: { ...env, ...extraEnv }, timeoutMs: 120_000 }),
    sh: (file, args, extraEnv = {}) => run(shellFile, [...shellArgs, file, ...args], { env: { ...env, ...extraEnv }, timeoutMs: 120_000 }),
    read: (path) => readFileSync(join(root, path), 'utf8'),
    readLog: (which) => readFileSync(logs[which], 'utf8'),
  };
  return router;
}

/**
 * The small shell scripts standing in for the tailscale binaries inside a fixture tarball. `build`
 * numbers the mirror's builds: two builds of one version differ in content, so in digest, even
 * when tar packs both within the same second (identical timestamps).
 */
function fixtureBinaries(version: string, arch: string, build: number): Record<string, string> {
  return {
    tailscaled: `#!/bin/sh
# fixture build ${build}
echo "tailscaled $$ fw=\${TS_DEBUG_FIREWALL_MODE:-unset} $*" >> "\${NETMEND_FIXTURE_RUNLOG:-/dev/null}"
echo "tailscaled fixture ${version} ${arch}: $*"
case " $* " in *" --cleanup "*|*" --version "*) exit 0 ;; esac
exec sleep 600
`,
    tailscale: `#!/bin/sh
# fixture build ${build}
echo "tailscale $$ $*" >> "\${NETMEND_FIXTURE_RUNLOG:-/dev/null}"
echo "tailscale fixture ${version} ${arch}: $*"
`,
  };
}

/** A local mirror laid out like pkgs.tailscale.com/stable, on 127.0.0.1. */
export class Mirror {
  readonly files = new Map<string, Buffer>();
  readonly requests: string[] = [];
  /** Files the mirror accepts requests for and never answers (until it goes down). */
  readonly stalled = new Set<string>();
  private builds = 0;
  private server: Server | undefined;
  port = 0;

  private constructor(private readonly dir: string) {}

  static async start(lab: Lab): Promise<Mirror> {
    const mirror = new Mirror(lab.tmpdir());
    await mirror.up();
    lab.onCleanup(() => mirror.down());
    return mirror;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/stable`;
  }

  /** Builds tailscale_<version>_<arch>.tgz and its .sha256 (wrongDigest: a .sha256 that does not match). */
  async addBuild(version: string, arch: string, options: { wrongDigest?: boolean } = {}): Promise<string> {
    const name = `tailscale_${version}_${arch}`;
    const build = ++this.builds;
    const buildDir = join(this.dir, `${name}-${build}`);
    mkdirSync(join(buildDir, name, 'systemd'), { recursive: true });
    for (const [binary, text] of Object.entries(fixtureBinaries(version, arch, build))) {
      writeFileSync(join(buildDir, name, binary), text);
      chmodSync(join(buildDir, name, binary), 0o755);
    }
    writeFileSync(join(buildDir, name, 'systemd', 'tailscaled.service'), '[Service]\nExecStart=/usr/sbin/tailscaled\n');
    const tarball = join(buildDir, `${name}.tgz`);
    await must('tar', ['-czf', tarball, '-C', buildDir, name]);
    const bytes = readFileSync(tarball);
    const digest = createHash('sha256').update(bytes).digest('hex');
    this.files.set(`${name}.tgz`, bytes);
    const published = options.wrongDigest ? createHash('sha256').update('something else').digest('hex') : digest;
    this.files.set(`${name}.tgz.sha256`, Buffer.from(`${published}\n`));
    return digest;
  }

  /** The JSON version index (`?mode=json`), per-arch tarball names as pkgs.tailscale.com lists them. */
  setIndex(tarballs: Record<string, string>, version: string): void {
    this.files.set('?mode=json', Buffer.from(JSON.stringify({ TarballsVersion: version, Version: version, Tarballs: tarballs })));
  }

  requestsFor(suffix: string): number {
    return this.requests.filter((r) => r.endsWith(suffix)).length;
  }

  /**
   * Serves the mirror's current files from inside a lab namespace with busybox httpd (which
   * ignores the query string: `?mode=json` is served stable/index.html). Returns the base URL.
   */
  async serveInNamespace(lab: Lab, ns: string, port = 8080): Promise<string> {
    const www = lab.tmpdir();
    mkdirSync(join(www, 'stable'));
    for (const [name, bytes] of this.files) writeFileSync(join(www, 'stable', name === '?mode=json' ? 'index.html' : name), bytes);
    lab.spawn(ns, 'busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', www]);
    const url = `http://127.0.0.1:${port}/stable`;
    await lab.waitFor(async () => (await lab.exec(ns, 'bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`])).code === 0, 10_000, `busybox httpd on ${port}`);
    return url;
  }

  async up(): Promise<void> {
    const server = createServer((request, response) => {
      const url = request.url ?? '/';
      this.requests.push(url);
      const key = url.startsWith('/stable/') ? url.slice('/stable/'.length) : undefined;
      if (key !== undefined && this.stalled.has(key)) return;
      const body = key === undefined ? undefined : this.files.get(key);
      if (!body) {
        response.writeHead(404).end('not found\n');
        return;
      }
      response.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
