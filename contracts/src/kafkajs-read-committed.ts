/**
 * read_committed for kafkajs consumers: kafkajs 2.2.4 (its last release) drops the records of aborted transactions
 * with a filter that assumes the Fetch answer lists them by first offset and that at most one of them starts at or
 * before any record. The broker lists them from its transaction index, in the order they were ABORTED: a transaction
 * that began before another one but was aborted after it (under a coordinator failover: a transaction left open until
 * its timeout or the producer's next InitProducerId, while a later one was aborted at once) is then delivered as if
 * it were committed, and so is one that started before the fetch offset behind another. The failover test's
 * reconcile counted such records as duplicate outputs (test/kafkajs-read-committed.test.ts in @pep/pipeline shows
 * it against the broker), and every kafkajs read_committed consumer (quarantine, bridge, features, lake sink) saw
 * them too.
 *
 * Importing this module replaces kafkajs's filter by `filterAbortedMessages` below (the Java consumer's rule: every
 * aborted transaction whose first offset has been reached is open until that producer's ABORT marker, whatever the
 * order of the list), by seeding the CommonJS module cache before kafkajs loads its consumer. It must therefore be
 * imported before kafkajs; `kafkajsReadCommittedFixed()` says whether it was (reconcile asserts it).
 *
 * It also removes the TimeoutNegativeWarning kafkajs makes Node 24 print (see scheduleCheckPendingRequests below).
 */
import { createRequire } from 'node:module';

/** What kafkajs's record decoder gives per record (the fields the filter reads). */
export interface FilterableMessage {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly isControlRecord?: boolean;
  readonly batchContext: { readonly producerId: string; readonly inTransaction: boolean };
}

export interface AbortedTransaction {
  readonly producerId: string;
  readonly firstOffset: string;
}

/** Control record key of an ABORT marker: version 0, type 0 (COMMIT is type 1). */
const isAbortMarker = (m: FilterableMessage): boolean =>
  m.isControlRecord === true && m.key !== null && m.key.length >= 4 && m.key.readInt16BE(2) === 0;

/**
 * The records of `messages` (one partition, ascending offsets) that are not part of an aborted transaction. Control
 * records are kept (kafkajs drops them afterwards). `abortedTransactions` may come in any order.
 */
export function filterAbortedMessages<M extends FilterableMessage>({
  messages,
  abortedTransactions,
}: {
  messages: readonly M[];
  abortedTransactions?: readonly AbortedTransaction[] | null;
}): M[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return [...messages];
  const pending = [...abortedTransactions].sort((a, b) => {
    const d = BigInt(a.firstOffset) - BigInt(b.firstOffset);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  });
  let next = 0;
  const open = new Set<string>();
  return messages.filter((m) => {
    const offset = BigInt(m.offset);
    // Every aborted transaction that has begun by this offset, not just the first one in the list.
    while (next < pending.length && BigInt((pending[next] as AbortedTransaction).firstOffset) <= offset)
      open.add((pending[next++] as AbortedTransaction).producerId);
    const { producerId, inTransaction } = m.batchContext;
    if (isAbortMarker(m)) {
      open.delete(producerId);
      return true;
    }
    return !(inTransaction && open.has(producerId));
  });
}

const require = createRequire(import.meta.url);
/** The kafkajs release whose internal module this replaces (another release: re-read its filter and its callers). */
const KAFKAJS_VERSION = '2.2.4';
const installed = (require('kafkajs/package.json') as { version: string }).version;
if (installed !== KAFKAJS_VERSION)
  throw new Error(
    `@pep/contracts/kafkajs-read-committed replaces a module of kafkajs ${KAFKAJS_VERSION}, but kafkajs ${installed} is installed: check its consumer/filterAbortedMessages.js and batch.js before updating the pin`,
  );
const FILTER_PATH = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
const BATCH_PATH = require.resolve('kafkajs/src/consumer/batch.js');

if (require.cache[FILTER_PATH]?.exports !== filterAbortedMessages && !require.cache[BATCH_PATH]) {
  const Module = require('node:module') as { new (id: string): NodeJS.Module };
  const m = new Module(FILTER_PATH);
  m.filename = FILTER_PATH;
  m.loaded = true;
  m.exports = filterAbortedMessages;
  require.cache[FILTER_PATH] = m;
}

/**
 * Node 24's TimeoutNegativeWarning, printed once by every process that connects with kafkajs: its request queue
 * schedules the next throttle check at `throttledUntil - Date.now()` with `throttledUntil` -1 when nothing throttles,
 * a delay of minus the epoch (kafkajs issue #1751, fixed upstream in PRs never released). Node has always run such a
 * timer after 1 ms; this schedules it at 1 ms itself, with kafkajs's own logic otherwise unchanged, so the warning that
 * looks like a fault in every service log is gone. The prototype is patched, so it holds whatever loaded kafkajs first.
 */
interface KafkajsRequestQueue {
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}
/** kafkajs's CHECK_PENDING_REQUESTS_INTERVAL (network/requestQueue/index.js). */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;
export function scheduleCheckPendingRequests(this: KafkajsRequestQueue): void {
  let scheduleAt = this.throttledUntil - Date.now();
  if (!this.throttleCheckTimeoutId) {
    if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL_MS;
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      Math.max(1, scheduleAt),
    );
  }
}
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: KafkajsRequestQueue;
};
RequestQueue.prototype.scheduleCheckPendingRequests = scheduleCheckPendingRequests;

/** Whether kafkajs's consumers in this process use `filterAbortedMessages` (false: kafkajs was loaded first). */
export function kafkajsReadCommittedFixed(): boolean {
  return require.cache[FILTER_PATH]?.exports === filterAbortedMessages;
}

/** Throws unless the fix is in effect: for code whose result is wrong with kafkajs's own filter (reconcile). */
export function assertKafkajsReadCommitted(): void {
  if (!kafkajsReadCommittedFixed())
    throw new Error(
      'kafkajs was loaded before @pep/contracts/kafkajs-read-committed: import it first, or read_committed delivers records of aborted transactions',
    );
}
