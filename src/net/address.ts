/**
 * IPv4 and IPv6 addresses and prefixes as numbers: a u32 for IPv4, a BigInt for IPv6. Hand-written
 * parsers (no ipaddr.js on this path) because the route simulator parses every route of a
 * half-million-route table. Parsers return undefined on bad syntax; callers that take user input
 * turn that into an InputError naming the flag.
 */

export type Family = 4 | 6;

export type ParsedAddress =
  | { family: 4; value: number }
  | { family: 6; value: bigint };

/** A prefix with its host bits cleared. */
export type ParsedPrefix =
  | { family: 4; value: number; length: number }
  | { family: 6; value: bigint; length: number };

const IPV6_ALL_ONES = (1n << 128n) - 1n;

/** Dotted-quad IPv4 to a u32, strictly four decimal parts of 0..255 (no octal, no short forms). */
export function parseIPv4(text: string): number | undefined {
  let value = 0;
  let part = -1;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + part;
      dots++;
      part = -1;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 3 || (digits > 0 && part === 0)) return undefined;
      part = digits === 0 ? c - 48 : part * 10 + (c - 48);
      digits++;
      if (part > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + part;
}

/** IPv6 text (with :: compression, optional trailing dotted quad, optional %zone) to a BigInt. */
export function parseIPv6(text: string): bigint | undefined {
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (text.length < 2 || text.length > 45) return undefined;
  const doubleColon = text.indexOf('::');
  if (doubleColon >= 0 && text.indexOf('::', doubleColon + 1) >= 0) return undefined;
  const head = doubleColon >= 0 ? text.slice(0, doubleColon) : text;
  const tail = doubleColon >= 0 ? text.slice(doubleColon + 2) : '';
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const groups: number[] = [];
  const pushGroups = (list: string[], isLastList: boolean): boolean => {
    for (let i = 0; i < list.length; i++) {
      const group = list[i];
      if (isLastList && i === list.length - 1 && group.includes('.')) {
        const v4 = parseIPv4(group);
        if (v4 === undefined) return false;
        groups.push(v4 >>> 16, v4 & 0xffff);
        continue;
      }
      if (group.length === 0 || group.length > 4 || !/^[0-9a-fA-F]+$/.test(group)) return false;
      groups.push(parseInt(group, 16));
    }
    return true;
  };
  if (!pushGroups(headGroups, doubleColon < 0)) return undefined;
  const headCount = groups.length;
  if (!pushGroups(tailGroups, true)) return undefined;
  const tailCount = groups.length - headCount;
  if (doubleColon >= 0) {
    const missing = 8 - headCount - tailCount;
    if (missing < 1) return undefined;
    groups.splice(headCount, 0, ...new Array<number>(missing).fill(0));
  }
  if (groups.length !== 8) return undefined;
  // Four exact 32-bit words (a double holds 53 bits, not 64) keep the BigInt work small.
  return (BigInt(groups[0] * 0x10000 + groups[1]) << 96n) | (BigInt(groups[2] * 0x10000 + groups[3]) << 64n)
    | (BigInt(groups[4] * 0x10000 + groups[5]) << 32n) | BigInt(groups[6] * 0x10000 + groups[7]);
}

export function parseAddress(text: string): ParsedAddress | undefined {
  if (text.includes(':')) {
    const value = parseIPv6(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIPv4(text);
  return value === undefined ? undefined : { family: 4, value };
}

export function familyOf(text: string): Family | undefined {
  return parseAddress(text)?.family;
}

export function maxPrefixLength(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** The IPv4 value with only the first `length` bits kept. */
export function maskIPv4(value: number, length: number): number {
  if (length <= 0) return 0;
  if (length >= 32) return value >>> 0;
  return (value & (0xffffffff << (32 - length))) >>> 0;
}

export function maskIPv6(value: bigint, length: number): bigint {
  if (length <= 0) return 0n;
  if (length >= 128) return value;
  return value & (IPV6_ALL_ONES ^ ((1n << BigInt(128 - length)) - 1n));
}

/**
 * "10.0.0.0/8", "2001:db8::/32", or a bare address (a host prefix). Host bits are cleared, as
 * the kernel does for routes; use `hasHostBits` to reject them in user input.
 */
export function parsePrefix(text: string): ParsedPrefix | undefined {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseAddress(addressText);
  if (!address) return undefined;
  const max = maxPrefixLength(address.family);
  let length = max;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lengthText)) return undefined;
    length = Number(lengthText);
    if (length > max) return undefined;
  }
  return address.family === 4
    ? { family: 4, value: maskIPv4(address.value, length), length }
    : { family: 6, value: maskIPv6(address.value, length), length };
}

/** Whether `text` is a prefix whose address has bits set beyond its length ("10.0.0.1/24"). */
export function hasHostBits(text: string): boolean {
  const prefix = parsePrefix(text);
  const address = parseAddress(text.split('/')[0]);
  return prefix !== undefined && address !== undefined && prefix.value !== address.value;
}

export function prefixContains(prefix: ParsedPrefix, address: ParsedAddress): boolean {
  if (prefix.family !== address.family) return false;
  if (prefix.family === 4) return maskIPv4(address.value as number, prefix.length) === prefix.value;
  return maskIPv6(address.value as bigint, prefix.length) === prefix.value;
}

/** Whether `outer` holds every address of `inner` (a prefix contains itself). */
export function prefixContainsPrefix(outer: ParsedPrefix, inner: ParsedPrefix): boolean {
  return outer.length <= inner.length && prefixContains(outer, { family: inner.family, value: inner.value } as ParsedAddress);
}

/** Two prefixes overlap when the shorter one contains the longer one's network address. */
export function prefixesOverlap(a: ParsedPrefix, b: ParsedPrefix): boolean {
  if (a.family !== b.family) return false;
  const [shorter, longer] = a.length <= b.length ? [a, b] : [b, a];
  return prefixContains(shorter, { family: longer.family, value: longer.value } as ParsedAddress);
}

export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (2+) of zero groups as ::. */
export function formatIPv6(value: bigint): string {
  const groups: number[] = new Array(8);
  let rest = value;
  for (let i = 7; i >= 0; i--) {
    groups[i] = Number(rest & 0xffffn);
    rest >>= 16n;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  // IPv4-mapped addresses keep their dotted tail, as the kernel and ipaddr.js print them.
  if (bestStart === 0 && bestLength === 5 && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(groups[6] * 0x10000 + groups[7])}`;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export function formatAddress(address: ParsedAddress): string {
  return address.family === 4 ? formatIPv4(address.value) : formatIPv6(address.value);
}

export function formatPrefix(prefix: ParsedPrefix): string {
  return `${formatAddress(prefix as ParsedAddress)}/${prefix.length}`;
}

/** Canonical text of an address ("2001:DB8:0::1" -> "2001:db8::1"), or undefined if it is not one. */
export function canonicalAddress(text: string): string | undefined {
  const address = parseAddress(text);
  return address && formatAddress(address);
}

/** The address as a prefix of full length (a host route's key). */
export function hostPrefix(address: ParsedAddress): ParsedPrefix {
  return address.family === 4
    ? { family: 4, value: address.value, length: 32 }
    : { family: 6, value: address.value, length: 128 };
}

export function isUnspecified(address: ParsedAddress): boolean {
  return address.family === 4 ? address.value === 0 : address.value === 0n;
}

export function isIPv4Multicast(value: number): boolean {
  return value >>> 28 === 0xe;
}

export function isIPv6LinkLocal(value: bigint): boolean {
  return value >> 118n === 0x3fan;
}

export function isIPv6Multicast(value: bigint): boolean {
  return value >> 120n === 0xffn;
}

/** Result of the last successful scanIPv4Prefix, reused so half a million scans allocate nothing. */
export const scannedIPv4 = { value: 0, length: 0 };

/** "a.b.c.d/len" or "a.b.c.d" into scannedIPv4 (value masked to the length) without allocating; false when it is not that shape. */
export function scanIPv4Prefix(text: string): boolean {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return false;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else break;
  }
  if (dots !== 3 || digits === 0) return false;
  value = value * 256 + part;
  let length = 32;
  if (i < text.length) {
    if (text.charCodeAt(i) !== 47 /* / */ || i + 1 >= text.length) return false;
    length = 0;
    for (i++; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) return false;
      length = length * 10 + (c - 48);
    }
    if (length > 32) return false;
  }
  scannedIPv4.value = maskIPv4(value, length);
  scannedIPv4.length = length;
  return true;
}
