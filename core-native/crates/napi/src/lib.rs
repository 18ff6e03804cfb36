//! N-API binding (napi-rs v3) over `pep-core`. It only moves bytes: one call per batch, typed
//! arrays and Buffers in (borrowed, no copy), one Buffer per output kind plus typed-array indexes
//! out, so no JS object is built per event. Data errors are values (DLQ records); only caller
//! errors (mismatched array lengths, limits, bad clock) throw.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use pep_core::normalize::{self, RawMessage, RecordSet};
use pep_core::{features, AmountBounds, Source};
use std::collections::HashMap;

#[napi(object)]
pub struct NativeConfig {
    /// Per-currency upper bounds in minor units, overriding the defaults (at most 2^53−1).
    pub amount_max_minor: Option<HashMap<String, f64>>,
}

/// The result of a batch call, packed into four allocations (each JS-visible array costs an
/// external allocation and a finalizer, which dominates small calls). `index` layout:
/// `[nEvents, nDlq, eventsDataBytes, eventsKeyBytes]`, then for the events and then the DLQ
/// records, five runs of `n` values: offsets, lengths, key offsets, key lengths, source indexes.
/// `data` and `keys` hold the events' bytes first, then the DLQ records'; offsets are relative to
/// the start of their own part. `src/native.ts` turns this into `RecordSet` views without copying.
#[napi(object)]
pub struct NativeBatchResult {
    /// Per input message: 0 normalized, 1 DLQ, 2 mixed (multi-item Adyen).
    pub status: Uint8Array,
    pub data: Buffer,
    pub keys: Buffer,
    pub index: Uint32Array,
}

fn pack(status: Vec<u8>, mut ev: RecordSet, dl: RecordSet) -> NativeBatchResult {
    let mut index = Vec::with_capacity(4 + 5 * (ev.len() + dl.len()));
    index.extend_from_slice(&[
        ev.len() as u32,
        dl.len() as u32,
        ev.data.len() as u32,
        ev.keys.len() as u32,
    ]);
    for set in [&ev, &dl] {
        index.extend_from_slice(&set.offsets);
        index.extend_from_slice(&set.lengths);
        index.extend_from_slice(&set.key_offsets);
        index.extend_from_slice(&set.key_lengths);
        index.extend_from_slice(&set.source_index);
    }
    ev.data.extend_from_slice(&dl.data);
    ev.keys.extend_from_slice(&dl.keys);
    NativeBatchResult {
        status: status.into(),
        data: ev.data.into(),
        keys: ev.keys.into(),
        index: index.into(),
    }
}

fn invalid(msg: String) -> Error {
    Error::new(Status::InvalidArg, msg)
}

#[napi]
pub struct NativeCore {
    bounds: AmountBounds,
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
        Ok(NativeCore { bounds })
    }

    /// Normalizes a batch of raw messages. Message `i` is `data[offsets[i] .. offsets[i] + lengths[i]]`
    /// from provider `providers[i]` (0 stripe, 1 square, 2 adyen, 3 braintree), read from
    /// `topics[topicIndex[i]]` at `partitions[i]` / `kafkaOffsets[i]`, received by the edge at
    /// `receivedAtMs[i]`. `normalizedAtMs` stamps every output.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn normalize_batch(
        &self,
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
    ) -> Result<NativeBatchResult> {
        let n = offsets.len();
        for (name, len) in [
            ("lengths", lengths.len()),
            ("providers", providers.len()),
            ("topicIndex", topic_index.len()),
            ("partitions", partitions.len()),
            ("kafkaOffsets", kafka_offsets.len()),
            ("receivedAtMs", received_at_ms.len()),
        ] {
            if len != n {
                return Err(invalid(format!(
                    "{name} has {len} entries, offsets has {n}"
                )));
            }
        }
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
        let out = normalize::normalize_batch(&msgs, normalized_at_ms, &self.bounds)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(pack(out.status, out.events, out.dlq))
    }

    /// Feature rows for normalized events: row `i` uses event `i` and the customer / merchant
    /// feature records `i` (JSON objects; length 0 = missing). Returns `rows × featureCount` floats
    /// in the order of `featureSpec()`.
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
    ) -> Result<Float32Array> {
        let n = event_offsets.len();
        for (name, len) in [
            ("eventLengths", event_lengths.len()),
            ("customerOffsets", customer_offsets.len()),
            ("customerLengths", customer_lengths.len()),
            ("merchantOffsets", merchant_offsets.len()),
            ("merchantLengths", merchant_lengths.len()),
        ] {
            if len != n {
                return Err(invalid(format!(
                    "{name} has {len} entries, eventOffsets has {n}"
                )));
            }
        }
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
            });
        }
        let m = features::vectorize_batch(&rows).map_err(|e| invalid(e.to_string()))?;
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

/// Benchmark probe for the N-API crossing: takes the same arguments as `normalizeBatch` and
/// returns the same result shape with empty outputs, doing no per-message work.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn bench_crossing_probe(
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
) -> NativeBatchResult {
    let n = offsets.len();
    let keep = data.len() + lengths.len() + providers.len() + topics.len() + topic_index.len();
    let keep = keep
        + partitions.len()
        + kafka_offsets.len()
        + received_at_ms.len()
        + normalized_at_ms as usize;
    // Same output shape and sizes as a batch where every message yields one event.
    let per_event = RecordSet {
        offsets: vec![0; n.min(keep)],
        lengths: vec![0; n],
        key_offsets: vec![0; n],
        key_lengths: vec![0; n],
        source_index: vec![0; n],
        ..Default::default()
    };
    pack(vec![0u8; n], per_event, RecordSet::default())
}
