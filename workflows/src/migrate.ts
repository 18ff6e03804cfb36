/** `npm run migrate -w @pep/workflows`: applies workflows/migrations (table pgmigrations_workflows) to DATABASE_URL. */
import { serviceAddresses } from '@pep/contracts';
import { redactUrl } from './config.ts';
import { createPool, migrate, quarantineReviewColumnsPresent } from './db.ts';

const { databaseUrl } = serviceAddresses();
console.log(`migrate: ${redactUrl(databaseUrl)}`);
await migrate(databaseUrl, (m) => console.log(m));
const pool = createPool(databaseUrl, 1);
console.log(`migrate: quarantine review columns present: ${await quarantineReviewColumnsPresent(pool)}`);
await pool.end();
