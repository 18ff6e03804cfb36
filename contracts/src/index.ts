export * from './edge.ts';
export * from './event-types.ts';
export * from './lake.ts';
export * from './normalized.ts';
export * from './services.ts';
export * from './topics.ts';
export * from './workflows.ts';
