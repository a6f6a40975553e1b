/**
 * The source address the kernel picks for locally generated traffic when the route names none
 * (`src` in `ip route get`). IPv4 follows inet_select_addr (net/ipv4/devinet.c): the first
 * primary address of the output device whose scope the route allows, preferring one on the
 * gateway's subnet, else the first suitable address of any device. IPv6 follows
 * ipv6_dev_get_saddr (net/ipv6/addrconf.c, RFC 6724): the same address, then the smallest scope
 * that still reaches the destination (so fe80::1 and ff02::1 get the link-local address, and
 * even `::` does), the output device, the policy label, the longest common prefix. Multicast
 * and link-local destinations only consider the output device's addresses.
 */
import { maskIPv6, parseAddress, prefixContains, type ParsedAddress } from '../net/address.js';
import type { SnapshotIndex } from './index.js';

/** Kernel route/address scopes (RT_SCOPE_*). */
const SCOPE_NUMBER: Record<string, number> = { global: 0, universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };

export function scopeNumber(scope: string | undefined): number {
  if (scope === undefined) return 0;
  return SCOPE_NUMBER[scope] ?? (/^\d+$/.test(scope) ? Number(scope) : 0);
}

type IndexedAddress = NonNullable<ReturnType<SnapshotIndex['addressesByDev']['get']>>[number];

function usableIPv4(address: IndexedAddress): boolean {
  return address.family === 4 && !address.flags.includes('secondary');
}

/** inet_select_addr(dev, dst, scope). */
export function selectIPv4Source(index: SnapshotIndex, dev: string | undefined, near: ParsedAddress | undefined, scope: number): string | undefined {
  let first: string | undefined;
  for (const address of (dev ? index.addressesByDev.get(dev) : undefined) ?? []) {
    if (!usableIPv4(address) || scopeNumber(address.scope) > scope) continue;
    if (!near || prefixContains(address.prefix, near)) return address.local;
    first ??= address.local;
  }
  if (first) return first;
  // Any device, lo first as the kernel lists it: its 127.0.0.1 is host scope, so it only
  // answers a host-scope request.
  for (const name of index.linkOrder) {
    for (const address of index.addressesByDev.get(name) ?? []) {
      if (!usableIPv4(address)) continue;
      const addressScope = scopeNumber(address.scope);
      if (addressScope !== SCOPE_NUMBER.link && addressScope <= scope) return address.local;
    }
  }
  return undefined;
}

/** IPv6 address scopes as the kernel ranks them (IPV6_ADDR_SCOPE_*); -1 for `::`. */
export function ipv6Scope(value: bigint): number {
  if (value === 0n) return -1;
  if (value >> 120n === 0xffn) return Number((value >> 112n) & 0xfn);
  if (value >> 118n === 0x3fan) return 0x2;
  if (value >> 118n === 0x3fbn) return 0x5;
  if (value === 1n) return 0x1;
  return 0xe;
}

/** Linux's default address label table (net/ipv6/addrlabel.c), longest prefix first. */
const LABELS: Array<[value: bigint, length: number, label: number]> = [
  [1n, 128, 0],
  [0xffffn << 32n, 96, 4],
  [0n, 96, 3],
  [0x20010010n << 96n, 28, 7],
  [0x20010000n << 96n, 32, 6],
  [0x2002n << 112n, 16, 2],
  [0x3ffen << 112n, 16, 12],
  [0xfec0n << 112n, 10, 11],
  [0xfcn << 120n, 7, 5],
  [0n, 0, 1],
];

function ipv6Label(value: bigint): number {
  for (const [prefix, length, label] of LABELS) if (maskIPv6(value, length) === prefix) return label;
  return 1;
}

function commonPrefixLength(a: bigint, b: bigint): number {
  const diff = a ^ b;
  return diff === 0n ? 128 : 128 - diff.toString(2).length;
}

/**
 * ipv6_dev_get_saddr(dev, dst): the kernel compares candidates rule by rule and keeps the
 * earlier one on a tie, so devices are walked in the kernel's order and addresses in the order
 * the kernel lists them.
 */
export function selectIPv6Source(index: SnapshotIndex, dev: string | undefined, destination: bigint): string | undefined {
  const dstScope = ipv6Scope(destination);
  const multicast = destination >> 120n === 0xffn;
  const onlyOutputDevice = dev !== undefined && (multicast || dstScope <= 0x2);
  const dstLabel = ipv6Label(destination);
  let best: { score: number[]; local: string } | undefined;
  for (const name of onlyOutputDevice ? [dev] : index.linkOrder) {
    for (const address of index.addressesByDev.get(name) ?? []) {
      if (address.family !== 6) continue;
      if (address.flags.includes('tentative') && !address.flags.includes('optimistic')) continue;
      if (address.flags.includes('dadfailed')) continue;
      const value = address.prefix.value as bigint | undefined;
      const parsed = parseAddress(address.local);
      if (!parsed || parsed.family !== 6 || value === undefined) continue;
      const candidate = parsed.value;
      const scope = ipv6Scope(candidate);
      const score = [
        candidate === destination ? 1 : 0,
        scope >= dstScope ? -scope : scope - 128,
        address.flags.includes('deprecated') ? 0 : 1,
        dev === undefined || name === dev ? 1 : 0,
        ipv6Label(candidate) === dstLabel ? 1 : 0,
        Math.min(commonPrefixLength(candidate, destination), address.prefixlen),
      ];
      if (!best || isBetter(score, best.score)) best = { score, local: address.local };
    }
  }
  return best?.local;
}

function isBetter(score: number[], than: number[]): boolean {
  for (let i = 0; i < score.length; i++) {
    if (score[i] !== than[i]) return score[i] > than[i];
  }
  return false;
}
