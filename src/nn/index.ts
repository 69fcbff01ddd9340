/**
 * Neural-network building blocks on the gradlab tensor engine: `Module` (explicit
 * parameters, train/eval), layers, activations, initialisation schemes drawn from
 * a seeded {@link Rng}, and losses. Layers are thin shells over pure functions
 * (`linear`, `gl.ag.layerNorm`, …) that can be called directly.
 *
 * Layout: a linear layer's weight is `[in, out]` (`y = x W + b`); PyTorch's is
 * `[out, in]`, so `W = torch_weight.T`. See {@link Linear}.
 */
export { Module, type RngLike } from './module';
export { linear, normalize, relu, gelu, silu, tanh, sigmoid, type NormalizeOptions } from './functional';
export { activation, ReLU, GELU, SiLU, Tanh, Sigmoid, type ActivationFn, type ActivationName } from './activation';
export { Linear, type LinearOptions } from './linear';
export { Embedding, type EmbeddingOptions } from './embedding';
export { LayerNorm, type LayerNormModuleOptions } from './layer-norm';
export { RMSNorm, type RMSNormOptions } from './rms-norm';
export { Dropout, type DropoutModuleOptions } from './dropout';
export { Residual } from './residual';
export { Sequential } from './sequential';
export { MLP, type MLPOptions } from './mlp';
export * as init from './init';
export type { Initializer, Fans } from './init';
export * from './losses';
