/** Wire format and protocol constants (reference §1, §7). */

export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;

export const INITIATION_SIZE = 148;
export const RESPONSE_SIZE = 92;
export const COOKIE_REPLY_SIZE = 64;
export const TRANSPORT_HEADER_SIZE = 16;
export const TRANSPORT_MIN_SIZE = 32;

/** Offsets of mac1 / mac2 in the two handshake messages. */
export const INITIATION_MAC1 = 116;
export const INITIATION_MAC2 = 132;
export const RESPONSE_MAC1 = 60;
export const RESPONSE_MAC2 = 76;

export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** 2^64 - 2^13 - 1 as the kernel has it; as a double it rounds to 2^64, fine for a send-side guard. */
export const REJECT_AFTER_MESSAGES = (1n << 64n) - (1n << 13n) - 1n;
export const REJECT_AFTER_MESSAGES_NUMBER = Number(REJECT_AFTER_MESSAGES);
export const REKEY_AFTER_TIME_MS = 120_000;
export const REJECT_AFTER_TIME_MS = 180_000;
export const REKEY_ATTEMPT_TIME_MS = 90_000;
export const REKEY_TIMEOUT_MS = 5_000;
export const REKEY_TIMEOUT_JITTER_MS = 334;
export const KEEPALIVE_TIMEOUT_MS = 10_000;
export const COOKIE_REFRESH_TIME_MS = 120_000;
export const HANDSHAKE_INITIATION_RATE_MS = 20;
export const MAX_TIMER_HANDSHAKES = Math.floor(REKEY_ATTEMPT_TIME_MS / REKEY_TIMEOUT_MS);
export const MAX_STAGED_PACKETS = 128;
export const MAX_PEERS = 1 << 16;

/** Handshake queue: "under load" at 1/8 full, sticky for a second (reference §4). */
export const HANDSHAKE_QUEUE_SIZE = 1024;
export const UNDER_LOAD_QUEUE_LENGTH = HANDSHAKE_QUEUE_SIZE / 8;
export const UNDER_LOAD_AFTER_TIME_MS = 1_000;

/** The type word: byte 0 is the type, the three reserved bytes must be zero. */
export function messageType(packet: Buffer): number {
  return packet.length >= 4 ? packet.readUInt32LE(0) : 0;
}

/** Zero padding of a plaintext to a multiple of 16, capped at the MTU (reference §5). */
export function paddedLength(length: number, mtu: number): number {
  if (mtu === 0) return (length + 15) & ~15;
  let last = length;
  if (last > mtu) last %= mtu;
  const rounded = (last + 15) & ~15;
  return length + Math.min(mtu, rounded) - last;
}
