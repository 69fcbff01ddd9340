import { tf } from '../../backend/tf';
import { record } from '../record';
import type { Operand, Tensor } from '../tensor';

/**
 * SiLU / Swish: `y = x·σ(x)`.
 * Backward: `∂y/∂x = σ(x) + x·σ(x)(1 − σ(x)) = σ(x)(1 + x(1 − σ(x)))`
 * (σ recomputed from x rather than saved: one more kernel, less memory).
 *
 * Reference: `torch.nn.functional.silu`. Introduced in notebooks/01-backprop/06-losses.
 */
export function silu(x: Operand): Tensor {
  return record('silu', [x], ([a]) => tf.mul(a, tf.sigmoid(a)), [
    {
      saves: [0],
      grad: (dy, ctx) => {
        const a = ctx.x(0);
        const s = tf.sigmoid(a);
        return tf.mul(dy, tf.mul(s, tf.add(1, tf.mul(a, tf.sub(1, s)))));
      },
    },
  ]);
}
