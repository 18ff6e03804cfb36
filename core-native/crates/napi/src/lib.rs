//! N-API binding (napi-rs v3) over `pep-core`. It only moves bytes: one call per batch, typed
//! arrays and Buffers in (borrowed, no copy), one Buffer per output kind plus typed-array indexes
//! out, so no JS object is built per event. Data errors are values (DLQ records); only caller
//! errors (mismatched array lengths, limits, bad clock) throw.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use pep_core::json::Bump;
use pep_core::normalize::{self, BatchOutput, RawMessage};
use pep_core::records::{self, AbortedTxn, FetchedSet, TransformOptions, TransformScratch};
use pep_core::{features, AmountBounds, Source};
use std::cell::RefCell;
use std::collections::HashMap;

#[napi(object)]
pub struct NativeConfig {
    /// Per-currency upper bounds in minor units, overriding the defaults (at most 2^53−1).
    pub amount_max_minor: Option<HashMap<String, f64>>,
}

/// Layout of the single Buffer a batch call returns (copied once into JS-owned memory from
/// scratch vectors the core reuses across calls: handing fresh Rust allocations over as external
/// buffers costs a mapping, page faults and a finalizer per buffer per call). Little-endian u32
/// header `[nMessages, nEvents, nDlq, eventsDataBytes, dlqDataBytes, eventsKeyBytes, dlqKeyBytes]`,
/// then for the events and then the DLQ records five runs of `n` u32 values (offsets, lengths,
/// key offsets, key lengths, source indexes), then `nMessages` status bytes (0 normalized, 1 DLQ,
/// 2 mixed), then the keys (events', then DLQ records'), then the record bytes (same order).
/// Offsets are relative to the start of their own part. `src/native.ts` turns this into
/// `RecordSet` views without copying.
pub const RESULT_HEADER_WORDS: usize = 7;

/// Reused output memory of one NativeCore.
#[derive(Default)]
struct Scratch {
    out: BatchOutput,
    arena: Bump,
    bytes: Vec<u8>,
}

fn pack(env: &Env, scratch: &mut Scratch) -> Result<Buffer> {
    let Scratch { out, bytes, .. } = scratch;
    let (ev, dl) = (&out.events, &out.dlq);
    bytes.clear();
    let header = [
        out.status.len(),
        ev.len(),
        dl.len(),
        ev.data.len(),
        dl.data.len(),
        ev.keys.len(),
        dl.keys.len(),
    ];
    for v in header {
        bytes.extend_from_slice(&(v as u32).to_le_bytes());
    }
    for set in [ev, dl] {
        for run in [
            &set.offsets,
            &set.lengths,
            &set.key_offsets,
            &set.key_lengths,
            &set.source_index,
        ] {
            for v in run.iter() {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    bytes.extend_from_slice(&out.status);
    bytes.extend_from_slice(&ev.keys);
    bytes.extend_from_slice(&dl.keys);
    bytes.extend_from_slice(&ev.data);
    bytes.extend_from_slice(&dl.data);
    BufferSlice::copy_from(env, &bytes[..])?.into_buffer(env)
}

/// Layout of the Buffer `transformRecordSets` returns (little-endian; `src/native.ts` reads it without copying):
/// u32 header `[nSets, nRecords, nNormalizedParts, nDlqParts, normalizedBytes, dlqBytes, records, normalized, dlq,
/// skippedControl, skippedAborted, skippedBelowFetchOffset, oversizeReplaced, batchReports, 0, 0]`, then i64
/// next offsets (nSets), f64 receivedAtMs (nRecords), u32 consumed (nSets), u32 pendingBatchBytes (nSets), then per
/// normalized and then per DLQ partition three u32 `[partition, count, byteLength]`, then the normalized
/// partitions' record bytes, then the DLQ partitions'.
pub const TRANSFORM_HEADER_WORDS: usize = 16;

/// Writes the result straight into one new JS Buffer (the only copy of the output records).
fn pack_transform(env: &Env, out: &records::TransformOutput) -> Result<Buffer> {
    let c = &out.counters;
    let norm_bytes: usize = out.normalized.iter().map(|p| p.data.len()).sum();
    let dlq_bytes: usize = out.dlq.iter().map(|p| p.data.len()).sum();
    let (n_sets, n_recs, n_parts) = (
        out.next_offsets.len(),
        out.received_at_ms.len(),
        out.normalized.len() + out.dlq.len(),
    );
    let header = [
        n_sets as u32,
        n_recs as u32,
        out.normalized.len() as u32,
        out.dlq.len() as u32,
        norm_bytes as u32,
        dlq_bytes as u32,
        c.records,
        c.normalized,
        c.dlq,
        c.skipped_control,
        c.skipped_aborted,
        c.skipped_below_fetch_offset,
        c.oversize_replaced,
        c.batch_reports,
        0,
        0,
    ];
    let len = 4 * TRANSFORM_HEADER_WORDS
        + 16 * n_sets
        + 8 * n_recs
        + 12 * n_parts
        + norm_bytes
        + dlq_bytes;
    let mut raw = std::ptr::null_mut();
    let mut data = std::ptr::null_mut();
    check_status!(
        unsafe { napi::sys::napi_create_buffer(env.raw(), len, &mut data, &mut raw) },
        "could not allocate the result Buffer"
    )?;
    // napi_get_buffer_info gives the pointer every runtime agrees on (see napi-rs's buffer_data_ptr).
    let mut info_len = 0usize;
    check_status!(unsafe {
        napi::sys::napi_get_buffer_info(env.raw(), raw, &mut data, &mut info_len)
    })?;
    if len > 0 && (data.is_null() || info_len != len) {
        return Err(Error::new(
            Status::GenericFailure,
            "the result Buffer has no usable memory".to_string(),
        ));
    }
    if len > 0 {
        let dst = unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) };
        let mut at = 0usize;
        let mut put = |b: &[u8]| {
            dst[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        };
        for v in header {
            put(&v.to_le_bytes());
        }
        for v in &out.next_offsets {
            put(&v.to_le_bytes());
        }
        for v in &out.received_at_ms {
            put(&v.to_le_bytes());
        }
        for v in out.consumed.iter().chain(&out.pending_batch_bytes) {
            put(&v.to_le_bytes());
        }
        for p in out.normalized.iter().chain(&out.dlq) {
            for v in [p.partition, p.count, p.data.len() as u32] {
                put(&v.to_le_bytes());
            }
        }
        for p in out.normalized.iter().chain(&out.dlq) {
            put(&p.data);
        }
    }
    unsafe { Buffer::from_napi_value(env.raw(), raw) }
}

/// CRC-32C (Castagnoli) of `data`, as an unsigned 32-bit number.
#[napi(js_name = "crc32c")]
pub fn crc32c(data: &[u8]) -> u32 {
    records::crc32c(data)
}

fn invalid(msg: String) -> Error {
    Error::new(Status::InvalidArg, msg)
}

/// Parallel arrays describe one message per index, so every one must be as long as the first.
fn same_lengths((base, n): (&str, usize), others: &[(&str, usize)]) -> Result<()> {
    match others.iter().find(|(_, len)| *len != n) {
        Some((name, len)) => Err(invalid(format!("{name} has {len} entries, {base} has {n}"))),
        None => Ok(()),
    }
}

#[napi]
pub struct NativeCore {
    bounds: AmountBounds,
    scratch: RefCell<Scratch>,
    transform: RefCell<TransformScratch>,
}

#[napi]
impl NativeCore {
    #[napi(constructor)]
    pub fn new(config: Option<NativeConfig>) -> Result<Self> {
        let mut overrides = Vec::new();
        if let Some(map) = config.and_then(|c| c.amount_max_minor) {
            for (code, max) in map {
                if !(max.is_finite() && max >= 0.0 && max.fract() == 0.0) {
                    return Err(invalid(format!(
                        "amountMaxMinor.{code} must be a non-negative integer"
                    )));
                }
                overrides.push((code, max as u64));
            }
        }
        overrides.sort();
        let bounds = AmountBounds::with_overrides(&overrides).map_err(invalid)?;
        Ok(NativeCore {
            bounds,
            scratch: RefCell::default(),
            transform: RefCell::default(),
        })
    }

    /// Normalizes a batch of raw messages. Message `i` is `data[offsets[i] .. offsets[i] + lengths[i]]`
    /// from provider `providers[i]` (0 stripe, 1 square, 2 adyen, 3 braintree), read from
    /// `topics[topicIndex[i]]` at `partitions[i]` / `kafkaOffsets[i]`, received by the edge at
    /// `receivedAtMs[i]`. `normalizedAtMs` stamps every output.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn normalize_batch(
        &self,
        env: Env,
        data: &[u8],
        offsets: &[u32],
        lengths: &[u32],
        providers: &[u8],
        topics: Vec<String>,
        topic_index: &[u16],
        partitions: &[i32],
        kafka_offsets: &[f64],
        received_at_ms: &[f64],
        normalized_at_ms: f64,
    ) -> Result<Buffer> {
        let n = offsets.len();
        same_lengths(
            ("offsets", n),
            &[
                ("lengths", lengths.len()),
                ("providers", providers.len()),
                ("topicIndex", topic_index.len()),
                ("partitions", partitions.len()),
                ("kafkaOffsets", kafka_offsets.len()),
                ("receivedAtMs", received_at_ms.len()),
            ],
        )?;
        let mut msgs = Vec::with_capacity(n);
        for i in 0..n {
            let start = offsets[i] as usize;
            let end = start + lengths[i] as usize;
            let bytes = data
                .get(start..end)
                .ok_or_else(|| invalid(format!("message {i} is outside data")))?;
            let topic = topics
                .get(topic_index[i] as usize)
                .ok_or_else(|| invalid(format!("message {i}: topicIndex out of range")))?;
            let off = kafka_offsets[i];
            if !(off.is_finite()
                && off >= 0.0
                && off.fract() == 0.0
                && off <= 9_007_199_254_740_991.0)
            {
                return Err(invalid(format!(
                    "message {i}: kafkaOffsets must be a non-negative safe integer"
                )));
            }
            msgs.push(RawMessage {
                provider: providers[i],
                bytes,
                source: Source {
                    topic,
                    partition: partitions[i],
                    offset: off as i64,
                    received_at_ms: normalize::ms_from_f64(received_at_ms[i]).unwrap_or(i64::MIN),
                },
            });
        }
        let mut scratch = self
            .scratch
            .try_borrow_mut()
            .map_err(|_| invalid("normalizeBatch is not reentrant".into()))?;
        let Scratch { out, arena, .. } = &mut *scratch;
        normalize::normalize_batch_into(&msgs, normalized_at_ms, &self.bounds, out, arena)
            .map_err(|e| invalid(e.to_string()))?;
        pack(&env, &mut scratch)
    }

    /// Decodes, normalizes and encodes one fetch (README "transformRecordSets"). Set `i` is `records[i]` from
    /// `topics[i]` / `partitions[i]` (provider `providers[i]`), fetched at `fetchOffsets[i]`, with
    /// `abortedCounts[i]` aborted transactions taken in order from `aborted` (16 bytes each, little-endian i64
    /// producer id then i64 first offset). The result is one Buffer, layout in `TRANSFORM_HEADER_WORDS`'s doc.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn transform_record_sets(
        &self,
        env: Env,
        topics: Vec<String>,
        providers: &[u8],
        partitions: &[i32],
        fetch_offsets: &[f64],
        records: Vec<Uint8Array>,
        aborted_counts: &[u32],
        aborted: &[u8],
        normalized_at_ms: f64,
        normalized_partitions: u32,
        dlq_partitions: u32,
        max_record_bytes: u32,
        max_records: u32,
    ) -> Result<Buffer> {
        let n = topics.len();
        same_lengths(
            ("topics", n),
            &[
                ("providers", providers.len()),
                ("partitions", partitions.len()),
                ("fetchOffsets", fetch_offsets.len()),
                ("records", records.len()),
                ("abortedCounts", aborted_counts.len()),
            ],
        )?;
        let total_aborted: usize = aborted_counts.iter().map(|c| *c as usize).sum();
        if aborted.len() != total_aborted * 16 {
            return Err(invalid(format!(
                "aborted has {} bytes, abortedCounts needs {}",
                aborted.len(),
                total_aborted * 16
            )));
        }
        let mut sets = Vec::with_capacity(n);
        let mut at = 0usize;
        for i in 0..n {
            let fo = fetch_offsets[i];
            if !(fo.is_finite() && fo >= 0.0 && fo.fract() == 0.0 && fo <= 9_007_199_254_740_991.0)
            {
                return Err(invalid(format!(
                    "sets[{i}].fetchOffset must be a bigint in 0..2^53-1"
                )));
            }
            let mut txns = Vec::with_capacity(aborted_counts[i] as usize);
            for _ in 0..aborted_counts[i] {
                let e = &aborted[at..at + 16];
                txns.push(AbortedTxn {
                    producer_id: i64::from_le_bytes(e[..8].try_into().unwrap()),
                    first_offset: i64::from_le_bytes(e[8..].try_into().unwrap()),
                });
                at += 16;
            }
            sets.push(FetchedSet {
                topic: &topics[i],
                provider: providers[i],
                partition: partitions[i],
                records: &records[i],
                aborted: txns,
                fetch_offset: fo as i64,
            });
        }
        let opts = TransformOptions {
            normalized_at_ms,
            normalized_partitions,
            dlq_partitions,
            max_record_bytes,
            max_records,
        };
        let mut scratch = self
            .transform
            .try_borrow_mut()
            .map_err(|_| invalid("transformRecordSets is not reentrant".into()))?;
        // Unreachable by design (fuzzed in the core's tests); if the record code ever panics, the caller gets an
        // error for this call (and fetches again) instead of the process aborting.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            records::transform_record_sets(&sets, &opts, &self.bounds, &mut scratch)
        }));
        let out = match result {
            Ok(r) => r.map_err(|e| invalid(e.to_string()))?,
            Err(_) => {
                *scratch = TransformScratch::default();
                return Err(Error::new(
                    Status::GenericFailure,
                    "transformRecordSets failed internally (a bug); the call had no effect"
                        .to_string(),
                ));
            }
        };
        let buf = pack_transform(&env, &out);
        records::recycle(&mut scratch, out);
        buf
    }

    /// Feature rows for normalized events: row `i` uses event `i` and the customer / merchant /
    /// payment-method feature records `i` (JSON objects; length 0 = missing). Returns
    /// `rows × featureCount` floats in the order of `featureSpec()`.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn vectorize_batch(
        &self,
        events: &[u8],
        event_offsets: &[u32],
        event_lengths: &[u32],
        customers: &[u8],
        customer_offsets: &[u32],
        customer_lengths: &[u32],
        merchants: &[u8],
        merchant_offsets: &[u32],
        merchant_lengths: &[u32],
        payment_methods: &[u8],
        payment_method_offsets: &[u32],
        payment_method_lengths: &[u32],
    ) -> Result<Float32Array> {
        let n = event_offsets.len();
        same_lengths(
            ("eventOffsets", n),
            &[
                ("eventLengths", event_lengths.len()),
                ("customerOffsets", customer_offsets.len()),
                ("customerLengths", customer_lengths.len()),
                ("merchantOffsets", merchant_offsets.len()),
                ("merchantLengths", merchant_lengths.len()),
                ("paymentMethodOffsets", payment_method_offsets.len()),
                ("paymentMethodLengths", payment_method_lengths.len()),
            ],
        )?;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            rows.push(features::Row {
                event: slice(events, event_offsets[i], event_lengths[i], "event", i)?
                    .unwrap_or(b""),
                customer: slice(
                    customers,
                    customer_offsets[i],
                    customer_lengths[i],
                    "customer",
                    i,
                )?,
                merchant: slice(
                    merchants,
                    merchant_offsets[i],
                    merchant_lengths[i],
                    "merchant",
                    i,
                )?,
                payment_method: slice(
                    payment_methods,
                    payment_method_offsets[i],
                    payment_method_lengths[i],
                    "payment_method",
                    i,
                )?,
            });
        }
        let m = features::vectorize_batch(&rows).map_err(|e| invalid(e.to_string()))?;
        Ok(m.into())
    }

    /// `vectorizeBatch` with the records as numbers: `values` is `rows × featureCount` (row `i`, column `k`: the
    /// value of feature `k`'s record field in row `i`'s record, NaN = absent; event and record-present columns are
    /// not read), `present` is `rows × 3` (customer, merchant, payment method; 0 = no record). The same rows, bit
    /// for bit, as `vectorizeBatch` with those records as JSON objects (JSON.stringify: a non-finite value is null).
    #[napi]
    pub fn vectorize_values(
        &self,
        events: &[u8],
        event_offsets: &[u32],
        event_lengths: &[u32],
        values: &[f64],
        present: &[u8],
    ) -> Result<Float32Array> {
        let n = event_offsets.len();
        same_lengths(
            ("eventOffsets", n),
            &[("eventLengths", event_lengths.len())],
        )?;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            rows.push(
                slice(events, event_offsets[i], event_lengths[i], "event", i)?.unwrap_or(b""),
            );
        }
        let m = features::vectorize_values(&rows, &features::RecordValues { values, present })
            .map_err(|e| invalid(e.to_string()))?;
        Ok(m.into())
    }
}

fn slice<'a>(data: &'a [u8], o: u32, l: u32, what: &str, i: usize) -> Result<Option<&'a [u8]>> {
    if l == 0 {
        return Ok(None);
    }
    data.get(o as usize..o as usize + l as usize)
        .map(Some)
        .ok_or_else(|| invalid(format!("row {i}: {what} is outside its buffer")))
}

/// The versioned feature specification as canonical JSON (identical to the twin's).
#[napi]
pub fn feature_spec_json() -> String {
    features::spec_json()
}

/// Limits enforced by the batch call (so the TypeScript side can split batches ahead of time).
#[napi(object)]
pub struct NativeLimits {
    pub max_batch_messages: u32,
    pub max_batch_bytes: u32,
    pub max_message_bytes: u32,
}

#[napi]
pub fn limits() -> NativeLimits {
    NativeLimits {
        max_batch_messages: normalize::MAX_BATCH_MESSAGES as u32,
        max_batch_bytes: normalize::MAX_BATCH_BYTES as u32,
        max_message_bytes: normalize::MAX_MESSAGE_BYTES as u32,
    }
}

/// Benchmark ceiling: parses each message into the same JSON tree the normalizer reads (no
/// validation, no output) and returns how many parsed. Not for production use.
#[napi]
pub fn bench_parse_only(data: &[u8], offsets: &[u32], lengths: &[u32]) -> u32 {
    let mut ok = 0;
    let mut arena = pep_core::json::Bump::new();
    for (o, l) in offsets.iter().zip(lengths) {
        arena.reset();
        let end = (*o as usize).saturating_add(*l as usize);
        if let Some(bytes) = data.get(*o as usize..end) {
            if pep_core::json::parse_bytes(bytes, &arena).is_ok() {
                ok += 1;
            }
        }
    }
    ok
}

thread_local! {
    static PROBE: RefCell<Scratch> = RefCell::default();
}

/// Benchmark probe for the N-API crossing: takes the same arguments as `normalizeBatch` and
/// returns the same result shape as a batch where every message yields one event, doing no
/// per-message work. Without `outputBytes` the event and key bytes are empty (the crossing
/// proper: marshalling arguments, building the result); with it they are 640 and 40 bytes per
/// event and copied to JS like real output (the cost of materializing output in JS memory,
/// which the TypeScript twin pays too).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn bench_crossing_probe(
    env: Env,
    data: &[u8],
    offsets: &[u32],
    lengths: &[u32],
    providers: &[u8],
    topics: Vec<String>,
    topic_index: &[u16],
    partitions: &[i32],
    kafka_offsets: &[f64],
    received_at_ms: &[f64],
    normalized_at_ms: f64,
    output_bytes: bool,
) -> Result<Buffer> {
    let n = offsets.len();
    let touched = data.len() + lengths.len() + providers.len() + topics.len() + topic_index.len();
    let touched = touched + partitions.len() + kafka_offsets.len() + received_at_ms.len();
    PROBE.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let set = &mut scratch.out.events;
        let per_event = if output_bytes { 640 } else { 0 };
        set.data
            .resize(n * per_event, (touched as f64 + normalized_at_ms) as u8);
        set.keys.resize(n * per_event / 16, b'k');
        for v in [
            &mut set.offsets,
            &mut set.lengths,
            &mut set.key_offsets,
            &mut set.key_lengths,
            &mut set.source_index,
        ] {
            v.resize(n, 0);
        }
        scratch.out.status.resize(n, 0);
        pack(&env, &mut scratch)
    })
}
