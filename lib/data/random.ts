// The one seeded pseudo-random generator kiln uses in TypeScript: shuffling,
// weight initialisation, anything that must repeat from a seed. Math.random
// cannot be seeded, so it appears nowhere in kiln.
//
// Algorithm: xoshiro128** (Blackman and Vigna, 2018), 128 bits of state,
// period 2^128 - 1, passes BigCrush; its 32-bit operations map directly onto
// Math.imul and >>> in JavaScript. The state is filled from the seed by
// SplitMix32 (a Weyl sequence with step 0x9e3779b9 through the MurmurHash3
// 32-bit finaliser), so nearby seeds (0, 1, 2, ...) give unrelated streams.
// The output sequence for a seed is part of kiln's contract: changing it
// changes every seeded result, so tests pin a few values.

export interface Random {
  /** A uniform integer in [0, 2^32). */
  nextUint32(): number;
  /**
   * A uniform float in [0, 1) on a 2^-24 grid: every value is exactly
   * representable in float32, so storing it in a Float32Array never rounds up to 1.
   */
  nextFloat(): number;
  /** A uniform double in [0, 1) on a 2^-53 grid (uses two 32-bit outputs). */
  nextDouble(): number;
  /** A uniform integer in [0, bound), without modulo bias; bound in [1, 2^32]. */
  nextInt(bound: number): number;
  /** A standard normal sample (mean 0, variance 1), by the Box-Muller transform. */
  normal(): number;
}

const TWO_POW_32 = 4294967296;

/** The MurmurHash3 32-bit finaliser: a bijection on 32-bit words that mixes every bit. */
function mix32(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function checkSeed(fn: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new TypeError(`kiln.${fn}: expected a safe integer for 'seed' but received ${String(seed)}`);
  }
  return seed;
}

/** Low and high 32-bit words of a safe integer (two's complement for negatives). */
function seedWords(seed: number): [number, number] {
  const low = seed >>> 0;
  const high = Math.floor(seed / TWO_POW_32) >>> 0;
  return [low, high];
}

/**
 * A new seed derived from `seed` and a stream number (e.g. an epoch or a layer
 * index), so one user seed can drive many independent generators.
 * Returns an integer in [0, 2^32).
 */
export function deriveSeed(seed: number, stream: number): number {
  const [low, high] = seedWords(checkSeed('deriveSeed', seed));
  const [streamLow, streamHigh] = seedWords(checkSeed('deriveSeed', stream));
  let h = mix32(low ^ 0x6a09e667);
  h = mix32(h ^ high ^ 0xbb67ae85);
  h = mix32(h ^ streamLow ^ 0x3c6ef372);
  return mix32(h ^ streamHigh ^ 0xa54ff53a);
}

/** A generator seeded by any safe integer; equal seeds give equal sequences. */
export function createRandom(seed: number): Random {
  const [low, high] = seedWords(checkSeed('createRandom', seed));
  // SplitMix32: walk a Weyl sequence from a key made of both seed words.
  let weyl = (mix32(high ^ 0x5bd1e995) ^ low) >>> 0;
  const next = (): number => {
    weyl = (weyl + 0x9e3779b9) >>> 0;
    return mix32(weyl);
  };
  let s0 = next();
  let s1 = next();
  let s2 = next();
  let s3 = next();
  // xoshiro's only forbidden state is all zeros.
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;

  const nextUint32 = (): number => {
    const result = Math.imul(rotateLeft(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotateLeft(s3, 11);
    return result;
  };

  const nextDouble = (): number => ((nextUint32() >>> 5) * 67108864 + (nextUint32() >>> 6)) / 9007199254740992;

  let spare: number | undefined;
  return {
    nextUint32,
    nextFloat: () => (nextUint32() >>> 8) / 16777216,
    nextDouble,
    nextInt(bound: number): number {
      if (!Number.isInteger(bound) || bound < 1 || bound > TWO_POW_32) {
        throw new RangeError(`kiln.Random.nextInt: expected an integer in [1, 4294967296] for 'bound' but received ${bound}`);
      }
      // Reject the top partial copy of [0, bound) so every residue is equally likely.
      const limit = TWO_POW_32 - (TWO_POW_32 % bound);
      for (;;) {
        const value = nextUint32();
        if (value < limit) return value % bound;
      }
    },
    normal(): number {
      if (spare !== undefined) {
        const value = spare;
        spare = undefined;
        return value;
      }
      // 1 - u lies in (0, 1], so the logarithm is finite.
      const radius = Math.sqrt(-2 * Math.log(1 - nextDouble()));
      const angle = 2 * Math.PI * nextDouble();
      spare = radius * Math.sin(angle);
      return radius * Math.cos(angle);
    },
  };
}

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}
