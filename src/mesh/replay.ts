/**
 * The sliding anti-replay window of RFC 6479 as WireGuard uses it (reference §6): a ring of
 * 128 64-bit blocks (8192 bits), of which 8128 counters behind the newest are usable. Blocks are
 * kept as pairs of 32-bit words; counters are u64, so they travel as BigInt.
 */
const BLOCK_BITS = 64;
const RING_BLOCKS = 128;
export const REPLAY_WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS;
const WINDOW = BigInt(REPLAY_WINDOW_SIZE);
const RING_MASK = BigInt(RING_BLOCKS - 1);
const RING = BigInt(RING_BLOCKS);

export class ReplayFilter {
  private last = 0n;
  private readonly words = new Uint32Array(RING_BLOCKS * 2);

  reset(): void {
    this.last = 0n;
    this.words.fill(0);
  }

  /** True when the counter is fresh (and records it); false for a replay, a too-old or a too-large counter. */
  validate(counter: bigint, limit: bigint): boolean {
    if (counter >= limit) return false;
    const block = counter >> 6n;
    if (counter > this.last) {
      const current = this.last >> 6n;
      let ahead = block - current;
      if (ahead > RING) ahead = RING;
      for (let i = 1n; i <= ahead; i++) {
        const index = Number((current + i) & RING_MASK) * 2;
        this.words[index] = 0;
        this.words[index + 1] = 0;
      }
      this.last = counter;
    } else if (this.last - counter > WINDOW) {
      return false;
    }
    const bit = Number(counter & 63n);
    const word = Number(block & RING_MASK) * 2 + (bit >>> 5);
    const mask = (1 << (bit & 31)) >>> 0;
    const seen = (this.words[word] & mask) !== 0;
    this.words[word] |= mask;
    return !seen;
  }
}
