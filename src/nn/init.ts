/**
 * Initialisation schemes, as functions of a seeded {@link Rng}: each factory
 * returns an {@link Initializer} `(shape, rng, fans?) => tf.Tensor` that a
 * layer calls for its weight (and bias). The formulas are PyTorch's
 * (`torch.nn.init`), with `fanIn`/`fanOut` taken from gradlab's weight layout.
 *
 * ## Fans in gradlab's layout
 * gradlab stores a linear layer's weight as `[in, out]` (y = x W, see
 * {@link Linear}), so for a rank-2 shape `fanIn = shape[0]`, `fanOut = shape[1]`
 * (PyTorch stores `[out, in]` and reads them the other way round: the numbers
 * are the same for the same layer). Anything else (a bias `[out]`, a rank-3
 * tensor) needs its fans passed explicitly; layers do this.
 *
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
import { tf } from '../backend/tf';
import type { Rng } from '../data/rng';

/** The fan-in and fan-out of the layer a tensor belongs to. */
export interface Fans {
  fanIn: number;
  fanOut: number;
}

/**
 * Makes a float32 tensor of `shape` from `rng` (the caller owns it). `fans`
 * defaults to {@link fansOf}(shape).
 */
export type Initializer = (shape: number[], rng: Rng, fans?: Fans) => tf.Tensor;

/** The non-linearities {@link calculateGain} knows (torch.nn.init.calculate_gain's). */
export type Nonlinearity = 'linear' | 'identity' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/**
 * `{fanIn, fanOut}` of a weight in gradlab's `[in, out]` layout: `shape[0]`, `shape[1]`.
 * Throws for other ranks (pass `fans` to the initializer instead).
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function fansOf(shape: readonly number[]): Fans {
  if (shape.length !== 2) {
    throw new Error(`init: cannot tell fanIn/fanOut of a rank-${shape.length} tensor [${shape.join(',')}]; pass { fanIn, fanOut } as the third argument`);
  }
  return { fanIn: shape[0] as number, fanOut: shape[1] as number };
}

/**
 * The recommended gain for a non-linearity (torch.nn.init.calculate_gain):
 * linear/identity/sigmoid → 1, tanh → 5/3, relu → √2,
 * leaky_relu → √(2/(1 + slope²)) (slope = `param`, default 0.01), selu → 3/4.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'identity':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      if (!Number.isFinite(slope)) throw new Error(`calculateGain: negative slope must be a finite number, got ${slope}`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new Error(`calculateGain: unknown nonlinearity '${String(nonlinearity)}'; use linear, identity, sigmoid, tanh, relu, leaky_relu or selu`);
  }
}

function positive(who: string, name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new Error(`${who}: ${name} must be a positive finite number, got ${v}`);
  return v;
}

/** Options of {@link uniform}. */
export interface UniformOptions {
  /** Lower bound. Default 0. */
  low?: number;
  /** Upper bound. Default 1. */
  high?: number;
}

/**
 * W ~ U(low, high). Defaults low = 0, high = 1. Reference: `torch.nn.init.uniform_`.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function uniform({ low = 0, high = 1 }: UniformOptions = {}): Initializer {
  if (!(Number.isFinite(low) && Number.isFinite(high) && low <= high)) throw new Error(`init.uniform: need finite low <= high, got low ${low}, high ${high}`);
  return (shape, rng) => rng.uniformTensor(shape, low, high);
}

/** Options of {@link normal}. */
export interface NormalOptions {
  /** Mean. Default 0. */
  mean?: number;
  /** Standard deviation. Default 1. */
  std?: number;
}

/**
 * W ~ N(mean, std²). Defaults mean = 0, std = 1. Reference: `torch.nn.init.normal_`.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function normal({ mean = 0, std = 1 }: NormalOptions = {}): Initializer {
  if (!Number.isFinite(mean)) throw new Error(`init.normal: mean must be finite, got ${mean}`);
  if (!(Number.isFinite(std) && std >= 0)) throw new Error(`init.normal: std must be a finite number >= 0, got ${std}`);
  return (shape, rng) => rng.normalTensor(shape, mean, std);
}

/**
 * W = value everywhere (draws nothing). Reference: `torch.nn.init.constant_`.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function constant(value: number): Initializer {
  return (shape) => tf.fill(shape, value, 'float32');
}

/**
 * W = 0 (draws nothing). Reference: `torch.nn.init.zeros_`.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function zeros(): Initializer {
  return (shape) => tf.zeros(shape, 'float32');
}

/**
 * W = 1 (draws nothing). Reference: `torch.nn.init.ones_`.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function ones(): Initializer {
  return (shape) => tf.ones(shape, 'float32');
}

/**
 * PyTorch's default for `nn.Linear` weights and biases: W ~ U(−1/√fanIn, 1/√fanIn).
 * For the weight this is `kaiming_uniform_(a=√5)`: gain √(2/(1+5)) = √(1/3), bound
 * gain·√(3/fanIn) = 1/√fanIn; the bias uses the same bound with the layer's fanIn.
 * Reference: `torch.nn.Linear.reset_parameters`.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function pytorchDefault(): Initializer {
  return (shape, rng, fans = fansOf(shape)) => {
    const bound = 1 / Math.sqrt(positive('init.pytorchDefault', 'fanIn', fans.fanIn));
    return rng.uniformTensor(shape, -bound, bound);
  };
}

/** Options of {@link xavierUniform} and {@link xavierNormal}. */
export interface XavierOptions {
  /** Multiplies the bound or std (e.g. `calculateGain('tanh')`). Default 1. */
  gain?: number;
}

/**
 * Xavier/Glorot uniform: W ~ U(−a, a), `a = gain·√(6/(fanIn + fanOut))`, so
 * Var W = gain²·2/(fanIn + fanOut). Default gain 1.
 * Reference: `torch.nn.init.xavier_uniform_`; Glorot & Bengio 2010.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function xavierUniform({ gain = 1 }: XavierOptions = {}): Initializer {
  positive('init.xavierUniform', 'gain', gain);
  return (shape, rng, fans = fansOf(shape)) => {
    const a = gain * Math.sqrt(6 / positive('init.xavierUniform', 'fanIn + fanOut', fans.fanIn + fans.fanOut));
    return rng.uniformTensor(shape, -a, a);
  };
}

/**
 * Xavier/Glorot normal: W ~ N(0, std²), `std = gain·√(2/(fanIn + fanOut))`. Default gain 1.
 * Reference: `torch.nn.init.xavier_normal_`; Glorot & Bengio 2010.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function xavierNormal({ gain = 1 }: XavierOptions = {}): Initializer {
  positive('init.xavierNormal', 'gain', gain);
  return (shape, rng, fans = fansOf(shape)) => {
    const std = gain * Math.sqrt(2 / positive('init.xavierNormal', 'fanIn + fanOut', fans.fanIn + fans.fanOut));
    return rng.normalTensor(shape, 0, std);
  };
}

/** Options of {@link kaimingNormal} and {@link kaimingUniform}. */
export interface KaimingOptions {
  /** Negative slope of a leaky ReLU that follows (used when nonlinearity is 'leaky_relu'). Default 0. */
  a?: number;
  /** `'fanIn'` (default) keeps the forward variance, `'fanOut'` the backward one. */
  mode?: 'fanIn' | 'fanOut';
  /** The non-linearity that follows. Default 'leaky_relu' (with a = 0 this is ReLU's gain √2), as in PyTorch. */
  nonlinearity?: Nonlinearity;
}

function kaimingGain(who: string, { a = 0, mode = 'fanIn', nonlinearity = 'leaky_relu' }: KaimingOptions): { gain: number; mode: 'fanIn' | 'fanOut' } {
  if (mode !== 'fanIn' && mode !== 'fanOut') throw new Error(`${who}: mode must be 'fanIn' or 'fanOut', got '${String(mode)}'`);
  if (!Number.isFinite(a)) throw new Error(`${who}: a must be a finite number, got ${a}`);
  return { gain: calculateGain(nonlinearity, a), mode };
}

/**
 * Kaiming/He normal: W ~ N(0, std²), `std = gain/√fan`, fan = fanIn (default) or
 * fanOut. For ReLU (gain √2) Var W = 2/fanIn.
 * Reference: `torch.nn.init.kaiming_normal_(a=0, mode='fan_in', nonlinearity='leaky_relu')`; He et al. 2015.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function kaimingNormal(options: KaimingOptions = {}): Initializer {
  const { gain, mode } = kaimingGain('init.kaimingNormal', options);
  return (shape, rng, fans = fansOf(shape)) => rng.normalTensor(shape, 0, gain / Math.sqrt(positive('init.kaimingNormal', mode, fans[mode])));
}

/**
 * Kaiming/He uniform: W ~ U(−b, b), `b = gain·√(3/fan)` (the same variance as
 * {@link kaimingNormal}). Reference: `torch.nn.init.kaiming_uniform_`; He et al. 2015.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function kaimingUniform(options: KaimingOptions = {}): Initializer {
  const { gain, mode } = kaimingGain('init.kaimingUniform', options);
  return (shape, rng, fans = fansOf(shape)) => {
    const b = gain * Math.sqrt(3 / positive('init.kaimingUniform', mode, fans[mode]));
    return rng.uniformTensor(shape, -b, b);
  };
}

/** Options of {@link smallNormal}. */
export interface SmallNormalOptions {
  /** Standard deviation. Default 0.02 (GPT-2's). */
  std?: number;
}

/**
 * Small normal: W ~ N(0, std²), std = 0.02 by default, independent of the fans
 * (the GPT-2 / BERT convention for transformer weights and embeddings).
 * Reference: `torch.nn.init.normal_(w, 0, 0.02)`; Radford et al. 2019.
 * Introduced in notebooks/01-backprop/03-vanishing-gradients.
 */
export function smallNormal({ std = 0.02 }: SmallNormalOptions = {}): Initializer {
  positive('init.smallNormal', 'std', std);
  return (shape, rng) => rng.normalTensor(shape, 0, std);
}
