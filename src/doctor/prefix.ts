/**
 * Prefix arithmetic for the checks: parse, contain, overlap, pick a sample address. Addresses are
 * bigints of 32 or 128 bits so IPv4 and IPv6 share one code path; the checks only parse the few
 * prefixes they care about (LANs, mesh routes), never the whole table.
 */
import type { Family } from '../snapshot/types.js';

export interface Prefix {
  family: Family;
  /** Network address with host bits cleared. */
  network: bigint;
  length: number;
}

function bitsOf(family: Family): number {
  return family === 4 ? 32 : 128;
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(Number(part));
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // An embedded IPv4 tail (::ffff:192.0.2.1) becomes its two hex groups.
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = halves.length === 2 ? [...head, ...Array<string>(missing).fill('0'), ...rest] : head;
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return value;
}

export function familyOfAddress(text: string): Family {
  return text.includes(':') ? 6 : 4;
}

export function parseAddress(text: string): { family: Family; value: bigint } | undefined {
  const family = familyOfAddress(text);
  const value = family === 4 ? parseIpv4(text) : parseIpv6(text);
  return value === undefined ? undefined : { family, value };
}

function mask(family: Family, length: number): bigint {
  const bits = BigInt(bitsOf(family));
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(length))) - 1n);
}

/** "10.0.0.0/24", "default" and a bare address (a host prefix) are all accepted. */
export function parsePrefix(text: string, family?: Family): Prefix | undefined {
  if (text === 'default') {
    return family === undefined ? undefined : { family, network: 0n, length: 0 };
  }
  const slash = text.indexOf('/');
  const address = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (!address) return undefined;
  const length = slash < 0 ? bitsOf(address.family) : Number(text.slice(slash + 1));
  if (!Number.isInteger(length) || length < 0 || length > bitsOf(address.family)) return undefined;
  return { family: address.family, network: address.value & mask(address.family, length), length };
}

export function formatAddressValue(value: bigint, family: Family): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  // Compress the longest run of two or more zero groups, as RFC 5952 and `ip` do.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export function formatPrefix(prefix: Prefix): string {
  return `${formatAddressValue(prefix.network, prefix.family)}/${prefix.length}`;
}

/** Whether `outer` contains every address of `inner`. */
export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || outer.length > inner.length) return false;
  return (inner.network & mask(outer.family, outer.length)) === outer.network;
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixContains(a, b) || prefixContains(b, a);
}

export function prefixContainsAddress(prefix: Prefix, address: string): boolean {
  const parsed = parseAddress(address);
  return parsed !== undefined && parsed.family === prefix.family && (parsed.value & mask(prefix.family, prefix.length)) === prefix.network;
}

export function isDefaultPrefix(prefix: Prefix): boolean {
  return prefix.length === 0;
}

/**
 * An address inside the prefix that is not one of `avoid` (the host's own addresses resolve via
 * the local table, so they prove nothing about where LAN traffic goes). Prefers the first usable
 * host address, as a gateway or neighbour usually sits there.
 */
export function sampleAddress(prefix: Prefix, avoid: Iterable<string> = []): string {
  const avoided = new Set<bigint>();
  for (const text of avoid) {
    const parsed = parseAddress(text);
    if (parsed && parsed.family === prefix.family) avoided.add(parsed.value);
  }
  const size = 1n << BigInt(bitsOf(prefix.family) - prefix.length);
  const firstOffset = size > 2n ? 1n : 0n;
  for (let offset = firstOffset; offset < size && offset < firstOffset + 8n; offset++) {
    const candidate = prefix.network + offset;
    if (!avoided.has(candidate)) return formatAddressValue(candidate, prefix.family);
  }
  return formatAddressValue(prefix.network + firstOffset, prefix.family);
}

export const CGNAT_RANGE: Prefix = { family: 4, network: 0x64400000n, length: 10 };
export const LINK_LOCAL_V6: Prefix = { family: 6, network: 0xfe80n << 112n, length: 10 };
