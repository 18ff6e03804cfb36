/**
 * What may not be stored is taken out of events, DLQ records, rows, log lines and error bodies (issue 13). Pure
 * functions, shared by every TypeScript package; the Rust core has the same rules (`core-native/crates/core/src/
 * redact.rs`) and the twin's output is byte-identical to it (core-native's differential tests).
 *
 * NUL: U+0000 in a free-text value of the unified event becomes U+FFFD. A NUL carries no meaning in text, and
 * PostgreSQL's `text` and `jsonb` cannot hold it: an event carrying one was refused by the database and lost. It is
 * replaced where the unified event is made, so every store reading `payments.normalized` gets the same storable value;
 * the raw topic keeps the original bytes.
 */

/** A free-text value as the unified event carries it. */
export function cleanText(s: string): string {
  return s.includes('\u0000') ? s.replaceAll('\u0000', '\ufffd') : s;
}
