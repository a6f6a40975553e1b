/**
 * Which programs serve DNS on this host: sockets bound to port 53 in /proc/net/{udp,udp6,tcp,tcp6}
 * (this network namespace only), mapped to processes through their socket inodes. Processes in
 * other network namespaces are ignored, so a test's daemons are never confused with the host's.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { formatIpv6 } from './client.js';

export interface ResolverProcess {
  pid: number;
  /** Program name (comm): dnsmasq, unbound, systemd-resolve, ctrld, ... */
  name: string;
  argv: string[];
  /** "127.0.0.53:53/udp", "[::1]:53/tcp" */
  listening: string[];
  /** The systemd unit the process runs in, from its cgroup ("dnsmasq.service"), when any. */
  systemdUnit?: string;
}

function hexToIpv4(hex: string): string {
  const value = Number.parseInt(hex, 16);
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24].join('.');
}

function hexToIpv6(hex: string): string {
  // /proc prints the address as four host-order (little-endian) 32-bit words.
  const bytes = Buffer.alloc(16);
  for (let word = 0; word < 4; word++) bytes.writeUInt32BE(Number.parseInt(hex.slice(word * 8, word * 8 + 8), 16), word * 4);
  for (let word = 0; word < 4; word++) bytes.writeUInt32LE(bytes.readUInt32BE(word * 4), word * 4);
  return formatIpv6(bytes);
}

/** Port-53 listening sockets of this namespace: inode -> "addr:53/proto". */
export function dnsListeningSockets(procRoot = '/proc'): Map<string, string> {
  const sockets = new Map<string, string>();
  for (const [file, proto, v6] of [['udp', 'udp', false], ['udp6', 'udp', true], ['tcp', 'tcp', false], ['tcp6', 'tcp', true]] as const) {
    let text: string;
    try { text = readFileSync(`${procRoot}/self/net/${file}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const [addressHex, portHex] = fields[1].split(':');
      if (Number.parseInt(portHex, 16) !== 53) continue;
      // TCP: only LISTEN (0A); UDP: unconnected (07).
      if (proto === 'tcp' ? fields[3] !== '0A' : fields[3] !== '07') continue;
      const address = v6 ? `[${hexToIpv6(addressHex)}]` : hexToIpv4(addressHex);
      sockets.set(fields[9], `${address}:53/${proto}`);
    }
  }
  return sockets;
}

function ownNetns(procRoot: string): string | undefined {
  try { return readlinkSync(`${procRoot}/self/ns/net`); } catch { return undefined; }
}

export function readArgv(pid: number, procRoot = '/proc'): string[] | undefined {
  try {
    return readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8').split('\0').filter((arg, i, all) => arg.length > 0 || i < all.length - 1);
  } catch {
    return undefined;
  }
}

function systemdUnitOf(pid: number, procRoot: string): string | undefined {
  try {
    const cgroup = readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8');
    return /\/([^/\n]+\.service)(?:\/|\n|$)/.exec(cgroup)?.[1];
  } catch {
    return undefined;
  }
}

/** Processes in this network namespace holding a port-53 socket. */
export function findResolverProcesses(procRoot = '/proc'): ResolverProcess[] {
  const sockets = dnsListeningSockets(procRoot);
  if (sockets.size === 0) return [];
  const netns = ownNetns(procRoot);
  const found: ResolverProcess[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      if (netns && readlinkSync(`${procRoot}/${pid}/ns/net`) !== netns) continue;
      const listening = new Set<string>();
      for (const fd of readdirSync(`${procRoot}/${pid}/fd`)) {
        let target: string;
        try { target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`); } catch { continue; }
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode && sockets.has(inode)) listening.add(sockets.get(inode)!);
      }
      if (listening.size === 0) continue;
      const name = readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim();
      found.push({ pid, name, argv: readArgv(pid, procRoot) ?? [], listening: [...listening].sort(), systemdUnit: systemdUnitOf(pid, procRoot) });
    } catch {
      continue; // the process ended, or is not ours to read
    }
  }
  return found.sort((a, b) => a.pid - b.pid);
}
