/** Timestamps, mirrored from `crates/core/src/time.rs` (RFC 3339 in, toISOString form out). */

export const MAX_MS = 253_402_300_799_999;
export const MIN_MS = -62_135_596_800_000;

const trunc = Math.trunc;

function daysFromCivil(y0: number, m: number, d: number): number {
  const y = m <= 2 ? y0 - 1 : y0;
  const era = trunc((y >= 0 ? y : y - 399) / 400);
  const yoe = y - era * 400;
  const mp = (m + 9) % 12;
  const doy = trunc((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + trunc(yoe / 4) - trunc(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

function digits(s: string, at: number, n: number): number {
  if (at + n > s.length) return -1;
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** RFC 3339 → Unix ms, or undefined. */
export function parseRfc3339(s: string): number | undefined {
  // Rust measures bytes; a non-ASCII string never parses, and its byte length only matters for
  // the early bounds check, which gives the same answer.
  if (s.length < 20 || s.length > 40) return undefined;
  const y = digits(s, 0, 4);
  const c = (i: number) => s.charCodeAt(i);
  if (c(4) !== 45 || c(7) !== 45 || !(c(10) === 84 || c(10) === 116) || c(13) !== 58 || c(16) !== 58) return undefined;
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  const h = digits(s, 11, 2);
  const mi = digits(s, 14, 2);
  const se = digits(s, 17, 2);
  if (
    y < 1 ||
    mo < 1 ||
    mo > 12 ||
    d < 1 ||
    d > daysInMonth(y, mo) ||
    h < 0 ||
    h > 23 ||
    mi < 0 ||
    mi > 59 ||
    se < 0 ||
    se > 59
  )
    return undefined;
  let i = 19;
  let fracMs = 0;
  if (c(i) === 46) {
    i++;
    const start = i;
    while (i < s.length && c(i) >= 48 && c(i) <= 57) i++;
    const n = i - start;
    if (n === 0 || n > 9) return undefined;
    for (let k = 0; k < 3; k++) fracMs = fracMs * 10 + (k < n ? c(start + k) - 48 : 0);
  }
  if (i >= s.length) return undefined;
  let offsetMin: number;
  const z = c(i);
  if ((z === 90 || z === 122) && i + 1 === s.length) offsetMin = 0;
  else if ((z === 43 || z === 45) && i + 6 === s.length && c(i + 3) === 58) {
    const oh = digits(s, i + 1, 2);
    const om = digits(s, i + 4, 2);
    if (oh < 0 || om < 0 || oh > 23 || om > 59) return undefined;
    offsetMin = z === 45 ? -(oh * 60 + om) : oh * 60 + om;
  } else return undefined;
  const days = daysFromCivil(y, mo, d);
  const ms = (((days * 24 + h) * 60 + mi - offsetMin) * 60 + se) * 1000 + fracMs;
  return ms < MIN_MS || ms > MAX_MS ? undefined : ms;
}

export function unixSecondsToMs(secs: number): number | undefined {
  if (!Number.isInteger(secs) || secs < trunc(MIN_MS / 1000) || secs > trunc(MAX_MS / 1000)) return undefined;
  return secs * 1000;
}

const pad = (v: number, n: number) => String(v).padStart(n, '0');

export function iso(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  const rem = ms - days * 86_400_000;
  // civil_from_days
  const z = days + 719_468;
  const era = trunc((z >= 0 ? z : z - 146_096) / 146_097);
  const doe = z - era * 146_097;
  const yoe = trunc((doe - trunc(doe / 1460) + trunc(doe / 36_524) - trunc(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + trunc(yoe / 4) - trunc(yoe / 100));
  const mp = trunc((5 * doy + 2) / 153);
  const d = doy - trunc((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}T${pad(trunc(rem / 3_600_000), 2)}:${pad(trunc(rem / 60_000) % 60, 2)}:${pad(trunc(rem / 1000) % 60, 2)}.${pad(rem % 1000, 3)}Z`;
}
