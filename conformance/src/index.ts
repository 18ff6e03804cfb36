export * from './cases.ts';
export * from './examples.ts';
