/** `npm run migrate -w @pep/orchestration`: applies orchestration/migrations (table pgmigrations_orchestration). */
import { serviceAddresses } from '@pep/contracts';
import { redactUrl } from '@pep/contracts/env';
import { migrate } from './history.ts';

const { databaseUrl } = serviceAddresses();
console.log(`migrate: ${redactUrl(databaseUrl)}`);
await migrate(databaseUrl, (m) => console.log(m));
