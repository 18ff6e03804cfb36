//! The unified event (CONTRACT section 6), the validation DLQ record (CONTRACT section 5) and the
//! error codes, with their canonical serialization. `src/model.ts` writes the same bytes.

use crate::canon::{key, write_int, write_iso_ms, write_opt_str, write_str};
use std::borrow::Cow;

/// Unified event schema version written in every event and DLQ record.
pub const SCHEMA_VERSION: i64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Stripe = 0,
    Square = 1,
    Adyen = 2,
    Braintree = 3,
}

impl Provider {
    pub fn from_code(c: u8) -> Option<Provider> {
        Some(match c {
            0 => Provider::Stripe,
            1 => Provider::Square,
            2 => Provider::Adyen,
            3 => Provider::Braintree,
            _ => return None,
        })
    }
    pub fn from_name(s: &str) -> Option<Provider> {
        Some(match s {
            "stripe" => Provider::Stripe,
            "square" => Provider::Square,
            "adyen" => Provider::Adyen,
            "braintree" => Provider::Braintree,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Square => "square",
            Provider::Adyen => "adyen",
            Provider::Braintree => "braintree",
        }
    }
}

/// Validation error codes: the original's list (reference 2.8) plus the ones this port needs.
pub mod code {
    pub const INVALID_JSON: &str = "INVALID_JSON";
    pub const MISSING_EVENT_ID: &str = "MISSING_EVENT_ID";
    pub const MISSING_EVENT_TYPE: &str = "MISSING_EVENT_TYPE";
    pub const MISSING_DATA_OBJECT: &str = "MISSING_DATA_OBJECT";
    pub const MISSING_DATA: &str = "MISSING_DATA";
    pub const MISSING_PAYMENT: &str = "MISSING_PAYMENT";
    pub const MISSING_REFUND: &str = "MISSING_REFUND";
    pub const UNKNOWN_OBJECT_TYPE: &str = "UNKNOWN_OBJECT_TYPE";
    pub const MISSING_OBJECT_ID: &str = "MISSING_OBJECT_ID";
    pub const INVALID_AMOUNT: &str = "INVALID_AMOUNT";
    pub const INVALID_AMOUNT_NEGATIVE: &str = "INVALID_AMOUNT_NEGATIVE";
    pub const INVALID_AMOUNT_TOO_LARGE: &str = "INVALID_AMOUNT_TOO_LARGE";
    pub const INVALID_CURRENCY: &str = "INVALID_CURRENCY";
    pub const MISSING_PSP_REFERENCE: &str = "MISSING_PSP_REFERENCE";
    pub const MISSING_EVENT_CODE: &str = "MISSING_EVENT_CODE";
    pub const MISSING_MERCHANT_ACCOUNT: &str = "MISSING_MERCHANT_ACCOUNT";
    pub const MISSING_KIND: &str = "MISSING_KIND";
    pub const MISSING_TRANSACTION_ID: &str = "MISSING_TRANSACTION_ID";
    // New in this port.
    /// More fraction digits than the currency's exponent allows (never truncated).
    pub const INVALID_AMOUNT_PRECISION: &str = "INVALID_AMOUNT_PRECISION";
    /// A timestamp that does not parse or is out of range (the original silently used "now").
    pub const INVALID_TIMESTAMP: &str = "INVALID_TIMESTAMP";
    pub const MISSING_TIMESTAMP: &str = "MISSING_TIMESTAMP";
    /// A field present with the wrong JSON type.
    pub const INVALID_FIELD_TYPE: &str = "INVALID_FIELD_TYPE";
    /// A field with a value outside its vocabulary or character set (ids, tokens, flags).
    pub const INVALID_FIELD_VALUE: &str = "INVALID_FIELD_VALUE";
    pub const FIELD_TOO_LONG: &str = "FIELD_TOO_LONG";
    pub const INVALID_METADATA: &str = "INVALID_METADATA";
    pub const INVALID_CARD_LAST_FOUR: &str = "INVALID_CARD_LAST_FOUR";
    /// The message is not the provider's envelope at all (not an object, no form payload, bad base64, bad XML).
    pub const INVALID_PAYLOAD: &str = "INVALID_PAYLOAD";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const TOO_MANY_ITEMS: &str = "TOO_MANY_ITEMS";
    pub const UNKNOWN_PROVIDER: &str = "UNKNOWN_PROVIDER";
    pub const INVALID_RECEIVED_AT: &str = "INVALID_RECEIVED_AT";
    /// An identifier holds a card number (issue 13: card numbers are never stored).
    pub const CARD_NUMBER_IN_ID: &str = "CARD_NUMBER_IN_ID";
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// A metadata value: the unified schema keeps metadata flat and JSON-number free, so that both
/// implementations serialize it identically.
#[derive(Clone, Debug, PartialEq)]
pub enum Meta<'a> {
    Null,
    Bool(bool),
    Str(Cow<'a, str>),
    List(Vec<Cow<'a, str>>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    pub provider: Provider,
    pub provider_event_id: Cow<'a, str>,
    pub object_id: Option<Cow<'a, str>>,
    /// One of `vocabulary::EVENT_TYPES`.
    pub event_type: Cow<'a, str>,
    /// The provider's own type (Stripe/Square `type`, Adyen `eventCode`, Braintree `kind`), as sent.
    pub provider_event_type: Cow<'a, str>,
    pub merchant_id: Option<Cow<'a, str>>,
    pub customer_id: Option<Cow<'a, str>>,
    pub amount_minor: u64,
    pub currency: &'static str,
    pub payment_method_type: Option<Cow<'a, str>>,
    pub card_brand: Option<Cow<'a, str>>,
    pub card_last_four: Option<Cow<'a, str>>,
    pub status: Cow<'a, str>,
    pub failure_code: Option<Cow<'a, str>>,
    pub failure_message: Option<Cow<'a, str>>,
    /// Sorted by key (code point order), unique keys.
    pub metadata: Vec<(Cow<'a, str>, Meta<'a>)>,
    pub provider_created_at_ms: i64,
}

/// Writes a free-text value of an event (every string but the ids, the provider, the currency and
/// the timestamps) as `redact::clean_text` leaves it.
fn write_text(out: &mut Vec<u8>, s: &str) {
    write_str(out, &crate::redact::clean_text(s));
}

fn write_opt_text(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_text(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

impl Event<'_> {
    /// The Kafka key and dedup key: `<provider>:<provider_event_id>`.
    pub fn push_event_id(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.provider.name().as_bytes());
        out.push(b':');
        out.extend_from_slice(self.provider_event_id.as_bytes());
    }

    /// Canonical JSON in CONTRACT section 6 field order.
    pub fn write_json(&self, out: &mut Vec<u8>, received_at_ms: i64, normalized_at_ms: i64) {
        out.push(b'{');
        key(out, "event_id", true);
        out.push(b'"');
        out.extend_from_slice(self.provider.name().as_bytes());
        out.push(b':');
        // The id charset (printable ASCII without quote or backslash) needs no escaping, but go
        // through the escaper anyway so a future charset change cannot produce invalid JSON.
        crate::canon::write_str_body(out, &self.provider_event_id);
        out.push(b'"');
        key(out, "provider", false);
        write_str(out, self.provider.name());
        key(out, "provider_event_id", false);
        write_str(out, &self.provider_event_id);
        key(out, "object_id", false);
        write_opt_str(out, self.object_id.as_deref());
        key(out, "event_type", false);
        write_text(out, &self.event_type);
        key(out, "provider_event_type", false);
        write_text(out, &self.provider_event_type);
        key(out, "merchant_id", false);
        write_opt_str(out, self.merchant_id.as_deref());
        key(out, "customer_id", false);
        write_opt_str(out, self.customer_id.as_deref());
        key(out, "amount_minor", false);
        write_int(out, self.amount_minor as i64);
        key(out, "currency", false);
        write_str(out, self.currency);
        key(out, "payment_method_type", false);
        write_opt_text(out, self.payment_method_type.as_deref());
        key(out, "card_brand", false);
        write_opt_text(out, self.card_brand.as_deref());
        key(out, "card_last_four", false);
        write_opt_text(out, self.card_last_four.as_deref());
        key(out, "status", false);
        write_text(out, &self.status);
        key(out, "failure_code", false);
        write_opt_text(out, self.failure_code.as_deref());
        key(out, "failure_message", false);
        write_opt_text(out, self.failure_message.as_deref());
        key(out, "metadata", false);
        out.push(b'{');
        for (i, (k, v)) in self.metadata.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_text(out, k);
            out.push(b':');
            match v {
                Meta::Null => out.extend_from_slice(b"null"),
                Meta::Bool(true) => out.extend_from_slice(b"true"),
                Meta::Bool(false) => out.extend_from_slice(b"false"),
                Meta::Str(s) => write_text(out, s),
                Meta::List(items) => {
                    out.push(b'[');
                    for (j, s) in items.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        write_text(out, s);
                    }
                    out.push(b']');
                }
            }
        }
        out.push(b'}');
        key(out, "provider_created_at", false);
        write_iso_ms(out, self.provider_created_at_ms);
        key(out, "received_at", false);
        write_iso_ms(out, received_at_ms);
        key(out, "normalized_at", false);
        write_iso_ms(out, normalized_at_ms);
        key(out, "schema_version", false);
        write_int(out, SCHEMA_VERSION);
        out.push(b'}');
    }
}

/// Kafka coordinates and edge metadata of one raw message.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub received_at_ms: i64,
}

/// One validation DLQ record (topic `payments.validation.dlq`).
pub struct DlqRecord<'a> {
    pub provider: Option<Provider>,
    /// The raw provider id if it could be read (also the Kafka key).
    pub provider_event_id: Option<Cow<'a, str>>,
    /// Index of the Adyen notification item this record is about; null for whole-message errors.
    pub item_index: Option<u32>,
    pub errors: Vec<FieldError>,
}

impl DlqRecord<'_> {
    /// Canonical JSON. `original_payload` is the raw message as a UTF-8 string, or base64 when the
    /// bytes are not UTF-8 (`original_payload_encoding` says which), with signatures and card
    /// numbers redacted (issue 13); the exact bytes stay in the raw topic (`source_topic`,
    /// `kafka_partition`, `kafka_offset`).
    pub fn write_json(&self, out: &mut Vec<u8>, raw: &[u8], src: &Source, quarantined_at_ms: i64) {
        out.push(b'{');
        key(out, "event_id", true);
        match (&self.provider, &self.provider_event_id) {
            (Some(p), Some(id)) => {
                let mut s = String::with_capacity(p.name().len() + 1 + id.len());
                s.push_str(p.name());
                s.push(':');
                s.push_str(id);
                write_str(out, &s);
            }
            _ => out.extend_from_slice(b"null"),
        }
        key(out, "provider", false);
        write_opt_str(out, self.provider.map(|p| p.name()));
        key(out, "provider_event_id", false);
        write_opt_str(out, self.provider_event_id.as_deref());
        key(out, "item_index", false);
        match self.item_index {
            Some(i) => write_int(out, i as i64),
            None => out.extend_from_slice(b"null"),
        }
        key(out, "original_payload", false);
        // Redacted (signatures, card numbers; `redact.rs`): the original bytes stay in the raw topic,
        // at the source coordinates below, for replay.
        let (payload, base64) = crate::redact::redact_payload(raw);
        write_str(out, &payload);
        key(out, "original_payload_encoding", false);
        write_str(out, if base64 { "base64" } else { "utf8" });
        key(out, "validation_errors", false);
        out.push(b'[');
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'{');
            key(out, "field", true);
            write_str(out, &e.field);
            key(out, "code", false);
            write_str(out, e.code);
            key(out, "message", false);
            write_str(out, &e.message);
            out.push(b'}');
        }
        out.push(b']');
        key(out, "failure_reason", false);
        write_str(
            out,
            self.errors
                .first()
                .map(|e| e.code)
                .unwrap_or("UNKNOWN_ERROR"),
        );
        key(out, "source_topic", false);
        write_str(out, src.topic);
        key(out, "kafka_partition", false);
        write_int(out, src.partition as i64);
        key(out, "kafka_offset", false);
        write_int(out, src.offset);
        key(out, "received_at", false);
        if (crate::time::MIN_MS..=crate::time::MAX_MS).contains(&src.received_at_ms) {
            write_iso_ms(out, src.received_at_ms);
        } else {
            out.extend_from_slice(b"null");
        }
        key(out, "quarantined_at", false);
        write_iso_ms(out, quarantined_at_ms);
        key(out, "schema_version", false);
        write_int(out, SCHEMA_VERSION);
        out.push(b'}');
    }

    /// The Kafka key: the raw provider id, when known.
    pub fn key(&self) -> Option<&str> {
        self.provider_event_id.as_deref()
    }
}
