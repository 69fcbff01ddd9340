/**
 * The one TensorFlow.js instance gradlab and its notebooks use.
 *
 * `@tensorflow/tfjs` is the umbrella package: core, the cpu kernels and every
 * gradient. Other backends (wasm, webgpu, tensorflow) register themselves
 * into this same engine when `init()` loads them.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
