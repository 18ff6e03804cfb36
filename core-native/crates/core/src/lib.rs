//! `pep-core`: the per-event CPU work of the payment-event platform in plain Rust — provider
//! parsing, validation, normalization into the unified event (CONTRACT section 6), the validation
//! DLQ records, and feature vectorization. The napi crate (`../napi`) only moves bytes across the
//! N-API boundary; the TypeScript twin (`../../src`) produces byte-identical output.

pub mod canon;
pub mod codec;
pub mod codec_kafka;
pub mod currency;
pub mod features;
pub mod json;
pub mod model;
pub mod normalize;
pub mod providers;
pub mod records;
pub mod redact;
pub mod rules;
pub mod time;
pub mod vocabulary;
pub mod xml;

pub use currency::AmountBounds;
pub use model::{Provider, Source};
pub use normalize::{normalize_batch, normalize_one, BatchOutput, RawMessage, RecordSet};
