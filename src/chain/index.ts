export * from './hash';
export * from './verify';
