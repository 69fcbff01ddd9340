/**
 * Mixed precision: exact rounding of float32 to fp16, bf16 and fp8, an
 * autocast-style emulation for the engine, and dynamic loss scaling.
 *
 * Introduced in notebooks/03-gpu.
 */
export * from './round';
export * from './scaler';
export * from './autocast';
export * from './experiment';
