//! Feature vectorization: one declared, versioned feature order used by training and serving, so
//! they cannot skew. A row is computed from a normalized event (our own canonical JSON) and the
//! customer / merchant feature records of the online store (flat JSON objects of numbers).
//! Only IEEE-exact operations (+ − × ÷, comparisons) are used, so the TypeScript twin
//! (`src/features.ts`) produces bit-identical Float32 rows.

use crate::canon::{key, write_int, write_str};
use crate::currency;
use crate::json::{self, Bump, Value};
use crate::time;

/// Bump when names, order, transforms or defaults change; models record the version they used.
pub const FEATURE_SPEC_VERSION: &str = "pep-features-v2";

#[derive(Clone, Copy, Debug)]
pub enum Src {
    Event,
    Customer,
    Merchant,
    PaymentMethod,
}

#[derive(Clone, Copy, Debug)]
pub enum Transform {
    /// amount_minor / 10^exponent of the currency.
    AmountMajor,
    CurrencyExponent,
    /// 1 when the string field equals the value.
    Equals(&'static str, &'static str),
    /// 1 when the string field is one of the values.
    OneOf(&'static str, &'static [&'static str]),
    /// 1 when the field is a non-null value outside the listed ones.
    OtherThan(&'static str, &'static [&'static str]),
    /// 1 when the field is not null.
    Present(&'static str),
    /// 1 when the string field starts with the prefix.
    Prefix(&'static str, &'static str),
    HourOfDayUtc,
    /// Monday = 0 … Sunday = 6.
    DayOfWeekUtc,
    /// 1 when the record exists.
    RecordPresent,
    /// The numeric field as is.
    Identity(&'static str),
    /// The numeric field clipped to [0, 1].
    Clip01(&'static str),
    /// event amount_minor / the record's field, when that is > 0.
    AmountRatio(&'static str),
}

pub struct Feature {
    pub name: &'static str,
    pub source: Src,
    pub transform: Transform,
    /// Value used when the record or the field is missing (or not a number).
    pub default: i32,
}

const fn f(name: &'static str, source: Src, transform: Transform, default: i32) -> Feature {
    Feature {
        name,
        source,
        transform,
        default,
    }
}

use Src::*;
use Transform::*;

pub const FEATURES: &[Feature] = &[
    f("amount_major", Event, AmountMajor, 0),
    f("currency_exponent", Event, CurrencyExponent, 2),
    f("provider_stripe", Event, Equals("provider", "stripe"), 0),
    f("provider_square", Event, Equals("provider", "square"), 0),
    f("provider_adyen", Event, Equals("provider", "adyen"), 0),
    f(
        "provider_braintree",
        Event,
        Equals("provider", "braintree"),
        0,
    ),
    f(
        "method_card",
        Event,
        Equals("payment_method_type", "card"),
        0,
    ),
    f(
        "method_wallet",
        Event,
        Equals("payment_method_type", "wallet"),
        0,
    ),
    f("has_customer", Event, Present("customer_id"), 0),
    f("has_card_brand", Event, Present("card_brand"), 0),
    f("status_failed", Event, Equals("status", "failed"), 0),
    f("is_refund", Event, Prefix("event_type", "refund."), 0),
    f("is_dispute", Event, Prefix("event_type", "dispute."), 0),
    f(
        "failure_expired_card",
        Event,
        OneOf("failure_code", &["expired_card", "card_expired"]),
        0,
    ),
    f(
        "failure_insufficient_funds",
        Event,
        OneOf("failure_code", &["insufficient_funds"]),
        0,
    ),
    f("hour_of_day_utc", Event, HourOfDayUtc, 0),
    f("day_of_week_utc", Event, DayOfWeekUtc, 0),
    f("customer_record_present", Customer, RecordPresent, 0),
    f(
        "customer_txn_count_10m",
        Customer,
        Identity("txn_count_10m"),
        0,
    ),
    f(
        "customer_amount_sum_10m",
        Customer,
        Identity("amount_sum_10m"),
        0,
    ),
    f(
        "customer_decline_count_10m",
        Customer,
        Identity("decline_count_10m"),
        0,
    ),
    f(
        "customer_txn_count_1h",
        Customer,
        Identity("txn_count_1h"),
        0,
    ),
    f(
        "customer_amount_sum_1h",
        Customer,
        Identity("amount_sum_1h"),
        0,
    ),
    f(
        "customer_decline_count_1h",
        Customer,
        Identity("decline_count_1h"),
        0,
    ),
    f(
        "customer_distinct_merchants_1h",
        Customer,
        Identity("distinct_merchants_1h"),
        0,
    ),
    f(
        "customer_txn_count_24h",
        Customer,
        Identity("txn_count_24h"),
        0,
    ),
    f(
        "customer_amount_sum_24h",
        Customer,
        Identity("amount_sum_24h"),
        0,
    ),
    f(
        "customer_decline_rate_24h",
        Customer,
        Identity("decline_rate_24h"),
        0,
    ),
    f(
        "customer_txn_count_7d",
        Customer,
        Identity("txn_count_7d"),
        0,
    ),
    f(
        "customer_amount_sum_7d",
        Customer,
        Identity("amount_sum_7d"),
        0,
    ),
    f(
        "customer_decline_rate_7d",
        Customer,
        Identity("decline_rate_7d"),
        0,
    ),
    f(
        "customer_distinct_payment_methods_7d",
        Customer,
        Identity("distinct_payment_methods_7d"),
        0,
    ),
    f(
        "customer_txn_count_30d",
        Customer,
        Identity("txn_count_30d"),
        0,
    ),
    f(
        "customer_amount_to_avg_ratio_30d",
        Customer,
        Identity("amount_to_avg_ratio_30d"),
        1,
    ),
    f(
        "customer_secs_since_prev_event",
        Customer,
        Identity("secs_since_prev_event"),
        -1,
    ),
    f(
        "customer_secs_since_last_success",
        Customer,
        Identity("secs_since_last_success"),
        -1,
    ),
    f(
        "customer_consecutive_failures",
        Customer,
        Identity("consecutive_failures"),
        0,
    ),
    f("customer_tenure_days", Customer, Identity("tenure_days"), 0),
    f("merchant_record_present", Merchant, RecordPresent, 0),
    f(
        "merchant_txn_count_1h",
        Merchant,
        Identity("txn_count_1h"),
        0,
    ),
    f(
        "merchant_decline_rate_1h",
        Merchant,
        Identity("decline_rate_1h"),
        0,
    ),
    f(
        "merchant_txn_count_24h",
        Merchant,
        Identity("txn_count_24h"),
        0,
    ),
    f(
        "merchant_amount_sum_24h",
        Merchant,
        Identity("amount_sum_24h"),
        0,
    ),
    f(
        "merchant_decline_rate_24h",
        Merchant,
        Identity("decline_rate_24h"),
        0,
    ),
    f(
        "merchant_txn_count_30d",
        Merchant,
        Identity("txn_count_30d"),
        0,
    ),
    f(
        "merchant_dispute_count_30d",
        Merchant,
        Identity("dispute_count_30d"),
        0,
    ),
    f(
        "merchant_dispute_rate_30d",
        Merchant,
        Identity("dispute_rate_30d"),
        0,
    ),
    f(
        "payment_method_record_present",
        PaymentMethod,
        RecordPresent,
        0,
    ),
    f(
        "payment_method_txn_count_10m",
        PaymentMethod,
        Identity("txn_count_10m"),
        0,
    ),
    f(
        "payment_method_decline_count_10m",
        PaymentMethod,
        Identity("decline_count_10m"),
        0,
    ),
    f(
        "payment_method_txn_count_24h",
        PaymentMethod,
        Identity("txn_count_24h"),
        0,
    ),
    f(
        "payment_method_decline_rate_24h",
        PaymentMethod,
        Identity("decline_rate_24h"),
        0,
    ),
    f(
        "payment_method_distinct_merchants_24h",
        PaymentMethod,
        Identity("distinct_merchants_24h"),
        0,
    ),
    f(
        "payment_method_txn_count_7d",
        PaymentMethod,
        Identity("txn_count_7d"),
        0,
    ),
    f(
        "payment_method_distinct_customers_7d",
        PaymentMethod,
        Identity("distinct_customers_7d"),
        0,
    ),
];

/// Most rows in one vectorize call.
pub const MAX_VECTORIZE_ROWS: usize = 10_000;

pub struct Row<'a> {
    pub event: &'a [u8],
    pub customer: Option<&'a [u8]>,
    pub merchant: Option<&'a [u8]>,
    pub payment_method: Option<&'a [u8]>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct VectorizeError(pub String);

impl std::fmt::Display for VectorizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn transform_json(t: &Transform, out: &mut Vec<u8>) {
    let (name, field, values): (&str, Option<&str>, Option<Vec<&str>>) = match t {
        AmountMajor => ("amount_major", None, None),
        CurrencyExponent => ("currency_exponent", None, None),
        Equals(fl, v) => ("equals", Some(fl), Some(vec![*v])),
        OneOf(fl, vs) => ("one_of", Some(fl), Some(vs.to_vec())),
        OtherThan(fl, vs) => ("other_than", Some(fl), Some(vs.to_vec())),
        Present(fl) => ("present", Some(fl), None),
        Prefix(fl, p) => ("prefix", Some(fl), Some(vec![*p])),
        HourOfDayUtc => ("hour_of_day_utc", Some("provider_created_at"), None),
        DayOfWeekUtc => ("day_of_week_utc", Some("provider_created_at"), None),
        RecordPresent => ("record_present", None, None),
        Identity(fl) => ("identity", Some(fl), None),
        Clip01(fl) => ("clip01", Some(fl), None),
        AmountRatio(fl) => ("amount_ratio", Some(fl), None),
    };
    key(out, "transform", false);
    write_str(out, name);
    key(out, "field", false);
    match field {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
    key(out, "values", false);
    match values {
        Some(vs) => {
            out.push(b'[');
            for (i, v) in vs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, v);
            }
            out.push(b']');
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// The spec as canonical JSON: `{"version","features":[{"name","source","transform","field","values","default"}]}`.
pub fn spec_json() -> String {
    let mut out = Vec::new();
    out.push(b'{');
    key(&mut out, "version", true);
    write_str(&mut out, FEATURE_SPEC_VERSION);
    key(&mut out, "features", false);
    out.push(b'[');
    for (i, ft) in FEATURES.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        key(&mut out, "name", true);
        write_str(&mut out, ft.name);
        key(&mut out, "source", false);
        write_str(
            &mut out,
            match ft.source {
                Event => "event",
                Customer => "customer",
                Merchant => "merchant",
                PaymentMethod => "payment_method",
            },
        );
        transform_json(&ft.transform, &mut out);
        key(&mut out, "default", false);
        write_int(&mut out, ft.default as i64);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    String::from_utf8(out).expect("ASCII")
}

struct Ev<'v> {
    root: &'v Value<'v>,
    amount_minor: f64,
    exponent: u8,
    created_ms: i64,
}

fn parse_event<'v>(root: &'v Value<'v>, i: usize) -> Result<Ev<'v>, VectorizeError> {
    let bad = |what: &str| VectorizeError(format!("row {i}: event {what}"));
    let amount_minor = match root.get("amount_minor") {
        Some(Value::Num(n)) if *n >= 0.0 && n.fract() == 0.0 => *n,
        _ => return Err(bad("has no integer amount_minor")),
    };
    let exponent = match root
        .get("currency")
        .and_then(Value::as_str)
        .and_then(currency::lookup)
    {
        Some((_, e)) => e,
        None => return Err(bad("has no known currency")),
    };
    let created_ms = match root
        .get("provider_created_at")
        .and_then(Value::as_str)
        .and_then(time::parse_rfc3339)
    {
        Some(ms) => ms,
        None => return Err(bad("has no provider_created_at timestamp")),
    };
    Ok(Ev {
        root,
        amount_minor,
        exponent,
        created_ms,
    })
}

fn parse_record<'a>(
    bytes: Option<&'a [u8]>,
    what: &str,
    i: usize,
    arena: &'a Bump,
) -> Result<Option<Value<'a>>, VectorizeError> {
    match bytes {
        None => Ok(None),
        Some(b) => match json::parse_bytes(b, arena) {
            Ok(v @ Value::Obj(_)) => Ok(Some(v)),
            _ => Err(VectorizeError(format!(
                "row {i}: {what} record is not a JSON object"
            ))),
        },
    }
}

fn num(rec: Option<&Value>, field: &str) -> Option<f64> {
    match rec?.get(field)? {
        Value::Num(n) => Some(*n),
        _ => None,
    }
}

fn str_field<'v>(ev: &'v Value<'v>, field: &str) -> Option<&'v str> {
    ev.get(field).and_then(Value::as_str)
}

fn compute(ft: &Feature, ev: &Ev, recs: [Option<&Value>; 3]) -> f64 {
    let rec = match ft.source {
        Event => None,
        Customer => recs[0],
        Merchant => recs[1],
        PaymentMethod => recs[2],
    };
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    let d = ft.default as f64;
    match ft.transform {
        AmountMajor => ev.amount_minor / [1.0, 10.0, 100.0, 1000.0, 10000.0][ev.exponent as usize],
        CurrencyExponent => ev.exponent as f64,
        Equals(fl, v) => b(str_field(ev.root, fl) == Some(v)),
        OneOf(fl, vs) => b(str_field(ev.root, fl).is_some_and(|s| vs.contains(&s))),
        OtherThan(fl, vs) => b(str_field(ev.root, fl).is_some_and(|s| !vs.contains(&s))),
        Present(fl) => b(!matches!(ev.root.get(fl), None | Some(Value::Null))),
        Prefix(fl, p) => b(str_field(ev.root, fl).is_some_and(|s| s.starts_with(p))),
        HourOfDayUtc => ev.created_ms.div_euclid(3_600_000).rem_euclid(24) as f64,
        DayOfWeekUtc => (ev.created_ms.div_euclid(86_400_000) + 3).rem_euclid(7) as f64,
        RecordPresent => b(rec.is_some()),
        Identity(fl) => num(rec, fl).unwrap_or(d),
        Clip01(fl) => num(rec, fl).map(|x| x.clamp(0.0, 1.0)).unwrap_or(d),
        AmountRatio(fl) => match num(rec, fl) {
            Some(avg) if avg > 0.0 => ev.amount_minor / avg,
            _ => d,
        },
    }
}

/// Row-major `rows × FEATURES.len()` matrix.
pub fn vectorize_batch(rows: &[Row]) -> Result<Vec<f32>, VectorizeError> {
    if rows.len() > MAX_VECTORIZE_ROWS {
        return Err(VectorizeError(format!(
            "{} rows; the maximum is {MAX_VECTORIZE_ROWS}",
            rows.len()
        )));
    }
    let mut out = Vec::with_capacity(rows.len() * FEATURES.len());
    let mut arena = Bump::new();
    for (i, r) in rows.iter().enumerate() {
        arena.reset();
        let arena = &arena;
        let root = json::parse_bytes(r.event, arena)
            .map_err(|_| VectorizeError(format!("row {i}: event is not JSON")))?;
        if !root.is_object() {
            return Err(VectorizeError(format!(
                "row {i}: event is not a JSON object"
            )));
        }
        let ev = parse_event(&root, i)?;
        let cust = parse_record(r.customer, "customer", i, arena)?;
        let merch = parse_record(r.merchant, "merchant", i, arena)?;
        let pm = parse_record(r.payment_method, "payment_method", i, arena)?;
        for ft in FEATURES {
            out.push(compute(ft, &ev, [cust.as_ref(), merch.as_ref(), pm.as_ref()]) as f32);
        }
    }
    Ok(out)
}

/// The record side of rows given as numbers instead of JSON (`vectorize_values`): `values` is row-major
/// `rows × FEATURES.len()`, where `values[r * cols + k]` is the value of feature `k`'s record field in row `r`'s
/// record of that feature's entity (NaN: the field is absent); columns of event features and of `RecordPresent` are
/// not read. `present` is `rows × 3` (customer, merchant, payment method): 0 when the record is missing.
pub struct RecordValues<'a> {
    pub values: &'a [f64],
    pub present: &'a [u8],
}

/// What a record's number is in the JSON path: a non-finite number is written `null` by JavaScript's JSON (the
/// default applies) and -0 is written `0`.
fn json_number(x: f64) -> Option<f64> {
    if !x.is_finite() {
        None
    } else if x == 0.0 {
        Some(0.0)
    } else {
        Some(x)
    }
}

/// `vectorize_batch` with the records as numbers (`RecordValues`): the same rows, bit for bit, as records written
/// by JavaScript's `JSON.stringify` of `{field: value}` objects holding those values (NaN = a field left out, present
/// 0 = a missing record), without writing and parsing that JSON. Events are JSON as in `vectorize_batch`.
pub fn vectorize_values(events: &[&[u8]], recs: &RecordValues) -> Result<Vec<f32>, VectorizeError> {
    let rows = events.len();
    if rows > MAX_VECTORIZE_ROWS {
        return Err(VectorizeError(format!(
            "{rows} rows; the maximum is {MAX_VECTORIZE_ROWS}"
        )));
    }
    let cols = FEATURES.len();
    if recs.values.len() != rows * cols {
        return Err(VectorizeError(format!(
            "values has {} entries; {rows} rows need {}",
            recs.values.len(),
            rows * cols
        )));
    }
    if recs.present.len() != rows * 3 {
        return Err(VectorizeError(format!(
            "present has {} entries; {rows} rows need {}",
            recs.present.len(),
            rows * 3
        )));
    }
    let mut out = Vec::with_capacity(rows * cols);
    let mut arena = Bump::new();
    for (i, event) in events.iter().enumerate() {
        arena.reset();
        let arena = &arena;
        let root = json::parse_bytes(event, arena)
            .map_err(|_| VectorizeError(format!("row {i}: event is not JSON")))?;
        if !root.is_object() {
            return Err(VectorizeError(format!(
                "row {i}: event is not a JSON object"
            )));
        }
        let ev = parse_event(&root, i)?;
        let present = &recs.present[i * 3..i * 3 + 3];
        let values = &recs.values[i * cols..(i + 1) * cols];
        for (k, ft) in FEATURES.iter().enumerate() {
            let has = match ft.source {
                Event => {
                    out.push(compute(ft, &ev, [None, None, None]) as f32);
                    continue;
                }
                Customer => present[0] != 0,
                Merchant => present[1] != 0,
                PaymentMethod => present[2] != 0,
            };
            let d = ft.default as f64;
            let v = if has { json_number(values[k]) } else { None };
            let x = match ft.transform {
                RecordPresent => {
                    if has {
                        1.0
                    } else {
                        0.0
                    }
                }
                Identity(_) => v.unwrap_or(d),
                Clip01(_) => v.map(|x| x.clamp(0.0, 1.0)).unwrap_or(d),
                AmountRatio(_) => match v {
                    Some(avg) if avg > 0.0 => ev.amount_minor / avg,
                    _ => d,
                },
                // Event transforms on a record source are not declared; computed as the JSON path would.
                _ => compute(ft, &ev, [None, None, None]),
            };
            out.push(x as f32);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EV: &str = r#"{"event_id":"stripe:evt_1","provider":"stripe","amount_minor":2050,"currency":"USD","payment_method_type":"card","customer_id":"cus_1","card_brand":null,"status":"failed","event_type":"refund.created","provider_created_at":"2024-01-15T13:00:00.000Z"}"#;

    #[test]
    fn spec_names_are_unique() {
        let mut names: Vec<_> = FEATURES.iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FEATURES.len());
        assert!(spec_json()
            .starts_with(r#"{"version":"pep-features-v2","features":[{"name":"amount_major""#));
    }

    #[test]
    fn row_values_and_defaults() {
        let rows = [Row {
            event: EV.as_bytes(),
            customer: Some(
                br#"{"txn_count_10m":3,"amount_to_avg_ratio_30d":2.5,"decline_rate_7d":"x"}"#,
            ),
            merchant: None,
            payment_method: Some(br#"{"distinct_customers_7d":4}"#),
        }];
        let m = vectorize_batch(&rows).unwrap();
        let get = |n: &str| m[FEATURES.iter().position(|f| f.name == n).unwrap()];
        assert_eq!(get("amount_major"), 20.5);
        assert_eq!(get("provider_stripe"), 1.0);
        assert_eq!(get("method_card"), 1.0);
        assert_eq!(get("has_customer"), 1.0);
        assert_eq!(get("has_card_brand"), 0.0);
        assert_eq!(get("status_failed"), 1.0);
        assert_eq!(get("hour_of_day_utc"), 13.0);
        assert_eq!(get("day_of_week_utc"), 0.0, "2024-01-15 is a Monday");
        assert_eq!(get("customer_record_present"), 1.0);
        assert_eq!(get("customer_txn_count_10m"), 3.0);
        assert_eq!(get("customer_amount_to_avg_ratio_30d"), 2.5);
        assert_eq!(
            get("customer_decline_rate_7d"),
            0.0,
            "not a number: default"
        );
        assert_eq!(get("customer_secs_since_prev_event"), -1.0, "default");
        assert_eq!(get("merchant_record_present"), 0.0);
        assert_eq!(get("payment_method_distinct_customers_7d"), 4.0);
    }

    #[test]
    fn values_give_the_rows_of_json_records() {
        let cols = FEATURES.len();
        let col = |n: &str| FEATURES.iter().position(|f| f.name == n).unwrap();
        let mut values = vec![f64::NAN; 2 * cols];
        values[col("customer_txn_count_10m")] = 3.0;
        values[col("customer_amount_to_avg_ratio_30d")] = 2.05;
        values[col("customer_decline_rate_7d")] = f64::INFINITY;
        values[col("customer_amount_sum_10m")] = -0.0;
        values[col("payment_method_distinct_customers_7d")] = 4.0;
        values[cols + col("merchant_txn_count_1h")] = 9.0;
        let present = [1, 0, 1, 0, 0, 0];
        let events = [EV.as_bytes(), EV.as_bytes()];
        let got = vectorize_values(
            &events,
            &RecordValues {
                values: &values,
                present: &present,
            },
        )
        .unwrap();
        let want = vectorize_batch(&[
            Row {
                event: EV.as_bytes(),
                customer: Some(
                    br#"{"txn_count_10m":3,"amount_to_avg_ratio_30d":2.05,"decline_rate_7d":null,"amount_sum_10m":0}"#,
                ),
                merchant: None,
                payment_method: Some(br#"{"distinct_customers_7d":4}"#),
            },
            Row {
                event: EV.as_bytes(),
                customer: None,
                merchant: None,
                payment_method: None,
            },
        ])
        .unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want));
        assert!(vectorize_values(
            &events,
            &RecordValues {
                values: &values[..cols],
                present: &present,
            }
        )
        .is_err());
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(vectorize_batch(&[Row {
            event: b"{}",
            customer: None,
            merchant: None,
            payment_method: None,
        }])
        .is_err());
        let bad_rec = [Row {
            event: EV.as_bytes(),
            customer: Some(b"[1]"),
            merchant: None,
            payment_method: None,
        }];
        assert!(vectorize_batch(&bad_rec).is_err());
    }
}
