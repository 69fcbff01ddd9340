/**
 * nn.Dropout inside gl.ag.checkpoint: the recomputation must replay the
 * forward's dropout masks, or the gradients belong to a different network.
 */
import { strict as assert } from 'assert';
import * as gl from '../src';
import { useBackend } from './helpers/backend';

const { ag, nn, data, tf } = gl;

/** Linear -> Dropout -> Linear -> Dropout, weights and masks from fixed seeds. */
function build() {
  return {
    l1: new nn.Linear(16, 32, { rng: data.rng(1) }),
    d1: new nn.Dropout(0.5, { rng: data.rng(7) }),
    l2: new nn.Linear(32, 8, { rng: data.rng(2) }),
    d2: new nn.Dropout(0.5, { rng: data.rng(8) }),
  };
}
type Net = ReturnType<typeof build>;
const block1 = (n: Net) => (t: gl.ag.Tensor) => n.d1.forward(ag.relu(n.l1.forward(t)));
const block2 = (n: Net) => (t: gl.ag.Tensor) => n.d2.forward(n.l2.forward(t));

async function grads(mode: 'plain' | 'checkpoint' | 'nested'): Promise<number[][]> {
  const n = build();
  const x = ag.tensor(data.rng(3).normalTensor([4, 16]));
  let y: gl.ag.Tensor;
  if (mode === 'plain') y = block2(n)(block1(n)(x));
  else if (mode === 'checkpoint') y = ag.checkpoint(block2(n), ag.checkpoint(block1(n), x));
  else y = ag.checkpoint((t) => block2(n)(ag.checkpoint(block1(n), t)), x);
  const loss = ag.sum(ag.mul(y, y));
  loss.backward();
  const out = await Promise.all([n.l1, n.l2].flatMap((l) => l.parameters()).map(async (p) => Array.from(await p.grad!.data())));
  loss.dispose();
  x.dispose();
  for (const m of [n.l1, n.l2]) m.dispose();
  return out;
}

describe('nn.Dropout under gl.ag.checkpoint', () => {
  before(async () => {
    await useBackend('wasm');
  });

  it('replays the forward masks in the recomputation: gradients equal the unchecked run', async () => {
    const plain = await grads('plain');
    assert.ok(plain[0]!.some((g) => g === 0) && plain[0]!.some((g) => g !== 0), 'dropout zeroed some gradients');
    assert.deepEqual(await grads('checkpoint'), plain);
  });

  it('replays masks of nested checkpoints too', async () => {
    assert.deepEqual(await grads('nested'), await grads('plain'));
  });

  it('leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    await grads('nested');
    assert.equal(tf.memory().numTensors, before);
  });
});
