//! N-API binding of pep-lake for the TypeScript lake sink and the `lake`/`query` commands. Every call that touches
//! the catalog or files is async (it runs on the addon's tokio runtime, off the JS thread). Results are JSON text;
//! errors are JS errors whose message starts with `[CODE]` (see pep-lake `codes`), which the TypeScript wrapper turns
//! into a typed `LakeError`.
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, Float64Array, Int32Array, Uint8Array};
use napi::{Env, Error, Result, Status, Task};
use napi_derive::napi;
use pep_lake::{
    CommitClaim, CompactOptions, ExpireOptions, Lake, LakeError, LakeOptions, OrphanOptions,
};
use tokio::sync::OnceCell;

fn js_err(e: LakeError) -> Error {
    Error::new(Status::GenericFailure, e.to_string())
}

fn bad_json(what: &str, e: serde_json::Error) -> Error {
    Error::new(
        Status::InvalidArg,
        format!("[INVALID_ARGUMENT] {what}: {e}"),
    )
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| Error::new(Status::GenericFailure, format!("[LAKE_ERROR] {e}")))
}

/// One connection to the catalog and the warehouse.
#[napi]
pub struct LakeConnection {
    options: LakeOptions,
    lake: Arc<OnceCell<Arc<Lake>>>,
}

#[napi]
impl LakeConnection {
    /// `options`: JSON `{catalogType?, catalogUri, catalogName, catalogWarehouse?, catalogCredential?, warehouse, props?,
    /// zstdLevel?, targetFileBytes?}` (catalogType `sql`, the default, or `rest`). No I/O here.
    #[napi(constructor)]
    pub fn new(options: String) -> Result<Self> {
        let options: LakeOptions =
            serde_json::from_str(&options).map_err(|e| bad_json("lake options", e))?;
        Ok(Self {
            options,
            lake: Arc::new(OnceCell::new()),
        })
    }

    async fn lake(&self) -> Result<Arc<Lake>> {
        let options = self.options.clone();
        self.lake
            .get_or_try_init(|| async move { Lake::open(options).await.map(Arc::new) })
            .await
            .cloned()
            .map_err(js_err)
    }

    /// Opens the catalog (creates its two tables if missing) and checks the warehouse.
    #[napi]
    pub async fn connect(&self) -> Result<String> {
        let lake = self.lake().await?;
        Ok(lake.warehouse().to_string())
    }

    #[napi]
    pub async fn ensure_table(
        &self,
        table: String,
        schema_json: String,
        partition_spec_json: String,
        cursor_key: String,
        sort_order_json: Option<String>,
    ) -> Result<String> {
        let lake = self.lake().await?;
        let info = lake
            .ensure_table(
                &table,
                &schema_json,
                &partition_spec_json,
                &cursor_key,
                sort_order_json.as_deref().unwrap_or(""),
            )
            .await
            .map_err(js_err)?;
        to_json(&info)
    }

    #[napi]
    pub async fn table_info(&self, table: String, cursor_key: String) -> Result<String> {
        let lake = self.lake().await?;
        to_json(&lake.table_info(&table, &cursor_key).await.map_err(js_err)?)
    }

    /// Writes one Arrow IPC stream as Parquet files; nothing is visible until `commit(handle, …)`.
    #[napi]
    pub async fn write(&self, table: String, ipc: Buffer, writer: String) -> Result<String> {
        let lake = self.lake().await?;
        let bytes: Vec<u8> = ipc.to_vec();
        to_json(&lake.write(&table, &bytes, &writer).await.map_err(js_err)?)
    }

    /// Opens a write whose rows arrive in chunks; resolves to its id (see `writeChunk`, `closeWrite`, `abortWrite`).
    #[napi]
    pub async fn open_write(&self, table: String, writer: String) -> Result<i64> {
        let lake = self.lake().await?;
        Ok(lake.open_write(&table, &writer).await.map_err(js_err)? as i64)
    }

    /// Encodes one Arrow IPC stream's rows into the open write's Parquet files; resolves to its rows so far.
    #[napi]
    pub async fn write_chunk(&self, id: i64, ipc: Buffer) -> Result<f64> {
        let lake = self.lake().await?;
        let bytes: Vec<u8> = ipc.to_vec();
        Ok(lake.write_chunk(id as u64, &bytes).await.map_err(js_err)? as f64)
    }

    /// Finishes the open write's files: a pending write, as `write` resolves to (commit or abort it by its handle).
    #[napi]
    pub async fn close_write(&self, id: i64) -> Result<String> {
        let lake = self.lake().await?;
        to_json(&lake.close_write(id as u64).await.map_err(js_err)?)
    }

    /// Drops an open write and deletes its files; resolves to the number of files deleted.
    #[napi]
    pub async fn abort_write(&self, id: i64) -> Result<u32> {
        let lake = self.lake().await?;
        Ok(lake.abort_write(id as u64).await.map_err(js_err)? as u32)
    }

    /// `claim`: JSON `{cursorKey, expected: {cursor: value|null}, next: {cursor: value}, commitId, writer, summary?}`.
    #[napi]
    pub async fn commit(&self, handle: i64, claim: String) -> Result<String> {
        let lake = self.lake().await?;
        let claim: CommitClaim =
            serde_json::from_str(&claim).map_err(|e| bad_json("commit claim", e))?;
        to_json(&lake.commit(handle as u64, &claim).await.map_err(js_err)?)
    }

    /// Forgets a pending write and deletes its files; resolves to the number of files deleted.
    #[napi]
    pub async fn abort(&self, handle: i64) -> Result<u32> {
        let lake = self.lake().await?;
        Ok(lake.abort(handle as u64).await.map_err(js_err)? as u32)
    }

    #[napi]
    pub async fn compact(&self, table: String, options: String) -> Result<String> {
        let lake = self.lake().await?;
        let o: CompactOptions =
            serde_json::from_str(&options).map_err(|e| bad_json("compact options", e))?;
        to_json(&lake.compact(&table, &o).await.map_err(js_err)?)
    }

    #[napi]
    pub async fn expire(&self, table: String, options: String) -> Result<String> {
        let lake = self.lake().await?;
        let o: ExpireOptions =
            serde_json::from_str(&options).map_err(|e| bad_json("expire options", e))?;
        to_json(&lake.expire(&table, &o).await.map_err(js_err)?)
    }

    #[napi]
    pub async fn orphans(&self, table: String, options: String) -> Result<String> {
        let lake = self.lake().await?;
        let o: OrphanOptions =
            serde_json::from_str(&options).map_err(|e| bad_json("orphan options", e))?;
        to_json(&lake.orphans(&table, &o).await.map_err(js_err)?)
    }

    /// The current snapshot's data files (path, rows, bytes, partition) as JSON.
    #[napi]
    pub async fn files(&self, table: String) -> Result<String> {
        let lake = self.lake().await?;
        to_json(&lake.files(&table).await.map_err(js_err)?)
    }
}

fn raw_err(e: String) -> Error {
    Error::new(
        Status::InvalidArg,
        format!("[INVALID_ARGUMENT] raw rows: {e}"),
    )
}

/// The lake sink's raw-bytes path for bronze.payment_events (pep-lake `rawrows`): record values and the headers the
/// row reads, one buffer per Kafka batch, parsed into Arrow columns with rows.ts semantics. Synchronous (one call per
/// batch on the JS thread).
#[napi]
pub struct RawRows {
    inner: pep_lake::rawrows::RawRows,
}

#[napi]
impl RawRows {
    /// `columns`: JSON `[{name, type, required}]`, the table's columns in order. Throws when the raw path cannot
    /// fill them (the caller keeps the TypeScript path).
    #[napi(constructor)]
    pub fn new(columns: String) -> Result<Self> {
        let cols: Vec<pep_lake::rawrows::ColumnSpec> =
            serde_json::from_str(&columns).map_err(|e| bad_json("columns", e))?;
        Ok(RawRows {
            inner: pep_lake::rawrows::RawRows::new(&cols).map_err(raw_err)?,
        })
    }

    /// Appends records `from..` and returns the index of the first record left to the TypeScript path (the record
    /// count when none). `lens`: 5 per record (value, source-topic, source-partition, source-offset, received-at
    /// headers; -1 absent), their bytes one after another in `data`; `nums`: offset and Kafka timestamp (ms).
    #[napi]
    pub fn append(
        &mut self,
        topic: String,
        partition: i32,
        data: Uint8Array,
        lens: Int32Array,
        nums: Float64Array,
        from: u32,
    ) -> Result<u32> {
        self.inner
            .append(&topic, partition, &data, &lens, &nums, from as usize)
            .map(|i| i as u32)
            .map_err(raw_err)
    }

    /// Appends the rows of an Arrow IPC stream of the same columns (rows built by the TypeScript path).
    #[napi]
    pub fn append_ipc(&mut self, ipc: Uint8Array) -> Result<()> {
        self.inner.append_ipc(&ipc).map_err(raw_err)
    }

    #[napi(getter)]
    pub fn rows(&self) -> u32 {
        self.inner.rows() as u32
    }

    #[napi]
    pub fn bytes(&self) -> f64 {
        self.inner.bytes() as f64
    }

    /// The rows as one Arrow IPC stream; the builder is empty afterwards.
    #[napi]
    pub fn finish_ipc(&mut self) -> Result<Buffer> {
        self.inner.finish_ipc().map(Buffer::from).map_err(raw_err)
    }

    /// Takes the rows out (the builder is empty afterwards) for `RawTaken.ipc()`, which writes the IPC stream on a
    /// libuv worker thread. (A method of this class returning a task would keep it borrowed until the task ends, and
    /// the sink appends the next rows meanwhile.)
    #[napi]
    pub fn take(&mut self) -> Result<RawTaken> {
        Ok(RawTaken {
            inner: Some(self.inner.take().map_err(raw_err)?),
        })
    }
}

/// Rows taken out of a RawRows, not yet an IPC stream.
#[napi]
pub struct RawTaken {
    inner: Option<pep_lake::rawrows::Taken>,
}

#[napi]
impl RawTaken {
    /// The rows as one Arrow IPC stream, written on a libuv worker thread (once).
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn ipc(&mut self) -> Result<AsyncTask<IpcTask>> {
        let taken = self
            .inner
            .take()
            .ok_or_else(|| raw_err("these rows were written already".into()))?;
        Ok(AsyncTask::new(IpcTask(taken)))
    }
}

/// Writes taken rows as an Arrow IPC stream off the JS thread.
pub struct IpcTask(pep_lake::rawrows::Taken);

impl Task for IpcTask {
    type Output = Vec<u8>;
    type JsValue = Buffer;
    fn compute(&mut self) -> Result<Vec<u8>> {
        self.0.ipc().map_err(raw_err)
    }
    fn resolve(&mut self, _env: Env, output: Vec<u8>) -> Result<Buffer> {
        Ok(Buffer::from(output))
    }
}
