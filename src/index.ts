/**
 * gradlab: a hands-on lab for deep-learning fundamentals on TensorFlow.js.
 *
 * ```ts
 * import * as gl from 'gradlab';
 * const info = await gl.init();          // pick the fastest backend here
 * console.log(gl.describe());            // one-line banner
 * await gl.display(gl.plot.line({ ... }));
 * ```
 *
 * This file is the only public entry point; every folder has its own barrel.
 */
export * from './backend';
export * from './display';
export * as plot from './plot';
export { tf } from './backend/tf';
export * as ag from './autograd';
export * as nn from './nn';
export * as optim from './optim';
export * as train from './train';
export * as data from './data';
export * as exercise from './exercise';
export * as io from './io';
export * as probes from './probes';
export * as precision from './precision';
export * as dist from './dist';
export * from './size';
