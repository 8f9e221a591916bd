import 'reflect-metadata';
export * from './ballot';
export * from './block';
export * from './kinds';
export * from './codec';
export * from './describe';
