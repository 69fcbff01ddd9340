/**
 * Probes: measure the machine the notebook runs on — memory bandwidth, FLOP/s,
 * the roofline, launch overhead and fusion, training memory, device facts — on
 * whichever backend is active, each returning plain data that a plot takes.
 *
 * Introduced in notebooks/03-gpu.
 */
export { now, sync, isAsyncBackend, timeIt, summarise, type Timing, type TimeItOptions } from './timing';
