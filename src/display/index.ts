export * from './bundle';
export * from './sink';
export * from './display';
export * from './tensor';
export * from './input';
