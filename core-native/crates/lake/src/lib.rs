//! The payment-event lakehouse writer: Apache Iceberg (format v2) tables in a SQL catalog on PostgreSQL (the layout
//! of Java's JdbcCatalog, so Trino's `iceberg.catalog.type=jdbc` reads the very same tables) or in an Iceberg REST
//! catalog (`CatalogType::Rest`: Polaris, Nessie, Lakekeeper, a cloud catalog), data files on the local filesystem or
//! S3-compatible storage. Both go through iceberg's `Catalog` trait; the commit path is the same.
//!
//! One write is one Arrow IPC stream (built by the TypeScript lake sink) → Parquet files (zstd) per partition under a
//! file-name prefix unique to that write (two writers must never produce the same file name: see the data-loss trap
//! in shared/reference/infrastructure.md) → a pending set of data files. A commit appends them with a fast append whose
//! snapshot summary carries the writer's cursors (Kafka offsets, a PostgreSQL horizon): the commit succeeds only when
//! the table's cursors are exactly where the writer's data starts, so a row is never committed twice and a writer
//! resumes from the table, never from a consumer group. Maintenance (compaction, snapshot expiry, orphan removal)
//! lives in `maintenance`.
//!
//! Not here: Kafka, Arrow batch building (TypeScript), query engines (DuckDB and Trino read the tables themselves).

mod commit;
mod conform;
pub mod jsjson;
mod maintenance;
pub mod rawrows;
mod rest_commit;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use iceberg::io::{FileIO, LocalFsStorageFactory, StorageFactory};
use iceberg::spec::{DataFile, DataFileFormat, NullOrder, Schema, UnboundPartitionSpec};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::{Catalog, CatalogBuilder, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_rest::{
    RestCatalogBuilder, REST_CATALOG_PROP_URI, REST_CATALOG_PROP_WAREHOUSE,
};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use commit::{CommitClaim, CommitOutcome};
pub use maintenance::{CompactOptions, ExpireOptions, OrphanOptions};

/// Error codes the TypeScript side branches on (the message text is for people).
pub mod codes {
    pub const SCHEMA_MISMATCH: &str = "SCHEMA_MISMATCH";
    pub const COMMIT_CONFLICT: &str = "COMMIT_CONFLICT";
    pub const WAREHOUSE_MISSING: &str = "WAREHOUSE_MISSING";
    pub const CATALOG_UNAVAILABLE: &str = "CATALOG_UNAVAILABLE";
    pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const IO: &str = "IO_ERROR";
    pub const INTERNAL: &str = "LAKE_ERROR";
}

#[derive(Debug, Clone)]
pub struct LakeError {
    pub code: &'static str,
    pub message: String,
}

impl LakeError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for LakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl std::error::Error for LakeError {}

impl From<iceberg::Error> for LakeError {
    fn from(e: iceberg::Error) -> Self {
        let code = match e.kind() {
            ErrorKind::CatalogCommitConflicts => codes::COMMIT_CONFLICT,
            ErrorKind::TableNotFound | ErrorKind::NamespaceNotFound => codes::NOT_FOUND,
            ErrorKind::DataInvalid => codes::SCHEMA_MISMATCH,
            _ => codes::INTERNAL,
        };
        // iceberg's Display carries the source chain (the sqlx or filesystem error says what really failed).
        let text = format!("{e:#}");
        let code = if text.contains("Connection refused")
            || text.contains("pool timed out")
            || text.contains("error communicating with database")
        {
            codes::CATALOG_UNAVAILABLE
        } else if text.contains("No such file or directory") {
            codes::IO
        } else {
            code
        };
        LakeError::new(code, text)
    }
}

pub type Result<T> = std::result::Result<T, LakeError>;

/// Which catalog the tables live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogType {
    /// Iceberg's SQL catalog in PostgreSQL (the JDBC catalog's layout; `jdbc` is the same thing).
    #[default]
    #[serde(alias = "jdbc")]
    Sql,
    /// An Iceberg REST catalog (Polaris, Nessie, Lakekeeper, a cloud catalog, Apache Iceberg's REST fixture).
    Rest,
}

/// How to reach the catalog and the warehouse.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LakeOptions {
    /// `sql` (default) or `rest`.
    #[serde(default)]
    pub catalog_type: CatalogType,
    /// SQL: PostgreSQL URL of the catalog database (`postgres://user:pass@host:port/db`). REST: the catalog's base
    /// URL (`http(s)://host:port/prefix`, the one before `/v1/config`).
    pub catalog_uri: String,
    /// Catalog name shared with Trino's `iceberg.jdbc-catalog.catalog-name` (SQL); a label for the REST catalog.
    pub catalog_name: String,
    /// REST: the `warehouse` the catalog is asked for (a name or a location, catalog-specific); unset: none.
    #[serde(default)]
    pub catalog_warehouse: Option<String>,
    /// REST: OAuth2 client credentials `<client id>:<secret>` exchanged for a token. Never printed.
    #[serde(default)]
    pub catalog_credential: Option<String>,
    /// `file:///abs/dir` (must exist) or `s3://bucket/prefix`.
    pub warehouse: String,
    /// Extra catalog/FileIO properties: `s3.endpoint`, `s3.access-key-id`, `s3.secret-access-key`, `s3.region`,
    /// `s3.path-style-access`, `pool.max-connections`.
    #[serde(default)]
    pub props: HashMap<String, String>,
    /// zstd level for data files (default 3).
    #[serde(default)]
    pub zstd_level: Option<i32>,
    /// Target size of one data file before the writer rolls to the next (default 128 MiB).
    #[serde(default)]
    pub target_file_bytes: Option<usize>,
}

impl fmt::Debug for LakeOptions {
    /// Without secrets: the credential and the property values (S3 keys) are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<_> = self.props.keys().collect();
        keys.sort();
        f.debug_struct("LakeOptions")
            .field("catalog_type", &self.catalog_type)
            .field("catalog_uri", &redact_url(&self.catalog_uri))
            .field("catalog_name", &self.catalog_name)
            .field("catalog_warehouse", &self.catalog_warehouse)
            .field(
                "catalog_credential",
                &self.catalog_credential.as_ref().map(|_| "***"),
            )
            .field("warehouse", &self.warehouse)
            .field("props", &keys)
            .field("zstd_level", &self.zstd_level)
            .field("target_file_bytes", &self.target_file_bytes)
            .finish()
    }
}

/// What a table looks like now (JSON to the caller).
/// One column of a table's sort order, as the table definition gives it (`[{"name":"customer_id"}, …]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortColumn {
    pub name: String,
    #[serde(default)]
    pub descending: bool,
    /// Iceberg's default: nulls first when ascending.
    #[serde(default = "default_true")]
    pub nulls_first: bool,
}

fn default_true() -> bool {
    true
}

/// The default sort order of a table as columns; a transform other than identity (which this writer never sets) is
/// an error rather than an order silently ignored.
pub(crate) fn sort_columns(md: &iceberg::spec::TableMetadata) -> Result<Vec<SortColumn>> {
    let schema = md.current_schema();
    md.default_sort_order()
        .fields
        .iter()
        .map(|f| {
            let name = schema
                .name_by_field_id(f.source_id)
                .ok_or_else(|| {
                    LakeError::new(
                        codes::INTERNAL,
                        format!("sort order field {} is not in the schema", f.source_id),
                    )
                })?
                .to_string();
            if f.transform != iceberg::spec::Transform::Identity {
                return Err(LakeError::new(
                    codes::INVALID_ARGUMENT,
                    format!(
                        "sort order on {name} uses transform {}; only identity is supported",
                        f.transform
                    ),
                ));
            }
            Ok(SortColumn {
                name,
                descending: f.direction == iceberg::spec::SortDirection::Descending,
                nulls_first: f.null_order == NullOrder::First,
            })
        })
        .collect()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableInfo {
    pub table: String,
    pub location: String,
    pub metadata_location: Option<String>,
    pub snapshot_id: Option<i64>,
    pub schema: Value,
    /// Cursors resolved from the newest snapshot in the current ancestry that carries `cursor_key`.
    pub cursors: HashMap<String, String>,
    pub snapshots: usize,
    pub added_columns: Vec<String>,
    /// The table's default sort order (what compaction sorts each partition by); empty: unsorted.
    pub sort_order: Vec<SortColumn>,
}

/// Data files written by `write` and not committed yet.
struct Pending {
    table: TableIdent,
    files: Vec<DataFile>,
    /// The table as it was when the files were written (its schema and partition spec wrote them).
    schema_id: i32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteOutcome {
    pub handle: u64,
    pub rows: u64,
    pub files: Vec<String>,
    pub file_bytes: u64,
}

/// Data files being written across calls: `open_write`, `write_chunk`… , `close_write` (the lake sink hands each
/// chunk of rows over as it fills, so the Parquet encoding overlaps its fetching instead of following it).
type DataWriter = FanoutWriter<
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>,
>;

struct OpenWrite {
    name: String,
    /// The table as it was when the write opened: its schema and partition spec write every chunk.
    table: Table,
    fanout: DataWriter,
    splitter: iceberg::arrow::RecordBatchPartitionSplitter,
    rows: u64,
}

type OpenSlot = Arc<tokio::sync::Mutex<Option<OpenWrite>>>;

/// Open writes per connection at most (the sink holds one per table and flush; more is a leak).
pub const MAX_OPEN_WRITES: usize = 256;

pub struct Lake {
    catalog: Arc<dyn Catalog>,
    options: LakeOptions,
    storage: Arc<dyn StorageFactory>,
    /// How maintenance commits what the `Catalog` trait cannot carry (compaction's replace snapshot).
    swap: Swap,
    pending: Mutex<HashMap<u64, Pending>>,
    open: Mutex<HashMap<u64, OpenSlot>>,
    tables: Mutex<HashMap<String, Table>>,
    next_handle: AtomicU64,
}

#[cfg(feature = "s3")]
fn s3_storage() -> Result<Arc<dyn StorageFactory>> {
    Ok(Arc::new(
        iceberg_storage_opendal::OpenDalResolvingStorageFactory::new(),
    ))
}

#[cfg(not(feature = "s3"))]
fn s3_storage() -> Result<Arc<dyn StorageFactory>> {
    Err(LakeError::new(
        codes::INVALID_ARGUMENT,
        "this lake addon was built without S3 support: rebuild it with `PEP_LAKE_FEATURES=s3 npm run build:lake -w @pep/lakehouse`",
    ))
}

/// `file:///abs` for a bare absolute path or a `file:` URI; other schemes unchanged.
pub fn normalize_warehouse(w: &str) -> Result<String> {
    let w = w.trim().trim_end_matches('/');
    if w.is_empty() {
        return Err(LakeError::new(
            codes::INVALID_ARGUMENT,
            "the warehouse location is empty",
        ));
    }
    if let Some(rest) = w.strip_prefix("file://") {
        return Ok(format!(
            "file://{}",
            if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("/{rest}")
            }
        ));
    }
    if let Some(rest) = w.strip_prefix("file:") {
        return Ok(format!("file:///{}", rest.trim_start_matches('/')));
    }
    if w.starts_with('/') {
        return Ok(format!("file://{w}"));
    }
    if w.contains("://") {
        return Ok(w.to_string());
    }
    Err(LakeError::new(
        codes::INVALID_ARGUMENT,
        format!("warehouse {w:?} is neither an absolute path, a file:// URI nor an s3:// URI"),
    ))
}

fn local_path(location: &str) -> Option<&str> {
    location.strip_prefix("file://")
}

impl Lake {
    pub async fn open(mut options: LakeOptions) -> Result<Lake> {
        options.warehouse = normalize_warehouse(&options.warehouse)?;
        let storage: Arc<dyn StorageFactory> = if let Some(path) = local_path(&options.warehouse) {
            match std::fs::metadata(path) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(LakeError::new(
                        codes::WAREHOUSE_MISSING,
                        format!("warehouse {path} is not a directory"),
                    ))
                }
                Err(e) => {
                    return Err(LakeError::new(
                        codes::WAREHOUSE_MISSING,
                        format!(
                            "warehouse directory {path} is not there ({e}); create it or point LAKE_WAREHOUSE at an existing directory"
                        ),
                    ))
                }
            }
            Arc::new(LocalFsStorageFactory)
        } else if options.warehouse.starts_with("s3://") || options.warehouse.starts_with("s3a://")
        {
            s3_storage()?
        } else {
            return Err(LakeError::new(
                codes::INVALID_ARGUMENT,
                format!("unsupported warehouse scheme in {}", options.warehouse),
            ));
        };
        let (catalog, swap) = match options.catalog_type {
            CatalogType::Sql => open_sql(&options, storage.clone()).await?,
            CatalogType::Rest => open_rest(&options, storage.clone()).await?,
        };
        Ok(Lake {
            catalog,
            options,
            storage,
            swap,
            pending: Mutex::new(HashMap::new()),
            open: Mutex::new(HashMap::new()),
            tables: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
        })
    }

    pub fn warehouse(&self) -> &str {
        &self.options.warehouse
    }

    fn file_io(&self) -> FileIO {
        iceberg::io::FileIOBuilder::new(self.storage.clone())
            .with_props(self.options.props.clone())
            .build()
    }

    pub(crate) fn catalog(&self) -> &dyn Catalog {
        self.catalog.as_ref()
    }

    /// Creates the namespace and the table when missing; otherwise adds the columns of `schema_json` the table lacks
    /// (as optional columns: files written before read them as null). A column whose type differs is an error.
    pub async fn ensure_table(
        &self,
        table: &str,
        schema_json: &str,
        partition_spec_json: &str,
        cursor_key: &str,
        sort_order_json: &str,
    ) -> Result<TableInfo> {
        let ident = parse_ident(table)?;
        let desired: Schema = serde_json::from_str(schema_json).map_err(|e| {
            LakeError::new(
                codes::INVALID_ARGUMENT,
                format!("{table}: schema JSON: {e}"),
            )
        })?;
        let sort_by: Vec<SortColumn> = if sort_order_json.trim().is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(sort_order_json).map_err(|e| {
                LakeError::new(
                    codes::INVALID_ARGUMENT,
                    format!("{table}: sort order JSON: {e}"),
                )
            })?
        };
        for c in &sort_by {
            if desired.field_by_name(&c.name).is_none() {
                return Err(LakeError::new(
                    codes::INVALID_ARGUMENT,
                    format!("{table}: sort column {} is not a column", c.name),
                ));
            }
        }
        let spec: UnboundPartitionSpec =
            serde_json::from_str(partition_spec_json).map_err(|e| {
                LakeError::new(
                    codes::INVALID_ARGUMENT,
                    format!("{table}: partition spec JSON: {e}"),
                )
            })?;
        let ns = ident.namespace().clone();
        if !self.catalog.namespace_exists(&ns).await? {
            if let Err(e) = self.catalog.create_namespace(&ns, HashMap::new()).await {
                // Another writer may have created it a moment ago.
                if !self.catalog.namespace_exists(&ns).await? {
                    return Err(e.into());
                }
            }
        }
        let mut added = Vec::new();
        let t = if self.catalog.table_exists(&ident).await? {
            let t = self.catalog.load_table(&ident).await?;
            let current = t.metadata().current_schema();
            let mut missing = Vec::new();
            for f in desired.as_struct().fields() {
                match current.field_by_name(&f.name) {
                    Some(cur) if *cur.field_type != *f.field_type => {
                        return Err(LakeError::new(
                            codes::SCHEMA_MISMATCH,
                            format!(
                                "{table}.{}: the table has type {} but the definition says {}; a column's type never changes (add a new column)",
                                f.name, cur.field_type, f.field_type
                            ),
                        ))
                    }
                    Some(_) => {}
                    None => missing.push(f.clone()),
                }
            }
            if missing.is_empty() {
                t
            } else {
                let tx = Transaction::new(&t);
                let mut action = tx.update_schema();
                for f in &missing {
                    action =
                        action.add_column(AddColumn::optional(&f.name, (*f.field_type).clone()));
                    added.push(f.name.clone());
                }
                let tx = action.apply(tx)?;
                match tx.commit(self.catalog.as_ref()).await {
                    Ok(t) => t,
                    // Another writer evolved the table at the same time: take what is there now.
                    Err(_) => self.catalog.load_table(&ident).await?,
                }
            }
        } else {
            let mut properties = HashMap::new();
            properties.insert(
                "write.parquet.compression-codec".to_string(),
                "zstd".to_string(),
            );
            properties.insert("write.format.default".to_string(), "parquet".to_string());
            let creation = TableCreation::builder()
                .name(ident.name().to_string())
                .schema(desired)
                .partition_spec(spec)
                .properties(properties)
                .build();
            match self.catalog.create_table(&ns, creation).await {
                Ok(t) => t,
                Err(e) => {
                    if self.catalog.table_exists(&ident).await? {
                        self.catalog.load_table(&ident).await?
                    } else {
                        return Err(e.into());
                    }
                }
            }
        };
        // The table's sort order (what compaction sorts each partition by) is set once, when the table has none: a
        // table created before its definition had one gets it here; an order set since (e.g. Trino's `sorted_by`) is
        // left alone.
        let t = if !sort_by.is_empty() && t.metadata().default_sort_order().is_unsorted() {
            let tx = Transaction::new(&t);
            let mut action = tx.replace_sort_order();
            for c in &sort_by {
                let nulls = if c.nulls_first {
                    NullOrder::First
                } else {
                    NullOrder::Last
                };
                action = if c.descending {
                    action.desc(&c.name, nulls)
                } else {
                    action.asc(&c.name, nulls)
                };
            }
            let tx = action.apply(tx)?;
            match tx.commit(self.catalog.as_ref()).await {
                Ok(t) => t,
                // Another writer set it at the same time: take what is there now.
                Err(_) => self.catalog.load_table(&ident).await?,
            }
        } else {
            t
        };
        self.check_location(&t)?;
        self.remember(&t);
        let mut info = self.info_of(&t, cursor_key)?;
        info.added_columns = added;
        Ok(info)
    }

    pub async fn table_info(&self, table: &str, cursor_key: &str) -> Result<TableInfo> {
        let ident = parse_ident(table)?;
        let t = self.catalog.load_table(&ident).await?;
        self.remember(&t);
        self.info_of(&t, cursor_key)
    }

    fn info_of(&self, t: &Table, cursor_key: &str) -> Result<TableInfo> {
        let md = t.metadata();
        let schema = serde_json::to_value(md.current_schema().as_ref())
            .map_err(|e| LakeError::new(codes::INTERNAL, e.to_string()))?;
        let cursors = if cursor_key.is_empty() {
            HashMap::new()
        } else {
            commit::resolve_cursors(md, cursor_key, None)?.cursors
        };
        Ok(TableInfo {
            table: t.identifier().to_string(),
            location: md.location().to_string(),
            metadata_location: t.metadata_location().map(str::to_string),
            snapshot_id: md.current_snapshot_id(),
            schema,
            cursors,
            snapshots: md.snapshots().count(),
            added_columns: vec![],
            // A table another engine sorted with a transform (bucket, truncate) still opens and reports its cursors;
            // only compaction, which would have to sort by it, refuses it (sort_columns' error).
            sort_order: sort_columns(md).unwrap_or_default(),
        })
    }

    /// With a REST catalog the catalog places the tables; the writer's file IO comes from LAKE_WAREHOUSE, so both must
    /// be on the same kind of storage (an `s3://` table with a local warehouse would fail later, less clearly).
    fn check_location(&self, t: &Table) -> Result<()> {
        fn kind(l: &str) -> &str {
            match l.split_once("://").map(|(s, _)| s) {
                Some("s3a") | Some("s3n") => "s3",
                Some(s) => s,
                None => "file",
            }
        }
        let location = t.metadata().location();
        if self.options.catalog_type == CatalogType::Rest
            && kind(location) != kind(&self.options.warehouse)
        {
            return Err(LakeError::new(
                codes::INVALID_ARGUMENT,
                format!(
                    "{}: the REST catalog keeps this table at {location}, but the writer's warehouse (LAKE_WAREHOUSE) \
                     is {}; set LAKE_WAREHOUSE to the catalog's warehouse location",
                    t.identifier(),
                    self.options.warehouse
                ),
            ));
        }
        Ok(())
    }

    fn remember(&self, t: &Table) {
        self.tables
            .lock()
            .expect("tables lock")
            .insert(t.identifier().to_string(), t.clone());
    }

    pub(crate) fn forget(&self, ident: &TableIdent) {
        self.tables
            .lock()
            .expect("tables lock")
            .remove(&ident.to_string());
    }

    async fn cached_table(&self, ident: &TableIdent) -> Result<Table> {
        if let Some(t) = self
            .tables
            .lock()
            .expect("tables lock")
            .get(&ident.to_string())
        {
            return Ok(t.clone());
        }
        let t = self.catalog.load_table(ident).await?;
        self.remember(&t);
        Ok(t)
    }

    /// Writes one Arrow IPC stream as Parquet data files (not visible until `commit`). `writer` names the writer in
    /// the files' prefix, followed by a fresh UUID: no two writes, in any process, share a file name.
    pub async fn write(&self, table: &str, ipc: &[u8], writer: &str) -> Result<WriteOutcome> {
        let ident = parse_ident(table)?;
        let t = self.cached_table(&ident).await?;
        let batches = conform::read_ipc(ipc, &t, table)?;
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        if rows == 0 {
            return Err(LakeError::new(
                codes::INVALID_ARGUMENT,
                format!("{table}: the Arrow stream holds no rows"),
            ));
        }
        let files = self.write_batches(&t, &batches, writer, None).await?;
        Ok(self.add_pending(ident, &t, files, rows))
    }

    fn add_pending(
        &self,
        ident: TableIdent,
        t: &Table,
        files: Vec<DataFile>,
        rows: u64,
    ) -> WriteOutcome {
        let file_bytes = files.iter().map(|f| f.file_size_in_bytes()).sum();
        let paths = files.iter().map(|f| f.file_path().to_string()).collect();
        let handle = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.pending.lock().expect("pending lock").insert(
            handle,
            Pending {
                table: ident,
                files,
                schema_id: t.metadata().current_schema_id(),
            },
        );
        WriteOutcome {
            handle,
            rows,
            files: paths,
            file_bytes,
        }
    }

    /// Opens a write whose rows arrive in chunks (`write_chunk`); `close_write` turns it into a pending write, as
    /// `write` returns, and `abort_write` drops it. The file-name prefix is unique to this write, as in `write`.
    pub async fn open_write(&self, table: &str, writer: &str) -> Result<u64> {
        let ident = parse_ident(table)?;
        let t = self.cached_table(&ident).await?;
        let (fanout, splitter) = self.data_writer(&t, writer, None)?;
        let mut open = self.open.lock().expect("open lock");
        if open.len() >= MAX_OPEN_WRITES {
            return Err(LakeError::new(
                codes::INVALID_ARGUMENT,
                format!("{MAX_OPEN_WRITES} writes are open already: close or abort one first"),
            ));
        }
        let id = self.next_handle.fetch_add(1, Ordering::Relaxed);
        let w = OpenWrite {
            name: table.to_string(),
            table: t,
            fanout,
            splitter,
            rows: 0,
        };
        open.insert(id, Arc::new(tokio::sync::Mutex::new(Some(w))));
        Ok(id)
    }

    fn open_slot(&self, id: u64) -> Result<OpenSlot> {
        self.open
            .lock()
            .expect("open lock")
            .get(&id)
            .cloned()
            .ok_or_else(|| {
                LakeError::new(
                    codes::INVALID_ARGUMENT,
                    format!("no open write with id {id}"),
                )
            })
    }

    /// Encodes one Arrow IPC stream's rows into the open write's files; returns the rows written so far. Chunks of
    /// one write are applied in the order of the calls that reach here (the caller awaits each before the next).
    pub async fn write_chunk(&self, id: u64, ipc: &[u8]) -> Result<u64> {
        let slot = self.open_slot(id)?;
        let mut guard = slot.lock().await;
        let w = guard.as_mut().ok_or_else(|| {
            LakeError::new(codes::INVALID_ARGUMENT, format!("write {id} is closed"))
        })?;
        let batches = conform::read_ipc(ipc, &w.table, &w.name)?;
        for batch in &batches {
            for (key, part) in w.splitter.split(batch)? {
                w.fanout.write(key, part).await?;
            }
            w.rows += batch.num_rows() as u64;
        }
        Ok(w.rows)
    }

    /// Finishes the open write's files and makes them a pending write (commit or abort it by its handle).
    pub async fn close_write(&self, id: u64) -> Result<WriteOutcome> {
        let slot = self.open_slot(id)?;
        let taken = slot.lock().await.take();
        self.open.lock().expect("open lock").remove(&id);
        let w = taken.ok_or_else(|| {
            LakeError::new(codes::INVALID_ARGUMENT, format!("write {id} is closed"))
        })?;
        let OpenWrite {
            name,
            table,
            fanout,
            rows,
            ..
        } = w;
        if rows == 0 {
            // Nothing was written, so no file exists.
            return Err(LakeError::new(
                codes::INVALID_ARGUMENT,
                format!("{name}: the write holds no rows"),
            ));
        }
        let files = fanout.close().await?;
        Ok(self.add_pending(table.identifier().clone(), &table, files, rows))
    }

    /// Drops an open write and deletes the files it wrote; the number of files deleted.
    pub async fn abort_write(&self, id: u64) -> Result<usize> {
        let Ok(slot) = self.open_slot(id) else {
            return Ok(0);
        };
        let taken = slot.lock().await.take();
        self.open.lock().expect("open lock").remove(&id);
        let Some(w) = taken else { return Ok(0) };
        if w.rows == 0 {
            return Ok(0);
        }
        // Closing finishes the files so that their names are known; a write whose close fails leaves orphans for
        // `orphans` to remove, as a crash would.
        let files = w.fanout.close().await?;
        let io = self.file_io();
        let mut deleted = 0;
        for f in &files {
            if io.delete(f.file_path()).await.is_ok() {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Open writes (for tests and metrics).
    pub fn open_writes(&self) -> usize {
        self.open.lock().expect("open lock").len()
    }

    pub(crate) async fn write_batches(
        &self,
        t: &Table,
        batches: &[arrow_array::RecordBatch],
        writer: &str,
        row_group_rows: Option<usize>,
    ) -> Result<Vec<DataFile>> {
        let (mut fanout, splitter) = self.data_writer(t, writer, row_group_rows)?;
        for batch in batches {
            for (key, part) in splitter.split(batch)? {
                fanout.write(key, part).await?;
            }
        }
        Ok(fanout.close().await?)
    }

    /// Parquet (zstd) data files per partition of `t`, under a file-name prefix no other write shares.
    fn data_writer(
        &self,
        t: &Table,
        writer: &str,
        row_group_rows: Option<usize>,
    ) -> Result<(DataWriter, iceberg::arrow::RecordBatchPartitionSplitter)> {
        let md = t.metadata();
        let schema = md.current_schema().clone();
        let spec = md.default_partition_spec().clone();
        let level = ZstdLevel::try_new(self.options.zstd_level.unwrap_or(3))
            .map_err(|e| LakeError::new(codes::INVALID_ARGUMENT, format!("zstd level: {e}")))?;
        let mut props = WriterProperties::builder().set_compression(Compression::ZSTD(level));
        if let Some(rows) = row_group_rows {
            props = props.set_max_row_group_row_count(Some(rows.max(1)));
        }
        let props = props.build();
        let safe_writer: String = writer
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        let prefix = format!("{safe_writer}-{}", uuid::Uuid::now_v7());
        let location = DefaultLocationGenerator::new(md)?;
        let names = DefaultFileNameGenerator::new(prefix, None, DataFileFormat::Parquet);
        let rolling = RollingFileWriterBuilder::new(
            ParquetWriterBuilder::new(props, schema.clone()),
            self.options.target_file_bytes.unwrap_or(128 << 20),
            t.file_io().clone(),
            location,
            names,
        );
        let builder = DataFileWriterBuilder::new(rolling);
        let fanout = FanoutWriter::new(builder);
        let splitter = iceberg::arrow::RecordBatchPartitionSplitter::try_new_with_computed_values(
            schema.clone(),
            spec.clone(),
        )?;
        Ok((fanout, splitter))
    }

    /// Appends the pending files of `handle` if the table's cursors are where `claim` says the data starts.
    pub async fn commit(&self, handle: u64, claim: &CommitClaim) -> Result<CommitOutcome> {
        let (ident, files, schema_id) = {
            let pending = self.pending.lock().expect("pending lock");
            let p = pending.get(&handle).ok_or_else(|| {
                LakeError::new(
                    codes::INVALID_ARGUMENT,
                    format!("no pending write with handle {handle}"),
                )
            })?;
            (p.table.clone(), p.files.clone(), p.schema_id)
        };
        let out = commit::commit_files(self, &ident, files, schema_id, claim).await;
        match &out {
            Ok(_) => {
                self.pending.lock().expect("pending lock").remove(&handle);
            }
            Err(e) if e.code == codes::COMMIT_CONFLICT => self.forget(&ident),
            Err(_) => {}
        }
        out
    }

    /// Drops a pending write and deletes its files (they were never committed, so nothing references them).
    pub async fn abort(&self, handle: u64) -> Result<usize> {
        let p = self.pending.lock().expect("pending lock").remove(&handle);
        let Some(p) = p else { return Ok(0) };
        let io = self.file_io();
        let mut deleted = 0;
        for f in &p.files {
            if io.delete(f.file_path()).await.is_ok() {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    pub async fn compact(&self, table: &str, opts: &CompactOptions) -> Result<Value> {
        maintenance::compact(self, &parse_ident(table)?, opts).await
    }

    pub async fn expire(&self, table: &str, opts: &ExpireOptions) -> Result<Value> {
        maintenance::expire(self, &parse_ident(table)?, opts).await
    }

    pub async fn orphans(&self, table: &str, opts: &OrphanOptions) -> Result<Value> {
        maintenance::orphans(self, &parse_ident(table)?, opts).await
    }

    /// Every data file of the current snapshot (path, rows, bytes, partition), for reconciliation and tests.
    pub async fn files(&self, table: &str) -> Result<Value> {
        let ident = parse_ident(table)?;
        let t = self.catalog.load_table(&ident).await?;
        let live = maintenance::live_entries(&t).await?;
        Ok(json!(live
            .iter()
            .map(|e| json!({
                "path": e.data_file().file_path(),
                "rows": e.data_file().record_count(),
                "bytes": e.data_file().file_size_in_bytes(),
                "partition": format!("{:?}", e.data_file().partition()),
            }))
            .collect::<Vec<_>>()))
    }

    /// How compaction's replace snapshot is committed: the SQL catalog's table, or the REST catalog's commit endpoint.
    pub(crate) fn swap(&self) -> &Swap {
        &self.swap
    }

    pub(crate) fn file_io_props(&self) -> &HashMap<String, String> {
        &self.options.props
    }

    pub(crate) fn catalog_name(&self) -> &str {
        &self.options.catalog_name
    }
}

/// Where a commit that iceberg's `Transaction` cannot express (a `replace` snapshot) goes.
pub(crate) enum Swap {
    /// The SQL catalog's database: a compare-and-swap of `iceberg_tables.metadata_location`.
    Sql(sqlx::PgPool),
    /// The REST catalog's commit endpoint, with requirements the catalog checks atomically.
    Rest(rest_commit::RestCommitter),
}

async fn open_sql(
    options: &LakeOptions,
    storage: Arc<dyn StorageFactory>,
) -> Result<(Arc<dyn Catalog>, Swap)> {
    let mut props = options.props.clone();
    props
        .entry("pool.max-connections".into())
        .or_insert_with(|| "2".into());
    let catalog = SqlCatalogBuilder::default()
        .uri(options.catalog_uri.clone())
        .warehouse_location(options.warehouse.clone())
        .sql_bind_style(SqlBindStyle::DollarNumeric)
        .with_storage_factory(storage)
        .load(options.catalog_name.clone(), props)
        .await
        .map_err(|e| {
            LakeError::new(
                codes::CATALOG_UNAVAILABLE,
                format!(
                    "cannot open the Iceberg SQL catalog at {}: {e:#}",
                    redact_url(&options.catalog_uri)
                ),
            )
        })?;
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(&options.catalog_uri)
        .map_err(|e| LakeError::new(codes::CATALOG_UNAVAILABLE, format!("catalog URL: {e}")))?;
    Ok((Arc::new(catalog), Swap::Sql(pg)))
}

/// Opens the REST catalog and asks it for its configuration (`GET /v1/config`, after the OAuth2 token exchange when
/// a credential is set), so a wrong URL or credential fails here, with the URL in the message and never the secret.
async fn open_rest(
    options: &LakeOptions,
    storage: Arc<dyn StorageFactory>,
) -> Result<(Arc<dyn Catalog>, Swap)> {
    let uri = options.catalog_uri.trim().trim_end_matches('/').to_string();
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(LakeError::new(
            codes::INVALID_ARGUMENT,
            format!(
                "the REST catalog URI must be an http:// or https:// URL, got {:?}",
                redact_url(&uri)
            ),
        ));
    }
    let mut props = options.props.clone();
    props.insert(REST_CATALOG_PROP_URI.into(), uri.clone());
    if let Some(w) = options
        .catalog_warehouse
        .as_deref()
        .filter(|w| !w.is_empty())
    {
        props.insert(REST_CATALOG_PROP_WAREHOUSE.into(), w.to_string());
    }
    if let Some(c) = options
        .catalog_credential
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        props.insert("credential".into(), c.to_string());
    }
    let secret = options.catalog_credential.clone().unwrap_or_default();
    let scrub = |text: String| -> String {
        if secret.is_empty() {
            text
        } else {
            text.replace(&secret, "***")
        }
    };
    let committer = rest_commit::RestCommitter::new(&uri, props.clone())?;
    let catalog = RestCatalogBuilder::default()
        .with_storage_factory(storage)
        .load(options.catalog_name.clone(), props)
        .await
        .map_err(|e| {
            LakeError::new(
                codes::INVALID_ARGUMENT,
                scrub(format!(
                    "cannot open the Iceberg REST catalog at {}: {e:#}",
                    redact_url(&uri)
                )),
            )
        })?;
    // The client is lazy: this is the first request (config, token).
    if let Err(e) = catalog.list_namespaces(None).await {
        return Err(LakeError::new(
            codes::CATALOG_UNAVAILABLE,
            scrub(format!(
                "cannot reach the Iceberg REST catalog at {} (LAKE_CATALOG_URI): {}",
                redact_url(&uri),
                with_causes(&e)
            )),
        ));
    }
    Ok((Arc::new(catalog), Swap::Rest(committer)))
}

/// `{e:#}` plus every cause below it that the text does not show yet (reqwest's "Connection refused" sits two levels
/// down, under "error sending request").
fn with_causes(e: &iceberg::Error) -> String {
    let mut text = format!("{e:#}");
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}

pub fn parse_ident(table: &str) -> Result<TableIdent> {
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(LakeError::new(
            codes::INVALID_ARGUMENT,
            format!("table name {table:?} must be <namespace>.<table>"),
        ));
    }
    let (name, ns) = parts.split_last().expect("two parts at least");
    Ok(TableIdent::new(
        NamespaceIdent::from_strs(ns.iter().copied()).map_err(LakeError::from)?,
        name.to_string(),
    ))
}

/// The catalog URL without its password, for error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &cred[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_warehouse_locations() {
        assert_eq!(normalize_warehouse("/tmp/wh/").unwrap(), "file:///tmp/wh");
        assert_eq!(
            normalize_warehouse("file:/tmp/wh").unwrap(),
            "file:///tmp/wh"
        );
        assert_eq!(
            normalize_warehouse("file:///tmp/wh").unwrap(),
            "file:///tmp/wh"
        );
        assert_eq!(
            normalize_warehouse("s3://bucket/lake").unwrap(),
            "s3://bucket/lake"
        );
        assert_eq!(
            normalize_warehouse("relative/dir").unwrap_err().code,
            codes::INVALID_ARGUMENT
        );
    }

    #[test]
    fn parses_table_names() {
        let t = parse_ident("bronze.payment_events").unwrap();
        assert_eq!(t.name(), "payment_events");
        assert_eq!(t.namespace().to_url_string(), "bronze");
        assert!(parse_ident("payment_events").is_err());
        assert!(parse_ident("bronze.").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }

    #[tokio::test]
    async fn missing_warehouse_is_a_clear_error() {
        let err = Lake::open(LakeOptions {
            catalog_type: CatalogType::Sql,
            catalog_uri: "postgres://nobody@127.0.0.1:1/none".into(),
            catalog_name: "pep".into(),
            catalog_warehouse: None,
            catalog_credential: None,
            warehouse: "/nonexistent/pep-lake-warehouse".into(),
            props: HashMap::new(),
            zstd_level: None,
            target_file_bytes: None,
        })
        .await
        .err()
        .expect("open must fail");
        assert_eq!(err.code, codes::WAREHOUSE_MISSING);
        assert!(err.message.contains("/nonexistent/pep-lake-warehouse"));
    }

    fn rest_options(uri: &str) -> LakeOptions {
        LakeOptions {
            catalog_type: CatalogType::Rest,
            catalog_uri: uri.into(),
            catalog_name: "pep".into(),
            catalog_warehouse: Some("wh".into()),
            catalog_credential: Some("client-id:s3cr3t-value".into()),
            warehouse: std::env::temp_dir().display().to_string(),
            props: HashMap::new(),
            zstd_level: None,
            target_file_bytes: None,
        }
    }

    #[test]
    fn catalog_types_parse_with_jdbc_as_sql() {
        for (text, want) in [
            ("sql", CatalogType::Sql),
            ("jdbc", CatalogType::Sql),
            ("rest", CatalogType::Rest),
        ] {
            let got: CatalogType = serde_json::from_str(&format!("{text:?}")).unwrap();
            assert_eq!(got, want);
        }
        assert!(serde_json::from_str::<CatalogType>("\"hive\"").is_err());
        let o: LakeOptions = serde_json::from_str(
            r#"{"catalogUri":"postgres://h/db","catalogName":"pep","warehouse":"/tmp"}"#,
        )
        .unwrap();
        assert_eq!(o.catalog_type, CatalogType::Sql);
    }

    #[test]
    fn options_never_print_the_credential() {
        let text = format!("{:?}", rest_options("http://127.0.0.1:1"));
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("***"), "{text}");
    }

    #[tokio::test]
    async fn a_rest_uri_that_is_not_http_is_a_clear_error() {
        let err = Lake::open(rest_options("postgres://h:5432/db"))
            .await
            .err()
            .expect("open must fail");
        assert_eq!(err.code, codes::INVALID_ARGUMENT);
        assert!(
            err.message.contains("http:// or https://"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn an_unreachable_rest_catalog_is_a_clear_error_without_the_secret() {
        let err = Lake::open(rest_options("http://127.0.0.1:1/catalog"))
            .await
            .err()
            .expect("open must fail");
        assert_eq!(err.code, codes::CATALOG_UNAVAILABLE, "{}", err.message);
        assert!(
            err.message.contains("http://127.0.0.1:1/catalog"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("s3cr3t"), "{}", err.message);
    }

    #[tokio::test]
    async fn https_rest_catalogs_are_spoken_to_over_tls() {
        // A listener that records the first byte the client sends: a TLS handshake record starts with 0x16; a client
        // without a TLS backend would send plain "POST /…" to an https:// URL.
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let first = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut byte = [0u8; 1];
            socket.read_exact(&mut byte).unwrap();
            byte[0]
        });
        let err = Lake::open(rest_options(&format!("https://127.0.0.1:{port}/catalog")))
            .await
            .err()
            .expect("open must fail: the listener never answers the handshake");
        assert_eq!(err.code, codes::CATALOG_UNAVAILABLE, "{}", err.message);
        assert!(!err.message.contains("s3cr3t"), "{}", err.message);
        assert_eq!(
            first.join().unwrap(),
            0x16,
            "the client did not start a TLS handshake"
        );
    }
}
