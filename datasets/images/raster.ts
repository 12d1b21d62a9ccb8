import type { Raster } from './codec/png.js';

export type { Raster };
export type Fit = 'cover' | 'contain' | 'fill';

/**
 * Converts to gray or RGB. Gray is Rec. 601 luma of the stored (gamma-encoded) values, as FER2013 was made
 * and as PIL and OpenCV compute it; an alpha channel is dropped, as libvips' removeAlpha does.
 */
export function toChannels(raster: Raster, channels: 1 | 3): Raster {
  const { width, height, data } = raster;
  const from = raster.channels;
  if (from === channels) return raster;
  const pixels = width * height;
  const out = new Uint8Array(pixels * channels);
  if (channels === 1) {
    if (from <= 2) for (let i = 0; i < pixels; i++) out[i] = data[i * from]!;
    else {
      // 0.299, 0.587, 0.114 in 16-bit fixed point: integer arithmetic is several times faster here.
      for (let i = 0, p = 0; i < pixels; i++, p += from) {
        out[i] = (19595 * data[p]! + 38470 * data[p + 1]! + 7471 * data[p + 2]! + 32768) >>> 16;
      }
    }
  } else {
    for (let i = 0, p = 0, o = 0; i < pixels; i++, p += from, o += 3) {
      if (from <= 2) out[o] = out[o + 1] = out[o + 2] = data[p]!;
      else {
        out[o] = data[p]!;
        out[o + 1] = data[p + 1]!;
        out[o + 2] = data[p + 2]!;
      }
    }
  }
  return { width, height, channels, data: out };
}

/** For each output index, the source indices it draws from and their weights (summing to 1). */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  stride: number;
}

/**
 * Downscaling averages the exact source area under each output pixel (a box filter over fractional
 * footprints, like OpenCV's INTER_AREA): no aliasing when 224 px faces become 48 px. Upscaling is bilinear.
 */
function taps(start: number, length: number, sourceSize: number, outputSize: number): Taps {
  const scale = length / outputSize;
  const stride = scale >= 1 ? Math.ceil(scale) + 2 : 2;
  const first = new Int32Array(outputSize);
  const count = new Int32Array(outputSize);
  const weights = new Float64Array(outputSize * stride);
  for (let i = 0; i < outputSize; i++) {
    if (scale >= 1) {
      const lo = start + i * scale;
      const hi = lo + scale;
      const j0 = Math.floor(lo);
      let n = 0;
      for (let j = j0; j < hi && n < stride; j++, n++) {
        weights[i * stride + n] = (Math.min(hi, j + 1) - Math.max(lo, j)) / scale;
      }
      first[i] = j0;
      count[i] = n;
    } else {
      const centre = start + (i + 0.5) * scale - 0.5;
      const j0 = Math.floor(centre);
      const f = centre - j0;
      first[i] = j0;
      count[i] = 2;
      weights[i * stride] = 1 - f;
      weights[i * stride + 1] = f;
    }
  }
  // Clamp taps that fall outside the source to its edge (bilinear at the border).
  for (let i = 0; i < outputSize; i++) {
    if (first[i]! < 0 || first[i]! + count[i]! > sourceSize) {
      const merged = new Float64Array(sourceSize);
      for (let n = 0; n < count[i]!; n++)
        merged[Math.min(sourceSize - 1, Math.max(0, first[i]! + n))]! += weights[i * stride + n]!;
      const lo = Math.max(0, Math.min(sourceSize - 1, first[i]!));
      const hi = Math.min(sourceSize - 1, Math.max(0, first[i]! + count[i]! - 1));
      first[i] = lo;
      count[i] = hi - lo + 1;
      for (let n = 0; n < count[i]!; n++) weights[i * stride + n] = merged[lo + n]!;
    }
  }
  return { first, count, weights, stride };
}

/** Resamples the source rectangle (x, y, w, h; fractional) to outW × outH. */
function resample(src: Raster, x: number, y: number, w: number, h: number, outW: number, outH: number): Raster {
  const c = src.channels;
  const across = taps(x, w, src.width, outW);
  const down = taps(y, h, src.height, outH);
  const rowLo = down.first.reduce((m, v) => Math.min(m, v), src.height);
  const rowHi = down.first.reduce((m, v, i) => Math.max(m, v + down.count[i]!), 0);
  const horizontal = new Float64Array(outW * src.height * c);
  for (let row = rowLo; row < rowHi; row++) {
    const rowBase = row * src.width * c;
    for (let i = 0; i < outW; i++) {
      const base = i * across.stride;
      const out = (row * outW + i) * c;
      for (let k = 0; k < c; k++) {
        let sum = 0;
        for (let n = 0, p = rowBase + across.first[i]! * c + k; n < across.count[i]!; n++, p += c)
          sum += across.weights[base + n]! * src.data[p]!;
        horizontal[out + k] = sum;
      }
    }
  }
  const data = new Uint8Array(outW * outH * c);
  const rowStride = outW * c;
  for (let j = 0; j < outH; j++) {
    const base = j * down.stride;
    for (let i = 0; i < rowStride; i++) {
      let sum = 0;
      for (let n = 0, p = down.first[j]! * rowStride + i; n < down.count[j]!; n++, p += rowStride)
        sum += down.weights[base + n]! * horizontal[p]!;
      data[j * rowStride + i] = sum <= 0 ? 0 : sum >= 255 ? 255 : Math.round(sum);
    }
  }
  return { width: outW, height: outH, channels: src.channels, data };
}

/**
 * Resizes to size × size. `cover` crops the centre to a square first (faces are centred in FER crops),
 * `contain` letterboxes on black, `fill` stretches.
 */
export function resizeSquare(src: Raster, size: number, fit: Fit): Raster {
  if (src.width === size && src.height === size) return src;
  if (fit === 'fill') return resample(src, 0, 0, src.width, src.height, size, size);
  if (fit === 'cover') {
    const side = Math.min(src.width, src.height);
    return resample(src, (src.width - side) / 2, (src.height - side) / 2, side, side, size, size);
  }
  const scale = size / Math.max(src.width, src.height);
  const w = Math.max(1, Math.round(src.width * scale));
  const h = Math.max(1, Math.round(src.height * scale));
  const inner = resample(src, 0, 0, src.width, src.height, w, h);
  const data = new Uint8Array(size * size * src.channels);
  const left = Math.floor((size - w) / 2);
  const top = Math.floor((size - h) / 2);
  for (let row = 0; row < h; row++) {
    data.set(
      inner.data.subarray(row * w * src.channels, (row + 1) * w * src.channels),
      ((top + row) * size + left) * src.channels,
    );
  }
  return { width: size, height: size, channels: src.channels, data };
}
