import { scenario } from './scenario.ts';

scenario('duckdb', { days: 8, paymentsPerDay: 60 });
