/**
 * The sysctls that decide forwarding and reverse-path filtering (with the mark it may use), read from /proc/sys either
 * directly (live local host) or through a shell script whose output is parsed here (ssh, ip
 * readers). The script prints "path:value" lines so both ways produce the same Sysctls.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { InterfaceSysctls, Sysctls } from './types.js';

const PER_INTERFACE: ReadonlyArray<[family: 'ipv4' | 'ipv6', file: string, key: keyof InterfaceSysctls]> = [
  ['ipv4', 'forwarding', 'forwarding4'],
  ['ipv6', 'forwarding', 'forwarding6'],
  ['ipv4', 'rp_filter', 'rpFilter'],
  ['ipv4', 'src_valid_mark', 'srcValidMark'],
  ['ipv6', 'addr_gen_mode', 'addrGenMode'],
  ['ipv6', 'disable_ipv6', 'disableIpv6'],
];

/**
 * POSIX sh (busybox ash and dash too) printing every relevant sysctl as "net/ipv4/...:value".
 * Missing files (IPv6 disabled at boot) are simply absent.
 */
export const SYSCTL_SCRIPT = [
  // grep -H prints "file:value" for all files in one process; dash's `read` cannot read procfs files.
  'cd /proc/sys 2>/dev/null && grep -H . net/ipv4/ip_forward net/ipv4/conf/*/forwarding net/ipv4/conf/*/rp_filter net/ipv4/conf/*/src_valid_mark',
  'net/ipv6/conf/*/forwarding net/ipv6/conf/*/addr_gen_mode net/ipv6/conf/*/disable_ipv6 2>/dev/null; true',
].join(' ');

function applySysctl(sysctls: Sysctls, path: string, value: number): void {
  if (path === 'net/ipv4/ip_forward') {
    sysctls.ipForward = value;
    return;
  }
  const match = /^net\/(ipv4|ipv6)\/conf\/([^/]+)\/([a-z_0-9]+)$/.exec(path);
  if (!match) return;
  const [, family, ifname, file] = match;
  const entry = PER_INTERFACE.find(([f, name]) => f === family && name === file);
  if (!entry) return;
  (sysctls.interfaces[ifname] ??= {})[entry[2]] = value;
  if (family === 'ipv6' && file === 'forwarding' && ifname === 'all') sysctls.ipv6Forwarding = value;
}

/** Parse SYSCTL_SCRIPT's output; lines that are not "path:integer" are ignored. */
export function parseSysctlLines(text: string): Sysctls {
  const sysctls: Sysctls = { interfaces: {} };
  for (const line of text.split('\n')) {
    const eq = line.indexOf(':');
    if (eq < 0) continue;
    const value = line.slice(eq + 1).trim();
    if (!/^-?\d+$/.test(value)) continue;
    applySysctl(sysctls, line.slice(0, eq).trim(), Number(value));
  }
  return sortSysctls(sysctls);
}

/** Interfaces in name order so two readers' outputs compare equal as JSON. */
function sortSysctls(sysctls: Sysctls): Sysctls {
  const interfaces: Record<string, InterfaceSysctls> = {};
  for (const name of Object.keys(sysctls.interfaces).sort()) {
    const source = sysctls.interfaces[name];
    const ordered: InterfaceSysctls = {};
    for (const [, , key] of PER_INTERFACE) if (source[key] !== undefined) ordered[key] = source[key];
    interfaces[name] = ordered;
  }
  return { ...sysctls, interfaces };
}

function readNumber(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return /^-?\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** The local host's sysctls (of this process's network namespace), straight from /proc/sys. */
export function readLocalSysctls(procSys = '/proc/sys'): Sysctls {
  const sysctls: Sysctls = { interfaces: {} };
  const forward = readNumber(`${procSys}/net/ipv4/ip_forward`);
  if (forward !== undefined) applySysctl(sysctls, 'net/ipv4/ip_forward', forward);
  for (const family of ['ipv4', 'ipv6'] as const) {
    let names: string[];
    try {
      names = readdirSync(`${procSys}/net/${family}/conf`);
    } catch {
      continue;
    }
    for (const ifname of names) {
      for (const [f, file] of PER_INTERFACE) {
        if (f !== family) continue;
        const value = readNumber(`${procSys}/net/${family}/conf/${ifname}/${file}`);
        if (value !== undefined) applySysctl(sysctls, `net/${family}/conf/${ifname}/${file}`, value);
      }
    }
  }
  return sortSysctls(sysctls);
}

export function readLocalHostname(): string {
  try {
    return readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
  } catch {
    return 'localhost';
  }
}
