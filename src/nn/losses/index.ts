/**
 * Losses, one per file: each takes a model's output and a target and returns a
 * gradlab tensor to call `backward()` on. Every loss matches a PyTorch function
 * (named in its TSDoc) and throws, naming the loss and the shapes, on bad input.
 *
 * Introduced in notebooks/01-backprop/06-losses.
 */
export { crossEntropy, type CrossEntropyOptions, type Targets } from './cross-entropy';
export { sequenceCrossEntropy, type SequenceCrossEntropyOptions } from './sequence-cross-entropy';
export { mse, type MseOptions } from './mse';
export { huber, type HuberOptions } from './huber';
export { infoNCE, type InfoNCEOptions } from './info-nce';
export type { Reduction } from './reduction';
