/**
 * resolv.conf(5): parsing, and deciding who owns the file. The owner decides how netmend may
 * change DNS: a file managed by systemd-resolved, NetworkManager or resolvconf is configured
 * through its owner, never written directly.
 */
import { isIP } from 'node:net';
import { InputError } from '../errors.js';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
  /** Comment lines before the first setting: where managers sign the file. */
  header: string[];
}

const KEYWORDS = new Set(['nameserver', 'search', 'domain', 'options', 'sortlist', 'lookup', 'family']);

/** Strict enough to catch a file that is not a resolv.conf at all; lenient about what glibc accepts. */
export function parseResolvConf(text: string, where: string): ResolvConf {
  if (text.includes('\0')) throw new InputError(`${where} is not a resolv.conf: it contains NUL bytes`, 'restore it from a backup');
  const result: ResolvConf = { nameservers: [], search: [], options: [], header: [] };
  let inHeader = true;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#') || line.startsWith(';')) {
      if (inHeader) result.header.push(line);
      continue;
    }
    inHeader = false;
    const [keyword, ...values] = line.split(/\s+/);
    if (!KEYWORDS.has(keyword)) {
      throw new InputError(`${where}:${index + 1}: '${line.slice(0, 60)}' is not a resolv.conf setting`, 'expected nameserver, search, domain or options lines');
    }
    if (keyword === 'nameserver') {
      const address = values[0]?.replace(/%.*$/, '') ?? '';
      if (values.length !== 1 || !isIP(address)) throw new InputError(`${where}:${index + 1}: nameserver needs one IP address, got '${values.join(' ')}'`);
      result.nameservers.push(values[0]);
    } else if (keyword === 'search' || keyword === 'domain') {
      // The last search/domain line wins, as in glibc.
      result.search = values.filter((value) => !value.startsWith('#'));
    } else if (keyword === 'options') {
      result.options.push(...values);
    }
  }
  return result;
}

export const MESH_RESOLVERS = ['100.100.100.100', 'fd7a:115c:a1e0::53'];

export type ResolvOwnerKind =
  | 'systemd-resolved' | 'NetworkManager' | 'resolvconf' | 'mesh-daemon' | 'local-proxy' | 'static' | 'missing';

export interface ResolvFileFacts {
  /** The path shown to the user (under --root when given). */
  path: string;
  exists: boolean;
  /** Where the symlink points, when it is one. */
  symlinkTarget?: string;
  text?: string;
  /** A backup the mesh daemon made before writing the file, when present. */
  meshBackupPath?: string;
}

export interface ResolverProcessFacts {
  pid: number;
  name: string;
  /** Addresses it listens on for DNS, as "127.0.0.53:53/udp". */
  listening: string[];
}

export interface ResolvOwner {
  kind: ResolvOwnerKind;
  /** A proxy or daemon name: dnsmasq, unbound, ctrld, tailscale. */
  program?: string;
  summary: string;
  evidence: string[];
}

export function isLoopback(address: string): boolean {
  const bare = address.replace(/%.*$/, '');
  return bare === '::1' || /^127\./.test(bare);
}

export function isMeshResolver(address: string): boolean {
  return MESH_RESOLVERS.includes(address.replace(/%.*$/, '').toLowerCase());
}

function headerMentions(header: string[], pattern: RegExp): string | undefined {
  return header.find((line) => pattern.test(line));
}

/** Who manages resolv.conf, from the symlink, the header, the nameservers and the listeners. */
export function classifyResolvOwner(file: ResolvFileFacts, parsed: ResolvConf | undefined, listeners: ResolverProcessFacts[]): ResolvOwner {
  const evidence: string[] = [];
  if (!file.exists) return { kind: 'missing', summary: `${file.path} does not exist`, evidence: [`${file.path}: missing`] };
  if (file.symlinkTarget) {
    evidence.push(`${file.path} -> ${file.symlinkTarget}`);
    const target = file.symlinkTarget;
    if (target.includes('/systemd/resolve/') || target.endsWith('/systemd/resolv.conf')) {
      const mode = target.endsWith('stub-resolv.conf') || target.endsWith('/usr/lib/systemd/resolv.conf') ? 'stub' : 'uplink';
      return { kind: 'systemd-resolved', summary: `systemd-resolved (${mode} mode) manages ${file.path}`, evidence };
    }
    if (target.includes('/NetworkManager/')) return { kind: 'NetworkManager', summary: `NetworkManager manages ${file.path}`, evidence };
    if (target.includes('/resolvconf/')) return { kind: 'resolvconf', summary: `resolvconf manages ${file.path}`, evidence };
  }
  const header = parsed?.header ?? [];
  const nameservers = parsed?.nameservers ?? [];
  for (const line of header) evidence.push(`${file.path}: ${line}`);
  for (const server of nameservers) evidence.push(`${file.path}: nameserver ${server}`);
  const meshHeader = headerMentions(header, /tailscale|headscale|netbird|zerotier/i);
  if (meshHeader || (nameservers.length > 0 && nameservers.every(isMeshResolver))) {
    if (file.meshBackupPath) evidence.push(`backup of the replaced file: ${file.meshBackupPath}`);
    const program = meshHeader ? (/tailscale/i.exec(meshHeader) ? 'tailscale' : meshHeader.match(/headscale|netbird|zerotier/i)?.[0].toLowerCase()) : 'tailscale';
    return { kind: 'mesh-daemon', program, summary: `the mesh daemon (${program}) wrote ${file.path} directly`, evidence };
  }
  if (headerMentions(header, /systemd-resolved/)) {
    return { kind: 'systemd-resolved', summary: `systemd-resolved wrote ${file.path} (header only; not a symlink)`, evidence };
  }
  if (headerMentions(header, /NetworkManager/)) return { kind: 'NetworkManager', summary: `NetworkManager wrote ${file.path}`, evidence };
  if (headerMentions(header, /resolvconf/)) return { kind: 'resolvconf', summary: `resolvconf wrote ${file.path}`, evidence };
  const local = nameservers.filter(isLoopback);
  if (local.length > 0) {
    const serving = listeners.find((process) => process.listening.some((socket) => local.some((server) => socket.startsWith(`${server.includes(':') ? `[${server}]` : server}:53/`))));
    for (const process of listeners.filter((p) => p.listening.some((socket) => /^(127\.|\[::1\])/.test(socket)))) evidence.push(`${process.name} (pid ${process.pid}) listens on ${process.listening.join(', ')}`);
    const program = serving?.name;
    return {
      kind: 'local-proxy',
      program,
      summary: program ? `a local resolver (${program}) on ${local.join(', ')} serves ${file.path}` : `${file.path} points at a local resolver on ${local.join(', ')}${listeners.length ? '' : ', but nothing listens there'}`,
      evidence,
    };
  }
  return { kind: 'static', summary: `${file.path} is a static file (no manager found)`, evidence };
}
