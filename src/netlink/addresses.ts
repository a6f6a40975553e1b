/**
 * IP and hardware addresses straight from netlink buffers to the text `ip` prints, without an
 * intermediate object. IPv6 follows glibc's inet_ntop (what iproute2 uses), so the netlink and
 * `ip` readers agree byte for byte, including "::ffff:1.2.3.4".
 */

export function formatIpv4(buffer: Buffer, offset: number): string {
  return `${buffer[offset]}.${buffer[offset + 1]}.${buffer[offset + 2]}.${buffer[offset + 3]}`;
}

const DIGITS = Array.from({ length: 256 }, (_, i) => Buffer.from(String(i), 'latin1'));
const scratch = Buffer.allocUnsafe(64);
type Latin1Slice = (this: Buffer, start: number, end: number) => string;
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: Latin1Slice }).latin1Slice;

function putDecimal(at: number, value: number): number {
  const digits = DIGITS[value];
  for (let i = 0; i < digits.length; i++) scratch[at++] = digits[i];
  return at;
}

/**
 * "a.b.c.d/len" in one string allocation (digits written to a scratch buffer, sliced once):
 * the hot path of decoding a big IPv4 table, where concatenation made several strings per route.
 */
export function formatIpv4Prefix(buffer: Buffer, offset: number, length: number): string {
  let at = putDecimal(0, buffer[offset]);
  scratch[at++] = 0x2e;
  at = putDecimal(at, buffer[offset + 1]);
  scratch[at++] = 0x2e;
  at = putDecimal(at, buffer[offset + 2]);
  scratch[at++] = 0x2e;
  at = putDecimal(at, buffer[offset + 3]);
  scratch[at++] = 0x2f;
  at = putDecimal(at, length);
  return latin1Slice.call(scratch, 0, at);
}

export function formatIpv6(buffer: Buffer, offset: number): string {
  const words = new Array<number>(8);
  for (let i = 0; i < 8; i++) words[i] = (buffer[offset + 2 * i] << 8) | buffer[offset + 2 * i + 1];
  // Longest run of zero words (the first one on a tie), compressed only when at least 2 long.
  let bestBase = -1;
  let bestLength = 0;
  let runBase = -1;
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && words[i] === 0) {
      if (runBase < 0) runBase = i;
    } else if (runBase >= 0) {
      if (i - runBase > bestLength) {
        bestBase = runBase;
        bestLength = i - runBase;
      }
      runBase = -1;
    }
  }
  if (bestLength < 2) bestBase = -1;
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLength) {
      if (i === bestBase) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    if (i === 6 && bestBase === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))) {
      return text + formatIpv4(buffer, offset + 12);
    }
    text += words[i].toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLength === 8) text += ':';
  return text;
}

export function formatIp(buffer: Buffer, offset: number, length: number): string {
  if (length === 4) return formatIpv4(buffer, offset);
  if (length === 16) return formatIpv6(buffer, offset);
  return formatHardware(buffer, offset, length);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function formatHardware(buffer: Buffer, offset: number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += (i ? ':' : '') + HEX[buffer[offset + i]];
  return text;
}

/** Parse a canonical IPv4 address into 4 bytes (for tests and for comparisons). */
export function ipv4Bytes(text: string): Buffer {
  return Buffer.from(text.split('.').map(Number));
}
