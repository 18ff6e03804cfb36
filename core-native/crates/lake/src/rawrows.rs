//! The lake sink's raw-bytes path for bronze.payment_events: a batch of Kafka record values (one buffer + lengths,
//! with the four headers and the offset and timestamp each row needs) becomes Arrow columns here, with exactly the
//! semantics of lakehouse/src/rows.ts (`paymentEventRow`) + arrow.ts. A record whose row this module cannot
//! reproduce exactly (not UTF-8, not a JSON object, no string event_id, a lone surrogate, a date form other than the
//! strict ISO ones, …) is handed back: `append` stops at it, the caller builds its row with the TypeScript path and
//! appends it with `append_ipc`, and goes on from the next record, so rows keep the records' order.
use std::io::Cursor;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

use crate::jsjson::{self, Value};

/// rows.ts MAX_TEXT_CHARS (a longer value is left to the TypeScript path).
const MAX_VALUE_BYTES: usize = 16 << 20;
/// Segments per record in `lens`: value, then the headers source-topic, source-partition, source-offset, received-at.
pub const SEGMENTS: usize = 5;
/// Numbers per record in `nums`: offset, Kafka timestamp (Unix ms).
pub const NUMS: usize = 2;

#[derive(Debug, Deserialize)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub required: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    KafkaTopic,
    KafkaPartition,
    KafkaOffset,
    KafkaTimestamp,
    SourceTopic,
    SourcePartition,
    SourceOffset,
    /// A top-level string field of the event (`str(ev.x)`), by its slot.
    Str(usize),
    AmountMinor,
    Metadata,
    /// A top-level ISO timestamp of the event (`isoMs(ev.x)`), by its slot.
    Iso(usize),
    ReceivedAt,
    SchemaVersion,
    /// Always null on this path (lake_error, raw_record, and nullable columns the row does not set).
    Null,
}

/// The event's top-level fields a row reads: the string columns first (their slot is their index), then the rest.
const STR_FIELDS: [&str; 15] = [
    "event_id",
    "provider",
    "provider_event_id",
    "object_id",
    "event_type",
    "provider_event_type",
    "merchant_id",
    "customer_id",
    "currency",
    "payment_method_type",
    "card_brand",
    "card_last_four",
    "status",
    "failure_code",
    "failure_message",
];

const AMOUNT: usize = 15;
const METADATA: usize = 16;
const PROVIDER_CREATED_AT: usize = 17;
const NORMALIZED_AT: usize = 18;
const RECEIVED_AT: usize = 19;
const SCHEMA_VERSION: usize = 20;
const SLOTS: usize = 21;

/// The slot of a top-level key (a `match`, compiled to a length switch: no scan of the names per key).
fn slot(k: &str) -> Option<usize> {
    Some(match k {
        "event_id" => 0,
        "provider" => 1,
        "provider_event_id" => 2,
        "object_id" => 3,
        "event_type" => 4,
        "provider_event_type" => 5,
        "merchant_id" => 6,
        "customer_id" => 7,
        "currency" => 8,
        "payment_method_type" => 9,
        "card_brand" => 10,
        "card_last_four" => 11,
        "status" => 12,
        "failure_code" => 13,
        "failure_message" => 14,
        "amount_minor" => AMOUNT,
        "metadata" => METADATA,
        "provider_created_at" => PROVIDER_CREATED_AT,
        "normalized_at" => NORMALIZED_AT,
        "received_at" => RECEIVED_AT,
        "schema_version" => SCHEMA_VERSION,
        _ => return None,
    })
}

fn col_of(c: &ColumnSpec) -> Result<Col, String> {
    let want = |ty: &str, col: Col| {
        if c.ty == ty {
            Ok(col)
        } else {
            Err(format!(
                "{}: type {} (the raw path knows it as {ty})",
                c.name, c.ty
            ))
        }
    };
    match c.name.as_str() {
        "kafka_topic" => want("string", Col::KafkaTopic),
        "kafka_partition" => want("int", Col::KafkaPartition),
        "kafka_offset" => want("long", Col::KafkaOffset),
        "kafka_timestamp" => want("timestamptz", Col::KafkaTimestamp),
        "source_topic" => want("string", Col::SourceTopic),
        "source_partition" => want("int", Col::SourcePartition),
        "source_offset" => want("long", Col::SourceOffset),
        "amount_minor" => want("long", Col::AmountMinor),
        "metadata" => want("string", Col::Metadata),
        "provider_created_at" => want("timestamptz", Col::Iso(PROVIDER_CREATED_AT)),
        "normalized_at" => want("timestamptz", Col::Iso(NORMALIZED_AT)),
        "received_at" => want("timestamptz", Col::ReceivedAt),
        "schema_version" => want("int", Col::SchemaVersion),
        name => match STR_FIELDS.iter().position(|f| *f == name) {
            Some(i) => want("string", Col::Str(i)),
            None if !c.required => Ok(Col::Null),
            None => Err(format!(
                "{name}: a required column the raw path does not fill"
            )),
        },
    }
}

enum B {
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    Ts(TimestampMicrosecondBuilder),
}

fn arrow_type(ty: &str) -> DataType {
    match ty {
        "string" => DataType::Utf8,
        "int" => DataType::Int32,
        "long" => DataType::Int64,
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => DataType::Null,
    }
}

/// Rows of bronze.payment_events (or a table with its columns) built from raw record bytes.
pub struct RawRows {
    schema: SchemaRef,
    cols: Vec<Col>,
    builders: Vec<B>,
    chunks: Vec<RecordBatch>,
    rows: usize,
    /// In the builders (not yet in `chunks`).
    open_rows: usize,
    bytes: usize,
}

/// One record's inputs.
struct Rec<'a> {
    value: Option<&'a [u8]>,
    source_topic: Option<&'a [u8]>,
    source_partition: Option<&'a [u8]>,
    source_offset: Option<&'a [u8]>,
    received_header: Option<&'a [u8]>,
    offset: f64,
    timestamp_ms: f64,
}

/// A header as rows.ts sees it (Buffer#toString('utf8')); not UTF-8: left to the TypeScript path.
fn header(b: Option<&[u8]>) -> Result<Option<&str>, ()> {
    b.map(std::str::from_utf8).transpose().map_err(|_| ())
}

/// rows.ts `isoMs` of a string: `Ok(None)` is a null, `Err` a form this module does not reproduce.
fn iso(v: Option<&str>) -> Result<Option<i64>, ()> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => match jsjson::iso_ms(s) {
            Some(ms) => Ok(Some(ms)),
            // Longer than 64 UTF-16 units: rows.ts does not try.
            None if s.encode_utf16().count() > 64 => Ok(None),
            None => Err(()),
        },
    }
}

fn digits_upto(s: Option<&str>, n: usize) -> Option<i64> {
    let s = s?;
    (!s.is_empty() && s.len() <= n && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())?
}

/// A safe integer (Number.isSafeInteger of the double JavaScript reads).
fn safe_int(v: Option<&Value<'_>>) -> Option<i64> {
    let x = v?.as_f64()?;
    (x.is_finite() && x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_991.0).then_some(x as i64)
}

/// Microseconds of a millisecond count as arrow.ts computes them (`Math.round(ms * 1000)` in doubles, then the
/// double as an int64): exact up to 2^53 µs, rounded like JavaScript beyond (dates after the year ~4200).
fn micros(ms: i64) -> i64 {
    (ms as f64 * 1000.0).round() as i64
}

/// A record's Kafka number as rows.ts holds it; not a safe integer: left to the TypeScript path.
fn exact(x: f64) -> Result<i64, ()> {
    if x.is_finite() && x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_991.0 {
        Ok(x as i64)
    } else {
        Err(())
    }
}

impl RawRows {
    pub fn new(columns: &[ColumnSpec]) -> Result<Self, String> {
        let cols = columns.iter().map(col_of).collect::<Result<Vec<_>, _>>()?;
        for (i, c) in cols.iter().enumerate() {
            if cols[..i].contains(c) && *c != Col::Null {
                return Err(format!("{}: a column twice", columns[i].name));
            }
        }
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(&c.ty), !c.required))
            .collect();
        if fields.iter().any(|f| f.data_type() == &DataType::Null) {
            return Err("a column type the raw path does not build".into());
        }
        let mut r = RawRows {
            schema: Arc::new(Schema::new(fields)),
            cols,
            builders: Vec::new(),
            chunks: Vec::new(),
            rows: 0,
            open_rows: 0,
            bytes: 0,
        };
        r.builders = r.fresh_builders();
        Ok(r)
    }

    fn fresh_builders(&self) -> Vec<B> {
        self.schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 => B::Str(StringBuilder::new()),
                DataType::Int32 => B::I32(Int32Builder::new()),
                DataType::Int64 => B::I64(Int64Builder::new()),
                _ => B::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
            })
            .collect()
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Arrow bytes held (the sink's chunk, commit and backpressure thresholds): the columns' data and offsets, as the
    /// TypeScript builders count theirs; not the Kafka values they were parsed from (a 10 kB value can be a
    /// 300-byte row).
    pub fn bytes(&self) -> usize {
        self.bytes + self.open_bytes()
    }

    fn open_bytes(&self) -> usize {
        self.builders
            .iter()
            .map(|b| match b {
                B::Str(b) => b.values_slice().len() + 4 * b.len(),
                B::I32(b) => 4 * b.len(),
                B::I64(b) => 8 * b.len(),
                B::Ts(b) => 8 * b.len(),
            })
            .sum()
    }

    /// Appends the rows of records `from..`, stopping at the first record left to the TypeScript path: returns its
    /// index (the record count when every record became a row). `lens`: `SEGMENTS` per record, -1 for absent, the
    /// bytes in `data` one after another; `nums`: `NUMS` per record.
    pub fn append(
        &mut self,
        topic: &str,
        partition: i32,
        data: &[u8],
        lens: &[i32],
        nums: &[f64],
        from: usize,
    ) -> Result<usize, String> {
        let n = lens.len() / SEGMENTS;
        if lens.len() != n * SEGMENTS || nums.len() != n * NUMS {
            return Err("lens and nums do not describe the same records".into());
        }
        // Where record `from` starts in `data`.
        let mut at: usize = lens[..from * SEGMENTS]
            .iter()
            .map(|&l| l.max(0) as usize)
            .sum();
        let mut meta = String::new();
        for i in from..n {
            let mut seg = [None; SEGMENTS];
            for (s, slot) in seg.iter_mut().enumerate() {
                let l = lens[i * SEGMENTS + s];
                if l >= 0 {
                    let end = at + l as usize;
                    *slot = Some(data.get(at..end).ok_or("lens run past the data")?);
                    at = end;
                }
            }
            let rec = Rec {
                value: seg[0],
                source_topic: seg[1],
                source_partition: seg[2],
                source_offset: seg[3],
                received_header: seg[4],
                offset: nums[i * NUMS],
                timestamp_ms: nums[i * NUMS + 1],
            };
            if self.row(topic, partition, &rec, &mut meta).is_err() {
                return Ok(i);
            }
        }
        Ok(n)
    }

    /// One record's row, all or nothing (`Err`: nothing stored, the record is the TypeScript path's).
    fn row(
        &mut self,
        topic: &str,
        partition: i32,
        r: &Rec<'_>,
        meta: &mut String,
    ) -> Result<(), ()> {
        let value = r.value.ok_or(())?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(());
        }
        let text = std::str::from_utf8(value).map_err(|_| ())?;
        let mut ev: [Option<Value<'_>>; SLOTS] = Default::default();
        if !jsjson::parse_fields(text, slot, &mut ev).map_err(|_| ())? {
            return Err(());
        }
        let get = |i: usize| ev[i].as_ref();
        get(0).and_then(Value::as_str).ok_or(())?;
        let offset = exact(r.offset)?;
        let ts_ms = exact(r.timestamp_ms)?;
        let ts_us = micros(ts_ms);
        let source_topic = header(r.source_topic)?;
        let source_partition = digits_upto(header(r.source_partition)?, 9);
        let source_offset = digits_upto(header(r.source_offset)?, 18);
        let received_header = header(r.received_header)?;
        // Everything that can send the record to the TypeScript path is decided before anything is stored.
        let mut isos: [Option<i64>; 2] = [None, None];
        let mut received = None;
        let mut has_metadata = false;
        for c in &self.cols {
            match c {
                Col::Iso(f) => {
                    let ms = iso(get(*f).and_then(Value::as_str))?;
                    isos[usize::from(*f == NORMALIZED_AT)] = ms;
                }
                Col::ReceivedAt => {
                    received = Some(match iso(get(RECEIVED_AT).and_then(Value::as_str))? {
                        Some(ms) => ms,
                        None => iso(received_header)?.unwrap_or(ts_ms),
                    });
                }
                Col::Metadata => has_metadata = true,
                _ => {}
            }
        }
        if has_metadata {
            meta.clear();
            match get(METADATA) {
                None | Some(Value::Null) => {}
                Some(v) => jsjson::stringify(v, meta),
            }
        }
        let metadata_set = has_metadata && !matches!(get(METADATA), None | Some(Value::Null));
        for (c, b) in self.cols.iter().zip(self.builders.iter_mut()) {
            match (c, b) {
                (Col::KafkaTopic, B::Str(b)) => b.append_value(topic),
                (Col::KafkaPartition, B::I32(b)) => b.append_value(partition),
                (Col::KafkaOffset, B::I64(b)) => b.append_value(offset),
                (Col::KafkaTimestamp, B::Ts(b)) => b.append_value(ts_us),
                (Col::SourceTopic, B::Str(b)) => b.append_option(source_topic),
                (Col::SourcePartition, B::I32(b)) => {
                    b.append_option(source_partition.map(|v| v as i32))
                }
                (Col::SourceOffset, B::I64(b)) => b.append_option(source_offset),
                (Col::Str(f), B::Str(b)) => b.append_option(get(*f).and_then(Value::as_str)),
                (Col::AmountMinor, B::I64(b)) => b.append_option(safe_int(get(AMOUNT))),
                (Col::Metadata, B::Str(b)) => {
                    b.append_option(metadata_set.then_some(meta.as_str()))
                }
                (Col::Iso(f), B::Ts(b)) => {
                    b.append_option(isos[usize::from(*f == NORMALIZED_AT)].map(micros))
                }
                (Col::ReceivedAt, B::Ts(b)) => b.append_option(received.map(micros)),
                (Col::SchemaVersion, B::I32(b)) => b.append_option(
                    safe_int(get(SCHEMA_VERSION))
                        .filter(|v| (-(1i64 << 31)..(1i64 << 31)).contains(v))
                        .map(|v| v as i32),
                ),
                (_, B::Str(b)) => b.append_null(),
                (_, B::I32(b)) => b.append_null(),
                (_, B::I64(b)) => b.append_null(),
                (_, B::Ts(b)) => b.append_null(),
            }
        }
        self.rows += 1;
        self.open_rows += 1;
        Ok(())
    }

    fn close_open(&mut self) -> Result<(), String> {
        if self.open_rows == 0 {
            return Ok(());
        }
        self.bytes += self.open_bytes();
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    B::Str(b) => Arc::new(b.finish()),
                    B::I32(b) => Arc::new(b.finish()),
                    B::I64(b) => Arc::new(b.finish()),
                    B::Ts(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| e.to_string())?;
        self.chunks.push(batch);
        self.open_rows = 0;
        Ok(())
    }

    /// Appends the rows of an Arrow IPC stream of the same schema (rows the TypeScript path built).
    pub fn append_ipc(&mut self, ipc: &[u8]) -> Result<(), String> {
        self.close_open()?;
        let reader = StreamReader::try_new(Cursor::new(ipc), None).map_err(|e| e.to_string())?;
        for batch in reader {
            let batch = batch.map_err(|e| e.to_string())?;
            let batch = RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec())
                .map_err(|e| {
                    format!("the TypeScript rows do not fit the raw path's schema: {e}")
                })?;
            self.rows += batch.num_rows();
            self.bytes += batch
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
                .sum::<usize>();
            self.chunks.push(batch);
        }
        Ok(())
    }

    /// The rows as record batches, to be written as IPC elsewhere (off the JS thread); the builder is empty
    /// afterwards.
    pub fn take(&mut self) -> Result<Taken, String> {
        self.close_open()?;
        let taken = Taken {
            schema: self.schema.clone(),
            batches: std::mem::take(&mut self.chunks),
            bytes: self.bytes,
        };
        self.rows = 0;
        self.bytes = 0;
        Ok(taken)
    }

    /// The rows as one Arrow IPC stream (one record batch per run of rows); the builder is empty afterwards.
    pub fn finish_ipc(&mut self) -> Result<Vec<u8>, String> {
        self.take()?.ipc()
    }
}

/// Rows taken out of a RawRows.
pub struct Taken {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    bytes: usize,
}

impl Taken {
    /// One Arrow IPC stream of the batches.
    pub fn ipc(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(self.bytes + 1024);
        let mut w = StreamWriter::try_new(&mut out, &self.schema).map_err(|e| e.to_string())?;
        for b in &self.batches {
            w.write(b).map_err(|e| e.to_string())?;
        }
        w.finish().map_err(|e| e.to_string())?;
        drop(w);
        Ok(out)
    }
}

/// A manual measurement, not a check (no assertion on time): `cargo test --release -p pep-lake --lib per_record_cost
/// -- --ignored --nocapture` prints the cost per record of the parser, serde_json for comparison, and `append`.
#[cfg(test)]
mod bench {
    use super::*;
    #[test]
    #[ignore]
    fn per_record_cost() {
        let ev = r#"{"event_id":"stripe:evt_1","provider":"stripe","provider_event_id":"evt_1","object_id":"pi_3Nabc","event_type":"payment.succeeded","provider_event_type":"payment_intent.succeeded","merchant_id":"acct_1","customer_id":"cus_1","amount_minor":2000,"currency":"USD","payment_method_type":"card","card_brand":"visa","card_last_four":"4242","status":"succeeded","failure_code":null,"failure_message":null,"metadata":{"order_id":"o_1","channel":"web"},"provider_created_at":"2026-12-06T10:00:00.000Z","received_at":"2026-12-06T10:00:01.234Z","normalized_at":"2026-12-06T10:00:01.240Z","schema_version":1}"#;
        let t = std::time::Instant::now();
        let n = 200_000;
        for _ in 0..n {
            std::hint::black_box(crate::jsjson::parse(std::hint::black_box(ev)).unwrap());
        }
        eprintln!("parse {:?}/record", t.elapsed() / n);
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(
                serde_json::from_str::<serde_json::Value>(std::hint::black_box(ev)).unwrap(),
            );
        }
        eprintln!("serde_json Value {:?}/record", t.elapsed() / n);
        let t = std::time::Instant::now();
        for _ in 0..n {
            let mut out: [Option<Value<'_>>; SLOTS] = Default::default();
            std::hint::black_box(
                crate::jsjson::parse_fields(std::hint::black_box(ev), slot, &mut out).unwrap(),
            );
        }
        eprintln!("parse_fields {:?}/record", t.elapsed() / n);
        let cols: Vec<ColumnSpec> = serde_json::from_str(r#"[{"name":"kafka_topic","type":"string","required":true},{"name":"kafka_partition","type":"int","required":true},{"name":"kafka_offset","type":"long","required":true},{"name":"kafka_timestamp","type":"timestamptz","required":true},{"name":"source_topic","type":"string","required":false},{"name":"source_partition","type":"int","required":false},{"name":"source_offset","type":"long","required":false},{"name":"event_id","type":"string","required":false},{"name":"provider","type":"string","required":false},{"name":"provider_event_id","type":"string","required":false},{"name":"object_id","type":"string","required":false},{"name":"event_type","type":"string","required":false},{"name":"provider_event_type","type":"string","required":false},{"name":"merchant_id","type":"string","required":false},{"name":"customer_id","type":"string","required":false},{"name":"amount_minor","type":"long","required":false},{"name":"currency","type":"string","required":false},{"name":"payment_method_type","type":"string","required":false},{"name":"card_brand","type":"string","required":false},{"name":"card_last_four","type":"string","required":false},{"name":"status","type":"string","required":false},{"name":"failure_code","type":"string","required":false},{"name":"failure_message","type":"string","required":false},{"name":"metadata","type":"string","required":false},{"name":"provider_created_at","type":"timestamptz","required":false},{"name":"received_at","type":"timestamptz","required":true},{"name":"normalized_at","type":"timestamptz","required":false},{"name":"schema_version","type":"int","required":false},{"name":"lake_error","type":"string","required":false},{"name":"raw_record","type":"string","required":false}]"#).unwrap();
        let mut r = RawRows::new(&cols).unwrap();
        let per = 500;
        let mut data = Vec::new();
        let mut lens = Vec::new();
        let mut nums = Vec::new();
        for i in 0..per {
            data.extend_from_slice(ev.as_bytes());
            data.extend_from_slice(b"webhooks.stripe.x112345");
            data.extend_from_slice(b"2026-12-06T10:00:01.234Z");
            lens.extend_from_slice(&[ev.len() as i32, 17, 1, 5, 24]);
            nums.extend_from_slice(&[i as f64, 1.0]);
        }
        let t = std::time::Instant::now();
        for _ in 0..400 {
            assert_eq!(r.append("t", 0, &data, &lens, &nums, 0).unwrap(), per);
            if r.rows() >= 50_000 {
                let t = std::time::Instant::now();
                let n = r.finish_ipc().unwrap().len();
                eprintln!("finish_ipc {:?} for 50k rows, {n} bytes", t.elapsed());
            }
        }
        eprintln!("append {:?}/record", t.elapsed() / (400 * per as u32));
    }
}
