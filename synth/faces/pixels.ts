import type { Look } from './styles.js';
import type { Rng } from '../../lib/random.js';

/**
 * Separable Gaussian blur of an interleaved RGB raster, edges clamped. In JS rather than libvips: for
 * 48×48 images a libvips blur costs more in thread hand-offs than the arithmetic, and halved throughput.
 */
export function blurRgb(rgb: Uint8Array, size: number, sigma: number): Float32Array {
  const radius = Math.ceil(3 * sigma);
  const weights = Array.from({ length: 2 * radius + 1 }, (_, i) =>
    Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)),
  );
  const total = weights.reduce((a, b) => a + b, 0);
  const kernel = weights.map((w) => w / total);
  const pass = (src: ArrayLike<number>, horizontal: boolean): Float32Array => {
    const dst = new Float32Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          let sum = 0;
          for (let k = -radius; k <= radius; k++) {
            const xx = horizontal ? Math.min(size - 1, Math.max(0, x + k)) : x;
            const yy = horizontal ? y : Math.min(size - 1, Math.max(0, y + k));
            sum += kernel[k + radius]! * src[(yy * size + xx) * 3 + c]!;
          }
          dst[(y * size + x) * 3 + c] = sum;
        }
      }
    }
    return dst;
  };
  return pass(pass(rgb, true), false);
}

/**
 * Applies a look to an RGB raster and returns it with the style's channel count. Done in JS so the pixels
 * depend on nothing but the seed. The per-pixel noise comes from an inline xorshift32 seeded by the image's
 * PRNG: calling the PRNG three times per value made this loop the slowest part of a 224×224 colour image.
 */
export function finish(rgb: ArrayLike<number>, size: number, channels: 1 | 3, look: Look, rng: Rng): Buffer {
  const out = Buffer.alloc(size * size * channels);
  const gains = channels === 1 ? [1, 1, 1] : look.gains;
  const offset = 128 - 128 * look.contrast + look.brightness;
  // The sum of a 32-bit draw's four bytes is close to normal: mean 510, standard deviation 147.8.
  const noiseScale = look.noise / 147.8;
  let state = Math.floor(rng() * 0xffffffff) >>> 0 || 1;
  const noise = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return ((state & 255) + ((state >>> 8) & 255) + ((state >>> 16) & 255) + (state >>> 24) - 510) * noiseScale;
  };
  for (let y = 0, o = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const across = look.side > 0 ? x / (size - 1) : 1 - x / (size - 1);
      const scale = (1 - look.sideLight * across) * look.contrast;
      const p = (y * size + x) * 3;
      if (channels === 1) {
        const luma = 0.299 * rgb[p]! + 0.587 * rgb[p + 1]! + 0.114 * rgb[p + 2]!;
        out[o++] = clamp(luma * scale + offset + noise());
      } else {
        for (let c = 0; c < 3; c++) out[o++] = clamp(rgb[p + c]! * gains[c]! * scale + offset + noise());
      }
    }
  }
  return out;
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}
