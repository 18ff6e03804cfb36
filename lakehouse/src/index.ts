/**
 * @pep/lakehouse: the bronze tables' writer (typed wrapper of the Rust lake addon), Arrow batch building, Kafka
 * record → row mapping, DuckDB (embedded) and Trino (distributed) query access, maintenance, replay and the bulk
 * history generator. Table shapes live in @pep/contracts (`LAKE_TABLES`).
 */
export * from './arrow.ts';
export * from './config.ts';
export * from './rows.ts';
export * from './writer.ts';
