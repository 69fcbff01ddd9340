/**
 * Where training memory goes: parameters, gradients, optimiser states and the
 * activations saved for backward, predicted from formulas and measured on the
 * engine during a real training step; how each block scales; what activation
 * checkpointing changes; and, on paper, the same accounting for a 7B model
 * (mixed-precision Adam, Rajbhandari et al. 2020; per-layer activations,
 * Korthikanti et al. 2022).
 *
 * Every number is in bytes unless a name says otherwise (`…GB` is 10⁹ bytes).
 *
 * Introduced in notebooks/03-gpu.
 */
import { tf } from '../backend/tf';
import { checkpoint } from '../autograd/checkpoint';
import { matmul, mul, reshape, softmax, transpose } from '../autograd/ops';
import { measurePeakBytes, savedBytes } from '../autograd/peak';
import type { Operand, Tensor } from '../autograd/tensor';
import { Module, chain } from '../nn/module';
import { Embedding } from '../nn/embedding';
import { LayerNorm } from '../nn/layer-norm';
import { Linear } from '../nn/linear';
import { GELU } from '../nn/activation';
import { Sequential } from '../nn/sequential';
import { Residual } from '../nn/residual';
import { crossEntropy } from '../nn/losses/cross-entropy';
import { Rng } from '../data/rng';
import { Optimizer } from '../optim/optimizer';
import { SGD } from '../optim/sgd';
import { Adam } from '../optim/adam';
import { AdamW } from '../optim/adamw';

/** The four blocks of training memory, in the order a stacked bar stacks them. */
export const MEMORY_BLOCKS = ['parameters', 'gradients', 'optimizer', 'activations'] as const;
/** One block of training memory. */
export type MemoryBlock = (typeof MEMORY_BLOCKS)[number];
/** Bytes per block. */
export type MemoryBlocks = Record<MemoryBlock, number>;

/** One bar segment: a block's predicted and measured bytes (a plot's row). */
export interface MemoryRow {
  /** Which block. */
  block: MemoryBlock;
  /** From the formula. */
  predicted: number;
  /** Measured on the engine during a real step (see {@link measureTrainingStep} for how). */
  measured: number;
}

/** Bytes of one float32 element: gradlab trains in float32. */
const F32 = 4;

function positiveInt(who: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new Error(`${who}: ${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

function positive(who: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${who}: ${name} must be a positive finite number, got ${String(v)}`);
  return v;
}

// ---------------------------------------------------------------------------
// Optimiser states
// ---------------------------------------------------------------------------

/** An optimiser as the calculators name it. */
export type OptimizerKind = 'sgd' | 'sgd-momentum' | 'adam' | 'adamw';

/**
 * Float32 buffers an optimiser keeps per parameter element: SGD 0 (1 with
 * momentum μ ≠ 0: the momentum buffer), Adam and AdamW 2 (the moments m and v).
 * The optimiser's state is then `buffers × Σ numel × 4` bytes (the step count is
 * a number on the host, not a tensor). Throws for an optimiser it does not know,
 * or an SGD whose groups disagree about momentum.
 *
 * @example
 * optimizerBuffers(new optim.Adam(params)); // 2
 *
 * Reference: `torch.optim.SGD` (`momentum_buffer`), `torch.optim.Adam` (`exp_avg`, `exp_avg_sq`).
 * Introduced in notebooks/03-gpu.
 */
export function optimizerBuffers(opt: Optimizer<{ lr: number }> | OptimizerKind): number {
  if (typeof opt === 'string') {
    const n = { sgd: 0, 'sgd-momentum': 1, adam: 2, adamw: 2 }[opt];
    if (n === undefined) throw new Error(`optimizerBuffers: unknown optimiser '${String(opt)}'; use 'sgd', 'sgd-momentum', 'adam' or 'adamw'`);
    return n;
  }
  if (opt instanceof Adam || opt instanceof AdamW) return 2;
  if (opt instanceof SGD) {
    const counts = new Set(opt.paramGroups.map((g) => ((g as unknown as { momentum: number }).momentum !== 0 ? 1 : 0)));
    if (counts.size !== 1) throw new Error('optimizerBuffers: this SGD has groups with and without momentum; count each group by itself');
    return [...counts][0] as number;
  }
  throw new Error(`optimizerBuffers: unknown optimiser ${String((opt as object)?.constructor?.name)}; it knows SGD, Adam and AdamW (or pass 'sgd' | 'sgd-momentum' | 'adam' | 'adamw')`);
}

/**
 * Parameters, gradients and optimiser states of `numParams` float32 parameters:
 * `4Ψ`, `4Ψ` (one gradient per parameter) and `4·k·Ψ` with k = {@link optimizerBuffers}.
 * (Float32 Adam is 16Ψ in all, the same as mixed-precision Adam's 16Ψ in
 * {@link mixedPrecisionAdamBytes}: mixed precision saves activation memory, not state.)
 *
 * Reference: Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", §3.1.
 * Introduced in notebooks/03-gpu.
 */
export function stateBytes(numParams: number, optimizer: OptimizerKind): Omit<MemoryBlocks, 'activations'> {
  if (!Number.isInteger(numParams) || numParams < 0) throw new Error(`stateBytes: numParams must be an integer ≥ 0, got ${String(numParams)}`);
  const k = optimizerBuffers(optimizer);
  return { parameters: F32 * numParams, gradients: F32 * numParams, optimizer: F32 * k * numParams };
}

// ---------------------------------------------------------------------------
// Activation formulas for the engine's models
// ---------------------------------------------------------------------------

/** An MLP as {@link mlpActivationBytes} takes it. */
export interface MlpShape {
  /** Rows of the input batch. */
  batch: number;
  /** Widths `[d₀, d₁, …, d_L]` (input, hidden…, output). */
  sizes: number[];
  /** Hidden activation. Default 'relu'. */
  activation?: 'relu' | 'gelu';
}

/**
 * Bytes an MLP `Linear(d₀→d₁), act, …, Linear(d_{L−1}→d_L)` saves for backward
 * (float32, the input not requiring grad), from what each op saves:
 * `Linear` = matmul + add: the matmul saves its input x (for ∂W = xᵀ·dy; W is a
 * parameter, not counted), the bias add saves nothing; `ReLU` saves its output
 * y (y > 0 exactly where x > 0), which is also the next matmul's input, so one
 * buffer; `GELU` saves its input z (∂y/∂z needs z), a buffer besides its output.
 * Hence, with B = batch and the hidden widths d₁…d_{L−1}:
 * - ReLU: `4·B·(d₀ + Σ dᵢ)`;
 * - GELU: `4·B·(d₀ + 2·Σ dᵢ)`.
 * PyTorch's `addmm`, `relu` (`threshold_backward` reads the result) and `gelu`
 * save the same tensors, so `saved_tensors_hooks` counts the same bytes.
 *
 * @example
 * mlpActivationBytes({ batch: 128, sizes: [784, 256, 256, 10] }); // 663,552
 *
 * Introduced in notebooks/03-gpu.
 */
export function mlpActivationBytes({ batch, sizes, activation = 'relu' }: MlpShape): number {
  const who = 'mlpActivationBytes';
  positiveInt(who, 'batch', batch);
  if (!Array.isArray(sizes) || sizes.length < 2) throw new Error(`${who}: sizes must list at least an input and an output width, got ${JSON.stringify(sizes)}`);
  sizes.forEach((d, i) => positiveInt(who, `sizes[${i}]`, d));
  if (activation !== 'relu' && activation !== 'gelu') throw new Error(`${who}: activation must be 'relu' or 'gelu', got '${String(activation)}'`);
  const hidden = sizes.slice(1, -1).reduce((a, b) => a + b, 0);
  return F32 * batch * ((sizes[0] as number) + (activation === 'relu' ? 1 : 2) * hidden);
}

/** The shape of a {@link TinyLM} and its training batch. */
export interface TinyLMConfig {
  /** Vocabulary size V (embedding rows, logits). */
  vocab: number;
  /** Hidden width h. */
  hidden: number;
  /** Number of blocks L. */
  layers: number;
  /** Inner width f of each block's MLP. Default 4h. */
  ffn?: number;
  /**
   * Attention heads a (h divisible by a), or 0 for no attention: each layer is then
   * only the MLP block. Default 0.
   */
  heads?: number;
  /** Micro-batch b. */
  batch: number;
  /** Sequence length s. */
  seq: number;
  /** Seed of the weights and the batch. Default 0. */
  seed?: number;
}

function checkConfig(who: string, c: TinyLMConfig): Required<TinyLMConfig> {
  if (typeof c !== 'object' || c === null) throw new Error(`${who}: config must be an object { vocab, hidden, layers, batch, seq }, got ${String(c)}`);
  const hidden = positiveInt(who, 'hidden', c.hidden);
  const ffn = c.ffn === undefined ? 4 * hidden : positiveInt(who, 'ffn', c.ffn);
  const heads = c.heads ?? 0;
  if (!Number.isInteger(heads) || heads < 0) throw new Error(`${who}: heads must be an integer ≥ 0 (0: no attention), got ${String(heads)}`);
  if (heads > 0 && hidden % heads !== 0) throw new Error(`${who}: hidden ${hidden} must be divisible by heads ${heads} (each head has h/a dimensions)`);
  const seed = c.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`${who}: seed must be an integer ≥ 0, got ${String(seed)}`);
  return {
    vocab: positiveInt(who, 'vocab', c.vocab),
    hidden,
    layers: positiveInt(who, 'layers', c.layers),
    ffn,
    heads,
    batch: positiveInt(who, 'batch', c.batch),
    seq: positiveInt(who, 'seq', c.seq),
    seed,
  };
}

/**
 * Multi-head self-attention without a mask (bidirectional) and without dropout:
 * `q, k, v = x·W_q, x·W_k, x·W_v` (each `[h, h]` with bias), split into a heads
 * of d = h/a, `P = softmax(q·kᵀ/√d)` per head, output `(P·v)·W_o`. Input and
 * output `[b, s, h]`.
 *
 * Saved for backward (float32): the input x once (read by the three
 * projections), q and kᵀ (the product's operands, each `[b, a, s, d]`), P
 * (`[b, a, s, s]`, softmax's output, also the second product's operand), v, the
 * merged heads (W_o's input), and the 1/√d scalar (4 bytes): `4·(5·N·h + a·b·s²) + 4`
 * with N = b·s. A causal mask would change no saved tensor of this count in
 * gradlab (an added constant saves nothing); it is left out because this model
 * exists to be measured.
 *
 * Reference: `torch.nn.MultiheadAttention` (Vaswani et al. 2017), written out as in minGPT.
 * Introduced in notebooks/03-gpu.
 */
export class SelfAttention extends Module {
  /** Query projection W_q `[h, h]`. */
  readonly q: Linear;
  /** Key projection W_k `[h, h]`. */
  readonly k: Linear;
  /** Value projection W_v `[h, h]`. */
  readonly v: Linear;
  /** Output projection W_o `[h, h]`. */
  readonly out: Linear;

  /**
   * @param hidden h, the width of the input and output.
   * @param heads a, which must divide h.
   * @param rng where the four projections' initial values come from.
   */
  constructor(
    readonly hidden: number,
    readonly heads: number,
    { rng }: { rng: Rng },
  ) {
    super();
    positiveInt('SelfAttention', 'hidden', hidden);
    positiveInt('SelfAttention', 'heads', heads);
    if (hidden % heads !== 0) throw new Error(`SelfAttention: hidden ${hidden} must be divisible by heads ${heads}`);
    [this.q, this.k, this.v, this.out] = [0, 1, 2, 3].map(() => new Linear(hidden, hidden, { rng })) as [Linear, Linear, Linear, Linear];
  }

  override children(): [string, Module<any>][] {
    return [['q', this.q], ['k', this.k], ['v', this.v], ['out', this.out]];
  }

  /** `[b, s, h] → [b, s, h]`. */
  forward(x: Operand): Tensor {
    const shape = typeof x === 'number' ? [] : x.shape;
    if (shape.length !== 3 || shape[2] !== this.hidden) throw new Error(`SelfAttention: input [${shape.join(', ')}] must be [batch, seq, ${this.hidden}]`);
    const [b, s, h] = shape as [number, number, number];
    const a = this.heads;
    const d = h / a;
    const split = (t: Tensor, perm: number[]) => transpose(reshape(t, [b, s, a, d]), perm);
    const q = split(this.q.forward(x), [0, 2, 1, 3]); //   [b, a, s, d]
    const kT = split(this.k.forward(x), [0, 2, 3, 1]); //  [b, a, d, s]
    const v = split(this.v.forward(x), [0, 2, 1, 3]); //   [b, a, s, d]
    const p = softmax(mul(matmul(q, kT), 1 / Math.sqrt(d)), -1); // [b, a, s, s]
    return this.out.forward(reshape(transpose(matmul(p, v), [0, 2, 1, 3]), [b, s, h]));
  }

  override describe(): string {
    return `SelfAttention(h ${this.hidden}, heads ${this.heads})`;
  }
}

/**
 * A small transformer-like language model: token embedding, L pre-LayerNorm
 * layers, a final LayerNorm and a linear head to the vocabulary; input int32
 * token ids `[b, s]`, output logits `[b, s, V]`. Each layer is
 * `x + Attn(LN(x))` ({@link SelfAttention}, when `heads` > 0) followed by
 * `x + W₂·GELU(W₁·LN(x))` (W₁ `[h, f]`, W₂ `[f, h]`, with biases): a GPT block
 * without dropout, or its MLP half alone when `heads` is 0.
 *
 * `checkpointed = true` wraps every layer in `ag.checkpoint`, so a step keeps
 * only each layer's input and recomputes the rest in backward (Korthikanti et
 * al.'s "full recomputation").
 *
 * Parameters: see {@link tinyLMPredicted}.
 *
 * Reference: GPT-2 (Radford et al. 2019), pre-LN (Xiong et al. 2020).
 * Introduced in notebooks/03-gpu.
 */
export class TinyLM extends Module {
  /** The shape it was built with (defaults filled in). */
  readonly config: Required<TinyLMConfig>;
  /** Token embedding `[V, h]`. */
  readonly embed: Embedding;
  /** The L layers. */
  readonly blocks: Sequential[];
  /** The final LayerNorm. */
  readonly norm: LayerNorm;
  /** The head `[h, V]`. */
  readonly head: Linear;
  /** Whether each layer runs under activation checkpointing. Default false. */
  checkpointed = false;

  constructor(config: TinyLMConfig) {
    super();
    const c = (this.config = checkConfig('TinyLM', config));
    const rng = new Rng(c.seed);
    this.embed = new Embedding(c.vocab, c.hidden, { rng });
    this.blocks = Array.from({ length: c.layers }, () => {
      const mlp = new Residual(new Sequential(new LayerNorm(c.hidden), new Linear(c.hidden, c.ffn, { rng }), new GELU(), new Linear(c.ffn, c.hidden, { rng })));
      return c.heads > 0 ? new Sequential(new Residual(new Sequential(new LayerNorm(c.hidden), new SelfAttention(c.hidden, c.heads, { rng }))), mlp) : new Sequential(mlp);
    });
    this.norm = new LayerNorm(c.hidden);
    this.head = new Linear(c.hidden, c.vocab, { rng });
    this.labelParameters();
  }

  override children(): [string, Module<any>][] {
    return [['embed', this.embed], ...this.blocks.map((b, i): [string, Module] => [`blocks.${i}`, b]), ['norm', this.norm], ['head', this.head]];
  }

  /** Logits `[b, s, V]` for int32 token ids `[b, s]`. */
  forward(ids: tf.Tensor | Tensor): Tensor {
    const blocks = this.blocks.map((b) => (h: Operand) => (this.checkpointed ? checkpoint((t) => b.forward(t), h) : b.forward(h)));
    return chain(this.embed.forward(ids as Tensor), [...blocks, (h) => this.norm.forward(h), (h) => this.head.forward(h)], true);
  }

  override describe(): string {
    const c = this.config;
    return `TinyLM(V ${c.vocab}, h ${c.hidden}, L ${c.layers}, f ${c.ffn}, heads ${c.heads}${this.checkpointed ? ', checkpointed' : ''})`;
  }
}

/** What {@link tinyLMPredicted} returns: the four blocks, and the activation terms they sum. */
export interface TinyLMPrediction extends MemoryBlocks {
  /** Parameter count Ψ. */
  numParams: number;
  /** The activation bytes, term by term (they sum to `activations`). */
  activationTerms: { embedding: number; attention: number; mlp: number; checkpoints: number; finalNorm: number; head: number; loss: number };
}

/**
 * The four blocks of one float32 training step of a {@link TinyLM} with
 * `nn.crossEntropy`, from formulas. With N = b·s tokens, h, f, V, L, a as in
 * {@link TinyLMConfig}, k = {@link optimizerBuffers}:
 * - parameters `4Ψ`, Ψ = `V·h + L·(2h + 2hf + f + h) + 2h + hV + V`, plus
 *   `L·(2h + 4(h² + h))` with attention (its LayerNorm and four `[h, h]` projections);
 *   gradients `4Ψ`; optimiser `4kΨ`;
 * - activations saved for backward (each op's saves as in {@link mlpActivationBytes}):
 *   - embedding: the int32 token ids, `4N` (the gather's backward scatters into them);
 *   - per layer, without checkpointing:
 *     - MLP half: LayerNorm saves x, mean and rstd (`N·h + 2N`, x̂ is recomputed, as
 *       PyTorch's `native_layer_norm`); W₁ saves its input (`N·h`); GELU its input
 *       (`N·f`); W₂ its input (`N·f`); the residual add nothing: `4·N·(2h + 2f + 2)`;
 *     - attention half (a > 0): LayerNorm `N·h + 2N`, then {@link SelfAttention}'s
 *       `5·N·h + a·b·s²` and the 4-byte 1/√d: `4·(6·N·h + 2N + a·b·s²) + 4`;
 *   - with checkpointing, per layer only its input: `4·N·h`;
 *   - final LayerNorm `4·(N·h + 2N)`, head input `4·N·h`;
 *   - cross-entropy: softmax p and the target distribution q (`N·V` each), the row mask (N)
 *     and 1/n (1): `4·(2NV + N + 1)`.
 *
 * These match the engine's saved-for-backward bytes exactly (the tests check it).
 * With f = 4h they are Korthikanti et al.'s per-layer term without dropout, in
 * elements: `16·s·b·h + a·b·s²` (at 2 bytes: `s·b·h·(32 + 2·a·s/h)`, see
 * {@link transformerLayerActivationBytes} with `dropout: false`), plus the
 * LayerNorm statistics (4N) they neglect.
 *
 * Introduced in notebooks/03-gpu.
 */
export function tinyLMPredicted(config: TinyLMConfig, optimizer: OptimizerKind, { checkpointed = false } = {}): TinyLMPrediction {
  const { vocab: V, hidden: h, layers: L, ffn: f, heads: a, batch: b, seq: s } = checkConfig('tinyLMPredicted', config);
  const N = b * s;
  const numParams = V * h + L * (2 * h + 2 * h * f + f + h) + (a > 0 ? L * (2 * h + 4 * (h * h + h)) : 0) + 2 * h + h * V + V;
  const activationTerms = {
    embedding: F32 * N,
    attention: checkpointed || a === 0 ? 0 : L * (F32 * (6 * N * h + 2 * N + a * b * s * s) + F32),
    mlp: checkpointed ? 0 : L * F32 * N * (2 * h + 2 * f + 2),
    checkpoints: checkpointed ? L * F32 * N * h : 0,
    finalNorm: F32 * (N * h + 2 * N),
    head: F32 * N * h,
    loss: F32 * (2 * N * V + N + 1),
  };
  const activations = Object.values(activationTerms).reduce((x, y) => x + y, 0);
  return { ...stateBytes(numParams, optimizer), activations, numParams, activationTerms };
}

// ---------------------------------------------------------------------------
// Measuring a real step
// ---------------------------------------------------------------------------

/** What {@link measureTrainingStep} needs: factories, so that it can measure what each one allocates. */
export interface TrainingStepSpec<M extends Module<any>> {
  /** Builds the model; its parameters are measured as the `tf.memory()` delta of this call. */
  model: () => M;
  /** One forward pass to a scalar loss (build the batch beforehand, or here: what it saves counts as activation). */
  loss: (model: M) => Tensor;
  /** The optimiser over the model's parameters. */
  optimizer: (params: Tensor[]) => Optimizer<any>;
  /** Measure the peak with `measurePeakBytes` (profiles every kernel: slow on webgpu). Default true. */
  peak?: boolean;
}

/** What {@link measureTrainingStep} measured. */
export interface MeasuredStep extends MemoryBlocks {
  /** Parameter count of the model. */
  numParams: number;
  /** Most tensor bytes alive at once during the step, everything included (NaN when `peak: false`). */
  peakBytes: number;
  /** `tf.memory()` delta over the forward: saved activations plus the loss and anything else the forward left alive. */
  forwardBytes: number;
  /** The saved-for-backward bytes by the op that saved them. */
  activationsByOp: Record<string, number>;
  /** Bytes still allocated after everything was disposed, relative to the start (0 unless something leaked). */
  leakedBytes: number;
}

/**
 * Run one real training step (forward, backward, optimiser step; the first, so
 * the optimiser allocates its state) and measure each block of memory:
 * - parameters: the `tf.memory().numBytes` delta over building the model;
 * - activations: the bytes the graph holds for backward right after the forward
 *   (`ag.savedBytes(loss, params)`: distinct buffers the ops saved, parameters excluded);
 * - gradients: the delta from before the forward to after `backward()` and
 *   `loss.dispose()` (the graph is freed, the gradients remain);
 * - optimizer: the delta over `optimizer.step()` (parameters are updated in place);
 * - peak: `ag.measurePeakBytes` over the whole step.
 * Everything is disposed afterwards; `leakedBytes` says whether that left anything.
 *
 * `tf.memory().numBytes` counts the bytes of every tensor handle, and `tf.clone`
 * shares its buffer while counting again: SGD's first momentum buffer is such a
 * clone of the gradient (`torch.clone(grad)` copies), so it is counted as 4Ψ at
 * step 1 although it shares the gradient's storage until `zeroGrad` frees the
 * gradient; from then on (and from step 2) it is a buffer of its own. The saved
 * activations are counted per distinct buffer, as PyTorch counts storages.
 * The peak is the same per-handle count, sampled after every kernel.
 *
 * Reference: `torch.cuda.memory_allocated()` deltas, `torch.cuda.max_memory_allocated()`,
 * `torch.autograd.graph.saved_tensors_hooks`.
 * Introduced in notebooks/03-gpu.
 */
export async function measureTrainingStep<M extends Module<any>>(spec: TrainingStepSpec<M>): Promise<MeasuredStep> {
  if (typeof spec !== 'object' || spec === null) throw new Error('measureTrainingStep: pass { model, loss, optimizer } (three functions)');
  for (const k of ['model', 'loss', 'optimizer'] as const) {
    if (typeof spec[k] !== 'function') throw new Error(`measureTrainingStep: ${k} must be a function, got ${typeof spec[k]}`);
  }
  const mem = () => tf.memory().numBytes;
  const start = mem();
  const model = spec.model();
  if (!(model instanceof Module)) throw new Error(`measureTrainingStep: model() must return an nn.Module, got ${String(model)}`);
  const parameters = mem() - start;
  const params = model.parameters();
  let opt: Optimizer<any> | null = null;
  let result: MeasuredStep;
  try {
    opt = spec.optimizer(params);
    if (!(opt instanceof Optimizer)) throw new Error(`measureTrainingStep: optimizer() must return an optim.Optimizer, got ${String(opt)}`);
    const o = opt;
    const before = mem();
    let forwardBytes = 0;
    let gradients = 0;
    let optimizer = 0;
    let saved = { bytes: 0, byOp: {} as Record<string, number> };
    const step = () => {
      const loss = spec.loss(model);
      try {
        if (loss.size !== 1) throw new Error(`measureTrainingStep: loss() must return a scalar, got shape [${loss.shape.join(', ')}]`);
        forwardBytes = mem() - before;
        saved = savedBytes(loss, params);
        loss.backward();
      } finally {
        loss.dispose();
      }
      gradients = mem() - before;
      const b = mem();
      o.step();
      optimizer = mem() - b;
    };
    let peakBytes = NaN;
    if (spec.peak ?? true) peakBytes = (await measurePeakBytes(step)).peakBytes - start;
    else step();
    result = {
      parameters,
      gradients,
      optimizer,
      activations: saved.bytes,
      numParams: params.reduce((a, p) => a + p.size, 0),
      peakBytes,
      forwardBytes,
      activationsByOp: saved.byOp,
      leakedBytes: 0,
    };
  } finally {
    if (opt instanceof Optimizer) opt.dispose();
    model.zeroGrad();
    model.dispose();
  }
  result.leakedBytes = mem() - start;
  return result;
}

/** Rows `{ block, predicted, measured }` for a stacked bar, in {@link MEMORY_BLOCKS} order. */
export function memoryRows(predicted: MemoryBlocks, measured: MemoryBlocks): MemoryRow[] {
  return MEMORY_BLOCKS.map((block) => ({ block, predicted: predicted[block], measured: measured[block] }));
}

/** A random batch of token ids `[b, s]` (int32 in [0, V)) and next-token targets, seeded. */
export function tinyLMBatch(config: TinyLMConfig): { ids: tf.Tensor; targets: tf.Tensor } {
  const { vocab, batch, seq, seed } = checkConfig('tinyLMBatch', config);
  const rng = new Rng(seed + 1);
  const draw = () => Int32Array.from({ length: batch * seq }, () => rng.int(vocab));
  return { ids: tf.tensor2d(draw(), [batch, seq], 'int32'), targets: tf.tensor2d(draw(), [batch, seq], 'int32') };
}

/** What {@link tinyLMMemory} returns. */
export interface TinyLMMemory {
  /** Rows for a stacked bar: each block predicted and measured. */
  rows: MemoryRow[];
  /** The prediction in full. */
  predicted: TinyLMPrediction;
  /** The measurement in full. */
  measured: MeasuredStep;
}

/**
 * One real training step of a {@link TinyLM} (cross-entropy on random tokens,
 * the given optimiser) measured by {@link measureTrainingStep}, beside the
 * prediction of {@link tinyLMPredicted}.
 *
 * @example
 * const { rows } = await tinyLMMemory({ vocab: 64, hidden: 32, layers: 2, batch: 4, seq: 16 }, 'adam');
 * gl.plot.bar({ categories: rows.map((r) => r.block), series: { predicted: rows.map((r) => r.predicted), measured: rows.map((r) => r.measured) } });
 *
 * Introduced in notebooks/03-gpu.
 */
export async function tinyLMMemory(
  config: TinyLMConfig,
  optimizer: OptimizerKind,
  { checkpointed = false, peak = true }: { checkpointed?: boolean; peak?: boolean } = {},
): Promise<TinyLMMemory> {
  const predicted = tinyLMPredicted(config, optimizer, { checkpointed });
  const { ids, targets } = tinyLMBatch(config);
  try {
    const measured = await measureTrainingStep({
      model: () => Object.assign(new TinyLM(config), { checkpointed }),
      loss: (m) => crossEntropy(m.forward(ids), targets),
      optimizer: (ps) => makeOptimizer(optimizer, ps),
      peak,
    });
    return { rows: memoryRows(predicted, measured), predicted, measured };
  } finally {
    tf.dispose([ids, targets]);
  }
}

/** An optimiser of the given kind with lr 1e-3 (momentum 0.9 for 'sgd-momentum'). */
export function makeOptimizer(kind: OptimizerKind, params: Tensor[]): Optimizer<any> {
  switch (kind) {
    case 'sgd':
      return new SGD(params, { lr: 1e-3 });
    case 'sgd-momentum':
      return new SGD(params, { lr: 1e-3, momentum: 0.9 });
    case 'adam':
      return new Adam(params, { lr: 1e-3 });
    case 'adamw':
      return new AdamW(params, { lr: 1e-3 });
    default:
      throw new Error(`makeOptimizer: unknown optimiser '${String(kind)}'; use 'sgd', 'sgd-momentum', 'adam' or 'adamw'`);
  }
}

// ---------------------------------------------------------------------------
// Scaling sweeps and checkpointing
// ---------------------------------------------------------------------------

/** What a sweep varies. `hidden` and `layers` scale the parameter count. */
export type SweepAxis = 'batch' | 'seq' | 'hidden' | 'layers';

/** One sweep row: a block at one value of the axis. */
export interface SweepRow extends MemoryRow {
  /** The axis swept. */
  axis: SweepAxis;
  /** Its value here. */
  value: number;
  /** The model's parameter count here. */
  numParams: number;
}

/**
 * How each block scales along one axis: a {@link tinyLMMemory} step per value
 * (measured) with the formula beside it (predicted). Parameters, gradients and
 * optimiser states grow with Ψ (≈ L·(2hf + 4h²) + 2Vh) and not with b or s;
 * activations grow linearly in b, in s plus an s² term with attention
 * (a·b·s² per layer, the softmax output), and linearly in h and L. Sweeping
 * `hidden` keeps f = 4h. Each step runs without the peak measurement.
 *
 * Introduced in notebooks/03-gpu.
 */
export async function memorySweep(base: TinyLMConfig, axis: SweepAxis, values: number[], optimizer: OptimizerKind = 'adam'): Promise<SweepRow[]> {
  sweepArgs('memorySweep', base, axis, values);
  const rows: SweepRow[] = [];
  for (const value of values) {
    const r = await tinyLMMemory(sweepConfig(base, axis, value), optimizer, { peak: false });
    for (const row of r.rows) rows.push({ ...row, axis, value, numParams: r.predicted.numParams });
  }
  return rows;
}

/**
 * The predicted lines of a sweep, without running anything: `{ axis, value,
 * numParams, block, predicted }` per block and value (pure; as dense as you like),
 * to draw beside {@link memorySweep}'s measured points.
 *
 * Introduced in notebooks/03-gpu.
 */
export function predictSweep(base: TinyLMConfig, axis: SweepAxis, values: number[], optimizer: OptimizerKind = 'adam'): Omit<SweepRow, 'measured'>[] {
  sweepArgs('predictSweep', base, axis, values);
  return values.flatMap((value) => {
    const p = tinyLMPredicted(sweepConfig(base, axis, value), optimizer);
    return MEMORY_BLOCKS.map((block) => ({ axis, value, numParams: p.numParams, block, predicted: p[block] }));
  });
}

function sweepArgs(who: string, base: TinyLMConfig, axis: SweepAxis, values: number[]): void {
  if (!['batch', 'seq', 'hidden', 'layers'].includes(axis)) throw new Error(`${who}: axis must be 'batch', 'seq', 'hidden' or 'layers', got '${String(axis)}'`);
  if (!Array.isArray(values) || values.length === 0) throw new Error(`${who}: values must be a non-empty array of positive integers`);
  values.forEach((v, i) => positiveInt(who, `values[${i}]`, v));
  checkConfig(who, base);
}

/** `base` with `axis` set to `value`; sweeping h keeps f = 4h (a given `ffn` is replaced). */
function sweepConfig(base: TinyLMConfig, axis: SweepAxis, value: number): TinyLMConfig {
  const config = { ...base, [axis]: value };
  if (axis === 'hidden') config.ffn = 4 * value;
  return config;
}

/** What {@link checkpointingEffect} returns. */
export interface CheckpointingEffect {
  /** Saved-for-backward bytes without / with checkpointing, measured. */
  measured: { without: number; with: number };
  /** The same from {@link tinyLMPredicted}. */
  predicted: { without: number; with: number };
  /** Peak bytes of the step without / with (measurePeakBytes, relative to the start). */
  peak: { without: number; with: number };
}

/**
 * What activation checkpointing changes on the same {@link TinyLM}: each block
 * keeps only its input (`4·N·h`) instead of `4·N·(2h + 2f + 2)`, so the saved
 * bytes drop by `L·4·N·(h + 2f + 2)`; parameters, gradients and optimiser states
 * do not change. The price (one more forward of every block in backward) is
 * measured in notebooks/01-backprop/05-checkpointing.
 *
 * Reference: `torch.utils.checkpoint.checkpoint`; Chen et al. 2016.
 * Introduced in notebooks/03-gpu.
 */
export async function checkpointingEffect(config: TinyLMConfig, optimizer: OptimizerKind = 'adam'): Promise<CheckpointingEffect> {
  const a = await tinyLMMemory(config, optimizer);
  const b = await tinyLMMemory(config, optimizer, { checkpointed: true });
  return {
    measured: { without: a.measured.activations, with: b.measured.activations },
    predicted: { without: a.predicted.activations, with: b.predicted.activations },
    peak: { without: a.measured.peakBytes, with: b.measured.peakBytes },
  };
}

// ---------------------------------------------------------------------------
// On paper: large models
// ---------------------------------------------------------------------------

/**
 * Model states of mixed-precision Adam for Ψ parameters, in bytes:
 * fp16/bf16 parameters `2Ψ` + fp16/bf16 gradients `2Ψ` + the float32 optimiser
 * state `12Ψ` (a master copy of the parameters, momentum m and variance v, 4Ψ each):
 * `16Ψ` in all (K = 12 in the paper's notation).
 *
 * @example
 * mixedPrecisionAdamBytes(6.74e9).total / 1e9; // 107.84 GB for a 7B model, before activations
 *
 * Reference: Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training
 * Trillion Parameter Models", §3.1; Micikevicius et al. 2018 (mixed precision).
 * Introduced in notebooks/03-gpu.
 */
export function mixedPrecisionAdamBytes(numParams: number): { parameters: number; gradients: number; optimizer: number; total: number } {
  positive('mixedPrecisionAdamBytes', 'numParams', numParams);
  return { parameters: 2 * numParams, gradients: 2 * numParams, optimizer: 12 * numParams, total: 16 * numParams };
}

/** Activation recomputation, as Korthikanti et al. 2022 name the strategies. */
export type Recompute = 'none' | 'selective' | 'full';

/** One transformer layer's activation shape. */
export interface ActivationShape {
  /** Sequence length s. */
  seq: number;
  /** Micro-batch b. */
  batch: number;
  /** Hidden size h. */
  hidden: number;
  /** Attention heads a. */
  heads: number;
}

/**
 * Activation bytes one transformer layer stores for backward, by the formula of
 * Korthikanti et al. 2022, §4.1 (eq. 1), for s sequence length, b micro-batch,
 * h hidden, a heads:
 * - `'none'` (store everything): `s·b·h·(34 + 5·a·s/h)`;
 * - `'selective'` (recompute the attention core: QKᵀ, softmax, its dropout, attention over V): `34·s·b·h`;
 * - `'full'` (store only each layer's input, recompute the layer): `2·s·b·h`.
 *
 * `dropout: false` drops the dropout terms (the masks, sbh + sbh, and the s×s
 * dropout mask and output, 3as²b, attention then reading the softmax output):
 * `s·b·h·(32 + 2·a·s/h)`, selective `32·s·b·h` (a model trained without dropout,
 * as {@link TinyLM} and most LLMs since).
 *
 * Assumptions of the formula: a GPT-style layer (self-attention, then an MLP of
 * width 4h with GELU, two LayerNorms, dropout after attention probabilities,
 * after attention and after the MLP); activations in 16 bits (2 bytes), dropout
 * masks 1 byte an element; no tensor or sequence parallelism (t = 1); LayerNorm
 * statistics and the other small buffers (O(s·b)) neglected; the embedding and
 * the output head/loss not included. The 34 is 11 (attention: QKV input 2, Q and K 4,
 * V 2, output projection input 2, its dropout mask 1) + 19 (MLP: 2 + 8 + 8 + 1) + 4
 * (two LayerNorm inputs); the 5as/h is the s×s scores: softmax output 2, its dropout mask 1,
 * the dropout output 2, per head.
 *
 * @example
 * transformerLayerActivationBytes({ seq: 4096, batch: 1, hidden: 4096, heads: 32 }); // 3.255e9
 *
 * Reference: Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models".
 * Introduced in notebooks/03-gpu.
 */
export function transformerLayerActivationBytes(
  { seq, batch, hidden, heads }: ActivationShape,
  recompute: Recompute = 'none',
  { dropout = true }: { dropout?: boolean } = {},
): number {
  const who = 'transformerLayerActivationBytes';
  const [s, b, h, a] = [positiveInt(who, 'seq', seq), positiveInt(who, 'batch', batch), positiveInt(who, 'hidden', hidden), positiveInt(who, 'heads', heads)];
  if (typeof dropout !== 'boolean') throw new Error(`${who}: dropout must be true or false, got ${String(dropout)}`);
  const linear = dropout ? 34 : 32;
  if (recompute === 'none') return s * b * h * (linear + ((dropout ? 5 : 2) * a * s) / h);
  if (recompute === 'selective') return linear * s * b * h;
  if (recompute === 'full') return 2 * s * b * h;
  throw new Error(`${who}: recompute must be 'none', 'selective' or 'full', got '${String(recompute)}'`);
}

/** A decoder-only transformer on paper. */
export interface TransformerSpec {
  /** Layers L. */
  layers: number;
  /** Hidden size h. */
  hidden: number;
  /** Attention heads a. */
  heads: number;
  /** MLP inner width f. */
  ffn: number;
  /** Whether the MLP is gated (SwiGLU: three f×h matrices instead of two). */
  gated: boolean;
  /** Vocabulary V. */
  vocab: number;
  /** Sequence length s. */
  seq: number;
  /** Whether the input embedding and output head share one matrix. */
  tiedEmbeddings: boolean;
}

/**
 * A LLaMA-like 7B model (Touvron et al. 2023, LLaMA-7B): 32 layers, h = 4096,
 * 32 heads, SwiGLU MLP of width 11008, RMSNorm, vocabulary 32000, sequence 4096
 * (LLaMA 2's context; LLaMA 1 used 2048), untied embeddings: 6,738,415,616 parameters.
 */
export const llamaLike7B: Readonly<TransformerSpec> = Object.freeze({
  layers: 32,
  hidden: 4096,
  heads: 32,
  ffn: 11008,
  gated: true,
  vocab: 32000,
  seq: 4096,
  tiedEmbeddings: false,
});

/**
 * Parameter count of a {@link TransformerSpec} without biases (as LLaMA):
 * per layer `4h²` (Q, K, V, output) + `2hf` or `3hf` (gated) + `2h` (two norm
 * weights); plus `V·h` embedding, `V·h` head unless tied, and `h` final norm.
 * `llamaLike7B` gives 6,738,415,616, the published LLaMA-7B count.
 *
 * Introduced in notebooks/03-gpu.
 */
export function transformerParams(spec: TransformerSpec): number {
  const who = 'transformerParams';
  const [L, h, f, V] = [positiveInt(who, 'layers', spec.layers), positiveInt(who, 'hidden', spec.hidden), positiveInt(who, 'ffn', spec.ffn), positiveInt(who, 'vocab', spec.vocab)];
  const perLayer = 4 * h * h + (spec.gated ? 3 : 2) * h * f + 2 * h;
  return L * perLayer + (spec.tiedEmbeddings ? 1 : 2) * V * h + h;
}

/** One row of {@link transformerMemoryPlan}: a block in GB (10⁹ bytes). */
export interface PlanRow {
  /** The block. */
  block: MemoryBlock;
  /** Recomputation strategy of this plan. */
  recompute: Recompute;
  /** Size in GB (10⁹ bytes). */
  gb: number;
}

/**
 * Training memory of a transformer on paper, in GB (10⁹ bytes), for a stacked bar:
 * mixed-precision Adam model states ({@link mixedPrecisionAdamBytes}) and
 * `L ×` {@link transformerLayerActivationBytes} for each recomputation strategy
 * (embedding, head and loss activations not included, as in the paper's formula).
 * For `llamaLike7B` at b = 1: parameters 13.48, gradients 13.48, optimiser 80.86,
 * activations 104.2 (none), 18.25 (selective), 1.07 (full).
 *
 * Introduced in notebooks/03-gpu.
 */
export function transformerMemoryPlan(spec: TransformerSpec = llamaLike7B, { batch = 1 }: { batch?: number } = {}): PlanRow[] {
  const psi = transformerParams(spec);
  const states = mixedPrecisionAdamBytes(psi);
  const shape = { seq: spec.seq, batch, hidden: spec.hidden, heads: spec.heads };
  const rows: PlanRow[] = [];
  for (const recompute of ['none', 'selective', 'full'] as const) {
    rows.push({ block: 'parameters', recompute, gb: states.parameters / 1e9 });
    rows.push({ block: 'gradients', recompute, gb: states.gradients / 1e9 });
    rows.push({ block: 'optimizer', recompute, gb: states.optimizer / 1e9 });
    rows.push({ block: 'activations', recompute, gb: (spec.layers * transformerLayerActivationBytes(shape, recompute)) / 1e9 });
  }
  return rows;
}
