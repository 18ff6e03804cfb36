//! Table maintenance: small-file compaction per partition (a `replace` snapshot: same rows, fewer files), snapshot
//! expiry (and deletion of the files only expired snapshots referenced), orphan removal (files under the table's
//! location that no snapshot or metadata file references, such as the data files of a writer that crashed between
//! writing and committing).
//!
//! iceberg-rust 0.10 has no rewrite action, so compaction builds the replace snapshot itself (manifests, manifest
//! list) with iceberg's public writers and commits it with a compare-and-swap: on the SQL catalog's table
//! (`metadata_location`, as the SQL catalog does), or through the REST catalog's commit endpoint with the requirements
//! `main` = the base snapshot and the table's UUID (`rest_commit`). Every maintenance snapshot carries the writers' cursors forward, so a
//! writer still resumes from the table's current snapshot.
//! Orphan removal lists the local filesystem or the S3 bucket (opendal, with the warehouse's S3 properties).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow_array::RecordBatch;
use iceberg::spec::{
    DataContentType, DataFile, ManifestContentType, ManifestEntryRef, ManifestFile,
    ManifestListWriter, ManifestWriterBuilder, Operation, Snapshot, SnapshotReference,
    SnapshotRetention, Struct, Summary, MAIN_BRANCH,
};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{MetadataLocation, TableIdent, TableRequirement, TableUpdate};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::conform::{conform, table_arrow_schema};
use crate::rest_commit::COMMIT_STATE_UNKNOWN;
use crate::{codes, Lake, LakeError, Result, Swap};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactOptions {
    /// Files smaller than this are compaction candidates (default 32 MiB).
    #[serde(default)]
    pub small_file_bytes: Option<u64>,
    /// A partition is compacted when it has at least this many candidates (default 2).
    #[serde(default)]
    pub min_files: Option<usize>,
    /// Summary keys carried into the replace snapshot (the writers' cursors).
    #[serde(default)]
    pub carry_keys: Vec<String>,
    /// Upper bound of input files per run (default 10,000): memory and time stay bounded.
    #[serde(default)]
    pub max_files: Option<usize>,
    /// Rows per Parquet row group of a sorted table's rewritten files (default 32,768): row groups narrow enough that
    /// their min/max statistics on the sort columns let a reader skip most of a file (DuckDB prunes by row group;
    /// Trino also by page). Unsorted tables keep the writer's default (one row group up to ~1 M rows).
    #[serde(default)]
    pub row_group_rows: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpireOptions {
    /// Snapshots committed before now minus this are expired (default 7 days).
    #[serde(default)]
    pub older_than_ms: Option<i64>,
    /// The newest snapshots of the current branch that are always kept (default 5, at least 1).
    #[serde(default)]
    pub retain_last: Option<usize>,
    /// The newest snapshot carrying each of these summary keys is always kept.
    #[serde(default)]
    pub keep_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrphanOptions {
    /// Only files older than this are removed (default 1 hour): a live writer's uncommitted files are younger.
    #[serde(default)]
    pub older_than_ms: Option<i64>,
    #[serde(default)]
    pub dry_run: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Live data-file entries of the current snapshot.
pub async fn live_entries(t: &Table) -> Result<Vec<ManifestEntryRef>> {
    Ok(live_by_manifest(t)
        .await?
        .into_iter()
        .flat_map(|(_, es)| es)
        .collect())
}

/// The current snapshot's data manifests with their live entries.
async fn live_by_manifest(t: &Table) -> Result<Vec<(ManifestFile, Vec<ManifestEntryRef>)>> {
    let Some(snap) = t.metadata().current_snapshot() else {
        return Ok(vec![]);
    };
    let list = t.manifest_list_reader(snap).load().await?;
    let mut out = Vec::new();
    for mf in list.entries() {
        if mf.content != ManifestContentType::Data {
            continue;
        }
        let m = mf.load_manifest(t.file_io()).await?;
        let live = m
            .entries()
            .iter()
            .filter(|e| e.is_alive())
            .cloned()
            .collect();
        out.push((mf.clone(), live));
    }
    Ok(out)
}

/// Every file path a snapshot references (manifest list, manifests, data and delete files).
async fn snapshot_files(
    t: &Table,
    snap: &iceberg::spec::SnapshotRef,
    into: &mut HashSet<String>,
) -> Result<()> {
    into.insert(snap.manifest_list().to_string());
    let list = t.manifest_list_reader(snap).load().await?;
    for mf in list.entries() {
        if !into.insert(mf.manifest_path.clone()) {
            // A manifest already walked for another snapshot lists the same files.
            continue;
        }
        let m = mf.load_manifest(t.file_io()).await?;
        for e in m.entries() {
            into.insert(e.file_path().to_string());
        }
    }
    Ok(())
}

async fn reachable_files(t: &Table) -> Result<HashSet<String>> {
    let mut files = HashSet::new();
    let md = t.metadata();
    for s in md.snapshots() {
        snapshot_files(t, s, &mut files).await?;
    }
    if let Some(l) = t.metadata_location() {
        files.insert(l.to_string());
    }
    for log in md.metadata_log() {
        files.insert(log.metadata_file.clone());
    }
    Ok(files)
}

// ---------------------------------------------------------------------------------------------------- compaction

pub async fn compact(lake: &Lake, ident: &TableIdent, opts: &CompactOptions) -> Result<Value> {
    let small = opts.small_file_bytes.unwrap_or(32 << 20);
    let min_files = opts.min_files.unwrap_or(2).max(2);
    let max_files = opts.max_files.unwrap_or(10_000);
    let t = lake.catalog().load_table(ident).await?;
    let spec_id = t.metadata().default_partition_spec_id();
    let mut groups: BTreeMap<String, (Struct, Vec<ManifestEntryRef>)> = BTreeMap::new();
    for (mf, entries) in live_by_manifest(&t).await? {
        if mf.partition_spec_id != spec_id {
            continue;
        }
        for e in entries {
            let df = e.data_file();
            if df.content_type() != DataContentType::Data || df.file_size_in_bytes() >= small {
                continue;
            }
            let key = format!("{:?}", df.partition());
            groups
                .entry(key)
                .or_insert_with(|| (df.partition().clone(), Vec::new()))
                .1
                .push(e.clone());
        }
    }
    let mut chosen: Vec<ManifestEntryRef> = Vec::new();
    let mut chosen_groups: Vec<Vec<ManifestEntryRef>> = Vec::new();
    for (_, (_, entries)) in groups {
        if entries.len() < min_files || chosen.len() + entries.len() > max_files {
            continue;
        }
        chosen.extend(entries.iter().cloned());
        chosen_groups.push(entries);
    }
    let partitions = chosen_groups.len();
    if chosen.is_empty() {
        return Ok(
            json!({"table": ident.to_string(), "partitions": 0, "filesBefore": 0, "filesAfter": 0, "rows": 0}),
        );
    }
    // Partition by partition (peak memory: one partition's rows): read its files in the current schema (columns
    // added since they were written read as null), sort them by the table's sort order if it has one, write them.
    let target = table_arrow_schema(&t)?;
    let sort_by = crate::sort_columns(t.metadata())?;
    let mut rows_in = 0u64;
    let mut new_files: Vec<DataFile> = Vec::new();
    for entries in &chosen_groups {
        match rewrite_partition(lake, &t, entries, &target, &sort_by, opts.row_group_rows).await {
            Ok((rows, files)) => {
                rows_in += rows;
                new_files.extend(files);
            }
            Err(err) => {
                // Nothing is committed: the files written for the partitions before are deleted now.
                delete_all(&t, new_files.iter().map(|f| f.file_path().to_string())).await;
                return Err(err);
            }
        }
    }
    let rows_out: u64 = new_files.iter().map(|f| f.record_count()).sum();
    if rows_out != rows_in {
        delete_all(&t, new_files.iter().map(|f| f.file_path().to_string())).await;
        return Err(LakeError::new(
            codes::INTERNAL,
            format!("{ident}: compaction read {rows_in} rows but wrote {rows_out}; nothing was committed"),
        ));
    }
    let removed: HashSet<String> = chosen.iter().map(|e| e.file_path().to_string()).collect();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let base = lake.catalog().load_table(ident).await?;
        match replace_commit(lake, &base, &removed, &new_files, &opts.carry_keys).await {
            Ok(snapshot_id) => {
                return Ok(json!({
                    "table": ident.to_string(),
                    "partitions": partitions,
                    "filesBefore": chosen.len(),
                    "filesAfter": new_files.len(),
                    "rows": rows_out,
                    "snapshotId": snapshot_id,
                    "attempts": attempt,
                }))
            }
            Err(e) if e.code == codes::COMMIT_CONFLICT && attempt < 20 => {
                tokio::time::sleep(Duration::from_millis(20 * attempt as u64)).await;
            }
            // Whether the commit landed is unknown: its files stay (orphan removal deletes them if it did not).
            Err(e) if e.code == COMMIT_STATE_UNKNOWN => return Err(e),
            Err(e) => {
                delete_all(&base, new_files.iter().map(|f| f.file_path().to_string())).await;
                return Err(e);
            }
        }
    }
}

async fn delete_all(t: &Table, paths: impl Iterator<Item = String>) {
    for p in paths {
        let _ = t.file_io().delete(&p).await;
    }
}

/// Commits a `replace` snapshot on `base`: `removed` files out, `added` in. COMMIT_CONFLICT when another commit
/// landed first (the caller retries on the new base) or a removed file is no longer live (then it gives up).
async fn replace_commit(
    lake: &Lake,
    base: &Table,
    removed: &HashSet<String>,
    added: &[DataFile],
    carry_keys: &[String],
) -> Result<i64> {
    let md = base.metadata();
    let parent = md
        .current_snapshot()
        .ok_or_else(|| LakeError::new(codes::COMMIT_CONFLICT, "table has no snapshot"))?;
    let snapshot_id = loop {
        let id = (uuid::Uuid::new_v4().as_u128() as i64) & i64::MAX;
        if id != 0 && md.snapshot_by_id(id).is_none() {
            break id;
        }
    };
    let seq = md.next_sequence_number();
    let schema = md.current_schema().clone();
    let spec = md.default_partition_spec().as_ref().clone();
    let meta_dir = format!("{}/metadata", md.location());
    let commit_uuid = uuid::Uuid::new_v4();
    let mut manifests: Vec<ManifestFile> = Vec::new();
    let mut written: Vec<String> = Vec::new();
    let mut seen_removed = 0usize;
    let (mut deleted_rows, mut deleted_bytes) = (0u64, 0u64);
    let list = base.manifest_list_reader(parent).load().await?;
    for (i, mf) in list.entries().iter().enumerate() {
        if mf.content != ManifestContentType::Data {
            manifests.push(mf.clone());
            continue;
        }
        let m = mf.load_manifest(base.file_io()).await?;
        let touches = m
            .entries()
            .iter()
            .any(|e| e.is_alive() && removed.contains(e.file_path()));
        if !touches {
            manifests.push(mf.clone());
            continue;
        }
        let path = format!("{meta_dir}/{commit_uuid}-r{i}.avro");
        let mut w = ManifestWriterBuilder::new(
            base.file_io().new_output(&path)?,
            Some(snapshot_id),
            schema.clone(),
            m.metadata().partition_spec().clone(),
        )
        .build_v2_data();
        for e in m.entries().iter().filter(|e| e.is_alive()) {
            let seq_n = e.sequence_number.unwrap_or(0);
            let file_seq = e.file_sequence_number.or(e.sequence_number);
            if removed.contains(e.file_path()) {
                seen_removed += 1;
                deleted_rows += e.record_count();
                deleted_bytes += e.file_size_in_bytes();
                w.add_delete_file(e.data_file.clone(), seq_n, file_seq)?;
            } else {
                w.add_existing_file(
                    e.data_file.clone(),
                    e.snapshot_id.unwrap_or(parent.snapshot_id()),
                    seq_n,
                    file_seq,
                )?;
            }
        }
        manifests.push(w.write_manifest_file().await?);
        written.push(path);
    }
    if seen_removed != removed.len() {
        delete_all(base, written.into_iter()).await;
        return Err(LakeError::new(
            codes::INVALID_ARGUMENT,
            format!(
                "{}: some files chosen for compaction are no longer live (another compaction?)",
                base.identifier()
            ),
        ));
    }
    let added_path = format!("{meta_dir}/{commit_uuid}-a.avro");
    let mut w = ManifestWriterBuilder::new(
        base.file_io().new_output(&added_path)?,
        Some(snapshot_id),
        schema.clone(),
        spec,
    )
    .build_v2_data();
    for f in added {
        w.add_file(f.clone(), seq)?;
    }
    manifests.insert(0, w.write_manifest_file().await?);
    written.push(added_path);
    let list_path = format!("{meta_dir}/snap-{snapshot_id}-1-{commit_uuid}.avro");
    let mut lw = ManifestListWriter::v2(
        base.file_io().new_output(&list_path)?.writer().await?,
        snapshot_id,
        Some(parent.snapshot_id()),
        seq,
    );
    lw.add_manifests(manifests.into_iter())?;
    lw.close().await?;
    written.push(list_path.clone());

    let added_rows: u64 = added.iter().map(|f| f.record_count()).sum();
    let added_bytes: u64 = added.iter().map(|f| f.file_size_in_bytes()).sum();
    let parent_props = &parent.summary().additional_properties;
    let total = |k: &str, plus: u64, minus: u64| -> Option<String> {
        parent_props
            .get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| (v + plus).saturating_sub(minus).to_string())
    };
    let mut props: HashMap<String, String> = HashMap::new();
    props.insert("added-data-files".into(), added.len().to_string());
    props.insert("deleted-data-files".into(), removed.len().to_string());
    props.insert("added-records".into(), added_rows.to_string());
    props.insert("deleted-records".into(), deleted_rows.to_string());
    props.insert("added-files-size".into(), added_bytes.to_string());
    props.insert("removed-files-size".into(), deleted_bytes.to_string());
    if let Some(v) = total("total-records", added_rows, deleted_rows) {
        props.insert("total-records".into(), v);
    }
    if let Some(v) = total("total-data-files", added.len() as u64, removed.len() as u64) {
        props.insert("total-data-files".into(), v);
    }
    if let Some(v) = total("total-files-size", added_bytes, deleted_bytes) {
        props.insert("total-files-size".into(), v);
    }
    for key in carry_keys {
        if let Some(v) = newest_value(md, key) {
            props.insert(key.clone(), v);
        }
    }
    props.insert("pep.writer".into(), "compact".into());
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(Some(parent.snapshot_id()))
        .with_sequence_number(seq)
        .with_timestamp_ms(now_ms().max(parent.timestamp_ms() + 1))
        .with_manifest_list(list_path)
        .with_summary(Summary {
            operation: Operation::Replace,
            additional_properties: props,
        })
        .with_schema_id(md.current_schema_id())
        .build();
    let ident = base.identifier();
    let reference =
        SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None));
    match lake.swap() {
        Swap::Sql(pg) => {
            let current_location = base
                .metadata_location()
                .ok_or_else(|| LakeError::new(codes::INTERNAL, "table has no metadata location"))?
                .to_string();
            let new_md = md
                .clone()
                .into_builder(Some(current_location.clone()))
                .add_snapshot(snapshot)?
                .set_ref(MAIN_BRANCH, reference)?
                .build()?
                .metadata;
            let new_location = MetadataLocation::from_str(&current_location)?
                .with_next_version()
                .with_new_metadata(&new_md);
            new_md.write_to(base.file_io(), &new_location).await?;
            let new_location = new_location.to_string();
            written.push(new_location.clone());
            let swapped = sqlx::query(
                "UPDATE iceberg_tables SET metadata_location = $1, previous_metadata_location = $2
                  WHERE catalog_name = $3 AND table_namespace = $4 AND table_name = $5 AND metadata_location = $2",
            )
            .bind(&new_location)
            .bind(&current_location)
            .bind(lake.catalog_name())
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .execute(pg)
            .await
            .map_err(|e| LakeError::new(codes::CATALOG_UNAVAILABLE, format!("catalog update: {e}")))?;
            if swapped.rows_affected() != 1 {
                delete_all(base, written.into_iter()).await;
                return Err(LakeError::new(
                    codes::COMMIT_CONFLICT,
                    format!("{ident}: another commit landed first"),
                ));
            }
        }
        Swap::Rest(rest) => {
            // The catalog writes the metadata file; it applies the snapshot only while `main` is still at `parent`.
            let requirements = [
                TableRequirement::UuidMatch { uuid: md.uuid() },
                TableRequirement::RefSnapshotIdMatch {
                    r#ref: MAIN_BRANCH.to_string(),
                    snapshot_id: Some(parent.snapshot_id()),
                },
            ];
            let updates = [
                TableUpdate::AddSnapshot { snapshot },
                TableUpdate::SetSnapshotRef {
                    ref_name: MAIN_BRANCH.to_string(),
                    reference,
                },
            ];
            match rest.commit(ident, &requirements, &updates).await {
                Ok(()) => {}
                Err(e) if e.code == codes::COMMIT_CONFLICT => {
                    delete_all(base, written.into_iter()).await;
                    return Err(LakeError::new(
                        codes::COMMIT_CONFLICT,
                        format!("{ident}: another commit landed first ({})", e.message),
                    ));
                }
                Err(e) if e.code == COMMIT_STATE_UNKNOWN => {
                    // Look: the snapshot is either in the table or it is not (and never will be: main moved or the
                    // catalog refused it).
                    lake.forget(ident);
                    let now = lake
                        .catalog()
                        .load_table(ident)
                        .await
                        .map_err(|_| e.clone())?;
                    if now.metadata().snapshot_by_id(snapshot_id).is_none() {
                        return Err(LakeError::new(
                            COMMIT_STATE_UNKNOWN,
                            format!(
                                "{}; the table does not have the compaction's snapshot {snapshot_id}: nothing was replaced (its new files are left to orphan removal)",
                                e.message
                            ),
                        ));
                    }
                }
                Err(e) => {
                    delete_all(base, written.into_iter()).await;
                    return Err(e);
                }
            }
        }
    }
    lake.forget(ident);
    Ok(snapshot_id)
}

/// The value of `key` in the newest snapshot of the current ancestry that has it.
fn newest_value(md: &iceberg::spec::TableMetadata, key: &str) -> Option<String> {
    let mut id = md.current_snapshot_id();
    while let Some(sid) = id {
        let s = md.snapshot_by_id(sid)?;
        if let Some(v) = s.summary().additional_properties.get(key) {
            return Some(v.clone());
        }
        id = s.parent_snapshot_id();
    }
    None
}

// ---------------------------------------------------------------------------------------------------- expiry

pub async fn expire(lake: &Lake, ident: &TableIdent, opts: &ExpireOptions) -> Result<Value> {
    let older_than = now_ms() - opts.older_than_ms.unwrap_or(7 * 24 * 3600 * 1000);
    let retain_last = opts.retain_last.unwrap_or(5).max(1);
    let t = lake.catalog().load_table(ident).await?;
    let md = t.metadata();
    let mut keep: HashSet<i64> = HashSet::new();
    // The newest `retain_last` snapshots of the current branch, and the newest carrying each kept key.
    let mut id = md.current_snapshot_id();
    let mut pending_keys: HashSet<&str> = opts.keep_keys.iter().map(String::as_str).collect();
    while let Some(sid) = id {
        let Some(s) = md.snapshot_by_id(sid) else {
            break;
        };
        if keep.len() < retain_last {
            keep.insert(sid);
        }
        let props = &s.summary().additional_properties;
        let found: Vec<&str> = pending_keys
            .iter()
            .copied()
            .filter(|k| props.contains_key(*k))
            .collect();
        for k in found {
            pending_keys.remove(k);
            keep.insert(sid);
        }
        id = s.parent_snapshot_id();
    }
    if let Some(main) = md.snapshot_for_ref(MAIN_BRANCH) {
        keep.insert(main.snapshot_id());
    }
    let expired: Vec<i64> = md
        .snapshots()
        .filter(|s| s.timestamp_ms() < older_than && !keep.contains(&s.snapshot_id()))
        .map(|s| s.snapshot_id())
        .collect();
    if expired.is_empty() {
        return Ok(json!({"table": ident.to_string(), "expiredSnapshots": 0, "deletedFiles": 0}));
    }
    let before = reachable_files(&t).await?;
    let tx = Transaction::new(&t);
    let tx = tx
        .expire_snapshots()
        .expire_snapshot_ids(expired.iter().copied())
        .apply(tx)?;
    let t2 = tx.commit(lake.catalog()).await?;
    lake.forget(ident);
    let after = reachable_files(&t2).await?;
    let mut deleted = 0;
    for f in before.difference(&after) {
        // Metadata JSON files stay (the metadata log may still name them); orphans removes them when old.
        if f.ends_with(".metadata.json") {
            continue;
        }
        if t2.file_io().delete(f).await.is_ok() {
            deleted += 1;
        }
    }
    Ok(
        json!({"table": ident.to_string(), "expiredSnapshots": expired.len(), "deletedFiles": deleted}),
    )
}

// ---------------------------------------------------------------------------------------------------- orphans

pub async fn orphans(lake: &Lake, ident: &TableIdent, opts: &OrphanOptions) -> Result<Value> {
    let t = lake.catalog().load_table(ident).await?;
    let location = t.metadata().location().trim_end_matches('/').to_string();
    let cutoff = SystemTime::now()
        - Duration::from_millis(opts.older_than_ms.unwrap_or(3600 * 1000).max(0) as u64);
    // Listed before the table is loaded again for its reachable files: a file committed in between is reachable
    // (kept); a file written after the listing is not looked at.
    let listed = if let Some(root) = location.strip_prefix("file://") {
        list_local(root)?
    } else if location.starts_with("s3://") || location.starts_with("s3a://") {
        list_s3(lake, &location).await?
    } else {
        return Err(LakeError::new(
            codes::INVALID_ARGUMENT,
            format!("{ident}: orphan removal lists local and S3 warehouses; {location} is neither"),
        ));
    };
    let t = lake.catalog().load_table(ident).await?;
    let reachable = reachable_files(&t).await?;
    let mut removed = Vec::new();
    let mut bytes = 0u64;
    for f in listed {
        if reachable.contains(&f.uri) || !f.modified.map(|m| m < cutoff).unwrap_or(false) {
            continue;
        }
        bytes += f.bytes;
        if !opts.dry_run {
            t.file_io()
                .delete(&f.uri)
                .await
                .map_err(|e| LakeError::new(codes::IO, format!("{}: {e}", f.uri)))?;
        }
        removed.push(f.uri);
    }
    removed.sort();
    Ok(
        json!({"table": ident.to_string(), "removed": removed, "bytes": bytes, "dryRun": opts.dry_run}),
    )
}

/// A file under a table's location.
struct Listed {
    uri: String,
    /// Unknown: never removed.
    modified: Option<SystemTime>,
    bytes: u64,
}

fn list_local(root: &str) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(LakeError::new(codes::IO, format!("{}: {e}", dir.display()))),
        };
        for entry in rd {
            let entry = entry.map_err(|e| LakeError::new(codes::IO, e.to_string()))?;
            let path = entry.path();
            let meta = entry
                .metadata()
                .map_err(|e| LakeError::new(codes::IO, e.to_string()))?;
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            out.push(Listed {
                uri: format!("file://{}", path.display()),
                modified: meta.modified().ok(),
                bytes: meta.len(),
            });
        }
    }
    Ok(out)
}

/// Every object under `location` (`s3://bucket/prefix`), listed with the warehouse's S3 properties (`s3.endpoint`,
/// `s3.region`, keys, `s3.path-style-access`).
#[cfg(feature = "s3")]
async fn list_s3(lake: &Lake, location: &str) -> Result<Vec<Listed>> {
    let (scheme, rest) = location.split_once("://").expect("an s3 location");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let props = lake.file_io_props();
    let prop = |k: &str| props.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let mut b = opendal::services::S3::default().bucket(bucket).root("/");
    if let Some(v) = prop("s3.endpoint") {
        b = b.endpoint(v);
    }
    if let Some(v) = prop("s3.region").or_else(|| prop("client.region")) {
        b = b.region(v);
    }
    if let Some(v) = prop("s3.access-key-id") {
        b = b.access_key_id(v);
    }
    if let Some(v) = prop("s3.secret-access-key") {
        b = b.secret_access_key(v);
    }
    if let Some(v) = prop("s3.session-token") {
        b = b.session_token(v);
    }
    // iceberg's default (and the FileIO's): virtual-host style unless path-style access is asked for.
    let path_style = prop("s3.path-style-access")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "t" | "1" | "on"))
        .unwrap_or(false);
    if !path_style {
        b = b.enable_virtual_host_style();
    }
    let io = |e: opendal::Error| LakeError::new(codes::IO, format!("listing {location}: {e}"));
    let op = opendal::Operator::new(b).map_err(io)?.finish();
    let dir = format!("{}/", prefix.trim_end_matches('/'));
    let entries = op.list_with(&dir).recursive(true).await.map_err(io)?;
    Ok(entries
        .into_iter()
        .filter(|e| e.metadata().is_file())
        .map(|e| Listed {
            uri: format!("{scheme}://{bucket}/{}", e.path().trim_start_matches('/')),
            modified: e.metadata().last_modified().map(SystemTime::from),
            bytes: e.metadata().content_length(),
        })
        .collect())
}

#[cfg(not(feature = "s3"))]
async fn list_s3(_lake: &Lake, location: &str) -> Result<Vec<Listed>> {
    Err(LakeError::new(
        codes::INVALID_ARGUMENT,
        format!("orphan removal under {location}: this lake addon was built without S3 support"),
    ))
}

/// Reads one partition's files (in the table's current schema), sorts the rows if `sort_by` is not empty, and writes
/// them as new files; returns the rows read and the files written (not committed).
async fn rewrite_partition(
    lake: &Lake,
    t: &Table,
    entries: &[ManifestEntryRef],
    target: &arrow_schema::SchemaRef,
    sort_by: &[crate::SortColumn],
    row_group_rows: Option<usize>,
) -> Result<(u64, Vec<DataFile>)> {
    let table = t.identifier().to_string();
    let mut rows = 0u64;
    let mut batches: Vec<RecordBatch> = Vec::new();
    for e in entries {
        let bytes = t.file_io().new_input(e.file_path())?.read().await?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.with_batch_size(64 * 1024).build())
            .map_err(|err| LakeError::new(codes::IO, format!("{}: {err}", e.file_path())))?;
        for b in reader {
            let b =
                b.map_err(|err| LakeError::new(codes::IO, format!("{}: {err}", e.file_path())))?;
            rows += b.num_rows() as u64;
            batches.push(conform(&b, target, &table)?);
        }
    }
    let mut row_groups = None;
    if !sort_by.is_empty() {
        batches = vec![sorted(target, &batches, sort_by)?];
        row_groups = Some(row_group_rows.unwrap_or(32_768));
    }
    Ok((
        rows,
        lake.write_batches(t, &batches, "compact", row_groups)
            .await?,
    ))
}

/// The rows of `batches` as one batch ordered by `sort_by` (rows equal on every sort column in no particular order).
fn sorted(
    schema: &arrow_schema::SchemaRef,
    batches: &[RecordBatch],
    sort_by: &[crate::SortColumn],
) -> Result<RecordBatch> {
    let all = arrow_select::concat::concat_batches(schema, batches)
        .map_err(|e| LakeError::new(codes::INTERNAL, format!("compaction concat: {e}")))?;
    let mut columns = Vec::with_capacity(sort_by.len());
    for c in sort_by {
        let values = all.column_by_name(&c.name).ok_or_else(|| {
            LakeError::new(
                codes::INTERNAL,
                format!("sort column {} is not in the table's schema", c.name),
            )
        })?;
        columns.push(arrow_ord::sort::SortColumn {
            values: values.clone(),
            options: Some(arrow_schema::SortOptions {
                descending: c.descending,
                nulls_first: c.nulls_first,
            }),
        });
    }
    let indices = arrow_ord::sort::lexsort_to_indices(&columns, None)
        .map_err(|e| LakeError::new(codes::INTERNAL, format!("compaction sort: {e}")))?;
    arrow_select::take::take_record_batch(&all, &indices)
        .map_err(|e| LakeError::new(codes::INTERNAL, format!("compaction sort: {e}")))
}
