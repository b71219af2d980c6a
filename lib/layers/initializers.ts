// Seeded weight initialisers (Keras names). fanIn / fanOut follow Keras:
// conv kernels [kH, kW, inC, outC] have fanIn = kH*kW*inC, fanOut = kH*kW*outC;
// dense kernels [in, units] have fanIn = in, fanOut = units.
import { createRandom } from '../data/random';
import { argumentError } from '../validate';

export type InitializerName =
  | 'zeros'
  | 'ones'
  | 'heNormal'
  | 'heUniform'
  | 'glorotNormal'
  | 'glorotUniform'
  | 'lecunNormal'
  | 'lecunUniform';

export const initializerNames: readonly InitializerName[] = [
  'zeros',
  'ones',
  'heNormal',
  'heUniform',
  'glorotNormal',
  'glorotUniform',
  'lecunNormal',
  'lecunUniform',
];

export function expectInitializer(layer: string, argument: string, value: unknown, fallback: InitializerName): InitializerName {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !initializerNames.includes(value as InitializerName)) {
    throw argumentError(layer, argument, `one of ${initializerNames.join(', ')}`, value);
  }
  return value as InitializerName;
}

export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 1) return { fanIn: shape[0], fanOut: shape[0] };
  if (shape.length === 2) return { fanIn: shape[0], fanOut: shape[1] };
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return { fanIn: receptive * shape[shape.length - 2], fanOut: receptive * shape[shape.length - 1] };
}

/** Fills `out` per the initialiser, deterministically from `seed`. */
export function initialize(name: InitializerName, shape: readonly number[], seed: number, out: Float32Array): void {
  if (name === 'zeros') {
    out.fill(0);
    return;
  }
  if (name === 'ones') {
    out.fill(1);
    return;
  }
  const { fanIn, fanOut } = fans(shape);
  const random = createRandom(seed);
  const scale = name.startsWith('he') ? 2 / fanIn : name.startsWith('lecun') ? 1 / fanIn : 2 / (fanIn + fanOut);
  if (name.endsWith('Uniform')) {
    const limit = Math.sqrt(3 * scale);
    for (let i = 0; i < out.length; i++) out[i] = (2 * random.nextFloat() - 1) * limit;
  } else {
    // Truncated normal at two standard deviations, as Keras does; the
    // stddev is corrected so the variance stays `scale`.
    const stddev = Math.sqrt(scale) / 0.8796256610342398;
    for (let i = 0; i < out.length; i++) {
      let value: number;
      do value = random.normal();
      while (Math.abs(value) > 2);
      out[i] = value * stddev;
    }
  }
}
