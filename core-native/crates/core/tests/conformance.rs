//! Runs the shared conformance table (`core-native/fixtures/cases.json`): the hand-written
//! expectations of every case, then the exact bytes against `fixtures/golden.json` (the same
//! golden file the TypeScript twin is checked against). `PEP_BLESS=1 cargo test` rewrites the
//! golden file after a reviewed change.

use pep_core::{normalize_batch, AmountBounds, RawMessage, Source};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Fixed clocks so that the outputs are deterministic.
pub const NORMALIZED_AT_MS: f64 = 1_767_225_600_000.0;
pub const RECEIVED_AT_MS: i64 = 1_767_225_599_000;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn provider_code(p: &str) -> u8 {
    match p {
        "stripe" => 0,
        "square" => 1,
        "adyen" => 2,
        "braintree" => 3,
        _ => 9,
    }
}

fn b64(s: &str) -> Vec<u8> {
    pep_core::codec::base64_decode(s.as_bytes()).expect("fixture base64")
}

#[test]
fn conformance_table() {
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap())
            .unwrap();
    let bounds = AmountBounds::default();
    let mut golden = Map::new();
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let name = c["name"].as_str().unwrap();
        let input: Vec<u8> = match (&c["input"], &c["inputBase64"]) {
            (Value::String(s), _) => s.as_bytes().to_vec(),
            (_, Value::String(s)) => b64(s),
            _ => panic!("case {name} has no input"),
        };
        let source = Source {
            topic: "webhooks.test",
            partition: 0,
            offset: i as i64,
            received_at_ms: RECEIVED_AT_MS,
        };
        let msg = RawMessage {
            provider: provider_code(c["provider"].as_str().unwrap()),
            bytes: &input,
            source,
        };
        let out = normalize_batch(&[msg], NORMALIZED_AT_MS, &bounds).unwrap();
        let events: Vec<String> = (0..out.events.len())
            .map(|k| String::from_utf8(out.events.record(k).to_vec()).unwrap())
            .collect();
        let dlq: Vec<String> = (0..out.dlq.len())
            .map(|k| String::from_utf8(out.dlq.record(k).to_vec()).unwrap())
            .collect();
        // Every output is valid JSON and its key is its event id.
        let parsed: Vec<Value> = events
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        for (k, ev) in parsed.iter().enumerate() {
            assert_eq!(
                ev["event_id"].as_str().unwrap().as_bytes(),
                out.events.key(k),
                "{name}: key"
            );
        }
        let dlq_parsed: Vec<Value> = dlq
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        let exp = &c["expect"];
        let mut check = |ok: bool, what: String| {
            if !ok {
                failures.push(format!(
                    "{name}: {what}\n  events={events:?}\n  dlq={dlq:?}"
                ));
            }
        };
        if let Some(n) = exp["events"].as_u64() {
            check(parsed.len() as u64 == n, format!("expected {n} events"));
        }
        if let Some(n) = exp["dlq"].as_u64() {
            check(
                dlq_parsed.len() as u64 == n,
                format!("expected {n} DLQ records"),
            );
        }
        if let Some(codes) = exp["codes"].as_array() {
            let got: Vec<Value> = dlq_parsed
                .iter()
                .flat_map(|d| {
                    d["validation_errors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["code"].clone())
                })
                .collect();
            check(&got == codes, format!("codes {got:?} != {codes:?}"));
        }
        if let Some(fields) = exp["fields"].as_object() {
            for (k, want) in fields {
                let (idx, path) = match k.split_once('.') {
                    Some((a, rest)) if a.bytes().all(|b| b.is_ascii_digit()) => {
                        (a.parse::<usize>().unwrap(), rest)
                    }
                    _ => (0, k.as_str()),
                };
                let mut got = parsed.get(idx).cloned().unwrap_or(Value::Null);
                for part in path.split('.') {
                    got = got.get(part).cloned().unwrap_or(json!("<absent>"));
                }
                check(&got == want, format!("{k}: got {got} want {want}"));
            }
        }
        golden.insert(name.to_owned(), json!({ "events": events, "dlq": dlq }));
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let path = fixtures().join("golden.json");
    let text = serde_json::to_string_pretty(&Value::Object(golden)).unwrap() + "\n";
    if std::env::var("PEP_BLESS").is_ok() {
        std::fs::write(&path, text).unwrap();
    } else {
        let want = std::fs::read_to_string(&path)
            .expect("golden.json missing: run with PEP_BLESS=1 after review");
        assert!(
            want == text,
            "output differs from fixtures/golden.json (review, then PEP_BLESS=1 cargo test)"
        );
    }
}
