/**
 * The DNS gatherer: every read and every query the dns.* checks need, done once. Files are read
 * under --root; sockets, processes and queries are the live host's (this network namespace).
 * Files that do not parse are bad input (exit 2): the checks would otherwise reason about
 * a configuration the resolver itself rejects. Resolver files that cannot be read at all (a
 * dangling symlink in a conf-dir), or that lead outside --root, are kept as evidence instead
 * (dns.resolver-config): they are the finding, not a reason to stop.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { InputError } from '../../errors.js';
import { answerAddresses, queryDns, type DnsQueryResult } from '../../dns/client.js';
import { dnsmasqOptionsFromArgv, parseDnsmasqConf, type DnsmasqOption } from '../../dns/dnsmasq.js';
import { openwrtDnsState, parseUci, type OpenwrtDnsState } from '../../dns/openwrt-dhcp.js';
import { findResolverProcesses, type ResolverProcess } from '../../dns/processes.js';
import { classifyResolvOwner, isLoopback, isMeshResolver, parseResolvConf, type ResolvConf, type ResolvFileFacts, type ResolvOwner } from '../../dns/resolv-conf.js';
import { parseUnboundConf, type UnboundEntry, type UnboundIncluder, type UnboundZone } from '../../dns/unbound.js';
import { localRunner, type CommandRunner } from '../../system/exec.js';
import { outsideRootReason, underRoot, unsafePathReason } from '../../system/root-path.js';
import { readState } from '../../snapshot/load.js';
import type { Snapshot } from '../../snapshot/types.js';
import { isMeshLink } from '../analysis.js';
import { decide, describeDecision } from '../simulate.js';

export const DNS_PATHS = {
  resolvConf: '/etc/resolv.conf',
  meshBackup: '/etc/resolv.pre-tailscale-backup.conf',
  dnsmasqConf: '/etc/dnsmasq.conf',
  dnsmasqDir: '/etc/dnsmasq.d',
  unboundConf: '/etc/unbound/unbound.conf',
  openwrtDhcp: '/etc/config/dhcp',
  openwrtRelease: '/etc/openwrt_release',
  networkdDir: '/etc/systemd/network',
  resolvedDir: '/etc/systemd/resolved.conf.d',
} as const;

export interface DnsGatherOptions {
  root: string;
  domains: string[];
  /** Mesh resolvers to probe (100.100.100.100, and the IPv6 one when configured). */
  servers: string[];
  names: string[];
  timeoutMs: number;
  runner?: CommandRunner;
  /** This host's routing state; read from the kernel when not given. */
  snapshot?: Snapshot;
}

export interface DnsmasqFacts {
  files: string[];
  options: DnsmasqOption[];
  /** Files and conf-dirs it reads that netmend could not. */
  unread: UnreadConfig[];
}

export interface UnboundFacts {
  files: string[];
  zones: UnboundZone[];
  unread: UnreadConfig[];
}

export interface SplitProbe {
  name: string;
  type: 'A' | 'AAAA';
  direct: DnsQueryResult;
  viaSystem?: DnsQueryResult;
}

export interface DnsFacts {
  root: string;
  domains: string[];
  servers: string[];
  resolvFile: ResolvFileFacts;
  resolv?: ResolvConf;
  /** The mesh daemon's backup of the file it replaced, parsed. */
  backup?: ResolvConf;
  owner: ResolvOwner;
  processes: ResolverProcess[];
  dnsmasq?: DnsmasqFacts;
  unbound?: UnboundFacts;
  openwrt?: { file: string; state: OpenwrtDnsState };
  /** The resolver programs running on this host's loopback (what resolv.conf could point at). */
  localResolvers: string[];
  /** Resolver programs with a configuration here that are not running. */
  configuredResolvers: string[];
  /** Per mesh server: the answer to a mesh name (or the domain itself), over UDP and TCP. */
  meshProbes: DnsQueryResult[];
  /** Mesh resolvers not asked because the kernel would send the query out of a non-mesh link. */
  unroutedServers: Array<{ server: string; via: string }>;
  /** Mesh names used for the split checks and where they came from. */
  names: string[];
  nameSource: 'flag' | 'tailscale' | 'none';
  /** The tailnet's own domain (MagicDNSSuffix), when known. */
  tailnetDomain?: string;
  /** The first nameserver of resolv.conf: what applications ask. */
  systemResolver?: string;
  splitProbes: SplitProbe[];
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new InputError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function rooted(root: string, path: string): string {
  return root && root !== '/' ? join(root, path) : path;
}

export function readResolvFile(root: string): { file: ResolvFileFacts; parsed?: ResolvConf; backup?: ResolvConf } {
  const path = rooted(root, DNS_PATHS.resolvConf);
  const file: ResolvFileFacts = { path, exists: false };
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) file.symlinkTarget = readlinkSync(path);
    file.exists = true;
  } catch { /* missing */ }
  // A dangling symlink (resolved not running, or --root without /run) still names its owner.
  const text = file.exists ? readIfExists(path) : undefined;
  if (text !== undefined) file.text = text;
  const backupPath = rooted(root, DNS_PATHS.meshBackup);
  const backupText = readIfExists(backupPath);
  if (backupText !== undefined) file.meshBackupPath = backupPath;
  return {
    file,
    parsed: text === undefined ? undefined : parseResolvConf(text, path),
    backup: backupText === undefined ? undefined : parseResolvConf(backupText, backupPath),
  };
}

/**
 * A configuration file (or conf-dir) the resolver reads that netmend did not: evidence for the
 * doctor (dns.resolver-config), never a crash. `resolverFails`: the resolver itself cannot read
 * it either (dnsmasq: "cannot access", unbound: "cannot open include file"), so it refuses to
 * start; false when only netmend's view under --root cannot follow it.
 */
export interface UnreadConfig {
  path: string;
  reason: string;
  resolverFails: boolean;
}

type ConfRead = { text: string } | { unread: UnreadConfig } | { ignored: true };

/**
 * Reads one configuration file of the resolver, inside --root only (the same rule the fixes
 * follow for what they write). Only regular files are read, as dnsmasq skips anything else in a
 * conf-dir (and a FIFO would block the read); anything else that cannot be read is reported.
 */
function readConfigFile(root: string, path: string): ConfRead {
  const shown = underRoot(root, path);
  const outside = outsideRootReason(root, path, { final: true });
  if (outside) return { unread: { path: shown, reason: `not read: ${outside}`, resolverFails: false } };
  let link: string | undefined;
  try {
    if (lstatSync(shown).isSymbolicLink()) link = readlinkSync(shown);
  } catch { /* raced away: reported by the read below */ }
  try {
    if (!statSync(shown).isFile()) return { ignored: true };
    return { text: readFileSync(shown, 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    if (link !== undefined && code === 'ENOENT') {
      // Under --root an absolute link names a file of the target system, not of this machine.
      if (root && isAbsolute(link)) return { unread: { path: shown, reason: `not read: a symlink to ${link}, which netmend does not follow under --root`, resolverFails: false } };
      return { unread: { path: shown, reason: `dangling symlink to ${link}`, resolverFails: true } };
    }
    return { unread: { path: shown, reason: `cannot be read (${code})`, resolverFails: true } };
  }
}

/** The `*.conf` files of a configuration directory (target paths), or why the directory is not read. */
function confDirFiles(root: string, dir: string): { files: string[] } | { unread: UnreadConfig } {
  const outside = outsideRootReason(root, dir, { final: true });
  if (outside) return { unread: { path: underRoot(root, dir), reason: `not read: ${outside}`, resolverFails: false } };
  try {
    const names = readdirSync(underRoot(root, dir)).filter((name) => name.endsWith('.conf') && !name.startsWith('.')).sort();
    return { files: names.map((name) => `${dir}/${name}`) };
  } catch {
    return { files: [] };
  }
}

/** Reads every file of a list of conf-dirs into `parse`, collecting what could not be read. */
function readConfDirs(root: string, dirs: string[], parse: (text: string, shown: string) => void, files: string[], unread: UnreadConfig[]): void {
  for (const dir of dirs) {
    const listed = confDirFiles(root, dir);
    if ('unread' in listed) {
      unread.push(listed.unread);
      continue;
    }
    for (const file of listed.files) {
      const read = readConfigFile(root, file);
      if ('unread' in read) unread.push(read.unread);
      else if ('text' in read) {
        files.push(underRoot(root, file));
        parse(read.text, underRoot(root, file));
      }
    }
  }
}

/** The main configuration file: its text, undefined when absent (the resolver runs without it). */
function readMainConfig(root: string, path: string, unread: UnreadConfig[]): string | undefined {
  const outside = outsideRootReason(root, path, { final: true });
  if (outside) {
    unread.push({ path: underRoot(root, path), reason: `not read: ${outside}`, resolverFails: false });
    return undefined;
  }
  return readIfExists(underRoot(root, path));
}

export function readDnsmasqConfig(root: string, running: ResolverProcess[]): DnsmasqFacts | undefined {
  const files: string[] = [];
  const options: DnsmasqOption[] = [];
  const unread: UnreadConfig[] = [];
  const main = underRoot(root, DNS_PATHS.dnsmasqConf);
  const mainText = readMainConfig(root, DNS_PATHS.dnsmasqConf, unread);
  const dirs = new Set<string>([DNS_PATHS.dnsmasqDir]);
  if (mainText !== undefined) {
    files.push(main);
    const parsed = parseDnsmasqConf(mainText, main);
    options.push(...parsed);
    for (const option of parsed.filter((o) => o.name === 'conf-dir' && o.value)) {
      const dir = option.value!.split(',')[0].replace(/(.)\/+$/, '$1');
      const unsafe = unsafePathReason(dir);
      if (unsafe) unread.push({ path: underRoot(root, dir), reason: `${option.where}: conf-dir not read: ${unsafe}`, resolverFails: false });
      else dirs.add(dir);
    }
  }
  readConfDirs(root, [...dirs], (text, shown) => options.push(...parseDnsmasqConf(text, shown)), files, unread);
  // Options on a running dnsmasq's command line (as Debian's unit and the lab pass them).
  for (const process of running.filter((p) => p.name === 'dnsmasq' && p.listening.some((socket) => isLoopback(socket.replace(/^\[|\].*$|:53\/.*$/g, ''))))) {
    options.push(...dnsmasqOptionsFromArgv(process.argv, `dnsmasq pid ${process.pid} command line`));
  }
  if (files.length === 0 && options.length === 0 && unread.length === 0) return undefined;
  return { files, options, unread };
}

/** glob(3) special characters: an include path with one of them is a pattern. */
const GLOB_CHARS = /[*?[]/;

/** One glob(3) path component as a regular expression (a leading dot is matched only by a dot). */
function globComponent(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    const close = char === '[' ? pattern.indexOf(']', i + 2) : -1;
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (close > 0) {
      const set = pattern.slice(i + 1, close);
      source += `[${set.startsWith('!') ? `^${set.slice(1)}` : set.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else source += char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${pattern.startsWith('.') ? '' : '(?!\\.)'}${source}$`);
}

/**
 * The files an unbound include names, as target paths, in the order unbound reads them (glob(3)
 * sorts; a pattern matching nothing is no error), or why it is not followed. A path that already
 * starts with --root names the file under it (a resolver run on this machine from the root's
 * files, as unbound strips its chroot from include paths). Directories that lead outside --root
 * are not listed.
 */
function unboundIncludeFiles(root: string, entry: UnboundEntry): { files: string[] } | { unread: UnreadConfig } {
  const prefix = root && root !== '/' ? root.replace(/\/+$/, '') : '';
  const path = prefix && entry.value.startsWith(`${prefix}/`) ? entry.value.slice(prefix.length) : entry.value;
  if (!path.startsWith('/')) return { unread: { path: entry.value, reason: `${entry.where}: not read: a relative include, which unbound opens from the directory it was started in`, resolverFails: false } };
  if (!GLOB_CHARS.test(path)) return { files: [path] };
  let matches = [''];
  for (const component of path.split('/').slice(1)) {
    if (!GLOB_CHARS.test(component)) {
      matches = matches.map((dir) => `${dir}/${component}`);
      continue;
    }
    const regex = globComponent(component);
    const next: string[] = [];
    for (const dir of matches) {
      const outside = outsideRootReason(root, dir || '/', { final: true });
      if (outside) return { unread: { path: underRoot(root, dir || '/'), reason: `${entry.where}: include not followed: ${outside}`, resolverFails: false } };
      try {
        next.push(...readdirSync(underRoot(root, dir || '/')).filter((name) => regex.test(name)).map((name) => `${dir}/${name}`));
      } catch { /* not a directory, or missing: no match */ }
    }
    matches = next;
  }
  // lstat: a dangling symlink matches too (glob(3) lists it; unbound then cannot open it).
  return { files: matches.filter((file) => lstatSync(underRoot(root, file), { throwIfNoEntry: false }) !== undefined).sort() };
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * unbound.conf and every file it includes, as unbound reads them (`include:` and
 * `include-toplevel:`, with glob patterns), under --root only. A file that includes itself, directly
 * or through others, is reported instead of read again: unbound fails on it ("Too many open files").
 */
export function readUnboundConfig(root: string): UnboundFacts | undefined {
  const files: string[] = [];
  const unread: UnreadConfig[] = [];
  const main = underRoot(root, DNS_PATHS.unboundConf);
  const mainText = readMainConfig(root, DNS_PATHS.unboundConf, unread);
  if (mainText === undefined) return unread.length === 0 ? undefined : { files, zones: [], unread };
  files.push(main);
  const include: UnboundIncluder = function* (entry, reading) {
    const named = unboundIncludeFiles(root, entry);
    if ('unread' in named) {
      unread.push(named.unread);
      return;
    }
    for (const file of named.files) {
      const shown = underRoot(root, file);
      if (reading.some((open) => realPath(open) === realPath(shown))) {
        unread.push({ path: shown, reason: `${entry.where}: includes ${shown}, which is already being read (an include loop: unbound fails with "Too many open files")`, resolverFails: true });
        continue;
      }
      const read = readConfigFile(root, file);
      if ('unread' in read) unread.push(read.unread);
      else if ('text' in read) {
        if (!files.includes(shown)) files.push(shown);
        yield { text: read.text, file: shown };
      }
    }
  };
  const zones = parseUnboundConf(mainText, main, include);
  return { files, zones, unread };
}

async function tailscaleStatus(runner: CommandRunner): Promise<{ selfName?: string; suffix?: string } | undefined> {
  try {
    const result = await runner.run('tailscale', ['status', '--json'], { allowFailure: true, timeoutMs: 5000 });
    if (result.exitCode !== 0) return undefined;
    const status = JSON.parse(result.stdout) as { Self?: { DNSName?: string }; MagicDNSSuffix?: string };
    return { selfName: status.Self?.DNSName?.replace(/\.$/, ''), suffix: status.MagicDNSSuffix };
  } catch {
    return undefined; // no tailscale CLI: the user gives --name
  }
}

function tailnetOf(name: string, domains: string[]): string | undefined {
  const labels = name.split('.');
  if (labels.length < 2) return undefined;
  const parent = labels.slice(1).join('.');
  return domains.some((domain) => parent === domain || parent.endsWith(`.${domain}`)) ? parent : undefined;
}

export async function gatherDns(options: DnsGatherOptions): Promise<DnsFacts> {
  const { root, domains, timeoutMs } = options;
  const runner = options.runner ?? localRunner;
  const processes = findResolverProcesses();
  const resolv = readResolvFile(root);
  // The mesh's IPv6 resolver is probed too when the host was configured with it.
  const configured = [...(resolv.parsed?.nameservers ?? []), ...(resolv.backup?.nameservers ?? [])].filter(isMeshResolver);
  const servers = [...new Set([...options.servers, ...configured.filter((server) => server.includes(':'))])];
  const owner = classifyResolvOwner(resolv.file, resolv.parsed, processes);
  const dnsmasq = readDnsmasqConfig(root, processes);
  const unbound = readUnboundConfig(root);
  let openwrt: DnsFacts['openwrt'];
  const dhcpPath = rooted(root, DNS_PATHS.openwrtDhcp);
  const dhcpText = readIfExists(dhcpPath);
  if (dhcpText !== undefined) openwrt = { file: dhcpPath, state: openwrtDnsState(parseUci(dhcpText, dhcpPath), domains, servers[0]) };

  const localResolvers = new Set<string>();
  for (const process of processes) {
    if (process.listening.some((socket) => /^(127\.|\[::1\])/.test(socket))) localResolvers.add(process.name === 'systemd-resolve' ? 'systemd-resolved' : process.name);
  }
  const configuredResolvers = new Set<string>();
  if ((dnsmasq?.files.length || openwrt?.state.section) && !localResolvers.has('dnsmasq')) configuredResolvers.add('dnsmasq');
  if (unbound && !localResolvers.has('unbound')) configuredResolvers.add('unbound');

  let names = options.names;
  let nameSource: DnsFacts['nameSource'] = names.length ? 'flag' : 'none';
  let tailnetDomain: string | undefined;
  if (names.length === 0) {
    const status = await tailscaleStatus(runner);
    if (status?.selfName) {
      names = [status.selfName];
      nameSource = 'tailscale';
    }
    tailnetDomain = status?.suffix;
  }
  tailnetDomain ??= names.map((name) => tailnetOf(name, domains)).find((domain) => domain !== undefined);

  const probeName = names[0] ?? domains[0];
  const { asked, unroutedServers } = splitByRoute(servers, options.snapshot ?? await readState({}));
  const meshProbes: DnsQueryResult[] = [];
  await Promise.all(asked.flatMap((server) => (['udp', 'tcp'] as const).map(async (transport) => {
    meshProbes.push(await queryDns({ server, name: probeName, type: 'A', transport, timeoutMs }));
  })));
  meshProbes.sort((a, b) => servers.indexOf(a.server) - servers.indexOf(b.server) || a.transport.localeCompare(b.transport));

  // A stub symlink that dangles under --root still means "ask resolved on 127.0.0.53".
  const stub = owner.kind === 'systemd-resolved' && !resolv.parsed ? '127.0.0.53' : undefined;
  const systemResolver = resolv.parsed?.nameservers[0]?.replace(/%.*$/, '') ?? stub;
  const splitProbes: SplitProbe[] = [];
  for (const name of asked.length ? names : []) {
    for (const type of ['A', 'AAAA'] as const) {
      const direct = await queryDns({ server: asked[0], name, type, timeoutMs });
      const viaSystem = systemResolver && !isMeshResolver(systemResolver) ? await queryDns({ server: systemResolver, name, type, timeoutMs }) : undefined;
      splitProbes.push({ name, type, direct, viaSystem });
    }
  }

  return {
    root, domains, servers,
    resolvFile: resolv.file, resolv: resolv.parsed, backup: resolv.backup, owner, processes,
    dnsmasq, unbound, openwrt,
    localResolvers: [...localResolvers].sort(),
    configuredResolvers: [...configuredResolvers].sort(),
    meshProbes, unroutedServers, names, nameSource, tailnetDomain, systemResolver, splitProbes,
  };
}

/**
 * A mesh resolver is asked only when the kernel would deliver the query into a mesh tunnel or to
 * this host itself (or refuse it outright: no packet leaves). 100.100.100.100 routed out of the
 * LAN or WAN link means there is no mesh to ask, and a query there would go to a stranger.
 */
function splitByRoute(servers: string[], snapshot: Snapshot): { asked: string[]; unroutedServers: Array<{ server: string; via: string }> } {
  const meshLinks = new Set(snapshot.links.filter((link) => isMeshLink(link, [])).map((link) => link.name));
  const asked: string[] = [];
  const unroutedServers: Array<{ server: string; via: string }> = [];
  for (const server of servers) {
    const decision = decide(snapshot, { destination: server.replace(/%.*$/, '') });
    const { type, dev } = decision.result;
    if (type === 'local' || type === 'error' || (dev !== undefined && (meshLinks.has(dev) || dev === 'lo'))) asked.push(server);
    else unroutedServers.push({ server, via: describeDecision(decision) });
  }
  return { asked, unroutedServers };
}

/** True when the OpenWrt release file exists under root. */
export function isOpenwrt(root: string): boolean {
  return existsSync(rooted(root, DNS_PATHS.openwrtRelease));
}

export { answerAddresses };

/** The DNS facts of a host state, or why they are missing (for a skip). */
export function dnsFactsOf(state: { facts: Record<string, unknown>; gatherErrors: Record<string, string> }): DnsFacts | string {
  const facts = state.facts.dns as DnsFacts | undefined;
  return facts ?? state.gatherErrors.dns ?? 'DNS facts were not gathered';
}

/** The fix command for a DNS finding, with the user's domains when they are not the default. */
export function fixDnsCommand(facts: DnsFacts, extra = ''): string {
  const domains = facts.domains.length === 1 && facts.domains[0] === 'ts.net' ? '' : facts.domains.map((d) => ` --domain ${d}`).join('');
  return `netmend fix dns${domains}${facts.root ? ` --root ${facts.root}` : ''}${extra}`;
}

export const DNS_GATHERER = 'dns';

/**
 * The gatherer as `netmend doctor` (every topic) runs it: default mesh domain and resolver, the
 * mesh name from the tailscale CLI. Queries go out from this host, so only a local run can.
 */
export async function gatherDnsInto(state: { facts: Record<string, unknown>; snapshot: Snapshot }, context: { runner?: CommandRunner; root: string }): Promise<void> {
  if (!context.runner || context.runner.where !== 'local') throw new Error('the DNS checks query resolvers from this host: run `netmend doctor dns` on it');
  state.facts[DNS_GATHERER] = await gatherDns({ root: context.root === '/' ? '' : context.root, domains: ['ts.net'], servers: ['100.100.100.100'], names: [], timeoutMs: 2000, runner: context.runner, snapshot: state.snapshot });
}
