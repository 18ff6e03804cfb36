//! Quick in-process throughput check (no N-API): `cargo run --release -p pep-core --example throughput`.
use pep_core::json::Bump;
use pep_core::{normalize_batch, AmountBounds, RawMessage, Source};
use std::time::Instant;

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/payloads/stripe_payment_intent_succeeded.json"
    );
    let base = std::fs::read(path).unwrap();
    let msgs: Vec<Vec<u8>> = (0..256).map(|_| base.clone()).collect();
    let src = Source {
        topic: "t",
        partition: 0,
        offset: 0,
        received_at_ms: 0,
    };
    let raw: Vec<RawMessage> = msgs
        .iter()
        .map(|m| RawMessage {
            provider: 0,
            bytes: m,
            source: src,
        })
        .collect();
    let bounds = AmountBounds::default();
    for _ in 0..50 {
        normalize_batch(&raw, 0.0, &bounds).unwrap();
    }
    let iters = 400;
    if std::env::var("ONLY_NORMALIZE").is_ok() {
        for _ in 0..iters * 10 {
            normalize_batch(&raw, 0.0, &bounds).unwrap();
        }
        return;
    }
    let t = Instant::now();
    for _ in 0..iters {
        normalize_batch(&raw, 0.0, &bounds).unwrap();
    }
    let norm = t.elapsed().as_secs_f64() / (iters * 256) as f64;
    let mut arena = Bump::new();
    let mut parse = f64::MAX;
    let mut serde = f64::MAX;
    let mut norm2 = f64::MAX;
    for _ in 0..10 {
        let t = Instant::now();
        for _ in 0..iters / 10 {
            for m in &msgs {
                arena.reset();
                std::hint::black_box(pep_core::json::parse_bytes(m, &arena).unwrap());
            }
        }
        parse = parse.min(t.elapsed().as_secs_f64() / (iters / 10 * 256) as f64);
        let t = Instant::now();
        for _ in 0..iters / 10 {
            for m in &msgs {
                std::hint::black_box(serde_json::from_slice::<serde_json::Value>(m).unwrap());
            }
        }
        serde = serde.min(t.elapsed().as_secs_f64() / (iters / 10 * 256) as f64);
        let t = Instant::now();
        for _ in 0..iters / 10 {
            normalize_batch(&raw, 0.0, &bounds).unwrap();
        }
        norm2 = norm2.min(t.elapsed().as_secs_f64() / (iters / 10 * 256) as f64);
    }
    println!(
        "min over rounds: ours {:.2} us, serde {:.2} us, normalize {:.2} us",
        parse * 1e6,
        serde * 1e6,
        norm2 * 1e6
    );
    println!(
        "bytes {} normalize {:.2} us/event ({:.0}/s), parse {:.2} us/event ({:.0}/s)",
        base.len(),
        norm * 1e6,
        1.0 / norm,
        parse * 1e6,
        1.0 / parse
    );
}
