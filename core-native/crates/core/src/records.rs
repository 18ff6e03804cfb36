//! `transform_record_sets`: the transformer's per-fetch work. Decodes the raw `records` bytes of each fetched
//! partition (RecordBatch v2: CRC-32C, gzip, control batches, aborted transactions), normalizes every data record in
//! one [`normalize_batch_into`] call and encodes the outputs as ready-to-send Record entries per output
//! topic-partition, with the transformer's source headers. The TypeScript twin is `src/records.ts`; both give the
//! same bytes (rules in the package README, "transformRecordSets"). Not for Kafka I/O.

use crate::canon;
use crate::json::Bump;
use crate::normalize::{self, normalize_batch_into, BatchOutput, RawMessage, MAX_BATCH_MESSAGES};
use crate::time::{parse_rfc3339, push_iso};
use crate::{AmountBounds, Source};
use std::io::Read;

pub const MAX_SETS: usize = 10_000;
pub const MAX_RECORDS: u32 = 10_000;
/// Most bytes of record values one call hands to the normalizer (the rest stays for the next fetch).
pub const MAX_VALUE_BYTES: usize = 64 << 20;
/// A batch whose records section (decompressed) passes this is reported as RECORD_BATCH_TOO_LARGE.
pub const MAX_BATCH_RECORDS_BYTES: usize = 64 << 20;
pub const MAX_ABORTED_TRANSACTIONS: usize = 100_000;
pub const MAX_PARTITIONS: u32 = 100_000;
pub const MIN_RECORD_BYTES: u32 = 4096;
pub const MAX_RECORD_BYTES: u32 = 1 << 30;
const MAX_SAFE: i64 = 9_007_199_254_740_991;
const BATCH_HEADER_BYTES: usize = 61;
/// A corrupt batch's lastOffsetDelta is trusted for its report's range only below this.
const MAX_TRUSTED_OFFSET_DELTA: i64 = 1 << 24;
const COPIED_HEADER_MAX_BYTES: usize = 256;
const COPIED: [&[u8]; 3] = [b"received-at", b"request-id", b"provider"];
const PROVIDER_NAMES: [&str; 4] = ["stripe", "square", "adyen", "braintree"];
const COMPRESSION_NAMES: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

pub const CORRUPT: &str = "CORRUPT_RECORD_BATCH";
pub const COMPRESSION: &str = "UNSUPPORTED_COMPRESSION";
pub const MAGIC: &str = "UNSUPPORTED_MAGIC";
pub const TOO_LARGE: &str = "RECORD_BATCH_TOO_LARGE";

/// CRC-32C (Castagnoli).
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// murmur2 as Kafka's Java client computes it.
pub fn murmur2(data: &[u8]) -> i32 {
    let m: u32 = 0x5bd1_e995;
    let len = data.len();
    let mut h: u32 = 0x9747_b28c ^ (len as u32);
    let whole = len & !3;
    let mut i = 0;
    while i < whole {
        let mut k = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        k = k.wrapping_mul(m);
        k ^= k >> 24;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m) ^ k;
        i += 4;
    }
    let rest = len & 3;
    if rest == 3 {
        h ^= (data[whole + 2] as u32) << 16;
    }
    if rest >= 2 {
        h ^= (data[whole + 1] as u32) << 8;
    }
    if rest >= 1 {
        h ^= data[whole] as u32;
        h = h.wrapping_mul(m);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h as i32
}

/// The Java client's partition of a keyed record: toPositive(murmur2(key)) % partitions.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions
}

#[derive(Clone, Copy, Debug)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// One fetched partition of a raw topic.
pub struct FetchedSet<'a> {
    pub topic: &'a str,
    pub provider: u8,
    pub partition: i32,
    pub records: &'a [u8],
    pub aborted: Vec<AbortedTxn>,
    pub fetch_offset: i64,
}

#[derive(Clone, Copy, Debug)]
pub struct TransformOptions {
    pub normalized_at_ms: f64,
    pub normalized_partitions: u32,
    pub dlq_partitions: u32,
    pub max_record_bytes: u32,
    pub max_records: u32,
}

#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    pub records: u32,
    pub normalized: u32,
    pub dlq: u32,
    pub skipped_control: u32,
    pub skipped_aborted: u32,
    pub skipped_below_fetch_offset: u32,
    pub oversize_replaced: u32,
    pub batch_reports: u32,
}

/// Encoded records of one output topic-partition.
#[derive(Default, Debug, Clone)]
pub struct OutPartition {
    pub partition: u32,
    pub data: Vec<u8>,
    pub count: u32,
}

#[derive(Default, Debug)]
pub struct TransformOutput {
    /// Non-empty partitions, ascending.
    pub normalized: Vec<OutPartition>,
    pub dlq: Vec<OutPartition>,
    pub next_offsets: Vec<i64>,
    pub consumed: Vec<u32>,
    pub pending_batch_bytes: Vec<u32>,
    pub received_at_ms: Vec<f64>,
    pub counters: Counters,
}

/// Memory reused across calls by a long-lived caller.
#[derive(Default)]
pub struct TransformScratch {
    pub batch: BatchOutput,
    pub arena: Bump,
    /// Output buffers handed back by [`recycle`].
    pub pool: Vec<Vec<u8>>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ArgError(pub String);

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn arg(cond: bool, msg: impl FnOnce() -> String) -> Result<(), ArgError> {
    if cond {
        Ok(())
    } else {
        Err(ArgError(msg()))
    }
}

/// Checks options and sets (the same checks and messages as the twin's `checkTransformArgs`).
pub fn check_args(sets: &[FetchedSet], o: &TransformOptions) -> Result<(), ArgError> {
    arg(sets.len() <= MAX_SETS, || {
        format!("sets has {} entries; the maximum is {MAX_SETS}", sets.len())
    })?;
    arg(normalize::ms_from_f64(o.normalized_at_ms).is_some(), || {
        "normalizedAtMs must be an integer Unix time in milliseconds".into()
    })?;
    arg(
        (1..=MAX_PARTITIONS).contains(&o.normalized_partitions),
        || format!("normalizedPartitions must be an integer in 1..{MAX_PARTITIONS}"),
    )?;
    arg((1..=MAX_PARTITIONS).contains(&o.dlq_partitions), || {
        format!("dlqPartitions must be an integer in 1..{MAX_PARTITIONS}")
    })?;
    arg(
        (MIN_RECORD_BYTES..=MAX_RECORD_BYTES).contains(&o.max_record_bytes),
        || format!("maxRecordBytes must be an integer in {MIN_RECORD_BYTES}..{MAX_RECORD_BYTES}"),
    )?;
    arg((1..=MAX_RECORDS).contains(&o.max_records), || {
        format!("maxRecords must be an integer in 1..{MAX_RECORDS}")
    })?;
    for (i, s) in sets.iter().enumerate() {
        let legal = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        arg(
            !s.topic.is_empty() && s.topic.len() <= 249 && s.topic.bytes().all(|b| legal(&b)),
            || format!("sets[{i}].topic must be a Kafka topic name"),
        )?;
        arg(s.partition >= 0, || {
            format!("sets[{i}].partition must be a non-negative int32")
        })?;
        arg((0..=MAX_SAFE).contains(&s.fetch_offset), || {
            format!("sets[{i}].fetchOffset must be a bigint in 0..2^53-1")
        })?;
        arg(s.aborted.len() <= MAX_ABORTED_TRANSACTIONS, || {
            format!("sets[{i}].abortedTransactions must be an array of at most {MAX_ABORTED_TRANSACTIONS}")
        })?;
    }
    Ok(())
}

// ---------- decoding ----------

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().unwrap())
}

/// Bounds-checked reader of Kafka varints over one region; `None` on any overrun or over-long varint.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
    end: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Option<u8> {
        if self.at >= self.end {
            return None;
        }
        let x = self.b[self.at];
        self.at += 1;
        Some(x)
    }
    fn varint(&mut self) -> Option<i32> {
        let mut raw: u32 = 0;
        let mut shift = 0;
        while shift <= 28 {
            let x = self.byte()?;
            raw |= ((x & 0x7f) as u32) << shift;
            if x < 0x80 {
                return Some(((raw >> 1) as i32) ^ -((raw & 1) as i32));
            }
            shift += 7;
        }
        None
    }
    fn varlong(&mut self) -> Option<i64> {
        let mut raw: u64 = 0;
        let mut shift = 0;
        while shift <= 63 {
            let x = self.byte()?;
            raw |= ((x & 0x7f) as u64) << shift;
            if x < 0x80 {
                return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
            }
            shift += 7;
        }
        None
    }
    /// Length-prefixed bytes: Some(Some(range)), Some(None) for null (-1), None when unreadable.
    fn bytes(&mut self) -> Option<Option<(usize, usize)>> {
        let n = self.varint()?;
        if n == -1 {
            return Some(None);
        }
        if n < 0 || n as usize > self.end - self.at {
            return None;
        }
        let s = self.at;
        self.at += n as usize;
        Some(Some((s, self.at)))
    }
}

/// One decoded data record; positions are into its batch's region.
struct DataRecord {
    offset: i64,
    value: (usize, usize),
    timestamp_ms: f64,
    copied: [Option<(usize, usize)>; 3],
}

#[allow(clippy::too_many_arguments)]
fn decode_records(
    region: &[u8],
    at: usize,
    end: usize,
    count: i32,
    base_offset: i64,
    last_offset_delta: i32,
    base_timestamp: i64,
    log_append_time: Option<f64>,
    out: &mut Vec<DataRecord>,
) -> Option<()> {
    out.clear();
    if count < 0 || count as usize > end - at {
        return None;
    }
    let mut c = Cursor { b: region, at, end };
    let mut prev_delta: i64 = -1;
    for _ in 0..count {
        let len = c.varint()?;
        if len < 0 || len as usize > c.end - c.at {
            return None;
        }
        let rec_end = c.at + len as usize;
        let outer_end = c.end;
        c.end = rec_end;
        c.byte()?; // attributes (unused)
        let ts_delta = c.varlong()?;
        let offset_delta = c.varint()?;
        c.bytes()?; // key (the output key comes from the normalizer)
        let value = c.bytes()?;
        let header_count = c.varint()?;
        if header_count < 0 || header_count as usize > rec_end - c.at {
            return None;
        }
        let mut copied = [None; 3];
        let mut seen = [false; 3];
        for _ in 0..header_count {
            let (ks, ke) = c.bytes()??; // a null header key is invalid
            let v = c.bytes()?;
            for j in 0..3 {
                if !seen[j] && &region[ks..ke] == COPIED[j] {
                    seen[j] = true; // the first occurrence wins, even when its value is null
                    if let Some((vs, ve)) = v {
                        if ve - vs <= COPIED_HEADER_MAX_BYTES
                            && std::str::from_utf8(&region[vs..ve]).is_ok()
                        {
                            copied[j] = Some((vs, ve));
                        }
                    }
                }
            }
        }
        if c.at != rec_end {
            return None;
        }
        let od = offset_delta as i64;
        if od <= prev_delta || od > last_offset_delta as i64 {
            return None;
        }
        prev_delta = od;
        c.end = outer_end;
        let ts = match log_append_time {
            Some(t) => t,
            None => base_timestamp.wrapping_add(ts_delta) as f64,
        };
        out.push(DataRecord {
            offset: base_offset + od,
            value: value.unwrap_or((0, 0)),
            timestamp_ms: ts,
            copied,
        });
    }
    if c.at != end {
        return None;
    }
    Some(())
}

/// The control type (int16 after the int16 version) of the first record's key.
fn control_type(region: &[u8], at: usize) -> Option<u16> {
    let mut c = Cursor {
        b: region,
        at,
        end: region.len(),
    };
    let len = c.varint()?;
    if len < 0 {
        return None;
    }
    c.end = region.len().min(c.at + len as usize);
    c.byte()?;
    c.varlong()?;
    c.varint()?;
    let (ks, ke) = c.bytes()??;
    if ke - ks < 4 {
        return None;
    }
    Some(u16::from_be_bytes([region[ks + 2], region[ks + 3]]))
}

#[allow(clippy::too_many_arguments)]
fn push_report(
    plan: &mut Vec<Plan>,
    reports: &mut Vec<Report>,
    set: usize,
    next: &mut i64,
    first: i64,
    last: i64,
    code: &'static str,
    reason: String,
) {
    if last < *next {
        return; // wholly below the fetch offset: already consumed
    }
    let f = first.max(*next);
    let l = f.max(last);
    plan.push(Plan::Report(reports.len()));
    reports.push(Report {
        set,
        first: f,
        last: l,
        code,
        reason,
    });
    *next = l + 1;
}

/// The records section of the batch at buf[start, start + total): in place, or decompressed into `decompressed`.
fn load_region(
    buf: &[u8],
    start: usize,
    total: usize,
    codec: usize,
    decompressed: &mut Vec<Vec<u8>>,
) -> Result<Region, (&'static str, String)> {
    let (s, e) = (start + BATCH_HEADER_BYTES, start + total);
    if e - s > MAX_BATCH_RECORDS_BYTES {
        return Err((
            TOO_LARGE,
            format!("records exceed {MAX_BATCH_RECORDS_BYTES} bytes"),
        ));
    }
    match codec {
        0 => Ok(Region::Input(s, e)),
        1..=4 => {
            let d = match codec {
                1 => gunzip(&buf[s..e])?,
                2 => crate::codec_kafka::unsnappy(&buf[s..e], MAX_BATCH_RECORDS_BYTES)?,
                3 => crate::codec_kafka::unlz4(&buf[s..e], MAX_BATCH_RECORDS_BYTES)?,
                _ => crate::codec_kafka::unzstd(&buf[s..e], MAX_BATCH_RECORDS_BYTES)?,
            };
            decompressed.push(d);
            Ok(Region::Decompressed(decompressed.len() - 1))
        }
        _ => {
            let name = COMPRESSION_NAMES.get(codec).unwrap_or(&"unknown");
            Err((
                COMPRESSION,
                format!("compression codec {name} ({codec}) is not supported"),
            ))
        }
    }
}

/// Where a batch's records are: in the input, or in a decompressed buffer.
#[derive(Clone, Copy)]
enum Region {
    Input(usize, usize),
    Decompressed(usize),
}

struct Report {
    set: usize,
    first: i64,
    last: i64,
    code: &'static str,
    reason: String,
}

/// A consumed data record: its set, where its bytes are, and what the outputs need.
struct Taken {
    set: usize,
    region: Region,
    offset: i64,
    value: (usize, usize),
    copied: [Option<(usize, usize)>; 3],
}

enum Plan {
    Record(usize),
    Report(usize),
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, (&'static str, String)> {
    let too_large = || {
        (
            TOO_LARGE,
            format!("records exceed {MAX_BATCH_RECORDS_BYTES} bytes"),
        )
    };
    if data.is_empty() {
        return Err((CORRUPT, "the gzip data is corrupt".into()));
    }
    // Node's zlib rule (the twin's gunzipSync), kept exactly: members follow one another; after a member, a zero
    // byte ends the stream (zero padding; whatever follows it is ignored) and anything else must be a new member.
    let mut out = Vec::new();
    let mut input: &[u8] = data;
    loop {
        let mut d = flate2::bufread::GzDecoder::new(input);
        let room = (MAX_BATCH_RECORDS_BYTES + 1 - out.len()) as u64;
        if (&mut d).take(room).read_to_end(&mut out).is_err() {
            return Err((CORRUPT, "the gzip data is corrupt".into()));
        }
        if out.len() > MAX_BATCH_RECORDS_BYTES {
            return Err(too_large());
        }
        input = d.into_inner();
        if input.first().is_none_or(|b| *b == 0) {
            return Ok(out);
        }
    }
}

fn region_of<'a>(set: &'a [u8], dec: &'a [Vec<u8>], r: Region) -> (&'a [u8], usize, usize) {
    match r {
        Region::Input(s, e) => (set, s, e),
        Region::Decompressed(i) => (&dec[i], 0, dec[i].len()),
    }
}

// ---------- output encoding ----------

fn zz(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)) as u32
}
fn vsize(z: u32) -> usize {
    match z {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}
fn put_varint(out: &mut Vec<u8>, mut z: u32) {
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Output partitions of both topics (normalized: slots 0..n, DLQ: n..n+d), created on first use, with buffers
/// taken from a pool that the caller refills (see [`recycle`]) so that steady-state calls allocate nothing.
struct Writers {
    parts: Vec<(bool, OutPartition)>,
    index: Vec<u32>,
    normalized_partitions: u32,
    pool: Vec<Vec<u8>>,
}

impl Writers {
    fn new(normalized_partitions: u32, dlq_partitions: u32, pool: Vec<Vec<u8>>) -> Self {
        Writers {
            parts: Vec::new(),
            index: vec![u32::MAX; (normalized_partitions + dlq_partitions) as usize],
            normalized_partitions,
            pool,
        }
    }
    fn get(&mut self, dlq: bool, p: u32) -> &mut OutPartition {
        let slot = if dlq {
            self.normalized_partitions + p
        } else {
            p
        } as usize;
        let i = self.index[slot];
        if i != u32::MAX {
            return &mut self.parts[i as usize].1;
        }
        self.index[slot] = self.parts.len() as u32;
        let mut data = self
            .pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(64 << 10));
        data.clear();
        self.parts.push((
            dlq,
            OutPartition {
                partition: p,
                data,
                count: 0,
            },
        ));
        &mut self.parts.last_mut().unwrap().1
    }
    /// (normalized, dlq) partitions ascending, and the unused pool.
    fn finish(mut self) -> (Vec<OutPartition>, Vec<OutPartition>, Vec<Vec<u8>>) {
        self.parts.sort_by_key(|(dlq, p)| (*dlq, p.partition));
        let mut norm = Vec::new();
        let mut dlq = Vec::new();
        for (is_dlq, p) in self.parts {
            if is_dlq {
                dlq.push(p);
            } else {
                norm.push(p);
            }
        }
        (norm, dlq, self.pool)
    }
}

/// Gives an output's buffers back to the scratch pool (at most 64 kept) for the next call.
pub fn recycle(scratch: &mut TransformScratch, out: TransformOutput) {
    for p in out.normalized.into_iter().chain(out.dlq) {
        if scratch.pool.len() < 64 {
            scratch.pool.push(p.data);
        }
    }
}

/// Decimal digits of n in buf.
fn dec(buf: &mut [u8; 20], n: i64) -> &[u8] {
    let mut v = n.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Appends one Record (offsetDelta = records so far, timestampDelta 0, attributes 0).
fn write_record(w: &mut OutPartition, key: Option<&[u8]>, value: &[u8], headers: &[&[u8]]) {
    let delta = w.count as i32;
    let mut body = 2 + vsize(zz(delta));
    body += match key {
        None => 1,
        Some(k) => vsize(zz(k.len() as i32)) + k.len(),
    };
    body += vsize(zz(value.len() as i32)) + value.len() + vsize(zz((headers.len() / 2) as i32));
    for h in headers {
        body += vsize(zz(h.len() as i32)) + h.len();
    }
    let out = &mut w.data;
    out.reserve(5 + body);
    put_varint(out, zz(body as i32));
    out.push(0);
    out.push(0);
    put_varint(out, zz(delta));
    match key {
        None => out.push(1),
        Some(k) => {
            put_varint(out, zz(k.len() as i32));
            out.extend_from_slice(k);
        }
    }
    put_varint(out, zz(value.len() as i32));
    out.extend_from_slice(value);
    put_varint(out, zz((headers.len() / 2) as i32));
    for h in headers {
        put_varint(out, zz(h.len() as i32));
        out.extend_from_slice(h);
    }
    w.count += 1;
}

fn output_bytes(key: Option<&[u8]>, value: &[u8], headers: &[&[u8]]) -> usize {
    value.len() + key.map_or(0, <[u8]>::len) + 64 + headers.iter().map(|h| h.len()).sum::<usize>()
}

/// The JSON text of one member value (a string or null) at `at`, and where it ends.
fn json_token(v: &[u8], at: usize) -> Option<(usize, usize)> {
    if v[at..].starts_with(b"null") {
        return Some((at, at + 4));
    }
    if v.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    while i < v.len() {
        match v[i] {
            b'\\' => i += 2,
            b'"' => return Some((at, i + 1)),
            _ => i += 1,
        }
    }
    None
}

/// The first three members of one of our canonical records (event_id, provider, provider_event_id) as JSON text.
fn id_tokens(v: &[u8]) -> [&[u8]; 3] {
    const NAMES: [&[u8]; 3] = [
        b"{\"event_id\":",
        b",\"provider\":",
        b",\"provider_event_id\":",
    ];
    let mut out: [&[u8]; 3] = [b"null"; 3];
    let mut at = 0;
    for (i, name) in NAMES.iter().enumerate() {
        if !v[at..].starts_with(name) {
            return [b"null"; 3];
        }
        match json_token(v, at + name.len()) {
            Some((s, e)) => {
                out[i] = &v[s..e];
                at = e;
            }
            None => return [b"null"; 3],
        }
    }
    out
}

fn dlq_head(out: &mut Vec<u8>, event_id: &[u8], provider: &[u8], provider_event_id: &[u8]) {
    out.extend_from_slice(b"{\"event_id\":");
    out.extend_from_slice(event_id);
    out.extend_from_slice(b",\"provider\":");
    out.extend_from_slice(provider);
    out.extend_from_slice(b",\"provider_event_id\":");
    out.extend_from_slice(provider_event_id);
    out.extend_from_slice(
        b",\"item_index\":null,\"original_payload\":null,\"original_payload_encoding\":null,\"validation_errors\":[",
    );
}

fn dlq_tail(out: &mut Vec<u8>, topic: &str, partition: i32, offset: i64) {
    out.extend_from_slice(b",\"source_topic\":");
    canon::write_str(out, topic);
    out.extend_from_slice(b",\"kafka_partition\":");
    canon::write_int(out, partition as i64);
    out.extend_from_slice(b",\"kafka_offset\":");
    canon::write_int(out, offset);
}

fn report_value(r: &Report, s: &FetchedSet, normalized_at_ms: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(640);
    let provider = PROVIDER_NAMES
        .get(s.provider as usize)
        .map(|p| format!("\"{p}\""));
    dlq_head(
        &mut out,
        b"null",
        provider.as_deref().unwrap_or("null").as_bytes(),
        b"null",
    );
    let message = format!(
        "record batch at offsets {}..{}: {}; the raw bytes stay in Kafka",
        r.first, r.last, r.reason
    );
    out.extend_from_slice(b"{\"field\":\"record_batch\",\"code\":\"");
    out.extend_from_slice(r.code.as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    canon::write_str(&mut out, &message);
    out.extend_from_slice(b"}],\"failure_reason\":\"");
    out.extend_from_slice(r.code.as_bytes());
    out.push(b'"');
    dlq_tail(&mut out, s.topic, s.partition, r.first);
    out.extend_from_slice(b",\"kafka_last_offset\":");
    canon::write_int(&mut out, r.last);
    out.extend_from_slice(b",\"received_at\":null,\"quarantined_at\":\"");
    push_iso(&mut out, normalized_at_ms);
    out.extend_from_slice(b"\",\"schema_version\":1}");
    out
}

/// oversizeDlqRecord of test/kafkajs-reference.ts (the retired kafkajs transformer's) with quarantined_at = normalizedAtMs. Returns the value and the new headers.
fn oversize_replacement(
    value: &[u8],
    headers: &[&[u8]],
    what: &'static str,
    s: &FetchedSet,
    offset: i64,
    normalized_at_ms: i64,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let ids = id_tokens(value);
    let mut out = Vec::with_capacity(768);
    dlq_head(&mut out, ids[0], ids[1], ids[2]);
    let message = format!(
        "{what} of {} bytes exceeds the output record limit; the raw record stays at its source coordinates",
        value.len()
    );
    out.extend_from_slice(b"{\"field\":\"payload\",\"code\":\"RECORD_TOO_LARGE\",\"message\":");
    canon::write_str(&mut out, &message);
    out.extend_from_slice(b"}],\"failure_reason\":\"RECORD_TOO_LARGE\"");
    dlq_tail(&mut out, s.topic, s.partition, offset);
    out.extend_from_slice(b",\"received_at\":");
    let mut received: Option<&str> = None;
    for pair in headers.chunks(2) {
        if pair[0] == COPIED[0] {
            received = std::str::from_utf8(pair[1]).ok();
        }
    }
    canon::write_opt_str(&mut out, received);
    out.extend_from_slice(b",\"quarantined_at\":\"");
    push_iso(&mut out, normalized_at_ms);
    out.extend_from_slice(b"\",\"schema_version\":1}");
    let mut h: Vec<Vec<u8>> = headers.iter().map(|x| x.to_vec()).collect();
    let mut replaced = false;
    for i in (0..h.len()).step_by(2) {
        if h[i] == b"oversize-replaced" {
            h[i + 1] = what.as_bytes().to_vec();
            replaced = true;
        }
    }
    if !replaced {
        h.push(b"oversize-replaced".to_vec());
        h.push(what.as_bytes().to_vec());
    }
    (out, h)
}

struct Emitter<'o> {
    opts: &'o TransformOptions,
    normalized_at_ms: i64,
    w: Writers,
    oversize: u32,
    /// The next unwritten event and DLQ record of the normalizer's output.
    ei: usize,
    di: usize,
}

impl Emitter<'_> {
    fn dlq(
        &mut self,
        key: Option<&[u8]>,
        value: &[u8],
        headers: &[&[u8]],
        s: &FetchedSet,
        offset: i64,
    ) {
        let p = match key {
            None => s.partition as u32 % self.opts.dlq_partitions,
            Some(k) => partition_for_key(k, self.opts.dlq_partitions),
        };
        if output_bytes(key, value, headers) > self.opts.max_record_bytes as usize {
            let (v, h) = oversize_replacement(
                value,
                headers,
                "validation DLQ record",
                s,
                offset,
                self.normalized_at_ms,
            );
            self.oversize += 1;
            let hs: Vec<&[u8]> = h.iter().map(Vec::as_slice).collect();
            write_record(self.w.get(true, p), key, &v, &hs);
        } else {
            write_record(self.w.get(true, p), key, value, headers);
        }
    }
}

/// Decodes, normalizes and encodes one fetch. Data never fails; bad arguments and limits are an [`ArgError`].
///
/// The units, in order (the twin `transformRecordSetsJs` has the same ones, in camelCase): [`walk_record_set`] per
/// set ([`next_batch`] frames and checks a batch, [`filter_batch`] applies read_committed, [`take_records`] takes
/// its data records), [`normalize_taken`], [`emit_plan`] ([`emit_report`], [`emit_record`]), [`finish_output`].
pub fn transform_record_sets(
    sets: &[FetchedSet],
    opts: &TransformOptions,
    bounds: &AmountBounds,
    scratch: &mut TransformScratch,
) -> Result<TransformOutput, ArgError> {
    check_args(sets, opts)?;
    let normalized_at_ms = normalize::ms_from_f64(opts.normalized_at_ms).expect("checked");
    let mut w = Walk::new(sets.len(), opts.max_records as usize);
    for (si, set) in sets.iter().enumerate() {
        walk_record_set(&mut w, si, set);
    }
    let TransformScratch { batch, arena, pool } = scratch;
    normalize_taken(sets, &w, opts, bounds, batch, arena)?;
    let mut em = Emitter {
        opts,
        normalized_at_ms,
        w: Writers::new(
            opts.normalized_partitions,
            opts.dlq_partitions,
            std::mem::take(pool),
        ),
        oversize: 0,
        ei: 0,
        di: 0,
    };
    emit_plan(&mut em, sets, &w, batch)?;
    Ok(finish_output(w, em, pool))
}

/// What walking one fetch collects: the taken data records, the batch reports and the order to emit them in.
struct Walk {
    max_records: usize,
    out: TransformOutput,
    c: Counters,
    decompressed: Vec<Vec<u8>>,
    taken: Vec<Taken>,
    received: Vec<f64>,
    reports: Vec<Report>,
    plan: Vec<Plan>,
    recs: Vec<DataRecord>,
    value_bytes: usize,
    full: bool,
}

impl Walk {
    fn new(n_sets: usize, max_records: usize) -> Self {
        Walk {
            max_records,
            out: TransformOutput {
                next_offsets: vec![0; n_sets],
                consumed: vec![0; n_sets],
                pending_batch_bytes: vec![0; n_sets],
                ..Default::default()
            },
            c: Counters::default(),
            decompressed: Vec::new(),
            taken: Vec::new(),
            received: Vec::new(),
            reports: Vec::new(),
            plan: Vec::new(),
            recs: Vec::new(),
            value_bytes: 0,
            full: false,
        }
    }

    /// A batch report of the cursor's set (see [`push_report`]).
    fn report(
        &mut self,
        first: i64,
        last: i64,
        code: &'static str,
        reason: String,
        cur: &mut SetCursor,
    ) {
        push_report(
            &mut self.plan,
            &mut self.reports,
            cur.si,
            &mut cur.next,
            first,
            last,
            code,
            reason,
        );
    }
}

/// Where the walk of one set stands: its next offset and Kafka's read_committed state.
struct SetCursor {
    si: usize,
    next: i64,
    aborted: Vec<AbortedTxn>,
    aborted_at: usize,
    aborted_producers: Vec<i64>,
    /// Where the next batch starts in the set's records.
    pos: usize,
}

/// The checked header of the batch at buf[start, start + total).
#[derive(Clone, Copy)]
struct Batch {
    start: usize,
    total: usize,
    base: i64,
    lod: i32,
    last_offset: i64,
    codec: usize,
    log_append_time: bool,
    transactional: bool,
    control: bool,
    producer_id: i64,
    count: i32,
    /// Wholly below the fetch offset.
    below: bool,
    header_count: u32,
}

/// What [`next_batch`] found: the end of what this fetch can read of the set, a bad batch (reported and passed), or
/// a batch to filter.
enum Framed {
    End,
    Skip,
    Batch(Batch),
}

/// Walks one set's batches until its end or until the fetch is full; sets its next offset.
fn walk_record_set(w: &mut Walk, si: usize, set: &FetchedSet) {
    w.out.next_offsets[si] = set.fetch_offset;
    if w.full {
        return;
    }
    let mut aborted = set.aborted.clone();
    aborted.sort_by_key(|a| a.first_offset);
    let mut cur = SetCursor {
        si,
        next: set.fetch_offset,
        aborted,
        aborted_at: 0,
        aborted_producers: Vec::new(),
        pos: 0,
    };
    let buf = set.records;
    while cur.pos < buf.len() {
        if w.taken.len() >= w.max_records {
            w.full = true;
            break;
        }
        let b = match next_batch(w, &mut cur, buf) {
            Framed::End => break,
            Framed::Skip => continue,
            Framed::Batch(b) => b,
        };
        if !filter_batch(w, &mut cur, buf, &b) {
            continue;
        }
        if take_records(w, &mut cur, buf, &b) {
            w.full = true;
            break;
        }
    }
    w.out.next_offsets[si] = cur.next;
}

/// Frames the batch at the cursor's position (moving it past the batch) and checks its magic, header length, CRC and offsets; a bad
/// batch is reported.
#[inline]
fn next_batch(w: &mut Walk, cur: &mut SetCursor, buf: &[u8]) -> Framed {
    let rem = buf.len() - cur.pos;
    if rem < 12 {
        return Framed::End; // an incomplete batch at the end: the next fetch returns it whole
    }
    let base_raw = be_i64(buf, cur.pos);
    let batch_length = be_i32(buf, cur.pos + 8);
    let base_ok = (0..=MAX_SAFE).contains(&base_raw);
    // Where a report of this batch starts: its base offset, or the next offset when that is unreadable.
    let base = if base_ok { base_raw } else { cur.next };
    if batch_length < 5 {
        let why = format!("batch length {batch_length} is invalid");
        w.report(cur.next, cur.next, CORRUPT, why, cur);
        return Framed::End;
    }
    let total = 12 + batch_length as usize;
    if total > rem {
        w.out.pending_batch_bytes[cur.si] = total.min(u32::MAX as usize) as u32;
        return Framed::End;
    }
    let start = cur.pos;
    cur.pos += total;
    let pos = cur.pos;
    let magic = buf[start + 16] as i8;
    if magic != 2 {
        let why = format!("record format magic {magic} is not supported (only 2)");
        w.report(base, base, MAGIC, why, cur);
        return Framed::Skip;
    }
    if total < BATCH_HEADER_BYTES {
        let why = "the batch is shorter than its 61-byte header".into();
        w.report(base, base, CORRUPT, why, cur);
        return Framed::Skip;
    }
    let lod = be_i32(buf, start + 23);
    let crc = be_u32(buf, start + 17);
    if crc32c(&buf[start + 21..start + total]) != crc {
        let lod64 = lod as i64;
        let mut last = if base_ok
            && (0..MAX_TRUSTED_OFFSET_DELTA).contains(&lod64)
            && base + lod64 <= MAX_SAFE
        {
            base + lod64
        } else {
            base
        };
        // Never let an untrusted range swallow the next batch in this fetch.
        if pos + 8 <= buf.len() {
            let nb = be_i64(buf, pos);
            if nb > base_raw && nb <= MAX_SAFE {
                last = last.min(nb - 1);
            }
        }
        w.report(base, last, CORRUPT, "CRC-32C mismatch".into(), cur);
        return Framed::Skip;
    }
    if !base_ok || lod < 0 || base + lod as i64 > MAX_SAFE {
        let why = "batch offsets are out of range".into();
        w.report(cur.next, cur.next, CORRUPT, why, cur);
        return Framed::Skip;
    }
    let last_offset = base + lod as i64;
    let attributes = be_i16(buf, start + 21);
    let count = be_i32(buf, start + 57);
    Framed::Batch(Batch {
        start,
        total,
        base,
        lod,
        last_offset,
        codec: (attributes & 7) as usize,
        log_append_time: attributes & 8 != 0,
        transactional: attributes & 16 != 0,
        control: attributes & 32 != 0,
        producer_id: be_i64(buf, start + 43),
        count,
        below: last_offset < cur.next,
        header_count: count.max(0) as u32,
    })
}

/// Kafka's read_committed rule (the Java consumer's, see README), then control batches and batches wholly below
/// the fetch offset: true when the batch has data records to take.
#[inline]
fn filter_batch(w: &mut Walk, cur: &mut SetCursor, buf: &[u8], b: &Batch) -> bool {
    if b.producer_id >= 0 {
        while cur.aborted_at < cur.aborted.len()
            && cur.aborted[cur.aborted_at].first_offset <= b.last_offset
        {
            cur.aborted_producers
                .push(cur.aborted[cur.aborted_at].producer_id);
            cur.aborted_at += 1;
        }
        if b.control {
            let r = load_region(buf, b.start, b.total, b.codec, &mut w.decompressed);
            let kind = match r {
                Err(e) => Err(e),
                Ok(reg) => {
                    let (bytes, s, e) = region_of(buf, &w.decompressed, reg);
                    match decode_records(bytes, s, e, b.count, b.base, b.lod, 0, None, &mut w.recs)
                    {
                        None => Err((CORRUPT, "a control record cannot be read".into())),
                        Some(()) if w.recs.is_empty() => Ok(None),
                        Some(()) => match control_type(bytes, s) {
                            None => Err((CORRUPT, "a control record cannot be read".into())),
                            t => Ok(t),
                        },
                    }
                }
            };
            match kind {
                Err((code, why)) => {
                    if !b.below {
                        w.report(b.base, b.last_offset, code, why, cur);
                    }
                    return false;
                }
                Ok(Some(0)) => cur.aborted_producers.retain(|p| *p != b.producer_id),
                Ok(_) => {}
            }
        } else if b.transactional && cur.aborted_producers.contains(&b.producer_id) {
            if !b.below {
                w.c.skipped_aborted += b.header_count;
                cur.next = b.last_offset + 1;
            }
            return false;
        }
    }
    if b.control {
        if !b.below {
            w.c.skipped_control += b.header_count;
            cur.next = b.last_offset + 1;
        }
        return false;
    }
    if b.below {
        w.c.skipped_below_fetch_offset += b.header_count;
        return false;
    }
    true
}

/// Decodes the batch's data records and takes those at or above the next offset while the fetch has room; true when
/// the fetch is full (the rest of the batch stays for the next fetch).
#[inline]
fn take_records(w: &mut Walk, cur: &mut SetCursor, buf: &[u8], b: &Batch) -> bool {
    let reg = match load_region(buf, b.start, b.total, b.codec, &mut w.decompressed) {
        Ok(r) => r,
        Err((code, why)) => {
            w.report(b.base, b.last_offset, code, why, cur);
            return false;
        }
    };
    let log_append = if b.log_append_time {
        Some(be_i64(buf, b.start + 35) as f64)
    } else {
        None
    };
    let base_ts = be_i64(buf, b.start + 27);
    let (bytes, rs, re) = region_of(buf, &w.decompressed, reg);
    let (count, base, lod) = (b.count, b.base, b.lod);
    if decode_records(
        bytes,
        rs,
        re,
        count,
        base,
        lod,
        base_ts,
        log_append,
        &mut w.recs,
    )
    .is_none()
    {
        w.report(
            base,
            b.last_offset,
            CORRUPT,
            "a record cannot be read".into(),
            cur,
        );
        return false;
    }
    let (bytes, _, _) = region_of(buf, &w.decompressed, reg);
    for rec in &w.recs {
        if rec.offset < cur.next {
            w.c.skipped_below_fetch_offset += 1;
            continue;
        }
        let len = rec.value.1 - rec.value.0;
        if !w.taken.is_empty()
            && (w.taken.len() >= w.max_records || w.value_bytes + len > MAX_VALUE_BYTES)
        {
            return true;
        }
        w.plan.push(Plan::Record(w.taken.len()));
        w.value_bytes += len;
        let recv = match rec.copied[0]
            .and_then(|(s, e)| parse_rfc3339(std::str::from_utf8(&bytes[s..e]).ok()?))
        {
            Some(ms) => ms as f64,
            None if rec.timestamp_ms > 0.0 => rec.timestamp_ms,
            None => f64::NAN,
        };
        w.received.push(recv);
        w.taken.push(Taken {
            set: cur.si,
            region: reg,
            offset: rec.offset,
            value: rec.value,
            copied: rec.copied,
        });
        w.out.consumed[cur.si] += 1;
        cur.next = rec.offset + 1;
    }
    cur.next = cur.next.max(b.last_offset + 1);
    false
}

/// One normalizer call for the whole fetch, into `batch`.
fn normalize_taken(
    sets: &[FetchedSet],
    w: &Walk,
    opts: &TransformOptions,
    bounds: &AmountBounds,
    batch: &mut BatchOutput,
    arena: &mut Bump,
) -> Result<(), ArgError> {
    debug_assert!(w.taken.len() <= MAX_BATCH_MESSAGES);
    let bytes_of = |t: &Taken| -> &[u8] {
        let (b, _, _) = region_of(sets[t.set].records, &w.decompressed, t.region);
        &b[t.value.0..t.value.1]
    };
    let msgs: Vec<RawMessage> = w
        .taken
        .iter()
        .zip(&w.received)
        .map(|(t, r)| {
            let s = &sets[t.set];
            RawMessage {
                provider: s.provider,
                bytes: bytes_of(t),
                source: Source {
                    topic: s.topic,
                    partition: s.partition,
                    offset: t.offset,
                    received_at_ms: normalize::ms_from_f64(*r).unwrap_or(i64::MIN),
                },
            }
        })
        .collect();
    normalize_batch_into(&msgs, opts.normalized_at_ms, bounds, batch, arena)
        .map_err(|e| ArgError(e.to_string()))?;
    arena.reset();
    Ok(())
}

/// Writes the plan in order: each batch report, and each taken record's outputs.
fn emit_plan(
    em: &mut Emitter,
    sets: &[FetchedSet],
    w: &Walk,
    batch: &BatchOutput,
) -> Result<(), ArgError> {
    let set_partitions: Vec<String> = sets.iter().map(|s| s.partition.to_string()).collect();
    for item in &w.plan {
        match *item {
            Plan::Report(k) => emit_report(em, sets, &w.reports[k]),
            Plan::Record(j) => emit_record(em, sets, w, batch, &set_partitions, j)?,
        }
    }
    Ok(())
}

/// One batch report into the DLQ.
fn emit_report(em: &mut Emitter, sets: &[FetchedSet], r: &Report) {
    let s = &sets[r.set];
    let part = s.partition.to_string();
    let first = r.first.to_string();
    let last = r.last.to_string();
    let headers: [&[u8]; 10] = [
        b"source-topic",
        s.topic.as_bytes(),
        b"source-partition",
        part.as_bytes(),
        b"source-offset",
        first.as_bytes(),
        b"source-output",
        b"0/1",
        b"source-last-offset",
        last.as_bytes(),
    ];
    let v = report_value(r, s, em.normalized_at_ms);
    let p = s.partition as u32 % em.opts.dlq_partitions;
    write_record(em.w.get(true, p), None, &v, &headers);
}

/// The normalizer's outputs for taken record `j` (its DLQ records, then its events) with their source headers;
/// an event over the record limit goes to the DLQ as an oversize replacement.
#[inline]
fn emit_record(
    em: &mut Emitter,
    sets: &[FetchedSet],
    w: &Walk,
    batch: &BatchOutput,
    set_partitions: &[String],
    j: usize,
) -> Result<(), ArgError> {
    let (ev, dl) = (&batch.events, &batch.dlq);
    let (di, ei) = (em.di, em.ei);
    let t = &w.taken[j];
    let s = &sets[t.set];
    let j32 = j as u32;
    let mut d_end = di;
    while d_end < dl.len() && dl.source_index[d_end] == j32 {
        d_end += 1;
    }
    let mut e_end = ei;
    while e_end < ev.len() && ev.source_index[e_end] == j32 {
        e_end += 1;
    }
    let total = (d_end - di) + (e_end - ei);
    if total == 0 {
        // The normalizer answers every input with at least one record; anything else is a bug.
        return Err(ArgError(format!(
            "internal: the normalizer produced no output for {}/{}@{}",
            s.topic, s.partition, t.offset
        )));
    }
    let (rb, _, _) = region_of(s.records, &w.decompressed, t.region);
    let part = &set_partitions[t.set];
    let mut offset_digits = [0u8; 20];
    let offset = dec(&mut offset_digits, t.offset);
    let mut ob = [0u8; 24];
    // Ordinals 0..total: the DLQ records first, then the events.
    for ordinal in 0..total {
        let ord = ordinal_text(&mut ob, ordinal, total);
        let (hs, hn) = source_headers(
            s.topic.as_bytes(),
            part.as_bytes(),
            offset,
            ord,
            rb,
            &t.copied,
        );
        let header_buf = &hs[..hn];
        let k = di + ordinal;
        if k < d_end {
            let key = (dl.key_lengths[k] > 0).then(|| dl.key(k));
            em.dlq(key, dl.record(k), header_buf, s, t.offset);
            continue;
        }
        let k = ei + (k - d_end);
        let key = ev.key(k);
        let value = ev.record(k);
        if output_bytes(Some(key), value, header_buf) > em.opts.max_record_bytes as usize {
            let (v, h) = oversize_replacement(
                value,
                header_buf,
                "normalized event",
                s,
                t.offset,
                em.normalized_at_ms,
            );
            em.oversize += 1;
            let hs: Vec<&[u8]> = h.iter().map(Vec::as_slice).collect();
            em.dlq(Some(key), &v, &hs, s, t.offset);
        } else {
            let p = partition_for_key(key, em.opts.normalized_partitions);
            write_record(em.w.get(false, p), Some(key), value, header_buf);
        }
    }
    em.di = d_end;
    em.ei = e_end;
    Ok(())
}

/// The encoded outputs and the counters; the writers' spare buffers go back to the pool.
fn finish_output(w: Walk, em: Emitter, pool: &mut Vec<Vec<u8>>) -> TransformOutput {
    let Walk {
        mut out,
        mut c,
        taken,
        received,
        reports,
        ..
    } = w;
    let (normalized, dlq, rest) = em.w.finish();
    out.normalized = normalized;
    out.dlq = dlq;
    *pool = rest;
    c.records = taken.len() as u32;
    c.normalized = out.normalized.iter().map(|p| p.count).sum();
    c.dlq = out.dlq.iter().map(|p| p.count).sum();
    c.oversize_replaced = em.oversize;
    c.batch_reports = reports.len() as u32;
    out.counters = c;
    out.received_at_ms = received;
    out
}

/// `i/n` into buf (ASCII digits), returned as a slice of it.
fn ordinal_text(buf: &mut [u8; 24], i: usize, n: usize) -> &[u8] {
    use std::io::Write;
    let mut w = &mut buf[..];
    let _ = write!(w, "{i}/{n}");
    let left = w.len();
    &buf[..24 - left]
}

/// The headers of an output in order: the four source headers, then the copied input headers.
fn source_headers<'a>(
    topic: &'a [u8],
    partition: &'a [u8],
    offset: &'a [u8],
    ordinal: &'a [u8],
    region: &'a [u8],
    copied: &[Option<(usize, usize)>; 3],
) -> ([&'a [u8]; 14], usize) {
    let mut h: [&[u8]; 14] = [b""; 14];
    h[..8].copy_from_slice(&[
        b"source-topic",
        topic,
        b"source-partition",
        partition,
        b"source-offset",
        offset,
        b"source-output",
        ordinal,
    ]);
    let mut n = 8;
    for (j, c) in copied.iter().enumerate() {
        if let Some((s, e)) = *c {
            h[n] = COPIED[j];
            h[n + 1] = &region[s..e];
            n += 2;
        }
    }
    (h, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: f64 = 1_767_225_600_000.0;
    /// A record's value and headers.
    type TestRecord<'a> = (&'a [u8], &'a [(&'a str, &'a str)]);

    fn varint(out: &mut Vec<u8>, n: i32) {
        put_varint(out, zz(n));
    }

    /// A RecordBatch v2 with the given (value, headers) records, written from the spec.
    fn batch(base: i64, attrs: i16, producer: i64, records: &[TestRecord]) -> Vec<u8> {
        let mut recs = Vec::new();
        for (i, (value, headers)) in records.iter().enumerate() {
            let mut body = vec![0u8, 0];
            varint(&mut body, i as i32);
            varint(&mut body, -1);
            varint(&mut body, value.len() as i32);
            body.extend_from_slice(value);
            varint(&mut body, headers.len() as i32);
            for (k, v) in *headers {
                varint(&mut body, k.len() as i32);
                body.extend_from_slice(k.as_bytes());
                varint(&mut body, v.len() as i32);
                body.extend_from_slice(v.as_bytes());
            }
            varint(&mut recs, body.len() as i32);
            recs.extend_from_slice(&body);
        }
        let mut after_crc = Vec::new();
        after_crc.extend_from_slice(&attrs.to_be_bytes());
        after_crc.extend_from_slice(&(records.len() as i32 - 1).max(0).to_be_bytes());
        after_crc.extend_from_slice(&1_767_225_000_000i64.to_be_bytes());
        after_crc.extend_from_slice(&1_767_225_000_000i64.to_be_bytes());
        after_crc.extend_from_slice(&producer.to_be_bytes());
        after_crc.extend_from_slice(&0i16.to_be_bytes());
        after_crc.extend_from_slice(&0i32.to_be_bytes());
        after_crc.extend_from_slice(&(records.len() as i32).to_be_bytes());
        after_crc.extend_from_slice(&recs);
        let mut out = Vec::new();
        out.extend_from_slice(&base.to_be_bytes());
        out.extend_from_slice(&((after_crc.len() + 9) as i32).to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.push(2);
        out.extend_from_slice(&crc32c(&after_crc).to_be_bytes());
        out.extend_from_slice(&after_crc);
        out
    }

    fn opts() -> TransformOptions {
        TransformOptions {
            normalized_at_ms: AT,
            normalized_partitions: 4,
            dlq_partitions: 2,
            max_record_bytes: 1 << 20,
            max_records: MAX_RECORDS,
        }
    }

    fn run(records: &[u8], fetch_offset: i64, aborted: Vec<AbortedTxn>) -> TransformOutput {
        let sets = [FetchedSet {
            topic: "webhooks.stripe.payment_intent",
            provider: 0,
            partition: 1,
            records,
            aborted,
            fetch_offset,
        }];
        let mut scratch = TransformScratch::default();
        transform_record_sets(&sets, &opts(), &AmountBounds::default(), &mut scratch).unwrap()
    }

    #[test]
    fn crc32c_and_murmur2_match_the_reference_vectors() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        // Kafka's UtilsTest murmur2 cases.
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58_897_971
        );
        assert_eq!(murmur2(b"abc"), 479_470_107);
    }

    #[test]
    fn varints_decode_as_java_does() {
        let mut buf = Vec::new();
        for n in [0, -1, 1, 63, -64, 300, i32::MAX, i32::MIN] {
            varint(&mut buf, n);
        }
        let mut c = Cursor {
            b: &buf,
            at: 0,
            end: buf.len(),
        };
        for n in [0, -1, 1, 63, -64, 300, i32::MAX, i32::MIN] {
            assert_eq!(c.varint(), Some(n));
        }
        let long = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        let mut c = Cursor {
            b: &long,
            at: 0,
            end: long.len(),
        };
        assert_eq!(c.varint(), None, "a sixth byte is too long");
    }

    #[test]
    fn normalizes_records_and_writes_source_headers() {
        let raw = b"{}";
        let b = batch(
            5,
            0,
            -1,
            &[(
                raw,
                &[
                    ("received-at", "2025-12-31T23:59:59.000Z"),
                    ("request-id", "r1"),
                ],
            )],
        );
        let out = run(&b, 5, vec![]);
        assert_eq!(out.next_offsets, vec![6]);
        assert_eq!(out.consumed, vec![1]);
        assert_eq!(out.received_at_ms, vec![1_767_225_599_000.0]);
        assert_eq!(out.counters.dlq, 1);
        let p = &out.dlq[0];
        assert_eq!(
            p.partition, 1,
            "keyless: source partition mod dlqPartitions"
        );
        let text = String::from_utf8_lossy(&p.data);
        for h in [
            "source-topic",
            "source-offset",
            "5",
            "0/1",
            "received-at",
            "request-id",
            "r1",
        ] {
            assert!(text.contains(h), "{h} missing in {text}");
        }
    }

    #[test]
    fn skips_aborted_and_control_batches_and_reports_corrupt_ones() {
        let v: &[u8] = b"{}";
        let mut buf = batch(0, 16, 9, &[(v, &[]), (v, &[])]);
        // ABORT marker of producer 9 at offset 2.
        let mut marker = batch(2, 16 | 32, 9, &[(b"\0\0\0\0\0\0", &[])]);
        // The marker's key: rewrite the record with key 00 00 00 00 (version 0, ABORT).
        let mut rec = vec![0u8, 0];
        varint(&mut rec, 0);
        varint(&mut rec, 4);
        rec.extend_from_slice(&[0, 0, 0, 0]);
        varint(&mut rec, 0);
        varint(&mut rec, 0);
        let mut section = Vec::new();
        varint(&mut section, rec.len() as i32);
        section.extend_from_slice(&rec);
        marker.truncate(61);
        marker.extend_from_slice(&section);
        let len = (marker.len() - 12) as i32;
        marker[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c(&marker[21..]);
        marker[17..21].copy_from_slice(&crc.to_be_bytes());
        buf.extend_from_slice(&marker);
        let mut corrupt = batch(3, 0, -1, &[(v, &[])]);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0x55;
        buf.extend_from_slice(&corrupt);
        buf.extend_from_slice(&batch(4, 16, 9, &[(v, &[])]));
        let out = run(
            &buf,
            0,
            vec![AbortedTxn {
                producer_id: 9,
                first_offset: 0,
            }],
        );
        assert_eq!(out.counters.skipped_aborted, 2);
        assert_eq!(out.counters.skipped_control, 1);
        assert_eq!(out.counters.batch_reports, 1);
        assert_eq!(
            out.consumed,
            vec![1],
            "producer 9's next transaction is not aborted"
        );
        assert_eq!(out.next_offsets, vec![5]);
        let text = String::from_utf8_lossy(
            &out.dlq
                .iter()
                .map(|p| p.data.clone())
                .collect::<Vec<_>>()
                .concat(),
        )
        .into_owned();
        assert!(text.contains("CORRUPT_RECORD_BATCH"));
        assert!(text.contains("record batch at offsets 3..3: CRC-32C mismatch"));
    }

    #[test]
    fn a_truncated_batch_waits_and_a_fetch_offset_inside_a_batch_skips() {
        let v: &[u8] = b"{}";
        let b = batch(10, 0, -1, &[(v, &[]), (v, &[]), (v, &[])]);
        let out = run(&b[..b.len() - 1], 10, vec![]);
        assert_eq!(out.next_offsets, vec![10]);
        assert_eq!(out.pending_batch_bytes, vec![b.len() as u32]);
        let out = run(&b, 12, vec![]);
        assert_eq!(out.consumed, vec![1]);
        assert_eq!(out.counters.skipped_below_fetch_offset, 2);
        assert_eq!(out.next_offsets, vec![13]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_always_advance_report_or_wait() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let good = batch(0, 0, -1, &[(b"{\"id\":1}", &[("received-at", "x")])]);
        for i in 0..3000 {
            let mut bytes: Vec<u8> = if i % 2 == 0 {
                (0..(rnd() % 200)).map(|_| rnd() as u8).collect()
            } else {
                let mut g = good.clone();
                for _ in 0..(1 + rnd() % 3) {
                    let at = (rnd() as usize) % g.len();
                    g[at] ^= (rnd() as u8) | 1;
                }
                g.truncate(1 + (rnd() as usize) % g.len());
                g
            };
            if i % 7 == 0 {
                bytes.clear();
            }
            let out = run(&bytes, 0, vec![]);
            let moved = out.next_offsets[0] > 0 || out.counters.batch_reports > 0;
            let waiting = out.pending_batch_bytes[0] > 0 || bytes.len() < 12;
            assert!(
                moved || waiting || bytes.is_empty(),
                "no progress on {bytes:?}"
            );
        }
    }
}
