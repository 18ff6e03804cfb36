export * from './edge.ts';
export * from './event-types.ts';
export * from './services.ts';
export * from './topics.ts';
export * from './workflows.ts';
