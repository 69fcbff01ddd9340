/**
 * What the engine holds for backward, against PyTorch 1.13 on the same models
 * and shapes, counted there with `torch.autograd.graph.saved_tensors_hooks`
 * (distinct storages, parameters excluded), and against tfjs's own count of
 * live bytes, so the saved-bytes figure is what memory really holds.
 */
import { strict as assert } from 'assert';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import { rng } from '../src/data';
import * as nn from '../src/nn';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';
import { needTorch, runTorch, type TorchRun } from './helpers/torch';

const [B, S, H, NH] = [4, 32, 64, 4];
const D = H / NH;

const TORCH = `
import torch.utils.checkpoint as cp
torch.set_default_dtype(torch.float32)
torch.manual_seed(0)
def count(fn, params):
    pids = {p.storage().data_ptr() for p in params}
    seen = {}
    def pack(t):
        st = t.storage()
        if st.data_ptr() not in pids: seen[st.data_ptr()] = st.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())
def mlp(act):
    Ls = [torch.nn.Linear(a, b) for a, b in [(784, 256), (256, 256), (256, 10)]]
    x = torch.randn(128, 784)
    def f():
        h = x
        for i, l in enumerate(Ls):
            h = l(h)
            if i < 2: h = act(h)
        return h
    return count(f, [p for l in Ls for p in l.parameters()])
B, S, H, NH = ${B}, ${S}, ${H}, ${NH}
D = H // NH
shapes = dict(g1=(H,), b1=(H,), Wq=(H, H), bq=(H,), Wk=(H, H), bk=(H,), Wv=(H, H), bv=(H,), Wo=(H, H), bo=(H,),
              g2=(H,), b2=(H,), W1=(4 * H, H), c1=(4 * H,), W2=(H, 4 * H), c2=(H,))
P = {n: torch.randn(*s, requires_grad=True) for n, s in shapes.items()}
def block(x):
    h = F.layer_norm(x, (H,), P['g1'], P['b1'])
    q, k, v = [F.linear(h, P['W' + n], P['b' + n]).view(B, S, NH, D).transpose(1, 2) for n in 'qkv']
    att = ((q @ k.transpose(-2, -1)) / math.sqrt(D)).softmax(-1)
    o = (att @ v).transpose(1, 2).reshape(B, S, H)
    x = x + F.linear(o, P['Wo'], P['bo'])
    m = F.linear(F.gelu(F.linear(F.layer_norm(x, (H,), P['g2'], P['b2']), P['W1'], P['c1'])), P['W2'], P['c2'])
    return x + m
x = torch.randn(B, S, H, requires_grad=True)
OUTPUT = dict(relu=mlp(F.relu), gelu=mlp(F.gelu), block=count(lambda: block(x), list(P.values())),
              checkpointed=count(lambda: cp.checkpoint(block, x), list(P.values())))
`;

/** The same pre-norm transformer block as the PyTorch script, from gradlab ops (W stored [in, out]). */
function makeBlock() {
  const r = rng(7);
  const p = (shape: number[]) => ag.param(r.normalTensor(shape));
  const P = {
    g1: p([H]), b1: p([H]), Wq: p([H, H]), bq: p([H]), Wk: p([H, H]), bk: p([H]), Wv: p([H, H]), bv: p([H]),
    Wo: p([H, H]), bo: p([H]), g2: p([H]), b2: p([H]), W1: p([H, 4 * H]), c1: p([4 * H]), W2: p([4 * H, H]), c2: p([H]),
  };
  const heads = (t: ag.Tensor) => ag.transpose(ag.reshape(t, [B, S, NH, D]), [0, 2, 1, 3]); // [B, NH, S, D]
  const block = (x: ag.Tensor): ag.Tensor => {
    const h = ag.layerNorm(x, P.g1, P.b1);
    const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => heads(nn.linear(h, P[`W${n}`], P[`b${n}`])));
    const att = ag.softmax(ag.mul(ag.matmul(q!, ag.transpose(k!, [0, 1, 3, 2])), 1 / Math.sqrt(D)));
    const o = ag.reshape(ag.transpose(ag.matmul(att, v!), [0, 2, 1, 3]), [B, S, H]);
    const x1 = ag.add(x, nn.linear(o, P.Wo, P.bo));
    const m = nn.linear(nn.gelu(nn.linear(ag.layerNorm(x1, P.g2, P.b2), P.W1, P.c1)), P.W2, P.c2);
    return ag.add(x1, m);
  };
  return { block, params: Object.values(P) };
}

/** Forward `fn` in a scope; report savedBytes and what tfjs says the forward left alive. */
function measure(fn: () => ag.Tensor, params: ag.Tensor[]) {
  const before = tf.memory().numBytes;
  const y = ag.tidy(fn);
  const live = tf.memory().numBytes - before;
  const saved = ag.savedBytes(y, params);
  return { y, saved, live };
}

let torchRun: TorchRun<{ relu: number; gelu: number; block: number; checkpointed: number }> | undefined;

webgpuSuite(__filename, 'saved for backward');

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`saved for backward, vs PyTorch (${backend})`, function () {
    this.timeout(120_000);
    before(async function () {
      this.timeout(180_000);
      await useBackend(backend);
      torchRun ??= runTorch(TORCH, {});
    });

    for (const act of ['relu', 'gelu'] as const) {
      it(`holds what PyTorch holds for an MLP 784-256-256-10 with ${act}, batch 128 (x and the activations)`, function () {
        const ref = needTorch(this, torchRun);
        const mlp = new nn.MLP([784, 256, 256, 10], { activation: act, rng: 0 });
        const x = ag.tensor(rng(1).normalTensor([128, 784]));
        const tensors = tf.memory().numTensors;
        const { y, saved, live } = measure(() => mlp.forward(x), mlp.parameters());
        const expected = ref[act];
        assert.ok(Math.abs(saved.bytes - expected) <= 0.1 * expected, `gradlab ${saved.bytes} B vs PyTorch ${expected} B (${JSON.stringify(saved.byOp)})`);
        // Live memory: what the graph saved (minus x, which existed before) and the logits; nothing else.
        assert.equal(live, saved.bytes - x.size * 4 + y.size * 4, `tfjs holds ${live} B after the forward`);
        const seed = tf.onesLike(y.data);
        y.backward(seed);
        seed.dispose();
        y.dispose();
        assert.equal(tf.memory().numTensors, tensors + mlp.parameters().length, 'after backward only the gradients are new');
        mlp.zeroGrad();
        assert.equal(tf.memory().numTensors, tensors);
        mlp.dispose();
        x.dispose();
      });
    }

    it('holds what PyTorch holds for a LayerNorm + attention + MLP block, and under checkpoint only its input', async function () {
      const ref = needTorch(this, torchRun);
      const { block, params } = makeBlock();
      const x = ag.param(rng(2).normalTensor([B, S, H]));
      const tensors = tf.memory().numTensors;
      const plain = measure(() => block(x), params);
      assert.ok(Math.abs(plain.saved.bytes - ref.block) <= 0.1 * ref.block, `gradlab ${plain.saved.bytes} B vs PyTorch ${ref.block} B (${JSON.stringify(plain.saved.byOp)})`);
      // Live memory: saved (which counts x, made before) + the output; the 1/√D constant is saved by mul.
      const xBytes = x.size * 4;
      assert.equal(plain.live, plain.saved.bytes - xBytes + plain.y.size * 4, `live ${plain.live}, saved ${plain.saved.bytes}`);
      const ckpt = measure(() => ag.checkpoint(block, x), params);
      assert.equal(ckpt.saved.bytes, ref.checkpointed, `checkpointed: gradlab ${ckpt.saved.bytes} B vs PyTorch ${ref.checkpointed} B`);
      assert.equal(ckpt.live, ckpt.saved.bytes - xBytes + ckpt.y.size * 4);
      // Same gradients either way.
      const seed = tf.onesLike(plain.y.data);
      plain.y.backward(seed);
      const g1 = await Promise.all(params.map(async (p) => Array.from(await p.grad!.data())));
      ag.zeroGrad([...params, x]);
      ckpt.y.backward(seed);
      for (const [i, p] of params.entries()) assert.deepEqual(Array.from(await p.grad!.data()), g1[i]);
      seed.dispose();
      plain.y.dispose();
      ckpt.y.dispose();
      ag.zeroGrad([...params, x]);
      assert.equal(tf.memory().numTensors, tensors);
      params.forEach((p) => p.dispose());
      x.dispose();
    });

    it('under noGrad a deep MLP peaks at about one layer, not the whole forward', async () => {
      const L = 8;
      const mlp = new nn.MLP([256, ...Array<number>(L).fill(512), 10], { rng: 0 });
      const x = ag.tensor(rng(3).normalTensor([256, 256]));
      const act = 256 * 512 * 4;
      const { extraBytes, result } = await ag.measurePeakBytes(() => ag.noGrad(() => mlp.forward(x)));
      result.dispose();
      // One layer: its input, the product, the biased sum, the activation: at most ~4 activations at once.
      assert.ok(extraBytes <= 4 * act, `peak ${extraBytes / act} activations over ${L} layers`);
      const withGrad = await ag.measurePeakBytes(() => mlp.forward(x));
      assert.ok(withGrad.extraBytes >= L * act, `with recording the forward keeps every layer: ${withGrad.extraBytes / act} activations`);
      withGrad.result.dispose();
      mlp.dispose();
      x.dispose();
    });

    it('backward of [batch, seq, k] @ [k, m] does not copy the weight once per batch element', async () => {
      const x = ag.param(rng(4).normalTensor([64, 16, 256]));
      const W = ag.param(rng(5).normalTensor([256, 256]));
      const y = ag.matmul(x, W);
      const dy = tf.onesLike(y.data);
      const { extraBytes } = await ag.measurePeakBytes(() => y.backward(dy));
      // dx (1 MiB), dW (256 KiB), the transposed W on wasm, and tfjs counting each reshape of dy and dx
      // (a handle on the same buffer) as bytes of its own: about 4 MiB. A copy of W per batch element is 16 MiB.
      assert.ok(extraBytes <= 6 * 2 ** 20, `backward peaked at ${(extraBytes / 2 ** 20).toFixed(2)} MiB`);
      dy.dispose();
      y.dispose();
      x.dispose();
      W.dispose();
    });
  });
}
