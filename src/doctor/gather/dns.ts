/**
 * The DNS gatherer: every read and every query the dns.* checks need, done once. Files are read
 * under --root; sockets, processes and queries are the live host's (this network namespace).
 * Files that do not parse are bad input (exit 2): the checks would otherwise reason about
 * a configuration the resolver itself rejects.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../errors.js';
import { answerAddresses, queryDns, type DnsQueryResult } from '../../dns/client.js';
import { dnsmasqOptionsFromArgv, parseDnsmasqConf, type DnsmasqOption } from '../../dns/dnsmasq.js';
import { openwrtDnsState, parseUci, type OpenwrtDnsState } from '../../dns/openwrt-dhcp.js';
import { findResolverProcesses, type ResolverProcess } from '../../dns/processes.js';
import { classifyResolvOwner, isLoopback, isMeshResolver, parseResolvConf, type ResolvConf, type ResolvFileFacts, type ResolvOwner } from '../../dns/resolv-conf.js';
import { parseUnboundConf, type UnboundZone } from '../../dns/unbound.js';
import { localRunner, type CommandRunner } from '../../system/exec.js';
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
  unboundDir: '/etc/unbound/unbound.conf.d',
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
}

export interface UnboundFacts {
  files: string[];
  zones: UnboundZone[];
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

function confFiles(dir: string, suffix: RegExp): string[] {
  try {
    return readdirSync(dir).filter((name) => suffix.test(name) && !name.startsWith('.')).sort().map((name) => join(dir, name));
  } catch {
    return [];
  }
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

export function readDnsmasqConfig(root: string, running: ResolverProcess[]): DnsmasqFacts | undefined {
  const files: string[] = [];
  const options: DnsmasqOption[] = [];
  const main = rooted(root, DNS_PATHS.dnsmasqConf);
  const mainText = readIfExists(main);
  let dirs = [rooted(root, DNS_PATHS.dnsmasqDir)];
  if (mainText !== undefined) {
    files.push(main);
    const parsed = parseDnsmasqConf(mainText, main);
    options.push(...parsed);
    const declared = parsed.filter((option) => option.name === 'conf-dir' && option.value).map((option) => rooted(root, option.value!.split(',')[0]));
    if (declared.length > 0) dirs = [...new Set([...dirs, ...declared])];
  }
  for (const dir of dirs) {
    for (const file of confFiles(dir, /\.conf$/)) {
      files.push(file);
      options.push(...parseDnsmasqConf(readFileSync(file, 'utf8'), file));
    }
  }
  // Options on a running dnsmasq's command line (as Debian's unit and the lab pass them).
  for (const process of running.filter((p) => p.name === 'dnsmasq' && p.listening.some((socket) => isLoopback(socket.replace(/^\[|\].*$|:53\/.*$/g, ''))))) {
    options.push(...dnsmasqOptionsFromArgv(process.argv, `dnsmasq pid ${process.pid} command line`));
  }
  if (files.length === 0 && options.length === 0) return undefined;
  return { files, options };
}

export function readUnboundConfig(root: string): UnboundFacts | undefined {
  const main = rooted(root, DNS_PATHS.unboundConf);
  const files: string[] = [];
  const zones: UnboundZone[] = [];
  const mainText = readIfExists(main);
  if (mainText !== undefined) {
    files.push(main);
    zones.push(...parseUnboundConf(mainText, main));
  }
  for (const file of confFiles(rooted(root, DNS_PATHS.unboundDir), /\.conf$/)) {
    files.push(file);
    zones.push(...parseUnboundConf(readFileSync(file, 'utf8'), file));
  }
  return files.length === 0 ? undefined : { files, zones };
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
