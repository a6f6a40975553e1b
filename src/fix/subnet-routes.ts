/**
 * `netmend fix subnet-routes`: for each connected LAN a mesh route shadows (found the way the
 * doctor finds it, by simulating the kernel's lookup), a rule `to LAN lookup main` at a priority
 * ahead of the mesh's lookup rule, IPv4 and IPv6.
 *
 * Persistence:
 *   networkd  a drop-in for the LAN link's .network with [RoutingPolicyRule] To= Table=254
 *             Priority= (254, not `main`: older networkd rejects the name);
 *   sysctl    (no networkd) a udev rule that adds the rules each time the mesh tunnel appears,
 *             i.e. whenever the mesh daemon (re)starts — the only time the shadowing exists;
 *   uci       (OpenWrt) named `config rule` / `config rule6` sections in /etc/config/network.
 */
import { readFileSync } from 'node:fs';
import { routingView } from '../doctor/analysis.js';
import { bypassPriority, lanPaths, type LanPath } from '../doctor/lan-paths.js';
import { bypassPriorityAhead, tailscaleLookupPriority } from '../doctor/tailscale-rules.js';
import { formatPrefix, parsePrefix } from '../net/address.js';
import type { HostState } from '../doctor/types.js';
import { InputError } from '../errors.js';
import type { Family, Rule, Snapshot } from '../snapshot/types.js';
import { loadNetworkFiles, managesForeignRules, networkFileFor, parseNetworkd } from '../system/networkd.js';
import { networkdReloads, resolveMethod } from './host.js';
import { emptyPlan, underRoot, type FixContext, type FixPlan, type LiveStep } from './plan.js';
import { parseUci, renderUciSection } from './uci.js';

export const SUBNET_CHECK = 'routes.subnet-shadows-lan';
const MAIN = 254;

export interface SubnetRoutesOptions {
  /** --lan prefixes; empty = every shadowed LAN the simulator finds. */
  lans: string[];
  /** --priority; undefined = just ahead of the mesh rule (5205 for Tailscale's 5270). */
  priority?: number;
  /** --iface: tunnel names the mesh uses, when unusual. */
  ifaces: string[];
}

export interface BypassTarget {
  family: Family;
  /** Canonical prefix text, e.g. 10.10.0.0/24. */
  prefix: string;
  /** The LAN's own interface. */
  dev: string;
  /** The tunnel the LAN traffic goes to now (for the udev trigger), when known. */
  tunnel?: string;
  priority: number;
  /** The mesh rule that currently wins, when known. */
  meshPriority?: number;
}

function stateOf(snapshot: Snapshot): HostState {
  return { snapshot, facts: {}, gatherErrors: {} };
}

function bypassRule(target: BypassTarget): Rule {
  return { family: target.family, priority: target.priority, not: false, to: target.prefix, action: 'lookup', table: MAIN };
}

function hasBypassRule(snapshot: Snapshot, target: BypassTarget): boolean {
  return snapshot.rules.some((rule) => rule.family === target.family && rule.priority === target.priority && rule.to === target.prefix
    && rule.action === 'lookup' && rule.table === MAIN && !rule.not && !rule.from && !rule.iif && !rule.oif && rule.fwmark === undefined);
}

/** The lowest priority of a rule that looks up a mesh table (Tailscale's 5270), per family. */
function meshRulePriority(snapshot: Snapshot, ifaces: string[], family: Family): number | undefined {
  const view = routingView(stateOf(snapshot), { ifaces });
  const tables = view.meshTables[family];
  const priorities = view.rules[family].filter((rule) => rule.action === 'lookup' && rule.table !== undefined && tables.has(rule.table)).map((rule) => rule.priority);
  return priorities.length ? Math.min(...priorities) : undefined;
}

export function findTargets(snapshot: Snapshot, options: SubnetRoutesOptions): BypassTarget[] {
  const paths = lanPaths(stateOf(snapshot), { ifaces: options.ifaces });
  const view = routingView(stateOf(snapshot), { ifaces: options.ifaces });
  const targets = new Map<string, BypassTarget>();
  const add = (target: BypassTarget) => {
    const key = `${target.family} ${target.prefix}`;
    if (!targets.has(key)) targets.set(key, target);
  };
  const fromPath = (path: LanPath): BypassTarget => {
    // A LAN the mesh does not capture yet (a CGNAT WAN next to per-peer routes) still gets its
    // rule ahead of the mesh's lookup, not ahead of main.
    const meshPriority = path.viaMesh ? path.decision.rule?.priority : meshRulePriority(snapshot, options.ifaces, path.lan.family);
    return {
      family: path.lan.family,
      prefix: formatPrefix(path.lan.prefix),
      dev: path.lan.dev,
      tunnel: path.viaMesh ? path.decision.result.dev : view.meshLinks[0]?.name,
      priority: options.priority ?? (path.viaMesh ? bypassPriority(path) : bypassPriorityAhead(meshPriority ?? tailscaleLookupPriority(false))),
      meshPriority,
    };
  };
  if (options.lans.length > 0) {
    for (const text of options.lans) {
      const prefix = parsePrefix(text);
      if (!prefix) throw new InputError(`--lan: '${text}' is not an IPv4 or IPv6 prefix`, 'e.g. --lan 192.168.1.0/24');
      const canonical = formatPrefix(prefix);
      const path = paths.find((candidate) => formatPrefix(candidate.lan.prefix) === canonical && candidate.viaMesh) ?? paths.find((candidate) => formatPrefix(candidate.lan.prefix) === canonical);
      if (path) {
        add(fromPath(path));
        continue;
      }
      const lan = view.lans.find((candidate) => formatPrefix(candidate.prefix) === canonical);
      if (!lan) throw new InputError(`--lan ${canonical} is not a connected prefix on this host`, 'name a prefix that `ip route show proto kernel` lists');
      const meshPriority = meshRulePriority(snapshot, options.ifaces, prefix.family);
      add({ family: prefix.family, prefix: canonical, dev: lan.dev, priority: options.priority ?? bypassPriorityAhead(meshPriority ?? tailscaleLookupPriority(false)), meshPriority });
    }
  } else {
    for (const path of paths) if (path.viaMesh && !path.byDefaultRoute) add(fromPath(path));
    // A LAN already bypassed live (by hand, or before a reboot that kept the rule) still needs
    // the persistent half: keep its rule's priority.
    const tunnel = view.meshIfaces.has('tailscale0') ? 'tailscale0' : view.meshLinks[0]?.name;
    for (const lan of view.lans) {
      const meshPriority = meshRulePriority(snapshot, options.ifaces, lan.family);
      if (meshPriority === undefined) continue;
      const prefix = formatPrefix(lan.prefix);
      const rule = snapshot.rules.find((candidate) => candidate.family === lan.family && candidate.to === prefix && candidate.action === 'lookup'
        && candidate.table === MAIN && candidate.priority < meshPriority && !candidate.not && !candidate.from && !candidate.iif && !candidate.oif && candidate.fwmark === undefined);
      if (rule) add({ family: lan.family, prefix, dev: lan.dev, tunnel, priority: rule.priority, meshPriority });
    }
  }
  return [...targets.values()];
}

/** Refuses a priority that is taken by another rule or not ahead of the mesh's rule. */
function checkPriority(snapshot: Snapshot, target: BypassTarget, ifaces: string[]): void {
  const mesh = target.meshPriority ?? meshRulePriority(snapshot, ifaces, target.family);
  if (mesh !== undefined && target.priority >= mesh) {
    throw new InputError(`--priority ${target.priority} is not ahead of the mesh's rule at ${mesh} (IPv${target.family})`, `use a priority below ${mesh}, e.g. --priority ${bypassPriorityAhead(mesh)}`);
  }
  const taken = snapshot.rules.find((rule) => rule.family === target.family && rule.priority === target.priority
    && !(rule.action === 'lookup' && rule.table === MAIN && rule.to !== undefined && !rule.from && !rule.not && rule.fwmark === undefined));
  if (taken) {
    throw new InputError(`priority ${target.priority} is already used by another IPv${target.family} rule (${taken.action}${taken.table !== undefined ? ` ${taken.table}` : ''})`, 'choose a free one with --priority');
  }
}

function ipFamily(family: Family): string {
  return family === 6 ? '-6' : '-4';
}

function liveStep(target: BypassTarget): LiveStep {
  const selector = ['to', target.prefix, 'lookup', 'main', 'priority', String(target.priority)];
  return {
    description: `route ${target.prefix} through main (its own link ${target.dev}) ahead of the mesh's rule${target.meshPriority !== undefined ? ` ${target.meshPriority}` : ''}`,
    command: ['ip', ipFamily(target.family), 'rule', 'add', ...selector],
    undo: [['ip', ipFamily(target.family), 'rule', 'del', ...selector]],
    simulate: (snapshot) => { snapshot.rules.push(bypassRule(target)); },
  };
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** networkd drop-in text: our existing rules plus the new ones, in a stable order. */
export function networkdDropIn(existing: string | null, targets: BypassTarget[], displayPath: string): string {
  const rules = new Map<string, { to: string; priority: number }>();
  if (existing) {
    let current: { to?: string; priority?: number } | undefined;
    const flush = () => { if (current?.to && current.priority !== undefined) rules.set(`${current.to} ${current.priority}`, { to: current.to, priority: current.priority }); };
    for (const entry of parseNetworkd(existing, displayPath)) {
      if (entry.section !== 'RoutingPolicyRule') continue;
      if (entry.key === 'To') {
        if (current?.to) { flush(); current = {}; }
        current = { ...current, to: entry.value };
      } else if (entry.key === 'Priority') {
        current = { ...current, priority: Number(entry.value) };
      }
    }
    flush();
  }
  for (const target of targets) rules.set(`${target.prefix} ${target.priority}`, { to: target.prefix, priority: target.priority });
  const blocks = [...rules.values()].sort((a, b) => a.priority - b.priority || a.to.localeCompare(b.to)).map((rule) => `[RoutingPolicyRule]\nTo=${rule.to}\nTable=254\nPriority=${rule.priority}\n`);
  return `# Written by \`netmend fix subnet-routes\`: reach these LANs through main, ahead of the mesh's rules.\n\n${blocks.join('\n')}`;
}

export function udevRules(existing: string | null, targets: BypassTarget[]): string {
  const lines = new Set<string>();
  for (const line of (existing ?? '').split('\n')) if (line.startsWith('ACTION==')) lines.add(line);
  for (const target of targets) {
    lines.add(`ACTION=="add", SUBSYSTEM=="net", KERNEL=="${target.tunnel ?? 'tailscale0'}", RUN+="/sbin/ip ${ipFamily(target.family)} rule add to ${target.prefix} lookup main priority ${target.priority}"`);
  }
  return `# Written by \`netmend fix subnet-routes\`: when the mesh daemon creates its tunnel, route these\n# LANs through main ahead of the mesh's rules (an existing identical rule is left as it is).\n${[...lines].sort().join('\n')}\n`;
}

export function uciSectionName(target: BypassTarget): string {
  return `netmend_lan${target.family === 6 ? '6' : ''}_${target.prefix.replace(/[^A-Za-z0-9]/g, '_')}`;
}

/** /etc/config/network with a `config rule`/`config rule6` per target not already there. */
export function uciNetwork(existing: string | null, targets: BypassTarget[], displayPath: string): string {
  const sections = existing ? parseUci(existing, displayPath) : [];
  let text = existing ?? '';
  for (const target of targets) {
    const name = uciSectionName(target);
    if (sections.some((section) => section.name === name)) continue;
    if (text !== '' && !text.endsWith('\n\n')) text += text.endsWith('\n') ? '\n' : '\n\n';
    text += renderUciSection({
      type: target.family === 6 ? 'rule6' : 'rule',
      name,
      options: [
        { key: 'dest', value: target.prefix, list: false },
        { key: 'lookup', value: 'main', list: false },
        { key: 'priority', value: String(target.priority), list: false },
      ],
    });
  }
  return text;
}

/** Evidence when a target LAN still goes through the mesh. */
export function lansStillShadowed(snapshot: Snapshot, targets: BypassTarget[], ifaces: string[]): string[] {
  const wanted = new Set(targets.map((target) => `${target.family} ${target.prefix}`));
  return lanPaths(stateOf(snapshot), { ifaces })
    .filter((path) => path.viaMesh && wanted.has(`${path.lan.family} ${formatPrefix(path.lan.prefix)}`))
    .map((path) => `${path.sample} (in ${formatPrefix(path.lan.prefix)}) still goes via ${path.decision.result.dev ?? `table ${path.decision.result.table}`}`);
}

export async function buildSubnetRoutesPlan(context: FixContext, options: SubnetRoutesOptions): Promise<FixPlan> {
  const method = resolveMethod(context.root, context.method);
  const targets = findTargets(context.snapshot, options);
  const plan = emptyPlan('subnet-routes', targets.length
    ? `${targets.map((target) => `${target.prefix} (${target.dev})`).join(', ')} through main at priority ${[...new Set(targets.map((target) => target.priority))].join('/')}, ahead of the mesh`
    : 'no connected LAN is shadowed by a mesh route', method);
  if (targets.length === 0) return plan;
  for (const target of targets) checkPriority(context.snapshot, target, options.ifaces);

  if (method === 'networkd') {
    const files = loadNetworkFiles(context.root, underRoot);
    const byFile = new Map<string, BypassTarget[]>();
    for (const target of targets) {
      const file = networkFileFor(files, target.dev);
      if (!file) throw new InputError(`no systemd-networkd .network file matches the LAN link ${target.dev}, so networkd cannot carry its rule`, 'use --method sysctl (a udev rule) or add a .network for the link');
      byFile.set(file.path, [...(byFile.get(file.path) ?? []), target]);
    }
    for (const [networkPath, fileTargets] of byFile) {
      const path = `/etc/systemd/network/${networkPath.split('/').pop()}.d/50-netmend-subnet-routes.conf`;
      const real = underRoot(context.root, path);
      plan.files.push({
        path,
        content: networkdDropIn(readIfExists(real), fileTargets, real),
        reason: `networkd: rules for ${fileTargets.map((target) => target.prefix).join(', ')} with the LAN link's ${networkPath}`,
        parseExisting: (text, display) => { parseNetworkd(text, display); },
      });
    }
    if (managesForeignRules(context.root, underRoot)) {
      plan.warnings.push('systemd-networkd manages foreign routing policy rules (ManageForeignRoutingPolicyRules=yes, the default): when it reconfigures a link it deletes rules it did not create, the mesh daemon\'s own (5210-5270) included; set ManageForeignRoutingPolicyRules=no in /etc/systemd/networkd.conf.d/ and restart networkd from a console');
    }
    plan.reloads.push(...networkdReloads(context.root));
  } else if (method === 'sysctl') {
    const path = '/etc/udev/rules.d/90-netmend-subnet-routes.rules';
    plan.files.push({ path, content: udevRules(readIfExists(underRoot(context.root, path)), targets), reason: 'udev: add the rules whenever the mesh tunnel appears' });
  } else {
    const path = '/etc/config/network';
    const real = underRoot(context.root, path);
    plan.files.push({
      path,
      content: uciNetwork(readIfExists(real), targets, real),
      reason: 'OpenWrt: netifd installs `config rule`/`config rule6` sections at every network reload',
      parseExisting: (text, display) => { parseUci(text, display); },
    });
    // reload, never restart: netifd flushes every ip rule at startup, the mesh daemon's included.
    if (!context.root) plan.reloads.push(['/etc/init.d/network', 'reload']);
  }
  if (context.live) for (const target of targets) if (!hasBypassRule(context.snapshot, target)) plan.live.push(liveStep(target));
  plan.verify.push({ checkId: SUBNET_CHECK, stillBroken: (snapshot) => lansStillShadowed(snapshot, targets, options.ifaces) });
  return plan;
}
