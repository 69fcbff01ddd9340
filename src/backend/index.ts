export { init, describe, backendInfo } from './init';
export { BACKENDS, BackendError, type BackendChoice, type BackendInfo, type BackendName, type InitOptions } from './types';
export { nvidiaGpu, TFJS_NODE_GPU_NEEDS } from './tensorflow';
