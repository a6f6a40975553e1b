/**
 * The mesh node's netlink writes: bring its TUN link up with an MTU, add its addresses and the
 * routes for its peers' AllowedIPs, delete the link on shutdown. Everything else under
 * src/netlink/ reads state; this file only configures the node's own interface.
 *
 * Every write is idempotent, so a second `node up` step converges instead of failing with
 * "File exists"; a route never replaces someone else's.
 */
import ipaddr from 'ipaddr.js';
import type { RtNetlinkSocket } from 'netlink';
import { CheckCouldNotRunError, InputError, NeedsRootError } from '../errors.js';

const AF_INET = 2;
const AF_INET6 = 10;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const RT_TABLE_MAIN = 254;
const REQUEST_TIMEOUT_MS = 5000;

interface ParsedCidr {
  family: number;
  bytes: Buffer;
  prefix: number;
}

function parseCidr(cidr: string, what: string): ParsedCidr {
  const [addressText, prefixText, extra] = cidr.split('/');
  if (extra !== undefined || !(ipaddr.IPv4.isValidFourPartDecimal(addressText) || (addressText.includes(':') && ipaddr.IPv6.isValid(addressText)))) throw new InputError(`${what} '${cidr}' is not an IP address or CIDR`);
  const address = ipaddr.parse(addressText);
  const max = address.kind() === 'ipv4' ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(max)) || prefix > max) throw new InputError(`${what} '${cidr}' has a bad prefix length`);
  return { family: address.kind() === 'ipv4' ? AF_INET : AF_INET6, bytes: Buffer.from(address.toByteArray()), prefix };
}

/** Routes are keyed by their network, so 10.0.0.1/24 becomes 10.0.0.0/24 as `ip route` does. */
function networkOf(parsed: ParsedCidr): Buffer {
  const bytes = Buffer.from(parsed.bytes);
  for (let bit = parsed.prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  return bytes;
}

/** The errno name: the netlink package reports kernel rejections only as "Request rejected: ENODEV". */
function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return /Request rejected: (\w+)/.exec(String((error as Error)?.message))?.[1];
}

function describe(error: unknown): string {
  return errorCode(error) ?? (error as Error)?.message ?? String(error);
}

async function withSocket<T>(action: string, ifname: string, work: (socket: RtNetlinkSocket) => Promise<T>): Promise<T> {
  const { createRtNetlink } = await import('netlink');
  let socket: RtNetlinkSocket;
  try {
    socket = createRtNetlink();
  } catch (error) {
    throw new CheckCouldNotRunError(`cannot open a netlink socket to ${action}: ${describe(error)}`);
  }
  try {
    return await work(socket);
  } catch (error) {
    if (error instanceof InputError || error instanceof CheckCouldNotRunError) throw error;
    const code = errorCode(error);
    if (code === 'EPERM' || code === 'EACCES') throw new NeedsRootError(`${action} (${ifname})`);
    throw new CheckCouldNotRunError(`netlink: cannot ${action} on ${ifname}: ${describe(error)}`, undefined, error);
  } finally {
    socket.socket.close();
  }
}

async function indexOf(socket: RtNetlinkSocket, ifname: string): Promise<number> {
  try {
    const [link] = await socket.getLink({}, { ifname }, { timeout: REQUEST_TIMEOUT_MS });
    if (link?.data.index) return link.data.index;
  } catch (error) {
    if (errorCode(error) !== 'ENODEV') throw error;
  }
  throw new CheckCouldNotRunError(`interface ${ifname} does not exist`, 'is the mesh node running? (`netmend node up -c FILE`)');
}

/** Sets the MTU and brings the link up (`ip link set IF mtu N up`). */
export async function setLinkUp(ifname: string, mtu: number): Promise<void> {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new InputError(`MTU ${mtu} is out of range (68-65535)`);
  await withSocket('bring the link up', ifname, async (socket) => {
    const index = await indexOf(socket, ifname);
    await socket.setLink({ index, flags: { up: true }, change: { up: true } }, { mtu }, { timeout: REQUEST_TIMEOUT_MS });
  });
}

/** `ip addr replace CIDR dev IF`, IPv4 or IPv6. */
export async function addAddress(ifname: string, cidr: string): Promise<void> {
  const parsed = parseCidr(cidr, 'address');
  await withSocket(`add address ${cidr}`, ifname, async (socket) => {
    const index = await indexOf(socket, ifname);
    // IPv6 addresses skip duplicate address detection: a point-to-point tunnel has no one to ask,
    // and a tentative address cannot be used as a source for the first seconds.
    const flags = parsed.family === AF_INET6 ? { nodad: true as const } : undefined;
    await socket.newAddress(
      { family: parsed.family, prefixlen: parsed.prefix, index, flags },
      { local: parsed.bytes, address: parsed.bytes },
      { flags: NLM_F_CREATE | NLM_F_REPLACE, timeout: REQUEST_TIMEOUT_MS },
    );
  });
}

/**
 * `ip route add CIDR dev IF [table N]`: a link route, as wg-quick adds for AllowedIPs. Never
 * `replace`: that would silently take over a LAN's route with the same prefix. The same route
 * already through IF is fine (idempotent); one through another device is an error naming it.
 */
export async function addRoute(ifname: string, cidr: string, table?: number): Promise<void> {
  const parsed = parseCidr(cidr, 'route');
  const tableId = table ?? RT_TABLE_MAIN;
  if (!Number.isInteger(tableId) || tableId < 1 || tableId > 0xffffffff) throw new InputError(`routing table ${table} is out of range`);
  const destination = networkOf(parsed);
  await withSocket(`add route ${cidr}`, ifname, async (socket) => {
    const oif = await indexOf(socket, ifname);
    const header = {
      family: parsed.family,
      dstLen: parsed.prefix,
      // The header holds 8 bits; larger tables travel only in the RTA_TABLE attribute.
      table: tableId < 256 ? tableId : 0,
    };
    try {
      await socket.newRoute(
        { ...header, protocol: 'BOOT', scope: 'LINK', type: 'UNICAST' },
        { dst: destination, oif, table: tableId },
        { flags: NLM_F_CREATE | NLM_F_EXCL, timeout: REQUEST_TIMEOUT_MS },
      );
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
      // Only on a conflict, so the cost of dumping a large table is paid rarely.
      const routes = await socket.getRoutes({ family: parsed.family }, {}, { timeout: REQUEST_TIMEOUT_MS });
      const same = routes.filter((route) => route.data.dstLen === parsed.prefix
        && (route.attrs.table ?? route.data.table) === tableId
        && (parsed.prefix === 0 || (route.attrs.dst !== undefined && destination.equals(route.attrs.dst))));
      if (same.some((route) => route.attrs.oif === oif)) return;
      const holder = same.find((route) => route.attrs.oif !== undefined)?.attrs.oif;
      const where = holder === undefined ? 'another route' : `a route via ${await nameOf(socket, holder)}`;
      throw new CheckCouldNotRunError(`cannot route ${cidr} through ${ifname}: table ${tableId} already has ${where} for it`,
        'AllowedIPs overlap a route this host already uses; narrow AllowedIPs or remove that route');
    }
  });
}

async function nameOf(socket: RtNetlinkSocket, index: number): Promise<string> {
  try {
    const [link] = await socket.getLink({ index }, {}, { timeout: REQUEST_TIMEOUT_MS });
    return link?.attrs.ifname ?? `ifindex ${index}`;
  } catch {
    return `ifindex ${index}`;
  }
}

/** `ip link del IF`; an interface that is already gone is not an error (shutdown is idempotent). */
export async function deleteLink(ifname: string): Promise<void> {
  await withSocket('delete the link', ifname, async (socket) => {
    let index: number;
    try {
      index = await indexOf(socket, ifname);
    } catch (error) {
      if (error instanceof CheckCouldNotRunError) return;
      throw error;
    }
    try {
      await socket.delLink({ index }, {}, { timeout: REQUEST_TIMEOUT_MS });
    } catch (error) {
      if (errorCode(error) !== 'ENODEV') throw error;
    }
  });
}
