/**
 * What the checks need beyond the shared address helpers in src/net/address.ts: route
 * destinations as `ip -json route` prints them ("default"), a sample address to probe a prefix
 * with, and the ranges the mesh lives in. The checks only parse the few prefixes they care about
 * (LANs, mesh routes), never the whole table.
 */
import {
  formatIPv4,
  formatIPv6,
  maxPrefixLength,
  parseAddress,
  parsePrefix,
  prefixContains,
  type Family,
  type ParsedPrefix,
} from '../net/address.js';

/** A route destination: "10.0.0.0/24", a bare address (a host route) or "default" of `family`. */
export function parseRouteDst(dst: string, family: Family): ParsedPrefix | undefined {
  if (dst === 'default') return family === 4 ? { family: 4, value: 0, length: 0 } : { family: 6, value: 0n, length: 0 };
  return parsePrefix(dst);
}

/** Whether the address text lies inside the prefix; text that is no address lies nowhere. */
export function prefixContainsAddress(prefix: ParsedPrefix, text: string): boolean {
  const address = parseAddress(text);
  return address !== undefined && prefixContains(prefix, address);
}

/**
 * An address inside the prefix that is not one of `avoid` (the host's own addresses resolve via
 * the local table, so they prove nothing about where LAN traffic goes). Prefers the first usable
 * host address, as a gateway or neighbour usually sits there.
 */
export function sampleAddress(prefix: ParsedPrefix, avoid: Iterable<string> = []): string {
  const avoided = new Set<bigint>();
  for (const text of avoid) {
    const parsed = parseAddress(text);
    if (parsed && parsed.family === prefix.family) avoided.add(BigInt(parsed.value));
  }
  const format = (value: bigint) => (prefix.family === 4 ? formatIPv4(Number(value)) : formatIPv6(value));
  const network = BigInt(prefix.value);
  const size = 1n << BigInt(maxPrefixLength(prefix.family) - prefix.length);
  const firstOffset = size > 2n ? 1n : 0n;
  for (let offset = firstOffset; offset < size && offset < firstOffset + 8n; offset++) {
    const candidate = network + offset;
    if (!avoided.has(candidate)) return format(candidate);
  }
  return format(network + firstOffset);
}

export const CGNAT_RANGE: ParsedPrefix = { family: 4, value: 0x64400000, length: 10 };
export const LINK_LOCAL_V6: ParsedPrefix = { family: 6, value: 0xfe80n << 112n, length: 10 };
