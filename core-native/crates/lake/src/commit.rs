//! Exactly-once commits. A writer's cursors (Kafka `topic:partition` → next offset, or a PostgreSQL horizon) live
//! in the snapshot summary under one key, as a JSON object holding EVERY cursor of the table (several writers own
//! different partitions; each commit carries the merged map). A commit says where its data starts (`expected`) and
//! ends (`next`); it lands only if the table's cursors equal `expected` at the moment of the catalog's
//! compare-and-swap, so two writers holding the same records can never both commit them.
//!
//! iceberg's `Transaction::commit` re-applies a fast append on top of whatever the table has become when it finds
//! the base stale (correct for a plain append, wrong for us: it would commit records another writer has just
//! committed). So the transaction commits through `PinnedCatalog`, which hands the transaction the very table whose
//! cursors were checked and turns a catalog conflict into a non-retryable error; this module then reloads, checks the
//! cursors again and retries (bounded) only when the other commit touched none of its cursors.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use iceberg::spec::{DataFile, TableMetadata};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{
    Catalog, Error, ErrorKind, Namespace, NamespaceIdent, TableCommit, TableCreation, TableIdent,
};
use serde::{Deserialize, Serialize};

use crate::{codes, Lake, LakeError, Result};

/// Summary key of the commit id (finds out whether a commit whose answer was lost landed).
pub const COMMIT_ID_KEY: &str = "pep.commit-id";
pub const WRITER_KEY: &str = "pep.writer";
/// How many snapshots back a lost commit is looked for.
const COMMIT_ID_SEARCH_DEPTH: usize = 200;
const MAX_ATTEMPTS: u32 = 12;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitClaim {
    /// Summary key holding the cursor map, e.g. `pep.kafka.offsets`.
    pub cursor_key: String,
    /// Cursor → the value the table must have now (null: the table must not have this cursor yet).
    pub expected: HashMap<String, Option<String>>,
    /// Cursor → its value once this commit is in.
    pub next: HashMap<String, String>,
    /// Unique per commit (a retry of the same commit reuses it).
    pub commit_id: String,
    pub writer: String,
    /// More summary properties (e.g. record counts) for people reading `$snapshots`.
    #[serde(default)]
    pub summary: HashMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitOutcome {
    pub snapshot_id: Option<i64>,
    pub metadata_location: Option<String>,
    pub cursors: HashMap<String, String>,
    /// True when this commit had landed before (its answer had been lost) and nothing was appended now.
    pub already_committed: bool,
    pub attempts: u32,
}

pub struct Resolved {
    pub cursors: HashMap<String, String>,
    pub found_commit: bool,
}

/// The cursors of the newest snapshot in the current ancestry carrying `key` (snapshots of other writers, such as a
/// Trino INSERT, are skipped), and whether `commit_id` is among the newest snapshots.
pub fn resolve_cursors(md: &TableMetadata, key: &str, commit_id: Option<&str>) -> Result<Resolved> {
    let mut cursors = None;
    let mut found_commit = false;
    let mut id = md.current_snapshot_id();
    let mut depth = 0;
    while let Some(sid) = id {
        let Some(s) = md.snapshot_by_id(sid) else {
            break;
        };
        let props = &s.summary().additional_properties;
        if let Some(c) = commit_id {
            if depth < COMMIT_ID_SEARCH_DEPTH
                && props.get(COMMIT_ID_KEY).map(String::as_str) == Some(c)
            {
                found_commit = true;
            }
        }
        if cursors.is_none() {
            if let Some(v) = props.get(key) {
                let map: HashMap<String, String> = serde_json::from_str(v).map_err(|e| {
                    LakeError::new(
                        codes::INTERNAL,
                        format!(
                            "snapshot {sid}: summary {key} is not a JSON object of strings: {e}"
                        ),
                    )
                })?;
                cursors = Some(map);
            }
        }
        depth += 1;
        if cursors.is_some()
            && (commit_id.is_none() || found_commit || depth >= COMMIT_ID_SEARCH_DEPTH)
        {
            break;
        }
        id = s.parent_snapshot_id();
    }
    Ok(Resolved {
        cursors: cursors.unwrap_or_default(),
        found_commit,
    })
}

/// Where the table's cursors differ from what the claim expects, as a readable list (empty: the claim holds).
pub fn claim_conflicts(current: &HashMap<String, String>, claim: &CommitClaim) -> Vec<String> {
    let mut out = Vec::new();
    let mut keys: Vec<_> = claim.expected.keys().collect();
    keys.sort();
    for k in keys {
        let want = claim.expected[k].as_deref();
        let have = current.get(k).map(String::as_str);
        if want != have {
            out.push(format!(
                "{k}: the table is at {}, this writer's data starts at {}",
                have.unwrap_or("nothing"),
                want.unwrap_or("nothing")
            ));
        }
    }
    out
}

pub async fn commit_files(
    lake: &Lake,
    ident: &TableIdent,
    files: Vec<DataFile>,
    schema_id: i32,
    claim: &CommitClaim,
) -> Result<CommitOutcome> {
    for k in claim.next.keys() {
        if !claim.expected.contains_key(k) {
            return Err(LakeError::new(
                codes::INVALID_ARGUMENT,
                format!("cursor {k} has a next value but no expected value"),
            ));
        }
    }
    let mut attempt = 0;
    // How often the catalog's compare-and-swap refused this commit (another commit changed the table in between).
    let mut refused = 0;
    loop {
        attempt += 1;
        let table = lake.catalog().load_table(ident).await?;
        let md = table.metadata();
        if md.current_schema_id() != schema_id && md.schema_by_id(schema_id).is_none() {
            return Err(LakeError::new(
                codes::COMMIT_CONFLICT,
                format!("{ident}: the schema the files were written with ({schema_id}) is gone"),
            ));
        }
        let resolved = resolve_cursors(md, &claim.cursor_key, Some(&claim.commit_id))?;
        if resolved.found_commit {
            return Ok(CommitOutcome {
                snapshot_id: md.current_snapshot_id(),
                metadata_location: table.metadata_location().map(str::to_string),
                cursors: resolved.cursors,
                already_committed: true,
                attempts: attempt,
            });
        }
        let conflicts = claim_conflicts(&resolved.cursors, claim);
        if !conflicts.is_empty() {
            return Err(LakeError::new(
                codes::COMMIT_CONFLICT,
                format!(
                    "{ident}: another writer committed these records first; nothing was appended ({}){}",
                    conflicts.join("; "),
                    if refused > 0 {
                        " (the catalog refused this commit's swap: the table had changed since it was checked)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let mut merged = resolved.cursors.clone();
        for (k, v) in &claim.next {
            merged.insert(k.clone(), v.clone());
        }
        let mut props = claim.summary.clone();
        props.insert(
            claim.cursor_key.clone(),
            serde_json::to_string(&sorted(&merged)).expect("cursor map serializes"),
        );
        props.insert(COMMIT_ID_KEY.into(), claim.commit_id.clone());
        props.insert(WRITER_KEY.into(), claim.writer.clone());
        let tx = Transaction::new(&table);
        let action = tx
            .fast_append()
            .set_commit_uuid(uuid::Uuid::new_v4())
            .set_snapshot_properties(props)
            .add_data_files(files.clone());
        let tx = action.apply(tx)?;
        let pinned = PinnedCatalog {
            inner: lake.catalog(),
            pinned: table.clone(),
        };
        match tx.commit(&pinned).await {
            Ok(t) => {
                let out = CommitOutcome {
                    snapshot_id: t.metadata().current_snapshot_id(),
                    metadata_location: t.metadata_location().map(str::to_string),
                    cursors: merged,
                    already_committed: false,
                    attempts: attempt,
                };
                lake.forget(ident);
                return Ok(out);
            }
            Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts && attempt < MAX_ATTEMPTS => {
                refused += 1;
                // Someone committed between our load and our compare-and-swap: look again (their commit may have
                // taken our records, then the cursor check above says so).
                tokio::time::sleep(Duration::from_millis(5u64 << attempt.min(7))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn sorted(m: &HashMap<String, String>) -> std::collections::BTreeMap<&String, &String> {
    m.iter().collect()
}

/// A catalog view for one commit: `load_table` answers the table the caller checked (so the transaction never
/// rebases), every conflict is final for the transaction (the caller decides whether to retry).
struct PinnedCatalog<'a> {
    inner: &'a dyn Catalog,
    pinned: Table,
}

impl std::fmt::Debug for PinnedCatalog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedCatalog").finish()
    }
}

fn not_retryable(e: Error) -> Error {
    if e.kind() == ErrorKind::CatalogCommitConflicts {
        Error::new(ErrorKind::CatalogCommitConflicts, e.message().to_string()).with_retryable(false)
    } else {
        e
    }
}

#[async_trait]
impl Catalog for PinnedCatalog<'_> {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }
    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }
    async fn get_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }
    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> iceberg::Result<bool> {
        self.inner.namespace_exists(namespace).await
    }
    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }
    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> iceberg::Result<()> {
        self.inner.drop_namespace(namespace).await
    }
    async fn list_tables(&self, namespace: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }
    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> iceberg::Result<Table> {
        self.inner.create_table(namespace, creation).await
    }
    async fn load_table(&self, table: &TableIdent) -> iceberg::Result<Table> {
        if table == self.pinned.identifier() {
            Ok(self.pinned.clone())
        } else {
            self.inner.load_table(table).await
        }
    }
    async fn drop_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        self.inner.drop_table(table).await
    }
    async fn purge_table(&self, table: &TableIdent) -> iceberg::Result<()> {
        self.inner.purge_table(table).await
    }
    async fn table_exists(&self, table: &TableIdent) -> iceberg::Result<bool> {
        self.inner.table_exists(table).await
    }
    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> iceberg::Result<()> {
        self.inner.rename_table(src, dest).await
    }
    async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: String,
    ) -> iceberg::Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }
    async fn update_table(&self, commit: TableCommit) -> iceberg::Result<Table> {
        self.inner.update_table(commit).await.map_err(not_retryable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(expected: &[(&str, Option<&str>)], next: &[(&str, &str)]) -> CommitClaim {
        CommitClaim {
            cursor_key: "pep.kafka.offsets".into(),
            expected: expected
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
            next: next
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            commit_id: "c1".into(),
            writer: "w".into(),
            summary: HashMap::new(),
        }
    }

    #[test]
    fn a_claim_holds_only_where_the_table_is() {
        let table: HashMap<String, String> = [("t:0".to_string(), "10".to_string())].into();
        assert!(
            claim_conflicts(&table, &claim(&[("t:0", Some("10"))], &[("t:0", "20")])).is_empty()
        );
        assert!(claim_conflicts(&table, &claim(&[("t:1", None)], &[("t:1", "5")])).is_empty());
        let c = claim_conflicts(&table, &claim(&[("t:0", Some("5"))], &[("t:0", "20")]));
        assert_eq!(c.len(), 1);
        assert!(c[0].contains("the table is at 10"), "{}", c[0]);
        let c = claim_conflicts(&table, &claim(&[("t:0", None)], &[("t:0", "20")]));
        assert!(c[0].contains("starts at nothing"), "{}", c[0]);
    }
}
