//! The lake sink's raw-bytes path for bronze.payment_events: a batch of Kafka record values (one buffer + lengths,
//! with the four headers and the offset and timestamp each row needs) becomes Arrow columns here, with exactly the
//! semantics of lakehouse/src/rows.ts (`paymentEventRow`) + arrow.ts. A record whose row this module cannot
//! reproduce exactly (not UTF-8, not a JSON object, no string event_id, a lone surrogate, a date form other than the
//! strict ISO ones, …) is handed back: `append` stops at it, the caller builds its row with the TypeScript path and
//! appends it with `append_ipc`, and goes on from the next record, so rows keep the records' order.
use std::io::Cursor;
use std::sync::Arc;

use arrow_array::builder::{
    Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
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
    /// A top-level string field of the event (`str(ev.x)`).
    Str(&'static str),
    AmountMinor,
    Metadata,
    /// A top-level ISO timestamp of the event (`isoMs(ev.x)`).
    Iso(&'static str),
    ReceivedAt,
    SchemaVersion,
    /// Always null on this path (lake_error, raw_record, and nullable columns the row does not set).
    Null,
}

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
        "provider_created_at" => want("timestamptz", Col::Iso("provider_created_at")),
        "normalized_at" => want("timestamptz", Col::Iso("normalized_at")),
        "received_at" => want("timestamptz", Col::ReceivedAt),
        "schema_version" => want("int", Col::SchemaVersion),
        name => match STR_FIELDS.iter().find(|f| **f == name) {
            Some(f) => want("string", Col::Str(f)),
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

    /// Approximate bytes held (the sink's flush trigger).
    pub fn bytes(&self) -> usize {
        self.bytes
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
            let start = at;
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
            self.bytes += at - start;
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
        let ev = match jsjson::parse(text).map_err(|_| ())? {
            Value::Obj(fields) => fields,
            _ => return Err(()),
        };
        let get = |k: &str| ev.iter().find(|(name, _)| name == k).map(|(_, v)| v);
        get("event_id").and_then(Value::as_str).ok_or(())?;
        let offset = exact(r.offset)?;
        let ts_us = exact(r.timestamp_ms)? * 1000;
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
                    let ms = iso(get(f).and_then(Value::as_str))?;
                    isos[usize::from(*f == "normalized_at")] = ms;
                }
                Col::ReceivedAt => {
                    received = Some(match iso(get("received_at").and_then(Value::as_str))? {
                        Some(ms) => ms,
                        None => iso(received_header)?.unwrap_or(ts_us / 1000),
                    });
                }
                Col::Metadata => has_metadata = true,
                _ => {}
            }
        }
        if has_metadata {
            meta.clear();
            match get("metadata") {
                None | Some(Value::Null) => {}
                Some(v) => jsjson::stringify(v, meta),
            }
        }
        let metadata_set = has_metadata && !matches!(get("metadata"), None | Some(Value::Null));
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
                (Col::Str(f), B::Str(b)) => b.append_option(get(f).and_then(Value::as_str)),
                (Col::AmountMinor, B::I64(b)) => b.append_option(safe_int(get("amount_minor"))),
                (Col::Metadata, B::Str(b)) => {
                    b.append_option(metadata_set.then_some(meta.as_str()))
                }
                (Col::Iso(f), B::Ts(b)) => {
                    b.append_option(isos[usize::from(*f == "normalized_at")].map(|ms| ms * 1000))
                }
                (Col::ReceivedAt, B::Ts(b)) => b.append_option(received.map(|ms| ms * 1000)),
                (Col::SchemaVersion, B::I32(b)) => b.append_option(
                    safe_int(get("schema_version"))
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
        self.bytes += 8 * self.cols.len();
        Ok(())
    }

    fn close_open(&mut self) -> Result<(), String> {
        if self.open_rows == 0 {
            return Ok(());
        }
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
            self.bytes += batch.get_array_memory_size();
            self.chunks.push(batch);
        }
        Ok(())
    }

    /// The rows as one Arrow IPC stream (one record batch per run of rows); the builder is empty afterwards.
    pub fn finish_ipc(&mut self) -> Result<Vec<u8>, String> {
        self.close_open()?;
        let mut out = Vec::with_capacity(self.bytes + 1024);
        {
            let mut w = StreamWriter::try_new(&mut out, &self.schema).map_err(|e| e.to_string())?;
            for b in &self.chunks {
                w.write(b).map_err(|e| e.to_string())?;
            }
            w.finish().map_err(|e| e.to_string())?;
        }
        self.chunks.clear();
        self.rows = 0;
        self.bytes = 0;
        Ok(out)
    }
}
