/**
 * Adam as Keras and tfjs define it (β1 0.9, β2 0.999, ε 1e-7, bias-corrected moments), applied to a
 * replica's weights in one pass per variable over plain arrays. tfjs' own Adam runs about a dozen
 * whole-tensor kernels per variable and needs the gradient as tensors; this reads the mean gradient the
 * replicas exchange as it arrives, which took the update from ~0.1 s to ~0.02 s per paper-CNN step.
 * The moments are float32, as in tfjs; the arithmetic of one element is done in float64 and rounded once.
 * `native` (the oneDNN addon's adamStep) does the same arithmetic in the same order in C++, giving the same
 * bytes about 4× faster: JavaScript takes ~13 ns a parameter here, a quarter of a transfer head's step.
 */
export type AdamKernel = (
  w: Float32Array<ArrayBufferLike>,
  m: Float32Array<ArrayBufferLike>,
  v: Float32Array<ArrayBufferLike>,
  g: Float32Array<ArrayBufferLike>,
  settings: [number, number, number, number, number, number],
) => void;

export class FusedAdam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private step = 0;
  private readonly beta1 = 0.9;
  private readonly beta2 = 0.999;
  private readonly epsilon = 1e-7;

  constructor(
    sizes: readonly number[],
    public learningRate: number,
    /** The addon's adamStep, where it is built; the JavaScript loop otherwise. */
    private readonly native?: AdamKernel,
  ) {
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
  }

  /** Updates `weights[i]` in place from the flat gradient laid out variable after variable. */
  apply(weights: Float32Array<ArrayBufferLike>[], gradient: Float32Array<ArrayBufferLike>): void {
    this.step++;
    const { beta1, beta2, epsilon } = this;
    const correction1 = 1 - beta1 ** this.step;
    const correction2 = 1 - beta2 ** this.step;
    let offset = 0;
    weights.forEach((w, index) => {
      const m = this.m[index] as Float32Array;
      const v = this.v[index] as Float32Array;
      if (this.native) {
        const g = gradient.subarray(offset, offset + w.length);
        this.native(w, m, v, g, [this.learningRate, beta1, beta2, epsilon, correction1, correction2]);
        offset += w.length;
        return;
      }
      for (let i = 0; i < w.length; i++) {
        const g = gradient[offset + i] as number;
        const mi = beta1 * (m[i] as number) + (1 - beta1) * g;
        const vi = beta2 * (v[i] as number) + (1 - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        w[i] = (w[i] as number) - (this.learningRate * (mi / correction1)) / (Math.sqrt(vi / correction2) + epsilon);
      }
      offset += w.length;
    });
  }
}
