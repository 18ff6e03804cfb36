/** The pipeline consumers log through the shared structured logger (fields: topic, partition, offsets, counts). */
export * from '@pep/contracts/log';
