/**
 * probes/memory: training memory predicted against measured.
 *
 * - The paper calculator (ZeRO's 16Ψ, Korthikanti et al.'s per-layer activations,
 *   the LLaMA-7B parameter count) against numbers computed by hand here.
 * - A real training step of a TinyLM and of MLPs on cpu and wasm (and webgpu in a
 *   child process): parameters, gradients and optimiser states equal their formulas
 *   exactly (tolerance 0 bytes), and so do the saved activations, term by term;
 *   checkpointing removes exactly the predicted bytes; nothing leaks.
 * - An independent reference: PyTorch 1.13's `saved_tensors_hooks`, counting distinct
 *   storages saved for backward (parameters excluded) on the same shapes. The MLPs
 *   save the same tensors on both sides (tolerance 0). TinyLM differs by design, by
 *   amounts stated exactly below (also tolerance 0):
 *     - token ids: int64 in PyTorch (8 bytes), int32 in gradlab (4): torch − gradlab = 4N;
 *     - attention's 1/√d: `scores * (1/d**0.5)` saves the Python number as a 0-d float64
 *       tensor (8 bytes), gradlab a float32 scalar (4): torch − gradlab = 4 per layer;
 *     - cross-entropy: PyTorch saves log_softmax's output (N·V float32), the int64 targets (8N)
 *       and total_weight (4 bytes); gradlab's fused crossEntropy saves softmax p and the dense
 *       target distribution q (2·N·V float32), the row mask (4N) and 1/n (4 bytes):
 *       gradlab − torch = 4NV + 4N − 8N.
 */
import { strict as assert } from 'assert';
import { tf } from '../src/backend/tf';
import * as ag from '../src/autograd';
import { MLP } from '../src/nn/mlp';
import { Adam } from '../src/optim/adam';
import { AdamW } from '../src/optim/adamw';
import { SGD } from '../src/optim/sgd';
import {
  TinyLM,
  checkpointingEffect,
  llamaLike7B,
  measureTrainingStep,
  memorySweep,
  predictSweep,
  mixedPrecisionAdamBytes,
  mlpActivationBytes,
  optimizerBuffers,
  stateBytes,
  tinyLMBatch,
  tinyLMMemory,
  tinyLMPredicted,
  transformerLayerActivationBytes,
  transformerMemoryPlan,
  transformerParams,
  type OptimizerKind,
  type TinyLMConfig,
} from '../src/probes/memory';
import { suiteBackends, useBackend, webgpuSuite, IN_WEBGPU_CHILD } from './helpers/backend';
import { needTorch, runTorch, type TorchRun } from './helpers/torch';
import { crossEntropy } from '../src/nn/losses/cross-entropy';

describe('probes.memory on paper (pure functions)', () => {
  it('mixed-precision Adam: 2Ψ + 2Ψ + 12Ψ = 16Ψ (ZeRO), 107.84 GB for 6.74e9 parameters', () => {
    const r = mixedPrecisionAdamBytes(6.74e9);
    assert.equal(r.parameters, 13.48e9);
    assert.equal(r.gradients, 13.48e9);
    assert.equal(r.optimizer, 80.88e9);
    assert.equal(r.total, 16 * 6.74e9);
    assert.equal(Math.round(r.total / 1e7) / 100, 107.84);
  });

  it('llamaLike7B has the published LLaMA-7B parameter count, 6,738,415,616', () => {
    // 32·(4·4096² + 3·4096·11008 + 2·4096) + 2·32000·4096 + 4096, by hand:
    assert.equal(32 * (67_108_864 + 135_266_304 + 8_192) + 262_144_000 + 4_096, 6_738_415_616);
    assert.equal(transformerParams(llamaLike7B), 6_738_415_616);
    // a tied-embedding, ungated variant: 4h² + 2hf + 2h per layer, V·h once
    assert.equal(transformerParams({ ...llamaLike7B, layers: 1, gated: false, tiedEmbeddings: true }), 4 * 4096 ** 2 + 2 * 4096 * 11008 + 2 * 4096 + 32000 * 4096 + 4096);
  });

  it("Korthikanti et al.'s per-layer activations: sbh(34 + 5as/h), 34sbh, 2sbh", () => {
    const shape = { seq: 4096, batch: 1, hidden: 4096, heads: 32 };
    const sbh = 4096 * 4096; // 16,777,216
    assert.equal(transformerLayerActivationBytes(shape), sbh * (34 + 160)); // 5·32·4096/4096 = 160
    assert.equal(transformerLayerActivationBytes(shape), 3_254_779_904);
    assert.equal(transformerLayerActivationBytes(shape, 'selective'), 570_425_344);
    assert.equal(transformerLayerActivationBytes(shape, 'full'), 33_554_432);
    // without dropout: the masks (sbh + sbh) and the s×s dropout mask and output (3as²b) go
    assert.equal(transformerLayerActivationBytes(shape, 'none', { dropout: false }), sbh * (32 + 64));
    assert.equal(transformerLayerActivationBytes(shape) - transformerLayerActivationBytes(shape, 'none', { dropout: false }), 2 * sbh + 3 * 32 * 4096 * 4096);
    // GPT-3 175B's example in the paper's Table 2 setting is out of scope; check the s² term scales as s²:
    const s2 = (s: number) => transformerLayerActivationBytes({ ...shape, seq: s }) - 34 * s * 4096;
    assert.equal(s2(8192), 4 * s2(4096));
  });

  it('the 7B plan in GB: states 13.48 + 13.48 + 80.86, activations 104.15 / 18.25 / 1.07 for 32 layers at b = 1', () => {
    const rows = transformerMemoryPlan(llamaLike7B);
    assert.equal(rows.length, 12);
    const gb = (block: string, recompute: string) => rows.find((r) => r.block === block && r.recompute === recompute)!.gb;
    const psi = 6_738_415_616;
    assert.equal(gb('parameters', 'none'), (2 * psi) / 1e9);
    assert.equal(gb('optimizer', 'full'), (12 * psi) / 1e9);
    assert.equal(gb('activations', 'none'), (32 * 3_254_779_904) / 1e9);
    assert.equal(gb('activations', 'selective'), (32 * 570_425_344) / 1e9);
    assert.equal(gb('activations', 'full'), (32 * 33_554_432) / 1e9);
    assert.equal(Number(gb('activations', 'none').toFixed(2)), 104.15);
    assert.equal(Number(gb('optimizer', 'none').toFixed(2)), 80.86);
    // micro-batch 2 doubles the activations only
    const two = transformerMemoryPlan(llamaLike7B, { batch: 2 });
    assert.equal(two.find((r) => r.block === 'activations' && r.recompute === 'none')!.gb, 2 * gb('activations', 'none'));
    assert.equal(two.find((r) => r.block === 'parameters' && r.recompute === 'none')!.gb, gb('parameters', 'none'));
  });

  it('float32 states: 4Ψ each, optimiser 0 / 1 / 2 buffers', () => {
    assert.deepEqual(stateBytes(10, 'sgd'), { parameters: 40, gradients: 40, optimizer: 0 });
    assert.deepEqual(stateBytes(10, 'sgd-momentum'), { parameters: 40, gradients: 40, optimizer: 40 });
    assert.deepEqual(stateBytes(10, 'adamw'), { parameters: 40, gradients: 40, optimizer: 80 });
    const p = [ag.param(tf.zeros([3]))];
    try {
      assert.equal(optimizerBuffers(new SGD(p, { lr: 0.1 })), 0);
      assert.equal(optimizerBuffers(new SGD(p, { lr: 0.1, momentum: 0.9 })), 1);
      assert.equal(optimizerBuffers(new Adam(p)), 2);
      assert.equal(optimizerBuffers(new AdamW(p)), 2);
    } finally {
      p[0]!.dispose();
    }
  });

  it('mlpActivationBytes: x plus one buffer per hidden layer (ReLU), two (GELU)', () => {
    assert.equal(mlpActivationBytes({ batch: 128, sizes: [784, 256, 256, 10] }), 663_552); // 4·128·(784 + 512)
    assert.equal(mlpActivationBytes({ batch: 5, sizes: [7, 6, 4, 3], activation: 'gelu' }), 4 * 5 * (7 + 2 * 10));
  });

  it('TinyLM parameter count: the formula equals the module', () => {
    const c: TinyLMConfig = { vocab: 11, hidden: 6, layers: 3, ffn: 10, batch: 1, seq: 1 };
    const m = new TinyLM(c);
    try {
      assert.equal(m.numParameters(), tinyLMPredicted(c, 'sgd').numParams);
      assert.equal(m.numParameters(), 11 * 6 + 3 * (2 * 6 + 2 * 6 * 10 + 10 + 6) + 2 * 6 + 6 * 11 + 11);
    } finally {
      m.dispose();
    }
  });

  it('rejects bad input with the function and the value named', () => {
    assert.throws(() => mixedPrecisionAdamBytes(-1), /mixedPrecisionAdamBytes: numParams must be a positive finite number, got -1/);
    assert.throws(() => transformerLayerActivationBytes({ seq: 4096, batch: 0, hidden: 4096, heads: 32 }), /batch must be a positive integer, got 0/);
    assert.throws(() => transformerLayerActivationBytes({ seq: 8, batch: 1, hidden: 8, heads: 2 }, 'some' as never), /recompute must be 'none', 'selective' or 'full', got 'some'/);
    assert.throws(() => stateBytes(1.5, 'adam'), /stateBytes: numParams must be an integer ≥ 0, got 1.5/);
    assert.throws(() => optimizerBuffers('lion' as OptimizerKind), /unknown optimiser 'lion'/);
    assert.throws(() => mlpActivationBytes({ batch: 2, sizes: [3] }), /at least an input and an output width/);
    assert.throws(() => tinyLMPredicted({ vocab: 8, hidden: 0, layers: 1, batch: 1, seq: 1 }, 'adam'), /tinyLMPredicted: hidden must be a positive integer, got 0/);
    assert.throws(() => new TinyLM({ vocab: 8, hidden: 4, layers: 1, batch: 1, seq: 2.5 }), /TinyLM: seq must be a positive integer, got 2.5/);
    assert.throws(() => transformerParams({ ...llamaLike7B, vocab: NaN }), /transformerParams: vocab must be a positive integer, got NaN/);
    assert.throws(() => new TinyLM({ vocab: 8, hidden: 6, heads: 4, layers: 1, batch: 1, seq: 2 }), /TinyLM: hidden 6 must be divisible by heads 4/);
  });
});

/** The PyTorch side: saved-for-backward bytes of the same shapes, by saved_tensors_hooks. */
const TORCH_SCRIPT = `
import torch.nn as nn
torch.set_default_dtype(torch.float32)  # the preamble sets float64; gradlab trains in float32
torch.manual_seed(0)
def saved(fn, params):
    pstore = {p.storage().data_ptr() for p in params}
    seen = {}
    def pack(x):
        st = x.storage()
        if st.data_ptr() not in pstore:
            seen[st.data_ptr()] = st.nbytes()   # distinct storages: a view of a saved tensor counts once
        return x
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        fn()
    return sum(seen.values())
out = {}
for act in ["relu", "gelu"]:
    c = INPUT["mlp"]
    s = c["sizes"]
    layers = []
    for i in range(len(s) - 1):
        layers.append(nn.Linear(s[i], s[i + 1]))
        if i < len(s) - 2:
            layers.append(nn.ReLU() if act == "relu" else nn.GELU())
    m = nn.Sequential(*layers)
    x = torch.randn(c["batch"], s[0])
    out["mlp_" + act] = saved(lambda: m(x), list(m.parameters()))
c = INPUT["lm"]
V, h, L, f, b, s = c["vocab"], c["hidden"], c["layers"], c["ffn"], c["batch"], c["seq"]
a = c["heads"]
d = h // a
class Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = [nn.Linear(h, h) for _ in range(4)]
    def forward(self, x):
        q = self.q(x).view(b, s, a, d).transpose(1, 2)
        kT = self.k(x).view(b, s, a, d).permute(0, 2, 3, 1)
        v = self.v(x).view(b, s, a, d).transpose(1, 2)
        p = torch.softmax((q @ kT) * (1 / d ** 0.5), -1)
        return self.o((p @ v).transpose(1, 2).reshape(b, s, h))
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln0, self.attn = nn.LayerNorm(h), Attn()
        self.ln, self.l1, self.l2 = nn.LayerNorm(h), nn.Linear(h, f), nn.Linear(f, h)
    def forward(self, x):
        x = x + self.attn(self.ln0(x))
        return x + self.l2(F.gelu(self.l1(self.ln(x))))
class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.e = nn.Embedding(V, h)
        self.blocks = nn.ModuleList([Block() for _ in range(L)])
        self.ln, self.head = nn.LayerNorm(h), nn.Linear(h, V)
    def forward(self, ids):
        x = self.e(ids)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))
lm = LM()
ids, tg = torch.randint(0, V, (b, s)), torch.randint(0, V, (b, s))
ps = list(lm.parameters())
out["lm_logits"] = saved(lambda: lm(ids), ps)
out["lm_loss"] = saved(lambda: F.cross_entropy(lm(ids).reshape(-1, V), tg.reshape(-1)), ps)
OUTPUT = out
`;

const MLP_CASE = { batch: 5, sizes: [7, 6, 4, 3] };
const LM_CASE = { vocab: 16, hidden: 8, layers: 2, ffn: 32, heads: 2, batch: 2, seq: 3 };
const KINDS: OptimizerKind[] = ['sgd', 'sgd-momentum', 'adam', 'adamw'];

for (const backend of suiteBackends(['cpu', 'wasm'])) {
  describe(`probes.memory on ${backend}: a real training step against the formulas`, function () {
    this.timeout(300_000);
    let torch: TorchRun<Record<string, number>> | undefined;
    before(async () => {
      await useBackend(backend);
      if (!IN_WEBGPU_CHILD) torch = runTorch<Record<string, number>>(TORCH_SCRIPT, { mlp: MLP_CASE, lm: LM_CASE });
    });

    for (const kind of KINDS) {
      it(`TinyLM + ${kind}: every block equals its formula exactly, and nothing leaks`, async () => {
        const tensors = tf.memory().numTensors;
        const r = await tinyLMMemory(LM_CASE, kind);
        for (const row of r.rows) assert.equal(row.measured, row.predicted, `${row.block}: measured ${row.measured}, predicted ${row.predicted}`);
        const { parameters, gradients, optimizer, activations } = r.measured;
        assert.equal(parameters, 4 * r.predicted.numParams);
        assert.equal(r.measured.numParams, r.predicted.numParams);
        assert.equal(optimizer, optimizerBuffers(kind) * parameters);
        // Activations by op, against the formula's terms (N = 6 tokens, h = 8, f = 32, V = 16, L = 2, a = 2, b = 2, s = 3):
        const [N, h, f, L, a, b, s] = [6, 8, 32, 2, 2, 2, 3];
        const by = r.measured.activationsByOp;
        assert.equal(by.gather, 4 * N); //                                       int32 ids
        assert.equal(by.layerNorm, (2 * L + 1) * 4 * (N * h + 2 * N)); //        x, mean, rstd: 2 per layer + the final norm
        assert.equal(by.gelu, L * 4 * N * f); //                                 GELU's input
        assert.equal(by.mul, L * 4); //                                          the 1/√d scalar
        assert.equal(by.crossEntropy, 4 * (2 * N * 16 + N + 1)); //              p, q, mask, 1/n
        // matmul inputs (a buffer saved by softmax and matmul counts under the first in graph order):
        // MLP W₁ and W₂ inputs, attention's projection input, q, kᵀ, v, merged heads, P, the head's input
        assert.equal((by.matmul ?? 0) + (by.softmax ?? 0), L * 4 * (N * h + N * f) + L * 4 * (5 * N * h + a * b * s * s) + 4 * N * h);
        assert.equal(Object.keys(by).sort().join(), 'crossEntropy,gather,gelu,layerNorm,matmul,mul' + (by.softmax !== undefined ? ',softmax' : ''));
        // The peak holds at least the parameters and the saved activations (end of forward),
        // and the parameters, gradients and optimiser states together (end of step).
        assert.ok(r.measured.peakBytes >= parameters + activations, `peak ${r.measured.peakBytes}`);
        assert.ok(r.measured.peakBytes >= parameters + gradients + optimizer, `peak ${r.measured.peakBytes}`);
        assert.ok(r.measured.forwardBytes >= activations, 'the forward left at least what it saved alive');
        assert.equal(r.measured.leakedBytes, 0);
        assert.equal(tf.memory().numTensors, tensors, 'tinyLMMemory leaked tensors');
      });
    }

    for (const activation of ['relu', 'gelu'] as const) {
      it(`MLP ${MLP_CASE.sizes.join('-')} (${activation}): saved bytes = mlpActivationBytes = torch's saved_tensors_hooks`, async function () {
        const x = tf.randomNormal([MLP_CASE.batch, MLP_CASE.sizes[0]!], 0, 1, 'float32', 1);
        const tensors = tf.memory().numTensors;
        const m = await measureTrainingStep({
          model: () => new MLP(MLP_CASE.sizes, { activation, rng: 0 }),
          loss: (mlp) => ag.mean(mlp.forward(x)), // mean saves nothing: only the MLP's saves count
          optimizer: (ps) => new Adam(ps),
          peak: backend !== 'webgpu',
        });
        x.dispose();
        assert.equal(tf.memory().numTensors, tensors - 1, 'measureTrainingStep leaked tensors');
        const predicted = mlpActivationBytes({ ...MLP_CASE, activation });
        assert.equal(m.activations, predicted);
        assert.equal(m.parameters, 4 * (7 * 6 + 6 + 6 * 4 + 4 + 4 * 3 + 3));
        assert.equal(m.gradients, m.parameters);
        assert.equal(m.optimizer, 2 * m.parameters);
        if (IN_WEBGPU_CHILD) return;
        const t = needTorch(this, torch);
        assert.equal(m.activations, t[`mlp_${activation}`], `gradlab ${m.activations} B, PyTorch ${t[`mlp_${activation}`]} B`);
      });
    }

    it("TinyLM's saved bytes against torch's, with the documented differences exactly", async function () {
      if (IN_WEBGPU_CHILD) this.skip();
      const t = needTorch(this, torch);
      const N = LM_CASE.batch * LM_CASE.seq;
      const V = LM_CASE.vocab;
      const model = new TinyLM(LM_CASE);
      const { ids, targets } = tinyLMBatch(LM_CASE);
      try {
        const logits = model.forward(ids);
        const a = ag.savedBytes(logits, model.parameters()).bytes;
        logits.dispose();
        const L = LM_CASE.layers;
        assert.equal(a, t.lm_logits! - 4 * N - 4 * L, 'the model alone: the ids (int64 in torch, int32 here) and 1/√d (float64 in torch, float32 here) differ');
        const loss = crossEntropy(model.forward(ids), targets);
        const b = ag.savedBytes(loss, model.parameters()).bytes;
        loss.dispose();
        assert.equal(b, t.lm_loss! - 4 * N - 4 * L + (4 * N * V + 4 * N - 8 * N), 'with the loss: also crossEntropy saves p, q, mask where torch saves log p and int64 targets');
        // and both agree with the formula (the formula is gradlab's accounting)
        assert.equal(b, tinyLMPredicted(LM_CASE, 'sgd').activations);
      } finally {
        tf.dispose([ids, targets]);
        model.dispose();
      }
    });

    it("one layer's measured saved bytes are Korthikanti et al.'s term without dropout (+ LayerNorm statistics), and 2sbh checkpointed", async () => {
      const c = { vocab: 8, hidden: 8, heads: 2, batch: 2, seq: 4, layers: 1 }; // f = 4h, as the formula assumes
      const N = c.batch * c.seq;
      const act = async (layers: number, checkpointed: boolean) => (await tinyLMMemory({ ...c, layers }, 'sgd', { checkpointed, peak: false })).measured.activations;
      const perLayer = (await act(2, false)) - (await act(1, false));
      // minus the 1/√d scalar (4 bytes) and both LayerNorms' mean and rstd (4N floats), at 2 bytes instead of 4:
      const at16 = ((perLayer - 4 - 4 * 4 * N) / 4) * 2;
      const shape = { seq: c.seq, batch: c.batch, hidden: c.hidden, heads: c.heads };
      assert.equal(at16, transformerLayerActivationBytes(shape, 'none', { dropout: false }));
      assert.equal(at16, c.seq * c.batch * c.hidden * (32 + (2 * c.heads * c.seq) / c.hidden));
      const perLayerCkpt = (await act(2, true)) - (await act(1, true));
      assert.equal((perLayerCkpt / 4) * 2, transformerLayerActivationBytes(shape, 'full'));
    });

    it('with attention, activations grow as s² (a·b·s² per layer for P): measured = predicted along s', async () => {
      const base: TinyLMConfig = { vocab: 8, hidden: 4, heads: 2, layers: 1, batch: 1, seq: 2 };
      const rows = (await memorySweep(base, 'seq', [2, 4, 6], 'sgd')).filter((r) => r.block === 'activations');
      for (const r of rows) assert.equal(r.measured, r.predicted, `s = ${r.value}`);
      const [a2, a4, a6] = rows.map((r) => r.measured) as [number, number, number];
      // act(s) = c + αs + βs² with β = 4·L·a·b = 8 bytes: the second difference over steps of 2 is 2·β·2² = 64
      assert.equal(a6 - 2 * a4 + a2, 64);
    });

    it('checkpointing removes exactly L·4N(h + 2f + 2) saved bytes, lowers the peak, and leaves the states alone', async () => {
      const c: TinyLMConfig = { vocab: 8, hidden: 8, layers: 3, ffn: 32, batch: 2, seq: backend === 'webgpu' ? 8 : 32 };
      const tensors = tf.memory().numTensors;
      const e = await checkpointingEffect(c, 'sgd');
      const N = c.batch * c.seq;
      assert.equal(e.measured.without, e.predicted.without);
      assert.equal(e.measured.with, e.predicted.with);
      assert.equal(e.measured.without - e.measured.with, 3 * 4 * N * (8 + 2 * 32 + 2));
      assert.ok(e.peak.with < e.peak.without, `peak with checkpoints ${e.peak.with} B, without ${e.peak.without} B`);
      const a = await tinyLMMemory(c, 'adam', { checkpointed: true, peak: false });
      const b = await tinyLMMemory(c, 'adam', { peak: false });
      for (const block of ['parameters', 'gradients', 'optimizer'] as const) assert.equal(a.measured[block], b.measured[block]);
      // with attention too, measured = predicted, and checkpointing keeps 4·N·h per layer
      const w = await checkpointingEffect({ ...c, heads: 2, seq: 4 }, 'sgd');
      assert.equal(w.measured.without, w.predicted.without);
      assert.equal(w.measured.with, w.predicted.with);
      assert.equal(tf.memory().numTensors, tensors, 'checkpointingEffect leaked tensors');
    });

    it('sweeps: states grow with the parameter count and not with b or s; activations grow linearly in b·s', async () => {
      const base: TinyLMConfig = { vocab: 8, hidden: 4, layers: 1, batch: 1, seq: 4 };
      const tensors = tf.memory().numTensors;
      const byBatch = await memorySweep(base, 'batch', [1, 2, 3], 'sgd');
      const bySeq = await memorySweep(base, 'seq', [2, 4], 'sgd');
      const byHidden = await memorySweep(base, 'hidden', [4, 8], 'adam');
      for (const r of [...byBatch, ...bySeq, ...byHidden]) assert.equal(r.measured, r.predicted, `${r.axis} ${r.value} ${r.block}`);
      const get = (rows: typeof byBatch, v: number, block: string) => rows.find((r) => r.value === v && r.block === block)!.measured;
      assert.equal(get(byBatch, 1, 'parameters'), get(byBatch, 3, 'parameters'));
      // activations = α·b·s + 4 (the loss's 1/n scalar): proportional to b, and to s
      const act = [1, 2, 3].map((b) => get(byBatch, b, 'activations') - 4);
      assert.deepEqual(act, [act[0]!, 2 * act[0]!, 3 * act[0]!]);
      assert.equal(get(bySeq, 4, 'activations') - 4, 2 * (get(bySeq, 2, 'activations') - 4));
      assert.ok(byHidden.find((r) => r.value === 8)!.numParams > byHidden.find((r) => r.value === 4)!.numParams);
      assert.equal(get(byHidden, 8, 'optimizer'), 2 * get(byHidden, 8, 'parameters'));
      // depth: each layer adds exactly one layer's parameters (2h + 2hf + f + h with h = 4, f = 16)
      const byLayers = await memorySweep(base, 'layers', [1, 2], 'sgd');
      for (const r of byLayers) assert.equal(r.measured, r.predicted, `layers ${r.value} ${r.block}`);
      assert.equal(get(byLayers, 2, 'parameters') - get(byLayers, 1, 'parameters'), 4 * (2 * 4 + 2 * 4 * 16 + 16 + 4));
      // the pure predicted lines agree with the sweep's predictions
      const lines = predictSweep(base, 'batch', [1, 2, 3], 'sgd');
      assert.deepEqual(lines.map((r) => r.predicted), byBatch.map((r) => r.predicted));
      assert.equal(tf.memory().numTensors, tensors, 'memorySweep leaked tensors');
    });

    it('bad input gets clear errors, and a failing step leaks nothing', async () => {
      const tensors = tf.memory().numTensors;
      await assert.rejects(measureTrainingStep({ model: () => new MLP([2, 2], { rng: 0 }), loss: 3 as never, optimizer: (ps) => new SGD(ps, { lr: 1 }) }), /measureTrainingStep: loss must be a function, got number/);
      const x = tf.ones([3, 2]);
      await assert.rejects(
        measureTrainingStep({ model: () => new MLP([2, 2], { rng: 0 }), loss: (m) => m.forward(x), optimizer: (ps) => new SGD(ps, { lr: 1 }) }),
        /loss\(\) must return a scalar, got shape \[3, 2\]/,
      );
      x.dispose();
      await assert.rejects(
        measureTrainingStep({ model: () => new MLP([2, 2], { rng: 0 }), loss: (m) => ag.mean(m.forward(tf.ones([1, 2]))), optimizer: () => 0.1 as never }),
        /optimizer\(\) must return an optim.Optimizer, got 0.1/,
      );
      await assert.rejects(tinyLMMemory({ vocab: 8, hidden: 4, layers: 1, batch: 1, seq: 4 }, 'rmsprop' as never), /unknown optimiser 'rmsprop'/);
      await assert.rejects(memorySweep({ vocab: 8, hidden: 4, layers: 1, batch: 1, seq: 4 }, 'heads' as never, [1]), /axis must be 'batch', 'seq', 'hidden' or 'layers', got 'heads'/);
      await assert.rejects(memorySweep({ vocab: 8, hidden: 4, layers: 1, batch: 1, seq: 4 }, 'batch', [0]), /values\[0\] must be a positive integer, got 0/);
      assert.throws(() => predictSweep({ vocab: 8, hidden: 4, layers: 1, batch: 1, seq: 4 }, 'seq', []), /predictSweep: values must be a non-empty array/);
      assert.equal(tf.memory().numTensors, tensors, 'a failing step leaked tensors');
    });
  });
}

webgpuSuite(__filename, 'probes.memory');
