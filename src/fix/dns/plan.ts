/**
 * `netmend fix dns`: split DNS, so only the mesh domains go to the mesh resolver and everything
 * else to the host's own resolver, persisted in whichever resolver the host runs:
 *   dnsmasq   a conf-dir file: server=/ts.net/100.100.100.100 and rebind-domain-ok=/ts.net/
 *   unbound   an unbound.conf.d file: forward-zone for the domain, domain-insecure, private-domain
 *   resolved  a networkd drop-in for the tunnel (DNS=, Domains=~ts.net), or a resolved.conf.d
 *             drop-in when networkd does not manage links
 *   openwrt   /etc/config/dhcp: list server '/ts.net/100.100.100.100', list rebind_domain 'ts.net'
 * --restore-resolv-conf puts back the resolv.conf the mesh daemon replaced and stops it taking
 * the file over again (`tailscale set --accept-dns=false`). Plan, journal, undo: src/fix.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { InputError } from '../../errors.js';
import { dnsmasqSplitState, GENERATED_HEADER, parseDnsmasqConf, renderDnsmasqSplitConf } from '../../dns/dnsmasq.js';
import { addOpenwrtSplitDns, parseUci } from '../../dns/openwrt-dhcp.js';
import { findResolverProcesses, type ResolverProcess } from '../../dns/processes.js';
import { classifyResolvOwner, isLoopback, parseResolvConf } from '../../dns/resolv-conf.js';
import { renderNetworkdDropIn, renderNetworkdTunnelBase, renderResolvedDropIn } from '../../dns/resolved.js';
import { parseUnboundConf, renderUnboundSplitConf, unboundSplitState } from '../../dns/unbound.js';
import { DNS_PATHS, isOpenwrt, readDnsmasqConfig, readResolvFile, readUnboundConfig, rooted, type UnreadConfig } from '../../doctor/gather/dns.js';
import { loadNetworkFiles, networkFileFor, parseNetworkd } from '../../system/networkd.js';
import { listEntries } from '../journal.js';
import { networkdRunning } from '../host.js';
import { emptyPlan, refuseSymlinkTarget, underRoot, type FixContext, type FixPlan } from '../plan.js';
import { findTarget, reloadCommand, type ResolverProgram, type ResolverTarget } from './reload.js';

export const VIAS = ['auto', 'resolved', 'dnsmasq', 'unbound', 'openwrt'] as const;
export type Via = Exclude<(typeof VIAS)[number], 'auto'>;

export interface DnsFixOptions {
  domains: string[];
  server: string;
  via: string;
  restoreResolvConf: boolean;
  /** The tunnel interface for the resolved method. */
  iface: string;
  /** Pid file of the local resolver to reload (required to reload anything under --root). */
  pidFile?: string;
  /** How to run netmend itself: [node, bin/run.js]. */
  self: string[];
}

export const DNSMASQ_FILE = 'netmend-mesh-dns.conf';
export const UNBOUND_FILE = '/etc/unbound/unbound.conf.d/netmend-mesh-dns.conf';
export const RESOLVED_FILE = '/etc/systemd/resolved.conf.d/netmend-mesh-dns.conf';

const DOMAIN = /^(?!-)[A-Za-z0-9-]{1,63}(?:\.(?!-)[A-Za-z0-9-]{1,63})*\.?$/;

export function validateDnsOptions(options: DnsFixOptions): void {
  for (const domain of options.domains) {
    if (!DOMAIN.test(domain)) throw new InputError(`--domain: '${domain}' is not a domain name`, 'for example --domain ts.net or --domain tailnet-1234.ts.net');
  }
  if (!isIP(options.server)) throw new InputError(`--server: '${options.server}' is not an IP address`, 'the mesh resolver, e.g. 100.100.100.100');
  if (!(VIAS as readonly string[]).includes(options.via)) throw new InputError(`--via: unknown method '${options.via}'`, `use ${VIAS.join(', ')}`);
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(options.iface)) throw new InputError(`--iface: '${options.iface}' is not an interface name`);
}

function localResolverOf(processes: ResolverProcess[], program: ResolverProgram, preferred: string[]): ResolverProcess | undefined {
  const candidates = processes.filter((process) => process.name === program && process.listening.some((socket) => /^(127\.|\[::1\])/.test(socket)));
  return candidates.find((process) => process.listening.some((socket) => preferred.some((address) => socket.startsWith(`${address.includes(':') ? `[${address}]` : address}:53/`)))) ?? candidates[0];
}

/** Which resolver to configure when --via auto: the one actually serving this host. */
export function chooseVia(root: string, processes: ResolverProcess[], ownerKind: string, nameservers: string[]): Via {
  if (isOpenwrt(root)) return 'openwrt';
  if (ownerKind === 'systemd-resolved') return 'resolved';
  for (const program of ['dnsmasq', 'unbound'] as const) if (!root && localResolverOf(processes, program, nameservers)) return program;
  if (existsSync(rooted(root, DNS_PATHS.dnsmasqConf)) || existsSync(rooted(root, DNS_PATHS.dnsmasqDir))) return 'dnsmasq';
  if (existsSync(rooted(root, DNS_PATHS.unboundConf))) return 'unbound';
  if (networkdRunning(root) || existsSync(rooted(root, '/etc/systemd/resolved.conf'))) return 'resolved';
  throw new InputError('cannot tell which resolver serves this host (no systemd-resolved, dnsmasq, unbound or OpenWrt found)', 'pass --via resolved|dnsmasq|unbound|openwrt');
}

function dnsmasqConfDir(root: string): string {
  const main = readDnsmasqConfigMain(root);
  return main ?? DNS_PATHS.dnsmasqDir;
}

function readDnsmasqConfigMain(root: string): string | undefined {
  const path = rooted(root, DNS_PATHS.dnsmasqConf);
  if (!existsSync(path)) return undefined;
  const declared = parseDnsmasqConf(readFileSync(path, 'utf8'), path).find((option) => option.name === 'conf-dir' && option.value);
  return declared?.value?.split(',')[0].replace(/\/+$/, '');
}

/** The resolv.conf to put back: the mesh daemon's backup, else the newest journalled one not written by the mesh. */
function resolvConfToRestore(root: string): { text: string; from: string } | undefined {
  const backupPath = rooted(root, DNS_PATHS.meshBackup);
  if (existsSync(backupPath)) {
    const text = readFileSync(backupPath, 'utf8');
    parseResolvConf(text, backupPath);
    return { text, from: backupPath };
  }
  for (const entry of listEntries(root).reverse()) {
    const file = entry.files.find((f) => f.path === DNS_PATHS.resolvConf && f.existed && f.priorBase64);
    if (!file) continue;
    const text = Buffer.from(file.priorBase64!, 'base64').toString('utf8');
    try {
      const parsed = parseResolvConf(text, `journal ${entry.id}`);
      const owner = classifyResolvOwner({ path: DNS_PATHS.resolvConf, exists: true, text }, parsed, []);
      if (owner.kind !== 'mesh-daemon') return { text, from: `journal ${entry.id}` };
    } catch { /* not usable */ }
  }
  return undefined;
}

async function hasTailscaleCli(context: FixContext): Promise<boolean> {
  try {
    return (await context.runner.run('tailscale', ['version'], { allowFailure: true, timeoutMs: 5000 })).exitCode === 0;
  } catch {
    return false;
  }
}

export async function buildDnsPlan(context: FixContext, options: DnsFixOptions): Promise<FixPlan> {
  validateDnsOptions(options);
  const { root } = context;
  const { domains, server } = options;
  // Everything below reads and parses first: a file that does not parse stops the fix (exit 2).
  const resolv = readResolvFile(root);
  const processes = findResolverProcesses();
  const owner = classifyResolvOwner(resolv.file, resolv.parsed, processes);
  const restoreFrom = options.restoreResolvConf ? resolvConfToRestore(root) : undefined;
  const nameservers = [...(resolv.parsed?.nameservers ?? []), ...(resolv.backup?.nameservers ?? []), ...(restoreFrom ? parseResolvConf(restoreFrom.text, restoreFrom.from).nameservers : [])].filter(isLoopback);
  const via: Via = options.via === 'auto' ? chooseVia(root, processes, owner.kind, nameservers) : (options.via as Via);
  const list = domains.join(', ');
  const plan = emptyPlan('dns', `split DNS: ${list} to ${server}, every other name to the local resolver`, via);

  if (via === 'dnsmasq') {
    const confDir = dnsmasqConfDir(root);
    const path = `${confDir}/${DNSMASQ_FILE}`;
    // Before reading the configuration, which would read through the link.
    refuseSymlinkTarget(underRoot(root, path));
    const config = readDnsmasqConfig(root, root ? [] : processes);
    checkUnreadConfig(plan, 'dnsmasq', config?.unread ?? []);
    const others = (config?.options ?? []).filter((option) => !option.where.startsWith(`${underRoot(root, path)}:`));
    const state = dnsmasqSplitState(others, domains, server);
    const done = domains.every((domain) => state.forwarded[domain] && (state.rebindAllowed[domain] || !state.rebindProtection));
    if (!done || existsSync(underRoot(root, path))) {
      plan.files.push({ path, content: renderDnsmasqSplitConf(domains, server), reason: `dnsmasq: forward ${list} to ${server} and accept its private (100.64.0.0/10, fd7a:115c:a1e0::/48) answers`, parseExisting: (text, shown) => { parseDnsmasqConf(text, shown); } });
    }
    if (!existsSync(underRoot(root, DNS_PATHS.dnsmasqConf)) && !existsSync(underRoot(root, confDir))) plan.warnings.push(`no dnsmasq configuration under ${underRoot(root, '/etc')}: make sure dnsmasq reads ${confDir} (conf-dir=${confDir})`);
  } else if (via === 'unbound') {
    refuseSymlinkTarget(underRoot(root, UNBOUND_FILE));
    const config = readUnboundConfig(root);
    checkUnreadConfig(plan, 'unbound', config?.unread ?? []);
    const others = (config?.zones ?? []).filter((zone) => !zone.entries.some((entry) => entry.where.startsWith(`${underRoot(root, UNBOUND_FILE)}:`)));
    const state = unboundSplitState(others, domains, server);
    const done = domains.every((domain) => state.forwardZone[domain] && (!state.privateAddress || state.privateDomain[domain]));
    if (!done || existsSync(underRoot(root, UNBOUND_FILE))) {
      const zoneDomains = domains.filter((domain) => !state.sameNameZone[domain]);
      for (const domain of domains) {
        const zone = state.sameNameZone[domain];
        if (zone && !state.forwardZone[domain]) {
          const name = zone.entries.find((entry) => entry.key === 'name');
          plan.warnings.push(`${name?.where ?? 'unbound.conf'}: a ${zone.clause} for ${domain} already sends it elsewhere; point it at ${server} (unbound refuses a second zone of the same name)`);
        }
      }
      plan.files.push({ path: UNBOUND_FILE, content: renderUnboundSplitConf(domains, server, zoneDomains), reason: `unbound: forward-zone ${list} to ${server}; no DNSSEC or private-address filtering for it`, parseExisting: (text, shown) => { parseUnboundConf(text, shown); } });
    }
    const includesDir = state.includes.some((entry) => entry.value.includes('unbound.conf.d'));
    if (config && !includesDir) plan.warnings.push(`${config.files[0]} has no include of unbound.conf.d/*.conf: add include-toplevel: "/etc/unbound/unbound.conf.d/*.conf"`);
  } else if (via === 'openwrt') {
    const path = DNS_PATHS.openwrtDhcp;
    const real = underRoot(root, path);
    refuseSymlinkTarget(real);
    if (!existsSync(real)) throw new InputError(`${real} does not exist`, 'is this an OpenWrt root? pass --root or another --via');
    const text = readFileSync(real, 'utf8');
    plan.files.push({ path, content: addOpenwrtSplitDns(text, real, domains, server), reason: `UCI dhcp: dnsmasq forwards ${list} to ${server}, rebind protection allows it`, parseExisting: (t, shown) => { parseUci(t, shown); } });
    if (!root) plan.reloads.push(['/etc/init.d/dnsmasq', 'restart']);
  } else {
    const networkd = networkdRunning(root) || loadNetworkFiles(root, underRoot).length > 0;
    if (networkd) {
      const matching = networkFileFor(loadNetworkFiles(root, underRoot), options.iface);
      const base = matching?.path ?? `/etc/systemd/network/10-netmend-${options.iface}.network`;
      if (!matching) {
        plan.files.push({ path: base, content: renderNetworkdTunnelBase(options.iface), reason: `networkd: a .network for ${options.iface} that keeps the mesh daemon's addresses`, parseExisting: (t, shown) => { parseNetworkd(t, shown); } });
      }
      plan.files.push({ path: `${base}.d/50-netmend-dns.conf`, content: renderNetworkdDropIn(domains, server), reason: `networkd: ${server} answers ${domains.map((d) => `~${d}`).join(' ')} on ${options.iface} (resolved routes only those names there)`, parseExisting: (t, shown) => { parseNetworkd(t, shown); } });
      if (!root && networkdRunning(root)) plan.reloads.push(['networkctl', 'reload']);
    } else {
      plan.files.push({ path: RESOLVED_FILE, content: renderResolvedDropIn(domains, server), reason: `systemd-resolved: ${server} answers ${domains.map((d) => `~${d}`).join(' ')} (global routing domain)`, parseExisting: (t, shown) => { parseNetworkd(t, shown); } });
      if (!root) plan.reloads.push(['systemctl', 'try-reload-or-restart', 'systemd-resolved.service']);
      plan.warnings.push('a resolved.conf.d drop-in makes the mesh resolver a global server: with networkd, per-link DNS on the tunnel is more precise');
    }
    if (context.live && !root) {
      plan.live.push({
        description: `resolved: ${server} for ${list} on ${options.iface}, now`,
        command: ['resolvectl', 'dns', options.iface, server],
        undo: [['resolvectl', 'revert', options.iface]],
      });
      plan.live.push({
        description: `resolved: routing-only domains ${domains.map((d) => `~${d}`).join(' ')} on ${options.iface}`,
        command: ['resolvectl', 'domain', options.iface, ...domains.map((d) => `~${d}`)],
        undo: [['resolvectl', 'revert', options.iface]],
      });
    }
    if (!resolv.file.symlinkTarget?.endsWith('stub-resolv.conf')) {
      plan.warnings.push(`${resolv.file.path} is not the stub symlink: split DNS works only for clients asking 127.0.0.53 (ln -sf /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf)`);
    }
  }

  if (options.restoreResolvConf) {
    if (owner.kind === 'mesh-daemon') {
      if (!restoreFrom) throw new InputError(`${resolv.file.path} was written by the mesh daemon and there is no backup (${DNS_PATHS.meshBackup}) or journalled copy to restore`, 'write the resolv.conf you want yourself');
      plan.files.push({ path: DNS_PATHS.resolvConf, content: restoreFrom.text, reason: `put back the resolv.conf the mesh daemon replaced (from ${restoreFrom.from})`, parseExisting: (t, shown) => { parseResolvConf(t, shown); } });
    } else {
      plan.warnings.push(`--restore-resolv-conf: ${resolv.file.path} is not the mesh daemon's (${owner.summary}); left as it is`);
    }
    if (context.live && (await hasTailscaleCli(context))) {
      plan.live.push({ description: 'stop tailscaled from taking resolv.conf over again', command: ['tailscale', 'set', '--accept-dns=false'], undo: [['tailscale', 'set', '--accept-dns=true']] });
    }
  } else if (owner.kind === 'mesh-daemon') {
    plan.warnings.push(`${owner.summary}: the local resolver is bypassed until resolv.conf points at it again (add --restore-resolv-conf)`);
  }

  if (via === 'dnsmasq' || via === 'unbound') addResolverReload(plan, context, options, via, processes, nameservers);
  return plan;
}

/**
 * A configuration file the resolver cannot read makes it refuse to start: restarting it with
 * the fix would take DNS down, so the fix refuses (exit 2) until that file is repaired. What only
 * netmend could not read (outside --root) is a warning: the plan was made without it.
 */
function checkUnreadConfig(plan: FixPlan, program: ResolverProgram, unread: UnreadConfig[]): void {
  const failing = unread.find((entry) => entry.resolverFails);
  if (failing) throw new InputError(`${failing.path}: ${failing.reason}; ${program} refuses to start with it`, 'repair or remove that file first; nothing was changed');
  for (const entry of unread) plan.warnings.push(`${entry.path}: ${entry.reason}`);
}

function addResolverReload(plan: FixPlan, context: FixContext, options: DnsFixOptions, program: ResolverProgram, processes: ResolverProcess[], nameservers: string[]): void {
  let target: ResolverTarget | undefined;
  let running: ResolverProcess | undefined;
  if (options.pidFile) {
    target = { pidFile: options.pidFile };
    running = findTarget(target);
    if (running && running.name !== program) throw new InputError(`--pid-file: ${options.pidFile} names ${running.name} (pid ${running.pid}), not ${program}`);
  } else if (context.root) {
    plan.warnings.push(`not reloading ${program}: --root is set; pass --pid-file to name the running resolver`);
    return;
  } else {
    running = localResolverOf(processes, program, nameservers);
    const address = running?.listening[0]?.replace(/^\[|\](?=:)|:53\/.*$/g, '');
    if (running && address) target = { program, address };
  }
  if (!running || !target) {
    plan.warnings.push(`no running ${program} found: it reads the new configuration when it starts`);
    return;
  }
  plan.reloads.push(reloadCommand(program, running, target, options.self, isOpenwrt(context.root)));
}

export { GENERATED_HEADER };
