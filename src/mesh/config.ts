/**
 * wg-quick configuration files ([Interface] and any number of [Peer] sections). The `ini`
 * package alone cannot read them: it merges repeated [Peer] sections and keeps only the last
 * of repeated keys (AllowedIPs, Address and DNS may repeat), and it forgets line numbers. So
 * sections and lines are split here and `ini` reads each value (quotes, inline comments).
 * Every error names FILE:LINE and nothing is half-applied: parsing has no side effects.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import ini from 'ini';
import ipaddr from 'ipaddr.js';
import { InputError } from '../errors.js';
import { decodeKey, encodeKey, publicKeyOf } from './keys.js';

export interface MeshInterfaceConfig {
  privateKey: Buffer;
  listenPort?: number;
  addresses: string[];
  mtu: number /* default 1420 */;
  dns: string[];
  fwmark?: number;
}
export interface MeshPeerConfig {
  publicKey: Buffer;
  presharedKey?: Buffer;
  allowedIps: string[];
  endpoint?: { host: string; port: number };
  persistentKeepalive?: number;
}
export interface MeshConfig {
  file: string;
  iface: string /* from the file name: mesh0.conf → mesh0 */;
  interface: MeshInterfaceConfig;
  peers: MeshPeerConfig[];
  warnings: string[];
}

export const DEFAULT_MTU = 1420;
const MIN_MTU = 576;
const MAX_MTU = 65535;
const INTERFACE_NAME = /^[A-Za-z0-9_=+.-]{1,15}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

// wg-quick keys netmend reads, by section, lower-cased (wg-quick and wg compare case-insensitively).
const INTERFACE_KEYS = ['privatekey', 'listenport', 'address', 'mtu', 'dns', 'fwmark'] as const;
const PEER_KEYS = ['publickey', 'presharedkey', 'allowedips', 'endpoint', 'persistentkeepalive'] as const;
// wg-quick's own [Interface] keys that the netmend node does not act on: accepted with a warning,
// so a file written for wg-quick still loads.
const WG_QUICK_ONLY_KEYS = new Set(['table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig']);
const REPEATABLE = new Set(['address', 'dns', 'allowedips']);

interface Line {
  number: number;
  key: string;
  /** As written, for messages. */
  rawKey: string;
  value: string;
}

interface Section {
  kind: 'interface' | 'peer';
  line: number;
  entries: Line[];
}

/** The hint printed with every config error. */
const HINT = 'see wg-quick(8) for the format; netmend node reads the same files';

class ConfigReader {
  readonly warnings: string[] = [];
  constructor(readonly file: string) {}

  error(line: number | undefined, message: string, hint = HINT): InputError {
    return new InputError(line === undefined ? `${this.file}: ${message}` : `${this.file}:${line}: ${message}`, hint);
  }

  split(text: string): Section[] {
    const sections: Section[] = [];
    let current: Section | undefined;
    const lines = text.split(/\r?\n/);
    for (let index = 0; index < lines.length; index++) {
      const number = index + 1;
      const raw = lines[index];
      const stripped = raw.replace(/#.*$/, '').trim();
      if (stripped === '') continue;
      const header = /^\[\s*([^\]]*?)\s*\]$/.exec(stripped);
      if (header) {
        const name = header[1].toLowerCase();
        if (name !== 'interface' && name !== 'peer') throw this.error(number, `unknown section [${header[1]}]`, 'a wg-quick file has one [Interface] and any number of [Peer] sections');
        if (name === 'interface' && sections.some((section) => section.kind === 'interface')) {
          throw this.error(number, 'a second [Interface] section', 'one file describes one interface');
        }
        current = { kind: name, line: number, entries: [] };
        sections.push(current);
        continue;
      }
      const equals = stripped.indexOf('=');
      // The line itself is not echoed: it may be a mistyped private key line.
      if (equals <= 0) throw this.error(number, 'this line is not "Key = Value" (nor a [Section])');
      if (!current) throw this.error(number, `'${stripped.slice(0, equals).trim()}' comes before any [Interface] or [Peer] section`);
      const rawKey = stripped.slice(0, equals).trim();
      // "PrivateKey abc...=" has its '=' in the base64 padding: reject without echoing the key.
      if (!/^[A-Za-z]+$/.test(rawKey)) throw this.error(number, 'this line is not "Key = Value" (nor a [Section])');
      // ini's value reader: strips quotes and what is left of inline comments, keeps '=' padding.
      const value = String(ini.unsafe(stripped.slice(equals + 1).trim()));
      current.entries.push({ number, key: rawKey.toLowerCase(), rawKey, value });
    }
    return sections;
  }

  /** Checks keys against the section's vocabulary and groups the values, keeping line numbers. */
  group(section: Section, known: readonly string[]): Map<string, Line[]> {
    const byKey = new Map<string, Line[]>();
    for (const entry of section.entries) {
      if (section.kind === 'interface' && WG_QUICK_ONLY_KEYS.has(entry.key)) {
        this.warnings.push(`${this.file}:${entry.number}: ${entry.rawKey} is a wg-quick setting the netmend node ignores`);
        continue;
      }
      if (!known.includes(entry.key)) {
        const where = section.kind === 'interface' ? '[Interface]' : '[Peer]';
        const other = section.kind === 'interface' ? PEER_KEYS : INTERFACE_KEYS;
        const hint = (other as readonly string[]).includes(entry.key)
          ? `${entry.rawKey} belongs in ${section.kind === 'interface' ? '[Peer]' : '[Interface]'}`
          : `${where} keys are ${known.map(displayKey).join(', ')}`;
        throw this.error(entry.number, `unknown key '${entry.rawKey}' in ${where}`, hint);
      }
      const list = byKey.get(entry.key) ?? [];
      if (list.length > 0 && !REPEATABLE.has(entry.key)) {
        throw this.error(entry.number, `${entry.rawKey} given twice (first on line ${list[0].number})`, 'keep one of them');
      }
      list.push(entry);
      byKey.set(entry.key, list);
    }
    return byKey;
  }

  key(entry: Line, what: string): Buffer {
    try {
      return decodeKey(entry.value, what);
    } catch (error) {
      throw this.error(entry.number, `${entry.rawKey} is not a valid key: ${(error as InputError).message.replace(/^[^:]*: /, '')}`, (error as InputError).hint);
    }
  }

  integer(entry: Line, min: number, max: number): number {
    if (!/^\d+$/.test(entry.value)) throw this.error(entry.number, `${entry.rawKey} '${entry.value}' is not a number`);
    const value = Number(entry.value);
    if (value < min || value > max) throw this.error(entry.number, `${entry.rawKey} ${value} is out of range (${min}-${max})`);
    return value;
  }

  /** Comma lists may also be spread over repeated lines; empty items are skipped like wg does. */
  items(entries: Line[] | undefined): Array<{ entry: Line; item: string }> {
    const out: Array<{ entry: Line; item: string }> = [];
    for (const entry of entries ?? []) {
      for (const item of entry.value.split(',')) {
        const trimmed = item.trim();
        if (trimmed !== '') out.push({ entry, item: trimmed });
      }
    }
    return out;
  }

  /** A CIDR; a bare address means a single host (/32 or /128), as wg-quick reads it. */
  cidr(entry: Line, text: string, what: string): { address: ipaddr.IPv4 | ipaddr.IPv6; prefix: number } {
    const slash = text.indexOf('/');
    const addressText = slash === -1 ? text : text.slice(0, slash);
    if (!isIpAddress(addressText)) throw this.error(entry.number, `${what} '${text}' is not an IP address or CIDR`);
    const address = ipaddr.parse(addressText);
    const maxPrefix = address.kind() === 'ipv4' ? 32 : 128;
    if (slash === -1) return { address, prefix: maxPrefix };
    const prefixText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) {
      throw this.error(entry.number, `${what} '${text}' has a bad prefix length (0-${maxPrefix} for ${address.kind() === 'ipv4' ? 'IPv4' : 'IPv6'})`);
    }
    return { address, prefix: Number(prefixText) };
  }

  endpoint(entry: Line): { host: string; port: number } {
    const match = /^\[([^\]]+)\]:(\d+)$/.exec(entry.value) ?? /^([^:\[\]]+):(\d+)$/.exec(entry.value);
    if (!match) throw this.error(entry.number, `Endpoint '${entry.value}' is not HOST:PORT`, 'write an IPv6 endpoint as [2001:db8::1]:51820');
    const host = match[1];
    const port = Number(match[2]);
    if (port < 1 || port > 65535) throw this.error(entry.number, `Endpoint port ${match[2]} is out of range (1-65535)`);
    const bracketed = entry.value.startsWith('[');
    if (bracketed ? !ipaddr.IPv6.isValid(host) : !(ipaddr.IPv4.isValidFourPartDecimal(host) || HOSTNAME.test(host))) {
      throw this.error(entry.number, `Endpoint host '${host}' is not an IP address or host name`);
    }
    return { host, port };
  }
}

/** Only the usual spellings: ipaddr.js alone would also take '10' or '0x0a.1' as IPv4. */
function isIpAddress(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text) || (ipaddr.IPv6.isValid(text) && text.includes(':') && !text.includes('%'));
}

function displayKey(key: string): string {
  const names: Record<string, string> = {
    privatekey: 'PrivateKey', listenport: 'ListenPort', address: 'Address', mtu: 'MTU', dns: 'DNS', fwmark: 'FwMark',
    publickey: 'PublicKey', presharedkey: 'PresharedKey', allowedips: 'AllowedIPs', endpoint: 'Endpoint', persistentkeepalive: 'PersistentKeepalive',
  };
  return names[key] ?? key;
}

/** The interface name wg-quick would use: the file name without `.conf`. */
export function interfaceNameOf(file: string): string {
  return basename(file).replace(/\.conf$/, '');
}

/** InputError (exit 2) "FILE:LINE: what is wrong" for a bad key, bad CIDR, unknown key, bad port... */
export function parseMeshConfig(text: string, file: string): MeshConfig {
  const reader = new ConfigReader(file);
  const iface = interfaceNameOf(file);
  if (!INTERFACE_NAME.test(iface)) {
    throw reader.error(undefined, `the interface name '${iface}' (from the file name) is not valid`, 'name the file IFACE.conf with IFACE 1-15 letters, digits or _=+.-, e.g. mesh0.conf');
  }
  const sections = reader.split(text);
  const interfaceSection = sections.find((section) => section.kind === 'interface');
  if (!interfaceSection) throw reader.error(undefined, 'no [Interface] section', 'start the file with [Interface] and a PrivateKey');

  const values = reader.group(interfaceSection, INTERFACE_KEYS);
  const privateKeyLine = values.get('privatekey')?.[0];
  if (!privateKeyLine) throw reader.error(interfaceSection.line, '[Interface] has no PrivateKey', 'generate one with `netmend node genkey`');
  const privateKey = reader.key(privateKeyLine, 'PrivateKey');

  const addresses: string[] = [];
  for (const { entry, item } of reader.items(values.get('address'))) {
    const { address, prefix } = reader.cidr(entry, item, 'Address');
    addresses.push(`${address.toString()}/${prefix}`);
  }
  const dns: string[] = [];
  for (const { entry, item } of reader.items(values.get('dns'))) {
    // wg-quick: an IP is a resolver, anything else a search domain.
    if (!isIpAddress(item) && !HOSTNAME.test(item)) throw reader.error(entry.number, `DNS '${item}' is neither an IP address nor a search domain`);
    dns.push(isIpAddress(item) ? ipaddr.parse(item).toString() : item);
  }
  const mtuLine = values.get('mtu')?.[0];
  const mtu = mtuLine ? reader.integer(mtuLine, MIN_MTU, MAX_MTU) : DEFAULT_MTU;
  if (mtu < 1280 && addresses.some((address) => address.includes(':'))) {
    reader.warnings.push(`${file}:${mtuLine!.number}: MTU ${mtu} is below 1280, the minimum for IPv6; the IPv6 addresses will not work`);
  }
  const portLine = values.get('listenport')?.[0];
  const listenPort = portLine ? reader.integer(portLine, 0, 65535) : undefined;
  const fwmarkLine = values.get('fwmark')?.[0];
  let fwmark: number | undefined;
  if (fwmarkLine) {
    const text = fwmarkLine.value.toLowerCase();
    if (text === 'off') fwmark = undefined;
    else if (/^0x[0-9a-f]{1,8}$/.test(text) || /^\d+$/.test(text)) {
      fwmark = Number(text);
      if (fwmark > 0xffffffff) throw reader.error(fwmarkLine.number, `FwMark ${fwmarkLine.value} does not fit in 32 bits`);
      if (fwmark === 0) fwmark = undefined;
    } else throw reader.error(fwmarkLine.number, `FwMark '${fwmarkLine.value}' is not a number, 0x hex or "off"`);
  }

  const ownPublicKey = publicKeyOf(privateKey);
  const peers: MeshPeerConfig[] = [];
  const peerLines = new Map<string, number>();
  for (const section of sections) {
    if (section.kind !== 'peer') continue;
    const peerValues = reader.group(section, PEER_KEYS);
    const publicKeyLine = peerValues.get('publickey')?.[0];
    if (!publicKeyLine) throw reader.error(section.line, '[Peer] has no PublicKey', 'every peer is identified by its public key (`netmend node pubkey`)');
    const publicKey = reader.key(publicKeyLine, 'PublicKey');
    const encoded = encodeKey(publicKey);
    const previous = peerLines.get(encoded);
    if (previous !== undefined) throw reader.error(publicKeyLine.number, `the same PublicKey as the [Peer] on line ${previous}`, 'merge the two [Peer] sections');
    peerLines.set(encoded, section.line);
    if (publicKey.equals(ownPublicKey)) {
      reader.warnings.push(`${file}:${publicKeyLine.number}: this [Peer] has the interface's own public key; it is ignored`);
      continue;
    }
    const peer: MeshPeerConfig = { publicKey, allowedIps: [] };
    const pskLine = peerValues.get('presharedkey')?.[0];
    if (pskLine) peer.presharedKey = reader.key(pskLine, 'PresharedKey');
    const seen = new Set<string>();
    for (const { entry, item } of reader.items(peerValues.get('allowedips'))) {
      const { address, prefix } = reader.cidr(entry, item, 'AllowedIPs');
      // Routing uses the network, as `wg` does: 10.0.0.1/24 is 10.0.0.0/24.
      const network = address.kind() === 'ipv4'
        ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${prefix}`)
        : ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${prefix}`);
      const cidr = `${network.toString()}/${prefix}`;
      if (!seen.has(cidr)) peer.allowedIps.push(cidr);
      seen.add(cidr);
    }
    const endpointLine = peerValues.get('endpoint')?.[0];
    if (endpointLine) peer.endpoint = reader.endpoint(endpointLine);
    const keepaliveLine = peerValues.get('persistentkeepalive')?.[0];
    if (keepaliveLine && keepaliveLine.value.toLowerCase() !== 'off') {
      const seconds = reader.integer(keepaliveLine, 0, 65535);
      if (seconds > 0) peer.persistentKeepalive = seconds;
    }
    peers.push(peer);
  }

  return {
    file,
    iface,
    interface: { privateKey, listenPort, addresses, mtu, dns, fwmark },
    peers,
    warnings: reader.warnings,
  };
}

/** Reads the file; adds a warning when it holds a private key and is readable by group/others. */
export function readMeshConfig(path: string): MeshConfig {
  let text: string;
  let mode: number;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new InputError(`cannot read ${path}: ${code}`, code === 'ENOENT' ? 'give the path of a wg-quick style IFACE.conf' : undefined);
  }
  const config = parseMeshConfig(text, path);
  if ((mode & 0o044) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0');
    config.warnings.unshift(`${path} holds a private key and is readable by ${(mode & 0o004) !== 0 ? 'everyone' : 'its group'} (mode ${octal}); run \`chmod 600 ${path}\``);
  }
  return config;
}
