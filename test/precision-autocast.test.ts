/**
 * precision.autocast: emulated bf16 / fp16 forward and backward of a small MLP.
 *
 * Against PyTorch 1.13 on CPU (real bfloat16 kernels), same weights and data (JSON):
 * - "unfused": the ops gradlab runs, with PyTorch's dtypes as `torch.autocast('cuda')`
 *   would give them: `x.bfloat16() @ W.bfloat16()` (bf16 GEMM, float32 accumulation,
 *   one rounding), `+ b.bfloat16()` (bf16 add: computed in float32, rounded), bf16 GELU,
 *   the same again, then `cross_entropy` on the logits cast to float32. Each side
 *   accumulates products and sums in float32 and rounds each op's output to bf16, so the
 *   two differ only where float32 summation order flips a bf16 rounding (an element
 *   within ~2⁻²⁴ relative of a rounding boundary): at most one bf16 ulp (2⁻⁸ relative)
 *   at that element, propagated through the rest of the net.
 * - "autocast": `torch.autocast('cpu', dtype=torch.bfloat16)` with `F.linear`, whose
 *   `addmm` adds the bias in float32 before its single rounding, where gradlab rounds
 *   x·W to bf16 and then rounds again after adding b: two roundings of relative size
 *   ≤ 2⁻⁹ each instead of one, so the values differ by about a bf16 unit roundoff.
 *
 * PyTorch's bf16 GEMMs on this CPU go through oneDNN (float32 accumulation, one
 * rounding); the script checks that at the test's shapes (1.13's fallback for tiny
 * matrices, 8x8, accumulates differently). gradlab's accumulate in float32 (tfjs).
 *
 * Tolerances are stated in units of bf16's unit roundoff u = 2⁻⁸ (8 significant bits;
 * its machine epsilon, one ulp at 1, is 2⁻⁷) times the reference tensor's largest
 * magnitude (a per-tensor scale, since a gradient element can be a cancellation of
 * much larger terms).
 */
import { strict as assert } from 'assert';
import { tf } from '../src/backend/tf';
import * as ag from '../src/autograd';
import * as nn from '../src/nn';
import { Rng } from '../src/data/rng';
import { autocast, autocastDtype, emulatedDtype, isAutocastEnabled } from '../src/precision/autocast';
import { roundTo } from '../src/precision/round';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';
import { needTorch, runTorch, type TorchRun } from './helpers/torch';

const U = 2 ** -8; // bf16 unit roundoff (7 stored mantissa bits)

/** The MLP 32 → 64 → GELU → 10, cross-entropy, in gradlab (W [in, out], the layout of gl.nn.Linear). */
function makeNet(seed: number) {
  const r = new Rng(seed);
  const l1 = new nn.Linear(32, 64, { rng: r });
  const l2 = new nn.Linear(64, 10, { rng: r });
  const x = ag.tensor(r.normalTensor([16, 32]), { label: 'x' });
  const y = ag.tensor(r.intTensor([16], 10), { label: 'y' });
  const params = [l1.weight, l1.bias, l2.weight, l2.bias] as ag.Tensor[];
  const forward = (input: ag.Operand = x) => {
    const h = l1.forward(input);
    const a = ag.gelu(h);
    const z = l2.forward(a);
    return { h, a, z, loss: nn.crossEntropy(z, y) };
  };
  const dispose = () => [x, y, ...params].forEach((t) => t.dispose());
  return { l1, l2, x, y, params, forward, dispose };
}

const spec = async (t: tf.Tensor) => ({ values: Array.from(await t.data()), shape: t.shape, dtype: t.dtype });

const TORCH = `
bf = torch.bfloat16
x = t(INPUT["x"]).float(); y = t(INPUT["y"])
P = [t(INPUT[k]).float().requires_grad_() for k in ("W1", "b1", "W2", "b2")]
W1, b1, W2, b2 = P
def run(mode):
    for p in P: p.grad = None
    if mode == "autocast":
        with torch.autocast("cpu", dtype=bf):
            h = F.linear(x, W1.t(), b1)
            a = F.gelu(h)
            z = F.linear(a, W2.t(), b2)
            loss = F.cross_entropy(z, y)
    else:
        h = x.to(bf) @ W1.to(bf) + b1.to(bf)
        a = F.gelu(h)
        z = a @ W2.to(bf) + b2.to(bf)
        loss = F.cross_entropy(z.float(), y)
    assert h.dtype == bf and z.dtype == bf and loss.dtype == torch.float32, (h.dtype, z.dtype, loss.dtype)
    loss.backward()
    return {"loss": loss.item(), "h": flat(h), "z": flat(z), "grads": [flat(p.grad) for p in P],
            "gradDtypes": [str(p.grad.dtype) for p in P]}
# does this build's bf16 GEMM accumulate in float32 (equal the float32 product rounded once) at the test's shapes,
# forward and backward (transposed operands)? oneDNN's does; 1.13's fallback for tiny matrices (8x8) does not.
torch.manual_seed(0)
def f32acc(A, B): return bool(torch.equal(A @ B, (A.float() @ B.float()).to(bf)))
def shapes(n, k, m):
    A = torch.randn(n, k).to(bf); B = torch.randn(k, m).to(bf); D = torch.randn(n, m).to(bf)
    return f32acc(A, B) and f32acc(D, B.t()) and f32acc(A.t(), D)
# a bf16 tensor used twice: each gradient contribution is bf16, and so is their sum
xt = t(INPUT["xt"]).float().to(bf); wt = t(INPUT["wt"]).float().requires_grad_()
c1 = t(INPUT["c1"]).float(); c2 = t(INPUT["c2"]).float()
m = xt @ wt.to(bf)
(m * c1 + m * c2).sum().backward()
OUTPUT = {"unfused": run("unfused"), "autocast": run("autocast"), "twice": flat(wt.grad),
          "gemmF32Acc": shapes(16, 32, 64) and shapes(16, 64, 10) and shapes(64, 64, 64)}
`;

interface TorchSide {
  loss: number;
  h: number[];
  z: number[];
  grads: number[][];
  gradDtypes: string[];
}

/** max |a − b| over a tensor, in units of u·max|b| (the reference tensor's scale). */
function errInU(a: ArrayLike<number>, b: readonly number[]): number {
  assert.equal(a.length, b.length);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i] as number));
    err = Math.max(err, Math.abs((a[i] as number) - (b[i] as number)));
  }
  return err / (U * scale);
}

/** Fraction of elements that are not bit-identical. */
function differing(a: ArrayLike<number>, b: readonly number[]): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) n++;
  return n / b.length;
}

/** True when every value is exactly representable in the format (rounding changes nothing). */
async function representable(t: tf.Tensor, format: 'fp16' | 'bf16'): Promise<boolean> {
  const r = roundTo(t, format);
  const a = await t.data();
  const b = await r.data();
  r.dispose();
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`precision.autocast on ${backend}`, function () {
    this.timeout(300_000);
    let torch: TorchRun<{ unfused: TorchSide; autocast: TorchSide; gemmF32Acc: boolean; twice: number[] }> | undefined;
    let [xt, wt, c1, c2] = [] as tf.Tensor[];
    after(() => tf.dispose([xt, wt, c1, c2] as tf.Tensor[]));
    before(async () => {
      await useBackend(backend);
      const r = new Rng(99);
      [xt, wt, c1, c2] = [0, 1, 2, 3].map(() => r.normalTensor([64, 64]));
      const net = makeNet(7);
      const input: Record<string, unknown> = {};
      const named: [string, tf.Tensor][] = [
        ['x', net.x.data], ['y', net.y.data], ['W1', net.l1.weight.data], ['b1', (net.l1.bias as ag.Tensor).data],
        ['W2', net.l2.weight.data], ['b2', (net.l2.bias as ag.Tensor).data], ['xt', xt], ['wt', wt], ['c1', c1], ['c2', c2],
      ] as [string, tf.Tensor][];
      for (const [k, t] of named) input[k] = await spec(t);
      torch = runTorch(TORCH, input);
      net.dispose();
    });

    it('bf16 MLP: loss and every gradient match PyTorch bfloat16 within bf16 rounding', async function () {
      const ref = needTorch(this, torch);
      // PyTorch's side: bf16 GEMMs accumulate in float32 in this build (else the bound below would not hold)
      assert.ok(ref.gemmF32Acc, 'torch bf16 matmul is not the float32 product rounded once on this build');
      assert.deepEqual(ref.unfused.gradDtypes, ['torch.float32', 'torch.float32', 'torch.float32', 'torch.float32']);
      const net = makeNet(7);
      const { h, z, loss } = autocast({ dtype: 'bf16' }, () => net.forward());
      assert.equal(emulatedDtype(h), 'bfloat16');
      assert.equal(emulatedDtype(z), 'bfloat16');
      assert.equal(emulatedDtype(loss), 'float32'); // cross-entropy is on the float32 list
      assert.ok((await representable(h.data, 'bf16')) && (await representable(z.data, 'bf16')), 'bf16-tagged values must be exactly bf16');
      const hv = Array.from(await h.data.data());
      const zv = Array.from(await z.data.data());
      const lv = await loss.item();
      loss.backward();
      const grads: number[][] = [];
      for (const p of net.params) grads.push(Array.from(await (p.grad as tf.Tensor).data()));
      // master weights stay float32, their gradients are bf16 values (ToCopyBackward)
      net.params.forEach((p) => assert.equal(emulatedDtype(p), 'float32'));
      for (const p of net.params) assert.ok(await representable(p.grad as tf.Tensor, 'bf16'), `grad of ${p.label} is not bf16-representable`);

      const report: string[] = [];
      const fails: string[] = [];
      const check = (what: string, a: ArrayLike<number>, b: readonly number[], bound: number) => {
        const e = errInU(a, b);
        report.push(`${what} ${e.toFixed(2)}u (${(100 * differing(a, b)).toFixed(1)}% differ)`);
        if (!(e <= bound)) fails.push(`${what}: ${e.toFixed(3)} u·max|ref| > ${bound} (u = 2^-8)`);
      };
      const u = ref.unfused;
      // Unfused: the same roundings; only float32 summation order can flip a bf16 rounding (one ulp ≤ 2u relative
      // at that element); measured: bit-identical on cpu and wasm.
      check('unfused h', hv, u.h, 2);
      check('unfused z', zv, u.z, 2);
      check('unfused loss', [lv], [u.loss], 1);
      ['W1', 'b1', 'W2', 'b2'].forEach((n, i) => check(`unfused grad ${n}`, grads[i] as number[], u.grads[i] as number[], 2));
      // Almost every element is bit-identical to PyTorch's: the emulation rounds where PyTorch rounds.
      for (const [n, a, b] of [['h', hv, u.h], ['z', zv, u.z], ['grad W1', grads[0], u.grads[0]]] as [string, number[], number[]][]) {
        assert.ok(differing(a, b) < 0.02, `${n}: ${differing(a, b)} of the elements differ from PyTorch's bf16`);
      }
      // torch.autocast with the fused addmm: gradlab's round(round(p) + b), p = x·W, against torch's round(p + b):
      // |Δ| ≤ u|p| + u|round(p) + b| + u|p + b| ≤ 3u·max(|p|, |h|) (|p| ≈ |h| here). The same bound, through one
      // more layer and the backward, for z and the gradients, with one u more for what comes in.
      const f = ref.autocast;
      check('autocast h', hv, f.h, 3);
      check('autocast z', zv, f.z, 4);
      check('autocast loss', [lv], [f.loss], 1);
      ['W1', 'b1', 'W2', 'b2'].forEach((n, i) => check(`autocast grad ${n}`, grads[i] as number[], f.grads[i] as number[], 4));
      console.log(`      max |gradlab − torch| in u·max|ref| (u = 2^-8): ${report.join('; ')}`);
      assert.deepEqual(fails, []);
      loss.dispose();
      net.dispose();
    });

    it('fp16 MLP: values are fp16, overflow gives Inf, small gradients flush to 0', async () => {
      const net = makeNet(3);
      const { h, a, z, loss } = autocast({ dtype: 'fp16' }, () => net.forward());
      for (const t of [h, a, z]) {
        assert.equal(emulatedDtype(t), 'float16');
        assert.ok(await representable(t.data, 'fp16'), `${t.describe()} is not fp16-representable`);
      }
      // tiny loss: (loss · 2^-40) has gradients far below fp16's smallest subnormal 2^-24
      const tiny = autocast({ dtype: 'fp16' }, () => ag.mul(loss, 2 ** -40));
      tiny.backward();
      for (const p of net.params) assert.ok((await (p.grad as tf.Tensor).data()).every((v) => v === 0), 'fp16 gradients should underflow to 0');
      tiny.dispose();
      ag.zeroGrad(net.params);
      // the same in float32: nonzero (what loss scaling recovers)
      const tiny32 = ag.mul(net.forward().loss, 2 ** -40);
      tiny32.backward();
      assert.ok((await (net.params[0]?.grad as tf.Tensor).data()).some((v) => v !== 0));
      tiny32.dispose();
      ag.zeroGrad(net.params);
      // overflow: 32 products 6e4 · 1 sum to 1.92e6 > 65504: ±Inf in fp16 (6e4 = 1875·32 itself is exact there), finite in bf16
      const big = ag.tensor(tf.tensor2d([[...Array(32).fill(6e4)], [...Array(32).fill(-6e4)], [...Array(32).fill(1)]]));
      const ones = ag.param(tf.ones([32, 2]));
      const o16 = autocast({ dtype: 'fp16' }, () => nn.linear(big, ones));
      const ob = autocast({ dtype: 'bf16' }, () => nn.linear(big, ones));
      assert.deepEqual(Array.from(await o16.data.data()), [Infinity, Infinity, -Infinity, -Infinity, 32, 32]);
      // bf16: 6e4 rounds to 59904 = 234·2⁸, and 32·59904 = 234·2¹³ is exact
      assert.deepEqual(Array.from(await ob.data.data()), [1916928, 1916928, -1916928, -1916928, 32, 32]);
      [o16, ob, big, ones, loss].forEach((t) => t.dispose());
      net.dispose();
    });

    it('is off outside the block, restored after a throw, nests, and works under noGrad', () => {
      const net = makeNet(5);
      assert.equal(isAutocastEnabled(), false);
      assert.throws(() => autocast({ dtype: 'bf16' }, () => { throw new Error('inside'); }), /inside/);
      assert.equal(isAutocastEnabled(), false);
      assert.equal(autocastDtype(), null);
      const out = net.forward();
      assert.equal(emulatedDtype(out.h), 'float32');
      autocast({ dtype: 'bf16' }, () => {
        assert.equal(autocastDtype(), 'bf16');
        autocast({ dtype: 'fp16' }, () => assert.equal(emulatedDtype(nn.linear(net.x, net.l1.weight)), 'float16'));
        autocast({ enabled: false }, () => assert.equal(emulatedDtype(nn.linear(net.x, net.l1.weight)), 'float32'));
        assert.equal(autocastDtype(), 'bf16');
        const r = ag.noGrad(() => net.forward());
        assert.equal(r.loss.requiresGrad, false);
        assert.equal(emulatedDtype(r.z), 'bfloat16');
        r.loss.dispose();
      });
      assert.equal(isAutocastEnabled(), false);
      assert.throws(() => autocast({ dtype: 'fp8' as 'bf16' }, () => 0), /dtype must be 'fp16' or 'bf16', got 'fp8'/);
      // a bf16 tensor used outside the block keeps its type (PyTorch's type promotion)
      const z = autocast({ dtype: 'bf16' }, () => net.forward().z);
      assert.equal(emulatedDtype(ag.relu(z)), 'bfloat16');
      assert.equal(emulatedDtype(ag.add(z, net.l2.bias as ag.Tensor)), 'float32');
      const z16 = autocast({ dtype: 'fp16' }, () => net.forward().z);
      assert.equal(emulatedDtype(ag.add(z, z16)), 'float32'); // fp16 with bf16: float32, as torch.result_type
      assert.equal(autocast({ dtype: 'fp16' }, () => emulatedDtype(ag.add(z, z16))), 'float32');
      z16.dispose();
      z.dispose();
      out.loss.dispose();
      net.dispose();
    });

    it('the two gradient contributions of a bf16 tensor used twice are summed in bf16, as PyTorch', async function () {
      const ref = needTorch(this, torch);
      assert.ok(ref.gemmF32Acc, 'torch bf16 matmul is not the float32 product rounded once on this build');
      const w = ag.param((wt as tf.Tensor).clone());
      const x = ag.tensor((xt as tf.Tensor).clone());
      const y = autocast({ dtype: 'bf16' }, () => {
        const m = ag.matmul(x, w); // bf16
        // m is used twice: ∂y/∂m = round(round(c1) + round(c2)), not round(c1 + c2) nor round(c1) + round(c2)
        return ag.sum(ag.add(ag.mul(m, c1 as tf.Tensor), ag.mul(m, c2 as tf.Tensor))); // bf16 · float32 tensor -> float32
      });
      y.backward();
      const g = await (w.grad as tf.Tensor).data();
      assert.ok(await representable(w.grad as tf.Tensor, 'bf16'));
      const e = errInU(g, ref.twice);
      // two summands: round(a + b) does not depend on the order, so only float32 summation order in xᵀ·dm can differ
      assert.ok(e <= 1, `grad of w: ${e} u·max|ref|`);
      assert.ok(differing(g, ref.twice) < 0.05, `${differing(g, ref.twice)} of the elements differ`);
      [y, w, x].forEach((t) => t.dispose());
    });

    it('checkpoint recomputes in the precision of its forward (backward after the block): the same gradients', async () => {
      const net = makeNet(13);
      const grads = async (ck: boolean) => {
        let tag = '';
        const loss = autocast({ dtype: 'bf16' }, () => {
          const block = (x: ag.Tensor) => ag.gelu(net.l1.forward(x));
          const a = ck ? ag.checkpoint(block, net.x) : block(net.x);
          tag = String(emulatedDtype(a));
          return nn.crossEntropy(net.l2.forward(a), net.y);
        });
        loss.backward();
        const out: number[][] = [];
        for (const p of net.params) out.push(Array.from(await (p.grad as tf.Tensor).data()));
        loss.dispose();
        ag.zeroGrad(net.params);
        return { tag, out };
      };
      const plain = await grads(false);
      const ck = await grads(true);
      assert.equal(ck.tag, 'bfloat16');
      assert.deepEqual(ck.out, plain.out);
      net.dispose();
    });

    it('an op that throws under autocast leaves no cast behind', () => {
      const w = ag.param(tf.ones([3, 2]));
      const x = ag.tensor(tf.ones([2, 3]));
      const before = tf.memory().numTensors;
      const bad = (a: tf.Tensor[]) => { void a; throw new Error('forward failed'); };
      assert.throws(() => autocast({ dtype: 'bf16' }, () => ag.record('matmul', [x, w], bad, [null, null])), /forward failed/);
      assert.equal(tf.memory().numTensors, before);
      [w, x].forEach((t) => t.dispose());
    });

    it('training steps under autocast keep tf.memory().numTensors constant', () => {
      const net = makeNet(11);
      const step = () => {
        const { loss } = autocast({ dtype: 'bf16' }, () => net.forward());
        loss.backward();
        for (const p of net.params) p.assign(tf.tidy(() => tf.sub(p.data, tf.mul(p.grad as tf.Tensor, 0.1))));
        loss.dispose();
        ag.zeroGrad(net.params);
      };
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) step();
      assert.equal(tf.memory().numTensors, before);
      net.dispose();
    });
  });
}

webgpuSuite(__filename, 'precision.autocast');
