import { tf } from '../../backend/tf';
import { record } from '../record';
import { broadcastShapes, fmt, ShapeError, sumToShape } from '../shape';
import { shapeOf, type Operand, type Tensor } from '../tensor';

/**
 * Elementwise choice with broadcasting: `y = condition ? a : b`; `condition`
 * is a bool tensor (a mask).
 *
 * Backward: `dy` flows to `a` where the condition holds and to `b` where it does
 * not (zeros elsewhere), each summed back to its operand's shape; the condition
 * gets no gradient.
 *
 * Reference: `torch.where(condition, a, b)`. Introduced in notebooks/01-backprop/04-stability.
 */
export function where(condition: Operand, a: Operand, b: Operand): Tensor {
  const [sc, sa, sb] = [shapeOf(condition), shapeOf(a), shapeOf(b)];
  const out = broadcastShapes('where', [sc, sa, sb], ',');
  if (typeof condition === 'number' || condition.dtype !== 'bool') {
    throw new ShapeError(`where: condition ${fmt(sc)} must be a bool tensor, got ${typeof condition === 'number' ? 'a number' : condition.dtype}`);
  }
  const grow = (t: tf.Tensor) => tf.broadcastTo(t, out);
  return record('where', [condition, a, b], ([c, a, b]) => tf.where(grow(c), grow(a), grow(b)), [
    null,
    { saves: [0], grad: (dy, s) => sumToShape(tf.where(grow(s.x(0)), dy, tf.zerosLike(dy)), sa) },
    { saves: [0], grad: (dy, s) => sumToShape(tf.where(grow(s.x(0)), tf.zerosLike(dy), dy), sb) },
  ]);
}
