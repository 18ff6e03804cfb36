//! Arrow IPC bytes from the caller → record batches in the table's exact Arrow schema (with Iceberg field ids).
//! Columns are matched by name. A column the table does not have, a type that differs (beyond the timezone label of
//! a UTC timestamp or the offset width of strings and binaries), or a null in a required column is SCHEMA_MISMATCH,
//! and nothing is written. A nullable table column the batch lacks is filled with nulls (a writer that predates a
//! schema evolution).

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_schema::{DataType, Schema as ArrowSchema, SchemaRef};
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::table::Table;

use crate::{codes, LakeError, Result};

/// Largest IPC stream one call accepts (the caller batches by bytes well below this).
pub const MAX_IPC_BYTES: usize = 512 << 20;

pub fn table_arrow_schema(t: &Table) -> Result<SchemaRef> {
    Ok(Arc::new(schema_to_arrow_schema(
        t.metadata().current_schema(),
    )?))
}

pub fn read_ipc(ipc: &[u8], t: &Table, table: &str) -> Result<Vec<RecordBatch>> {
    if ipc.len() > MAX_IPC_BYTES {
        return Err(LakeError::new(
            codes::INVALID_ARGUMENT,
            format!(
                "{table}: Arrow stream of {} bytes exceeds the {MAX_IPC_BYTES}-byte limit per call",
                ipc.len()
            ),
        ));
    }
    let reader = StreamReader::try_new(Cursor::new(ipc), None).map_err(|e| {
        LakeError::new(
            codes::SCHEMA_MISMATCH,
            format!("{table}: not an Arrow IPC stream: {e}"),
        )
    })?;
    let target = table_arrow_schema(t)?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| {
            LakeError::new(
                codes::SCHEMA_MISMATCH,
                format!("{table}: unreadable Arrow record batch: {e}"),
            )
        })?;
        out.push(conform(&batch, &target, table)?);
    }
    Ok(out)
}

fn compatible(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    match (from, to) {
        (Timestamp(a, Some(_)), Timestamp(b, Some(_))) => a == b,
        (Utf8, LargeUtf8) | (LargeUtf8, Utf8) | (Utf8View, Utf8) => true,
        (Binary, LargeBinary) | (LargeBinary, Binary) | (BinaryView, LargeBinary) => true,
        (Dictionary(_, v), t) => v.as_ref() == t || compatible(v, t),
        _ => false,
    }
}

pub fn conform(batch: &RecordBatch, target: &ArrowSchema, table: &str) -> Result<RecordBatch> {
    let source = batch.schema();
    for f in source.fields() {
        if target.field_with_name(f.name()).is_err() {
            return Err(LakeError::new(
                codes::SCHEMA_MISMATCH,
                format!(
                    "{table}: the batch has a column {:?} the table does not have (add it to the table definition in contracts/src/lake.ts; the sink evolves the table on start)",
                    f.name()
                ),
            ));
        }
    }
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for tf in target.fields() {
        let col = match batch.column_by_name(tf.name()) {
            None if tf.is_nullable() => new_null_array(tf.data_type(), rows),
            None => {
                return Err(LakeError::new(
                    codes::SCHEMA_MISMATCH,
                    format!(
                        "{table}: the batch lacks the required column {:?}",
                        tf.name()
                    ),
                ))
            }
            Some(a) if a.data_type() == tf.data_type() => a.clone(),
            Some(a) if compatible(a.data_type(), tf.data_type()) => {
                arrow_cast::cast(a, tf.data_type()).map_err(|e| {
                    LakeError::new(
                        codes::SCHEMA_MISMATCH,
                        format!("{table}.{}: {e}", tf.name()),
                    )
                })?
            }
            Some(a) => {
                return Err(LakeError::new(
                    codes::SCHEMA_MISMATCH,
                    format!(
                        "{table}.{}: the batch has type {} but the table has {}",
                        tf.name(),
                        a.data_type(),
                        tf.data_type()
                    ),
                ))
            }
        };
        if !tf.is_nullable() && col.null_count() > 0 {
            return Err(LakeError::new(
                codes::SCHEMA_MISMATCH,
                format!(
                    "{table}.{}: {} nulls in a required column",
                    tf.name(),
                    col.null_count()
                ),
            ));
        }
        columns.push(col);
    }
    RecordBatch::try_new(Arc::new(target.clone()), columns)
        .map_err(|e| LakeError::new(codes::SCHEMA_MISMATCH, format!("{table}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{Field, TimeUnit};

    fn target() -> ArrowSchema {
        ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                false,
            ),
        ])
    }

    fn batch(fields: Vec<Field>, cols: Vec<ArrayRef>) -> RecordBatch {
        RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), cols).unwrap()
    }

    #[test]
    fn fills_missing_nullable_columns_and_relabels_utc() {
        let b = batch(
            vec![
                Field::new(
                    "at",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    false,
                ),
                Field::new("id", DataType::Int64, false),
            ],
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![1, 2]).with_timezone("UTC")),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        );
        let out = conform(&b, &target(), "t").unwrap();
        assert_eq!(out.num_columns(), 3);
        assert_eq!(out.column(1).null_count(), 2);
        assert_eq!(
            out.schema().field(2).data_type(),
            target().field(2).data_type()
        );
    }

    #[test]
    fn rejects_unknown_columns_wrong_types_and_nulls_in_required_columns() {
        let extra = batch(
            vec![
                Field::new("id", DataType::Int64, false),
                Field::new("surprise", DataType::Int64, false),
            ],
            vec![
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(Int64Array::from(vec![1])),
            ],
        );
        let e = conform(&extra, &target(), "t").unwrap_err();
        assert_eq!(e.code, codes::SCHEMA_MISMATCH);
        assert!(e.message.contains("surprise"));

        let wrong = batch(
            vec![Field::new("id", DataType::Utf8, false)],
            vec![Arc::new(StringArray::from(vec!["1"]))],
        );
        let e = conform(&wrong, &target(), "t").unwrap_err();
        assert!(e.message.contains("t.id"), "{}", e.message);

        let nulls = batch(
            vec![
                Field::new("id", DataType::Int64, true),
                Field::new(
                    "at",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                    false,
                ),
            ],
            vec![
                Arc::new(Int64Array::from(vec![None, Some(2)])),
                Arc::new(TimestampMicrosecondArray::from(vec![1, 2]).with_timezone("+00:00")),
            ],
        );
        let e = conform(&nulls, &target(), "t").unwrap_err();
        assert!(
            e.message.contains("1 nulls in a required column"),
            "{}",
            e.message
        );
    }
}
