/** The edge logs through the shared structured logger; a child logger per request carries its request_id. */
export * from '@pep/contracts/log';
