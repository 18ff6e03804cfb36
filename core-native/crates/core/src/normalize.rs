//! Per-message dispatch and the batch API: raw provider messages in, canonical event bytes and
//! DLQ record bytes out, each message ending in exactly one place per item (CONTRACT 7.2).
//! No input can panic: every failure is a value, and the batch loop also catches panics as a
//! last line of defence so one bad message can never take the consumer down.

use crate::codec;
use crate::currency::AmountBounds;
use crate::json::{self, Bump};
use crate::model::{code, DlqRecord, Event, Provider, Source};
use crate::providers::{self, Outcome};
use crate::redact;
use crate::rules::Errs;
use crate::xml;
use std::borrow::Cow;

/// Largest raw message accepted (the edge limits bodies to 512 KiB by default).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Most messages in one batch call.
pub const MAX_BATCH_MESSAGES: usize = 10_000;
/// Most raw bytes in one batch call.
pub const MAX_BATCH_BYTES: usize = 64 << 20;
/// Most bytes of event records, and of DLQ records, one batch call returns (offsets are u32).
pub const MAX_OUTPUT_BYTES: usize = 1 << 30;

/// Receives the outputs of one message, in order.
pub trait Sink {
    fn event(&mut self, ev: &Event);
    fn dlq(&mut self, rec: &DlqRecord);
}

fn one_error(field: &str, c: &'static str, msg: &str) -> Errs {
    let mut e = Errs::default();
    e.push(field, c, msg);
    e
}

/// The whole message is rejected for one reason, before any event id is known.
fn reject_whole(
    sink: &mut dyn Sink,
    provider: Option<Provider>,
    field: &str,
    c: &'static str,
    msg: &str,
) {
    dlq_of(sink, provider, None, None, one_error(field, c, msg));
}

fn dlq_of(
    sink: &mut dyn Sink,
    provider: Option<Provider>,
    id: Option<Cow<str>>,
    item: Option<u32>,
    e: Errs,
) {
    // The raw id is the DLQ record's key and part of its event_id: a card number in it is masked.
    let id = id.map(|id| match redact::mask_cards(&id) {
        Cow::Borrowed(_) => id,
        Cow::Owned(m) => Cow::Owned(m),
    });
    sink.dlq(&DlqRecord {
        provider,
        provider_event_id: id,
        item_index: item,
        errors: e.list,
    });
}

/// The first identifier of the event that holds a card number (`redact::has_card_number`).
fn card_number_id(ev: &Event) -> Option<&'static str> {
    if redact::has_card_number(&ev.provider_event_id) {
        return Some("provider_event_id");
    }
    [
        ("object_id", &ev.object_id),
        ("merchant_id", &ev.merchant_id),
        ("customer_id", &ev.customer_id),
    ]
    .into_iter()
    .find(|(_, v)| v.as_deref().is_some_and(redact::has_card_number))
    .map(|(f, _)| f)
}

fn emit(sink: &mut dyn Sink, provider: Provider, item: Option<u32>, o: Outcome) {
    match o {
        // Free text is masked when the event is written; an identifier cannot be (events would merge),
        // so an event whose id holds a card number is refused (issue 13: card numbers are never stored).
        Ok(ev) => match card_number_id(&ev) {
            None => sink.event(&ev),
            Some(field) => dlq_of(
                sink,
                Some(provider),
                Some(ev.provider_event_id.clone()),
                item,
                one_error(
                    field,
                    code::CARD_NUMBER_IN_ID,
                    "holds a card number (13 to 19 digits with a card brand's leading digits and length, passing the Luhn check); card numbers are never stored",
                ),
            ),
        },
        Err(r) => dlq_of(sink, Some(provider), r.provider_event_id, item, r.errors),
    }
}

const INVALID_JSON_MESSAGE: &str =
    "payload is not valid JSON (RFC 8259, UTF-8, at most 64 levels deep)";

/// Normalizes one raw message (which yields several outputs only for multi-item Adyen messages).
/// `arena` is reset and reused for the message's JSON tree.
pub fn normalize_message(
    provider: Option<Provider>,
    raw: &[u8],
    bounds: &AmountBounds,
    sink: &mut dyn Sink,
    arena: &mut Bump,
) {
    arena.reset();
    let arena = &*arena;
    let Some(p) = provider else {
        return dlq_of(
            sink,
            None,
            None,
            None,
            one_error("provider", code::UNKNOWN_PROVIDER, "unknown provider code"),
        );
    };
    if raw.len() > MAX_MESSAGE_BYTES {
        let msg = format!("message exceeds {MAX_MESSAGE_BYTES} bytes");
        return dlq_of(
            sink,
            Some(p),
            None,
            None,
            one_error("payload", code::PAYLOAD_TOO_LARGE, &msg),
        );
    }
    if p == Provider::Braintree {
        return braintree_message(raw, bounds, sink);
    }
    let root = match json::parse_bytes(raw, arena) {
        Ok(v) => v,
        Err(_) => {
            return dlq_of(
                sink,
                Some(p),
                None,
                None,
                one_error("payload", code::INVALID_JSON, INVALID_JSON_MESSAGE),
            )
        }
    };
    match p {
        Provider::Stripe => emit(sink, p, None, providers::stripe(&root, bounds)),
        Provider::Square => emit(sink, p, None, providers::square(&root, bounds)),
        Provider::Adyen => match providers::adyen_items(&root) {
            Err(e) => dlq_of(sink, Some(p), None, None, e),
            Ok((items, live)) => {
                let multi = root.get("notificationItems").is_some();
                for (i, item) in items.into_iter().enumerate() {
                    let idx = if multi { Some(i as u32) } else { None };
                    emit(sink, p, idx, providers::adyen_item(item, live, bounds));
                }
            }
        },
        Provider::Braintree => unreachable!("handled above"),
    }
}

/// Braintree messages are the edge's raw form body (`bt_signature=…&bt_payload=<base64 XML>`),
/// read with the same parser the edge verified it with ([`codec::braintree_form`]): a Braintree
/// webhook is a form, never JSON, and its payload is a `<notification>` XML document.
fn braintree_message(raw: &[u8], bounds: &AmountBounds, sink: &mut dyn Sink) {
    let p = Some(Provider::Braintree);
    let form = match codec::braintree_form(raw) {
        Ok(f) => f,
        Err(e) => return reject_whole(sink, p, e.field(), code::INVALID_PAYLOAD, e.message()),
    };
    let Some(decoded) = codec::base64_decode(&form.payload) else {
        return reject_whole(
            sink,
            p,
            "bt_payload",
            code::INVALID_PAYLOAD,
            "bt_payload is not base64",
        );
    };
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return reject_whole(
            sink,
            p,
            "bt_payload",
            code::INVALID_PAYLOAD,
            "bt_payload is not UTF-8",
        );
    };
    let note = xml::parse(text)
        .ok()
        .and_then(|root| providers::bt_from_xml(&root));
    match note {
        Some(n) => emit(
            sink,
            Provider::Braintree,
            None,
            providers::braintree(&n, bounds, Errs::default()),
        ),
        None => {
            let msg = "bt_payload is not a <notification> XML document";
            reject_whole(sink, p, "bt_payload", code::INVALID_PAYLOAD, msg)
        }
    }
}

/// One set of output records (events or DLQ records): concatenated bytes, where each record and
/// its Kafka key start, and which input message produced it.
#[derive(Default, Debug, Clone)]
pub struct RecordSet {
    pub data: Vec<u8>,
    pub offsets: Vec<u32>,
    pub lengths: Vec<u32>,
    pub keys: Vec<u8>,
    pub key_offsets: Vec<u32>,
    /// 0 means "no key" (a DLQ record whose raw id is unknown); ids are never empty.
    pub key_lengths: Vec<u32>,
    pub source_index: Vec<u32>,
}

impl RecordSet {
    fn begin(&mut self) -> usize {
        self.data.len()
    }
    fn end(&mut self, start: usize, key: Option<&[u8]>, src: u32) {
        self.offsets.push(start as u32);
        self.lengths.push((self.data.len() - start) as u32);
        self.key_offsets.push(self.keys.len() as u32);
        let k = key.unwrap_or(b"");
        self.keys.extend_from_slice(k);
        self.key_lengths.push(k.len() as u32);
        self.source_index.push(src);
    }
    /// Like `end`, for a key already appended to `keys` from `key_start`.
    fn end_with_key(&mut self, start: usize, key_start: usize, src: u32) {
        self.offsets.push(start as u32);
        self.lengths.push((self.data.len() - start) as u32);
        self.key_offsets.push(key_start as u32);
        self.key_lengths.push((self.keys.len() - key_start) as u32);
        self.source_index.push(src);
    }
    pub fn len(&self) -> usize {
        self.offsets.len()
    }
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
    /// Record `i` as bytes.
    pub fn record(&self, i: usize) -> &[u8] {
        let o = self.offsets[i] as usize;
        &self.data[o..o + self.lengths[i] as usize]
    }
    pub fn key(&self, i: usize) -> &[u8] {
        let o = self.key_offsets[i] as usize;
        &self.keys[o..o + self.key_lengths[i] as usize]
    }
}

/// Per input message: all outputs normalized, all in the DLQ, or (multi-item Adyen) some of each.
pub const STATUS_NORMALIZED: u8 = 0;
pub const STATUS_DLQ: u8 = 1;
pub const STATUS_MIXED: u8 = 2;

#[derive(Default, Debug, Clone)]
pub struct BatchOutput {
    pub status: Vec<u8>,
    pub events: RecordSet,
    pub dlq: RecordSet,
}

/// One raw message and its coordinates, as handed to [`normalize_batch`].
pub struct RawMessage<'a> {
    pub provider: u8,
    pub bytes: &'a [u8],
    pub source: Source<'a>,
}

struct BatchSink<'o, 'a> {
    out: &'o mut BatchOutput,
    index: u32,
    raw: &'a [u8],
    src: Source<'a>,
    normalized_at_ms: i64,
    events: u32,
    dlqs: u32,
}

impl Sink for BatchSink<'_, '_> {
    fn event(&mut self, ev: &Event) {
        let set = &mut self.out.events;
        let start = set.begin();
        ev.write_json(
            &mut set.data,
            self.src.received_at_ms,
            self.normalized_at_ms,
        );
        let key_start = set.keys.len();
        ev.push_event_id(&mut set.keys);
        set.end_with_key(start, key_start, self.index);
        self.events += 1;
    }
    fn dlq(&mut self, rec: &DlqRecord) {
        let set = &mut self.out.dlq;
        let start = set.begin();
        rec.write_json(&mut set.data, self.raw, &self.src, self.normalized_at_ms);
        set.end(start, rec.key().map(str::as_bytes), self.index);
        self.dlqs += 1;
    }
}

/// Why a whole batch call is refused (caller errors, not data errors).
#[derive(Debug, PartialEq, Eq)]
pub enum BatchError {
    TooManyMessages(usize),
    TooManyBytes(usize),
    InvalidNormalizedAt,
    /// The outputs would pass [`MAX_OUTPUT_BYTES`] (DLQ records embed the raw message, once per
    /// failed Adyen item): split the batch.
    OutputTooLarge,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::TooManyMessages(n) => write!(
                f,
                "batch has {n} messages; the maximum is {MAX_BATCH_MESSAGES}"
            ),
            BatchError::TooManyBytes(n) => {
                write!(f, "batch has {n} bytes; the maximum is {MAX_BATCH_BYTES}")
            }
            BatchError::OutputTooLarge => {
                write!(
                    f,
                    "batch output exceeds {MAX_OUTPUT_BYTES} bytes; split the batch"
                )
            }
            BatchError::InvalidNormalizedAt => write!(
                f,
                "normalizedAtMs must be an integer Unix time in milliseconds"
            ),
        }
    }
}

/// Checks a millisecond timestamp coming from JS (a double) and converts it.
pub fn ms_from_f64(v: f64) -> Option<i64> {
    if v.is_finite()
        && v.fract() == 0.0
        && v >= crate::time::MIN_MS as f64
        && v <= crate::time::MAX_MS as f64
    {
        Some(v as i64)
    } else {
        None
    }
}

/// Normalizes a batch. `normalized_at_ms` stamps every event and DLQ record (injected so that
/// outputs are deterministic). Output records keep input order.
pub fn normalize_batch(
    msgs: &[RawMessage],
    normalized_at_ms: f64,
    bounds: &AmountBounds,
) -> Result<BatchOutput, BatchError> {
    let mut out = BatchOutput::default();
    let mut arena = Bump::new();
    normalize_batch_into(msgs, normalized_at_ms, bounds, &mut out, &mut arena)?;
    Ok(out)
}

impl RecordSet {
    fn clear(&mut self) {
        self.data.clear();
        self.offsets.clear();
        self.lengths.clear();
        self.keys.clear();
        self.key_offsets.clear();
        self.key_lengths.clear();
        self.source_index.clear();
    }
}

/// Like [`normalize_batch`], into `out` (cleared first) and with a caller-owned arena, so that a
/// long-lived caller reuses the same memory call after call.
pub fn normalize_batch_into(
    msgs: &[RawMessage],
    normalized_at_ms: f64,
    bounds: &AmountBounds,
    out: &mut BatchOutput,
    arena: &mut Bump,
) -> Result<(), BatchError> {
    out.status.clear();
    out.events.clear();
    out.dlq.clear();
    if msgs.len() > MAX_BATCH_MESSAGES {
        return Err(BatchError::TooManyMessages(msgs.len()));
    }
    let total: usize = msgs.iter().map(|m| m.bytes.len()).sum();
    if total > MAX_BATCH_BYTES {
        return Err(BatchError::TooManyBytes(total));
    }
    let normalized_at_ms = ms_from_f64(normalized_at_ms).ok_or(BatchError::InvalidNormalizedAt)?;
    out.status.reserve(msgs.len());
    out.events.data.reserve(msgs.len() * 768);
    for (i, m) in msgs.iter().enumerate() {
        let (events_before, dlq_before) = (out.events.len(), out.dlq.len());
        let data_before = (
            out.events.data.len(),
            out.events.keys.len(),
            out.dlq.data.len(),
            out.dlq.keys.len(),
        );
        let mut sink = BatchSink {
            out: &mut *out,
            index: i as u32,
            raw: m.bytes,
            src: m.source,
            normalized_at_ms,
            events: 0,
            dlqs: 0,
        };
        let provider = Provider::from_code(m.provider);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if m.source.received_at_ms == i64::MIN {
                let e = one_error(
                    "received_at",
                    code::INVALID_RECEIVED_AT,
                    "receivedAtMs must be an integer Unix time in milliseconds",
                );
                dlq_of(&mut sink, provider, None, None, e);
            } else {
                normalize_message(provider, m.bytes, bounds, &mut sink, arena);
            }
            (sink.events, sink.dlqs)
        }));
        let (ev, dl) = match result {
            Ok(counts) => counts,
            Err(_) => {
                // Unreachable by design (fuzzed); if it ever happens, drop partial output of this
                // message and send the whole message to the DLQ instead of crashing the consumer.
                truncate(&mut out.events, events_before, data_before.0, data_before.1);
                truncate(&mut out.dlq, dlq_before, data_before.2, data_before.3);
                let mut sink = BatchSink {
                    out: &mut *out,
                    index: i as u32,
                    raw: m.bytes,
                    src: m.source,
                    normalized_at_ms,
                    events: 0,
                    dlqs: 0,
                };
                let e = one_error(
                    "payload",
                    "INTERNAL_ERROR",
                    "the normalizer failed on this message",
                );
                dlq_of(&mut sink, provider, None, None, e);
                (0, 1)
            }
        };
        if out.events.data.len() > MAX_OUTPUT_BYTES || out.dlq.data.len() > MAX_OUTPUT_BYTES {
            return Err(BatchError::OutputTooLarge);
        }
        out.status.push(match (ev, dl) {
            (_, 0) => STATUS_NORMALIZED,
            (0, _) => STATUS_DLQ,
            _ => STATUS_MIXED,
        });
    }
    Ok(())
}

fn truncate(set: &mut RecordSet, n: usize, data_len: usize, keys_len: usize) {
    set.offsets.truncate(n);
    set.lengths.truncate(n);
    set.key_offsets.truncate(n);
    set.key_lengths.truncate(n);
    set.source_index.truncate(n);
    set.data.truncate(data_len);
    set.keys.truncate(keys_len);
}

/// Single-message helper for tests and tools: returns (events, DLQ records) as JSON strings.
pub fn normalize_one(
    provider: u8,
    raw: &[u8],
    source: Source,
    normalized_at_ms: f64,
    bounds: &AmountBounds,
) -> Result<(Vec<String>, Vec<String>), BatchError> {
    let out = normalize_batch(
        &[RawMessage {
            provider,
            bytes: raw,
            source,
        }],
        normalized_at_ms,
        bounds,
    )?;
    let strings = |s: &RecordSet| {
        (0..s.len())
            .map(|i| String::from_utf8_lossy(s.record(i)).into_owned())
            .collect()
    };
    Ok((strings(&out.events), strings(&out.dlq)))
}
