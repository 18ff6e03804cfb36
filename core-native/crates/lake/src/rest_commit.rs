//! Maintenance commits through an Iceberg REST catalog.
//!
//! Compaction commits a `replace` snapshot it built itself (iceberg-rust 0.10 has no rewrite action, and
//! `TableCommit`'s constructor is private to the iceberg crate, so `Catalog::update_table` cannot carry it). Through a
//! REST catalog that commit is the protocol's own one: `POST /v1/{prefix}/namespaces/{ns}/tables/{table}` with the
//! updates (`add-snapshot`, `set-snapshot-ref`) and the requirements the catalog checks atomically (`assert-table-uuid`,
//! `assert-ref-snapshot-id` of `main` = the snapshot the replace was built on): the REST counterpart of the SQL
//! catalog's compare-and-swap on `metadata_location`. Authentication and routing are the catalog client's: the
//! OAuth2 client-credentials exchange (`credential`, `scope`, `oauth2-server-uri`) or a `token`, `header.*` properties,
//! and the `prefix`/`uri` the catalog's `GET /v1/config` answers.

use std::collections::HashMap;

use iceberg::{TableIdent, TableRequirement, TableUpdate};
use serde::Serialize;
use serde_json::Value;

use crate::{codes, LakeError, Result};

/// What a REST commit needs; built by `Lake::open` from the same options as the catalog client. Never printed.
#[derive(Clone)]
pub struct RestCommitter {
    uri: String,
    props: HashMap<String, String>,
    client: reqwest::Client,
}

/// The outcome of a commit whose answer says nothing definite (a 5xx or a broken connection): it may have landed.
pub const COMMIT_STATE_UNKNOWN: &str = "COMMIT_STATE_UNKNOWN";

#[derive(Serialize)]
struct CommitTableRequest<'a> {
    identifier: &'a TableIdent,
    requirements: &'a [TableRequirement],
    updates: &'a [TableUpdate],
}

impl RestCommitter {
    /// `uri`: the catalog's base URL; `props`: the properties the catalog client was loaded with.
    pub fn new(uri: &str, props: HashMap<String, String>) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| LakeError::new(codes::INTERNAL, format!("HTTP client: {e}")))?;
        Ok(Self {
            uri: uri.trim_end_matches('/').to_string(),
            props,
            client,
        })
    }

    fn scrub(&self, text: String) -> String {
        let mut text = text;
        for key in ["credential", "token"] {
            if let Some(secret) = self.props.get(key).filter(|s| !s.is_empty()) {
                text = text.replace(secret.as_str(), "***");
                if let Some((_, s)) = secret.split_once(':') {
                    if !s.is_empty() {
                        text = text.replace(s, "***");
                    }
                }
            }
        }
        text
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut rb = self.client.request(method, url);
        for (k, v) in &self.props {
            if let Some(name) = k.strip_prefix("header.") {
                rb = rb.header(name, v);
            }
        }
        rb
    }

    /// A bearer token: the `token` property, or the client-credentials exchange; none without either.
    async fn token(&self) -> Result<Option<String>> {
        if let Some(t) = self.props.get("token").filter(|t| !t.is_empty()) {
            return Ok(Some(t.clone()));
        }
        let Some(cred) = self.props.get("credential").filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let (id, secret) = match cred.split_once(':') {
            Some((id, secret)) => (Some(id), secret),
            None => (None, cred.as_str()),
        };
        let endpoint = self
            .props
            .get("oauth2-server-uri")
            .cloned()
            .unwrap_or_else(|| format!("{}/v1/oauth/tokens", self.uri));
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_secret", secret),
        ];
        if let Some(id) = id {
            form.push(("client_id", id));
        }
        form.push((
            "scope",
            self.props
                .get("scope")
                .map(String::as_str)
                .unwrap_or("catalog"),
        ));
        let res = self
            .request(reqwest::Method::POST, &endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| self.unavailable(&endpoint, e))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        match body.get("access_token").and_then(Value::as_str) {
            Some(t) if status.is_success() => Ok(Some(t.to_string())),
            _ => Err(LakeError::new(
                codes::CATALOG_UNAVAILABLE,
                self.scrub(format!(
                    "the REST catalog's token endpoint {endpoint} answered {status}: {body}"
                )),
            )),
        }
    }

    fn unavailable(&self, url: &str, e: reqwest::Error) -> LakeError {
        let mut text = format!("cannot reach the Iceberg REST catalog at {url}: {e}");
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
        LakeError::new(codes::CATALOG_UNAVAILABLE, self.scrub(text))
    }

    /// Commits `updates` to `ident` if `requirements` hold at the catalog. COMMIT_CONFLICT when they do not (409);
    /// COMMIT_STATE_UNKNOWN when the answer does not say whether the commit landed.
    pub async fn commit(
        &self,
        ident: &TableIdent,
        requirements: &[TableRequirement],
        updates: &[TableUpdate],
    ) -> Result<()> {
        let token = self.token().await?;
        let bearer = |rb: reqwest::RequestBuilder| match &token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        };
        // The catalog's configuration: its `prefix` (and a `uri` override) route the table's endpoint.
        let mut config_url = format!("{}/v1/config", self.uri);
        if let Some(w) = self.props.get("warehouse").filter(|w| !w.is_empty()) {
            config_url = reqwest::Url::parse_with_params(&config_url, [("warehouse", w)])
                .map(|u| u.to_string())
                .unwrap_or(config_url);
        }
        let res = bearer(self.request(reqwest::Method::GET, &config_url))
            .send()
            .await
            .map_err(|e| self.unavailable(&config_url, e))?;
        if !res.status().is_success() {
            return Err(LakeError::new(
                codes::CATALOG_UNAVAILABLE,
                self.scrub(format!(
                    "the REST catalog's {config_url} answered {}",
                    res.status()
                )),
            ));
        }
        let config: Value = res.json().await.unwrap_or(Value::Null);
        let setting = |k: &str| -> Option<String> {
            config
                .pointer(&format!("/overrides/{k}"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| self.props.get(k).cloned())
                .or_else(|| {
                    config
                        .pointer(&format!("/defaults/{k}"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
        };
        let base = config
            .pointer("/overrides/uri")
            .and_then(Value::as_str)
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| self.uri.clone());
        let mut url = reqwest::Url::parse(&format!("{base}/"))
            .map_err(|e| LakeError::new(codes::INVALID_ARGUMENT, format!("{base}: {e}")))?;
        {
            let mut path = url.path_segments_mut().map_err(|_| {
                LakeError::new(
                    codes::INVALID_ARGUMENT,
                    format!("{base} cannot be a base URL"),
                )
            })?;
            path.pop_if_empty().push("v1");
            if let Some(prefix) = setting("prefix").filter(|p| !p.is_empty()) {
                path.extend(prefix.split('/').filter(|s| !s.is_empty()));
            }
            path.push("namespaces")
                .push(&ident.namespace().to_url_string())
                .push("tables")
                .push(ident.name());
        }
        let body = serde_json::to_vec(&CommitTableRequest {
            identifier: ident,
            requirements,
            updates,
        })
        .map_err(|e| LakeError::new(codes::INTERNAL, format!("commit request: {e}")))?;
        let res = match bearer(self.request(reqwest::Method::POST, url.as_str()))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(res) => res,
            // Sent or not: nobody knows.
            Err(e) => {
                let e = self.unavailable(url.as_str(), e);
                return Err(LakeError::new(COMMIT_STATE_UNKNOWN, e.message));
            }
        };
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let text = res.text().await.unwrap_or_default();
        let text: String = text.chars().take(2000).collect();
        let code = match status.as_u16() {
            409 => codes::COMMIT_CONFLICT,
            404 => codes::NOT_FOUND,
            500 | 502 | 503 | 504 => COMMIT_STATE_UNKNOWN,
            _ => codes::INTERNAL,
        };
        Err(LakeError::new(
            code,
            self.scrub(format!(
                "{ident}: the REST catalog answered the commit with {status}: {text}"
            )),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};

    /// A REST catalog that answers the token exchange, the config (with a `prefix`) and refuses the commit (409),
    /// recording each request line with its Authorization header and body.
    fn catalog_stub() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let (mut length, mut auth) = (0usize, String::new());
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end().to_string();
                    if h.is_empty() {
                        break;
                    }
                    let lower = h.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if lower.starts_with("authorization:") {
                        auth = h["authorization:".len()..].trim().to_string();
                    }
                }
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                let line = line.trim_end().to_string();
                let (status, answer) = if line.starts_with("POST /v1/oauth/tokens") {
                    (
                        "200 OK",
                        r#"{"access_token":"tok-1","token_type":"bearer"}"#,
                    )
                } else if line.starts_with("GET /v1/config") {
                    (
                        "200 OK",
                        r#"{"defaults":{},"overrides":{"prefix":"cat/one"}}"#,
                    )
                } else {
                    (
                        "409 Conflict",
                        r#"{"error":{"message":"Requirement failed: branch main has changed","type":"CommitFailedException","code":409}}"#,
                    )
                };
                log.lock().unwrap().push(format!(
                    "{line} | {auth} | {}",
                    String::from_utf8_lossy(&body)
                ));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        (uri, seen)
    }

    #[tokio::test]
    async fn commits_to_the_prefixed_table_endpoint_with_a_token_and_maps_409_to_a_conflict() {
        let (uri, seen) = catalog_stub();
        let props = HashMap::from([
            ("credential".to_string(), "pep-client:s3cr3t".to_string()),
            ("warehouse".to_string(), "wh".to_string()),
        ]);
        let committer = RestCommitter::new(&uri, props).unwrap();
        let ident = TableIdent::from_strs(["bronze", "payment_events"]).unwrap();
        let requirements = [TableRequirement::RefSnapshotIdMatch {
            r#ref: "main".into(),
            snapshot_id: Some(42),
        }];
        let err = committer
            .commit(&ident, &requirements, &[])
            .await
            .expect_err("the stub refuses the commit");
        assert_eq!(err.code, codes::COMMIT_CONFLICT, "{}", err.message);
        assert!(
            err.message.contains("branch main has changed"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("s3cr3t"), "{}", err.message);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "{seen:#?}");
        assert!(seen[0].starts_with("POST /v1/oauth/tokens "), "{}", seen[0]);
        assert!(
            seen[0].contains("grant_type=client_credentials")
                && seen[0].contains("client_id=pep-client")
                && seen[0].contains("client_secret=s3cr3t"),
            "{}",
            seen[0]
        );
        assert!(
            seen[1].starts_with("GET /v1/config?warehouse=wh "),
            "{}",
            seen[1]
        );
        assert!(seen[1].contains("| Bearer tok-1 |"), "{}", seen[1]);
        assert!(
            seen[2].starts_with("POST /v1/cat/one/namespaces/bronze/tables/payment_events "),
            "{}",
            seen[2]
        );
        assert!(seen[2].contains("| Bearer tok-1 |"), "{}", seen[2]);
        let body: Value = serde_json::from_str(seen[2].split(" | ").nth(2).unwrap()).unwrap();
        assert_eq!(body["identifier"]["name"], "payment_events");
        assert_eq!(body["requirements"][0]["type"], "assert-ref-snapshot-id");
        assert_eq!(body["requirements"][0]["snapshot-id"], 42);
    }

    #[tokio::test]
    async fn an_unreachable_catalog_is_unavailable_without_the_secret() {
        let props = HashMap::from([("credential".to_string(), "id:s3cr3t".to_string())]);
        let committer = RestCommitter::new("http://127.0.0.1:1", props).unwrap();
        let ident = TableIdent::from_strs(["bronze", "t"]).unwrap();
        let err = committer.commit(&ident, &[], &[]).await.unwrap_err();
        assert_eq!(err.code, codes::CATALOG_UNAVAILABLE, "{}", err.message);
        assert!(!err.message.contains("s3cr3t"), "{}", err.message);
    }
}
