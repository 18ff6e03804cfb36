export * from './services.ts';
export * from './topics.ts';
