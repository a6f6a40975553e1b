/** Seedable randomness for the differential lab tests, so a failing run replays from its seed. */

/** mulberry32: small, seedable, good enough to pick topologies, rulesets and packets. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Random = () => number;
export const int = (random: Random, n: number) => Math.floor(random() * n);
export const pick = <T>(random: Random, list: readonly T[]): T => list[int(random, list.length)];
export const chance = (random: Random, p: number) => random() < p;
