import { decodeImage } from '../../datasets/images/prepare.js';
import { toChannels } from '../../datasets/images/raster.js';
import type { FaceImage } from '../architectures/backbone.js';

/**
 * An image file as the human models are fed it: gray (with or without alpha) stays one channel, which they
 * copy to RGB as human would see it; colour keeps its three channels (alpha dropped, as human slices it off).
 */
export async function decodeFaceImage(file: Uint8Array): Promise<FaceImage> {
  const raster = await decodeImage(file);
  const channels = raster.channels <= 2 ? 1 : 3;
  const face = toChannels(raster, channels);
  return { pixels: face.data, width: face.width, height: face.height, channels };
}
