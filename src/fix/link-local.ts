/**
 * `netmend fix link-local`: stop IPv6 link-local generation on the mesh tunnel and remove its
 * fe80 address and `fe80::/64` route, so unscoped link-local traffic stops preferring the tunnel.
 * IPv6 itself stays on (recent tailscaled drops all its IPv6 config when disable_ipv6 is set).
 *
 * Persistence, by what manages the host:
 *   networkd  a .network for the tunnel that keeps the mesh daemon's addresses and routes
 *             (KeepConfiguration=yes) and turns link-local addressing off;
 *   sysctl    (no networkd) a udev rule run each time the tunnel appears, i.e. each time the
 *             mesh daemon starts and creates it: addrgenmode none, then drop any fe80 already
 *             there. A sysctl.d line alone would be applied at boot, before the tunnel exists;
 *   uci       (OpenWrt) a hotplug.d/net script, the OpenWrt equivalent run by procd on the same
 *             event, writing the per-interface addr_gen_mode sysctl (works with busybox ip).
 */
import { readFileSync } from 'node:fs';
import { isDefaultRoute, isMeshLink, routeDevices } from '../doctor/analysis.js';
import { InputError } from '../errors.js';
import type { Link, Snapshot } from '../snapshot/types.js';
import { loadNetworkFiles, networkFileFor, parseNetworkd } from '../system/networkd.js';
import { networkdReloads, resolveMethod } from './host.js';
import { sshSessionLinks } from './lockout.js';
import { emptyPlan, underRoot, type FixContext, type FixPlan, type LiveStep } from './plan.js';

export const LINK_LOCAL_CHECK = 'routes.tunnel-link-local';

const ADDR_GEN_MODES = ['eui64', 'none', 'stable_secret', 'random'];

export interface LinkLocalOptions {
  iface?: string;
}

/** The tunnel to fix: --iface, else tailscale0, else the only wireguard/tun link with a fe80 address. */
export function chooseTunnel(snapshot: Snapshot, iface?: string): string {
  if (iface) return iface;
  if (snapshot.links.some((link) => link.name === 'tailscale0')) return 'tailscale0';
  const candidates = snapshot.links.filter((link) => (link.kind === 'wireguard' || link.kind === 'tun') &&
    snapshot.addresses.some((address) => address.dev === link.name && address.family === 6 && address.scope === 'link'));
  if (candidates.length === 1) return candidates[0].name;
  throw new InputError('no tailscale0 here, and no single tunnel with a link-local address to choose', 'name the tunnel with --iface');
}

function describeLink(link: Link): string {
  return link.kind && link.kind !== 'none' ? `a ${link.kind} link` : 'not a tunnel';
}

/**
 * Only a mesh tunnel is this fix's to change: removing the link-local address from the LAN breaks
 * IPv6 neighbour discovery and router advertisements there. A tunnel is a tun/wireguard link or a
 * known mesh name (the doctor's own test); --force accepts another name, never the link that
 * carries a default route or the SSH session. A name that does not exist is a typo (exit 2,
 * listing what exists), except with --no-live for a mesh name: the persistent configuration for
 * a tunnel the mesh daemon creates later is what image preparation writes.
 */
async function checkTunnel(context: FixContext, iface: string, warnings: string[]): Promise<void> {
  const { snapshot } = context;
  const link = snapshot.links.find((candidate) => candidate.name === iface);
  if (!link) {
    const names = snapshot.links.map((candidate) => candidate.name).join(', ') || 'none';
    const meshName = isMeshLink({ name: iface, kind: '' } as Link, []);
    if (!context.live && meshName) {
      warnings.push(`${iface} does not exist now: only its persistent configuration is written, applied when the mesh daemon creates it`);
      return;
    }
    throw new InputError(`--iface: no interface '${iface}' here (interfaces: ${names})`,
      `check the name with \`ip link\`; nothing was changed${meshName ? `. If the mesh daemon creates ${iface} later, --no-live writes only its persistent configuration` : ''}`);
  }
  if (isMeshLink(link, [])) return;
  if (!context.force) {
    throw new InputError(`--iface ${iface} is not a mesh tunnel (${describeLink(link)}, not tun or wireguard, not a known mesh name); its link-local address is left alone`,
      `name the mesh tunnel (tailscale0, wg0, ...); if ${iface} really is a tunnel with an unusual name, add --force`);
  }
  const defaults = snapshot.routes.filter((route) => route.table !== 255 && isDefaultRoute(route) && routeDevices(route).includes(iface));
  if (defaults.length > 0) {
    const route = defaults[0];
    throw new InputError(`--iface ${iface} carries the default route (${route.family === 6 ? '-6 ' : ''}default${route.gateway ? ` via ${route.gateway}` : ''} dev ${iface}${route.table !== 254 ? ` table ${route.table}` : ''}); refused even with --force`, 'this is an uplink, not a mesh tunnel: name the tunnel instead');
  }
  if (context.sshPeer && (await sshSessionLinks(snapshot, context.sshPeer)).includes(iface)) {
    throw new InputError(`--iface ${iface} carries your SSH session from ${context.sshPeer.clientAddress} (SSH_CONNECTION); refused even with --force`, 'name the mesh tunnel instead, or run it from a console');
  }
  warnings.push(`--force: treating ${iface} (${describeLink(link)}) as a mesh tunnel`);
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function linkLocalAddresses(snapshot: Snapshot, iface: string) {
  return snapshot.addresses.filter((address) => address.dev === iface && address.family === 6 && address.local.toLowerCase().startsWith('fe80:'));
}

function linkLocalRoutes(snapshot: Snapshot, iface: string) {
  return snapshot.routes.filter((route) => route.family === 6 && route.table === 254 && route.dst === 'fe80::/64' && route.dev === iface);
}

function currentAddrGenMode(snapshot: Snapshot, iface: string): number | undefined {
  const fromSnapshot = snapshot.sysctls?.interfaces?.[iface]?.addrGenMode;
  if (fromSnapshot !== undefined) return fromSnapshot;
  try {
    return Number.parseInt(readFileSync(`/proc/sys/net/ipv6/conf/${iface}/addr_gen_mode`, 'utf8'), 10);
  } catch {
    return undefined;
  }
}

/** Evidence lines when the tunnel still has link-local addressing. */
export function linkLocalLeft(snapshot: Snapshot, iface: string): string[] {
  return [
    ...linkLocalAddresses(snapshot, iface).map((address) => `inet6 ${address.local}/${address.prefixlen} dev ${iface} scope ${address.scope}`),
    ...linkLocalRoutes(snapshot, iface).map((route) => `${route.dst} dev ${iface} proto ${route.protocol} metric ${route.metric}`),
  ];
}

function liveSteps(snapshot: Snapshot, iface: string): LiveStep[] {
  if (!snapshot.links.some((link) => link.name === iface)) return [];
  const steps: LiveStep[] = [];
  const mode = currentAddrGenMode(snapshot, iface);
  if (mode !== 1) {
    const prior = mode !== undefined ? ADDR_GEN_MODES[mode] : undefined;
    steps.push({
      description: `stop generating a link-local address on ${iface} (IPv6 stays enabled)`,
      command: ['ip', 'link', 'set', 'dev', iface, 'addrgenmode', 'none'],
      undo: prior ? [['ip', 'link', 'set', 'dev', iface, 'addrgenmode', prior]] : [],
    });
  }
  for (const route of linkLocalRoutes(snapshot, iface)) {
    const undo = ['ip', '-6', 'route', 'add', 'fe80::/64', 'dev', iface, 'table', 'main', 'proto', route.protocol, 'metric', String(route.metric)];
    if (route.pref) undo.push('pref', route.pref);
    steps.push({
      description: `remove the fe80::/64 route on ${iface}`,
      command: ['ip', '-6', 'route', 'del', 'fe80::/64', 'dev', iface, 'table', 'main'],
      undo: [undo as [string, ...string[]]],
      simulate: (s) => { s.routes = s.routes.filter((r) => !(r.family === 6 && r.table === 254 && r.dst === 'fe80::/64' && r.dev === iface)); },
    });
  }
  for (const address of linkLocalAddresses(snapshot, iface)) {
    const cidr = `${address.local}/${address.prefixlen}`;
    steps.push({
      description: `remove the link-local address ${cidr} from ${iface}`,
      command: ['ip', '-6', 'addr', 'del', cidr, 'dev', iface],
      undo: [['ip', '-6', 'addr', 'add', cidr, 'dev', iface, 'scope', 'link']],
      simulate: (s) => { s.addresses = s.addresses.filter((a) => !(a.dev === iface && a.family === 6 && a.local === address.local)); },
    });
  }
  return steps;
}

export function networkdUnit(iface: string): string {
  return [
    '# Written by `netmend fix link-local`. The mesh daemon owns this link\'s addresses and routes',
    '# (KeepConfiguration=yes keeps them); networkd only keeps IPv6 link-local addressing off.',
    '[Match]',
    `Name=${iface}`,
    '',
    '[Network]',
    'KeepConfiguration=yes',
    'LinkLocalAddressing=no',
    'IPv6AcceptRA=no',
    'DHCP=no',
    '',
    '[Link]',
    'RequiredForOnline=no',
    '',
  ].join('\n');
}

export function udevRule(iface: string): string {
  return [
    '# Written by `netmend fix link-local`: each time the mesh daemon creates the tunnel, stop',
    '# IPv6 link-local generation on it and drop any fe80 address or route already added.',
    `ACTION=="add", SUBSYSTEM=="net", KERNEL=="${iface}", RUN+="/sbin/ip link set dev %k addrgenmode none", RUN+="/sbin/ip -6 addr flush dev %k scope link", RUN+="/sbin/ip -6 route del fe80::/64 dev %k table main"`,
    '',
  ].join('\n');
}

export function hotplugScript(iface: string): string {
  return [
    '#!/bin/sh',
    '# Written by `netmend fix link-local`: procd runs this on net events; when the mesh daemon',
    '# creates the tunnel, stop IPv6 link-local generation on it (IPv6 itself stays on).',
    `[ "$ACTION" = add ] && [ "$INTERFACE" = "${iface}" ] || exit 0`,
    `echo 1 > /proc/sys/net/ipv6/conf/${iface}/addr_gen_mode`,
    `ip -6 addr flush dev ${iface} scope link 2>/dev/null`,
    `ip -6 route del fe80::/64 dev ${iface} 2>/dev/null`,
    'exit 0',
    '',
  ].join('\n');
}

export async function buildLinkLocalPlan(context: FixContext, options: LinkLocalOptions): Promise<FixPlan> {
  const iface = chooseTunnel(context.snapshot, options.iface);
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(iface)) throw new InputError(`--iface: '${iface}' is not an interface name`);
  const warnings: string[] = [];
  await checkTunnel(context, iface, warnings);
  const method = resolveMethod(context.root, context.method);
  const plan = emptyPlan('link-local', `no IPv6 link-local address or fe80::/64 route on ${iface}, now and after restarts`, method);
  plan.warnings.push(...warnings);
  const parse = (text: string, path: string) => { parseNetworkd(text, path); };
  if (method === 'networkd') {
    const files = loadNetworkFiles(context.root, underRoot);
    const path = `/etc/systemd/network/10-netmend-${iface}.network`;
    const first = networkFileFor(files, iface);
    if (first && first.path !== path && first.path.split('/').pop()! < path.split('/').pop()!) {
      plan.warnings.push(`${first.path} matches ${iface} and sorts first, so networkd uses it instead of ${path}: move LinkLocalAddressing=no there`);
    }
    plan.files.push({ path, content: networkdUnit(iface), reason: `networkd: no link-local addressing on ${iface}, keep the mesh daemon's own config`, parseExisting: parse });
    plan.reloads.push(...networkdReloads(context.root));
  } else if (method === 'sysctl') {
    plan.files.push({ path: `/etc/udev/rules.d/90-netmend-link-local-${iface}.rules`, content: udevRule(iface), reason: `udev: applied whenever ${iface} appears (the mesh daemon creates it)` });
  } else {
    const script = `/etc/hotplug.d/net/90-netmend-link-local-${iface}`;
    plan.files.push({ path: script, content: hotplugScript(iface), mode: 0o755, reason: `OpenWrt hotplug: applied whenever ${iface} appears` });
    // sysupgrade keeps /etc/config but not /etc/hotplug.d unless listed here.
    const keep = '/etc/sysupgrade.conf';
    const current = readIfExists(underRoot(context.root, keep));
    const lines = (current ?? '').split('\n');
    if (!lines.includes(script)) {
      const base = current === null || current === '' ? '' : current.endsWith('\n') ? current : `${current}\n`;
      plan.files.push({ path: keep, content: `${base}${script}\n`, reason: 'keep the hotplug script across sysupgrade' });
    }
  }
  if (context.live) plan.live.push(...liveSteps(context.snapshot, iface));
  plan.verify.push({ checkId: LINK_LOCAL_CHECK, stillBroken: (snapshot) => linkLocalLeft(snapshot, iface) });
  return plan;
}
