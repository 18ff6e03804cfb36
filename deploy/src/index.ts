export * from './chart.ts';
export * from './lake-clients.ts';
