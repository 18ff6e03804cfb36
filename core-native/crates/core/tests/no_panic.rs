//! Arbitrary bytes never panic: mutated real payloads (bit flips, truncation, splices, token
//! swaps) and random bytes go straight through `normalize_message` (no `catch_unwind` here) for
//! every provider, and every message yields at least one output (CONTRACT 7.2 and 7.6).

use pep_core::json::{Bump, Value};
use pep_core::model::{DlqRecord, Event, Provider};
use pep_core::normalize::{normalize_message, Sink};
use pep_core::AmountBounds;

struct Count(usize);
impl Sink for Count {
    fn event(&mut self, ev: &Event) {
        let mut out = Vec::new();
        ev.write_json(&mut out, 0, 0);
        assert!(
            serde_json::from_slice::<serde_json::Value>(&out).is_ok(),
            "event output is JSON"
        );
        self.0 += 1;
    }
    fn dlq(&mut self, rec: &DlqRecord) {
        assert!(!rec.errors.is_empty(), "a DLQ record always has a reason");
        self.0 += 1;
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"null",
    b"\"\"",
    b"\"NULL\"",
    b"-1",
    b"1e400",
    b"\"abc\"",
    b"[]",
    b"{}",
    b"true",
    b"0.5",
    b"\"\\ud800\"",
    b"\"-5.00\"",
    b"99999999999999999999",
    b"\"2024-13-45T99:99:99Z\"",
    b"%",
    b"&",
    b"<",
    b"&amp;",
    b"=",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            v.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(v.len());
        match rng.below(6) {
            0 => v[at] ^= 1 << rng.below(8),
            1 => v.truncate(at),
            2 => v.insert(at, rng.next() as u8),
            3 => {
                let end = (at + 1 + rng.below(12)).min(v.len());
                v.drain(at..end);
            }
            4 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                // Replace the JSON value after a colon with a hostile token.
                if let Some(p) = v[at..].iter().position(|&b| b == b':') {
                    let s = at + p + 1;
                    let e = v[s..]
                        .iter()
                        .position(|&b| b == b',' || b == b'}')
                        .map(|q| s + q)
                        .unwrap_or(v.len());
                    v.splice(s..e, t.iter().copied());
                }
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
        }
    }
    v
}

#[test]
fn arbitrary_bytes_never_panic() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/payloads");
    let mut bases: Vec<(u8, Vec<u8>)> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let provider = Provider::from_name(name.split('_').next().unwrap()).unwrap() as u8;
        bases.push((provider, std::fs::read(&path).unwrap()));
    }
    // Also the decoded Braintree XML documents, mutated before re-encoding.
    let bounds = AmountBounds::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut arena = Bump::new();
    let iterations = if cfg!(debug_assertions) {
        20_000
    } else {
        200_000
    };
    for i in 0..iterations {
        let (provider, base) = &bases[rng.below(bases.len())];
        let bytes = if i % 10 == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            mutate(&mut rng, base)
        };
        let p = if i % 7 == 0 {
            rng.below(4) as u8
        } else {
            *provider
        };
        let mut sink = Count(0);
        normalize_message(
            Provider::from_code(p),
            &bytes,
            &bounds,
            &mut sink,
            &mut arena,
        );
        assert!(sink.0 >= 1, "message {i} produced no output");
    }
}

/// Compares a parsed tree with serde_json's reading of the same text (used by the tests to
/// cross-check this parser: same acceptance, same values, last duplicate wins).
pub fn same_as_serde(ours: &Value, theirs: &serde_json::Value) -> bool {
    use serde_json::Value as S;
    match (ours, theirs) {
        (Value::Null, S::Null) => true,
        (Value::Bool(a), S::Bool(b)) => a == b,
        (Value::Num(a), S::Number(b)) => Some(*a) == b.as_f64(),
        (Value::Str(a), S::String(b)) => a == b,
        (Value::Arr(a), S::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_as_serde(x, y))
        }
        (Value::Obj(a), S::Object(b)) => {
            let mut keys: Vec<&str> = a.iter().map(|(k, _)| *k).collect();
            keys.sort_unstable();
            keys.dedup();
            keys.len() == b.len()
                && b.iter()
                    .all(|(k, v)| ours.get(k).is_some_and(|x| same_as_serde(x, v)))
        }
        _ => false,
    }
}

#[test]
fn json_parser_agrees_with_serde_json_on_random_input() {
    let mut rng = Rng(42);
    let mut arena = Bump::new();
    for _ in 0..200_000 {
        const ALPHABET: &[u8] = b"{}[]\",:0123456789.-+eEtrufalsn\\u \n";
        let bytes: Vec<u8> = (0..rng.below(40))
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        arena.reset();
        // The hand-written parser accepts exactly what serde_json accepts, with the same values.
        let ours = pep_core::json::parse(&text, &arena).ok();
        let reference = serde_json::from_str::<serde_json::Value>(&text).ok();
        match (&ours, &reference) {
            (Some(a), Some(b)) => assert!(same_as_serde(a, b), "{text:?}"),
            (None, None) => {}
            _ => panic!("acceptance differs on {text:?}: ours {ours:?}, serde_json {reference:?}"),
        }
    }
}
