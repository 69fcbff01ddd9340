/**
 * Data: the seeded random number generator every random draw in gradlab takes
 * (no hidden global seed), datasets and the DataLoader, synthetic sets, a small
 * set of real handwritten digits, and deduplication / augmentation.
 */
export { Rng, rng } from './rng';
export { TensorDataset, Subset, subset, randomSplit, type Dataset, type ShapedDataset, type Sample, type SampleArray, type TensorDatasetOptions } from './dataset';
export { DataLoader, collate, type Batch, type Collate, type DataLoaderOptions, type LoaderState } from './loader';
export { spirals, noisyRegression, charCorpus, CharCorpus, RegressionSet, type SpiralsOptions, type NoisyRegressionOptions } from './synthetic';
export { SONNETS } from './sonnets';
export { digits, DIGITS_TOTAL, type DigitsOptions } from './digits';
export { dedup, shift, randomShift, randomCrop, addNoise, avgPool2x2, type DedupOptions, type DedupResult } from './augment';
