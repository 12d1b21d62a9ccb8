import type { io } from '@tensorflow/tfjs-core';

/** The fields of a tfjs graph model's `<name>.json` the converter reads (the rest it ignores). */
export interface TfjsGraphJson {
  modelTopology: object;
  weightsManifest: Array<{ paths: string[]; weights: io.WeightsManifestEntry[] }>;
  signature?: object;
  userDefinedMetadata?: Record<string, object>;
}

/** A constant of a tfjs graph model, decoded from its weight shards as tfjs decodes it. */
export interface GraphConstant {
  readonly dtype: 'float32' | 'int32';
  readonly shape: readonly number[];
  readonly values: Float32Array | Int32Array;
}

/** IEEE half → single, exactly (every half is a single). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * Every weight of the manifest by name, from the shards' bytes concatenated in manifest order. Handles what
 * tfjs's converter writes: float32 and int32 as they are, float16 storage, and uint8/uint16 affine quantisation
 * (value × scale + min, as tfjs's `decodeWeights` computes it).
 */
export function decodeGraphWeights(json: TfjsGraphJson, bytes: Uint8Array): Map<string, GraphConstant> {
  const constants = new Map<string, GraphConstant>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  for (const spec of json.weightsManifest.flatMap((group) => group.weights)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const dtype = spec.dtype === 'int32' ? 'int32' : spec.dtype === 'float32' ? 'float32' : undefined;
    if (!dtype) throw new Error(`weight ${spec.name} has dtype ${spec.dtype}, which the converter does not read`);
    const q = spec.quantization;
    const stored = q?.dtype ?? dtype;
    const width = stored === 'uint8' ? 1 : stored === 'float16' || stored === 'uint16' ? 2 : 4;
    if (offset + size * width > bytes.byteLength)
      throw new Error(`weight ${spec.name} reaches past the end of the weight shards`);
    const values = dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const at = offset + i * width;
      if (stored === 'float32') values[i] = view.getFloat32(at, true);
      else if (stored === 'int32') values[i] = view.getInt32(at, true);
      else if (stored === 'float16') values[i] = halfToFloat(view.getUint16(at, true));
      else if (stored === 'uint8' || stored === 'uint16') {
        const v = stored === 'uint8' ? view.getUint8(at) : view.getUint16(at, true);
        values[i] = v * (q!.scale ?? 1) + (q!.min ?? 0);
      } else throw new Error(`weight ${spec.name} is stored as ${stored}, which the converter does not read`);
    }
    offset += size * width;
    constants.set(spec.name, { dtype, shape: spec.shape, values });
  }
  if (offset !== bytes.byteLength)
    throw new Error(`the weight shards hold ${bytes.byteLength} bytes; the manifest accounts for ${offset}`);
  return constants;
}
