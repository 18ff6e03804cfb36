/**
 * The same scenario as test/duckdb.test.ts on Trino (Iceberg tables in the lake's catalog, read FOR VERSION AS OF
 * the snapshot). Trino comes from the local stack (`trino` service, lakehouse #16); a stack without that service
 * skips this file and says why.
 */

import { trinoAddress, trinoReady } from '@pep/dbt';
import { SERVICE_NAMES, type ServiceName, stackUp } from '@pep/stack';
import { scenario } from './scenario.ts';

const trinoService = (SERVICE_NAMES as readonly string[]).includes('trino');
if (!(await trinoReady(trinoAddress())) && trinoService) {
  await stackUp({ only: ['trino' as ServiceName], log: (m) => console.log(`# ${m}`) });
}
if (await trinoReady(trinoAddress())) {
  scenario('trino', { days: 5, paymentsPerDay: 30 });
} else {
  const { it } = await import('node:test');
  it('dbt build on trino', {
    skip: 'Trino is not running and the local stack has no trino service yet (lakehouse #16)',
  });
}
