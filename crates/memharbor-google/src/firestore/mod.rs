//! Firestore's REST API: documents as plain JSON, read one at a time, written one at a time or
//! atomically in a commit (with preconditions — create-if-absent, compare-and-set on the update
//! time — and server timestamps), and queried. Linearizable, so claims and leases can be built on
//! it without a protocol of our own.

pub mod values;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::{Credentials, GoogleError, http_error, transport_error};
pub use values::{decode, decode_fields, encode, encode_fields};

/// A document as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `collection/id` (relative to the database's documents).
    pub path: String,
    pub fields: Map<String, Value>,
    /// For compare-and-set writes.
    pub update_time: String,
}

/// What must hold for a write to happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The document exists (`true`) or does not (`false`: create-if-absent).
    Exists(bool),
    /// The document is still as read (its update time).
    UpdateTime(String),
}

/// One write of a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// `collection/id`.
    pub path: String,
    pub fields: Map<String, Value>,
    /// Only these fields are written (the others kept); `None` replaces the document.
    pub mask: Option<Vec<String>>,
    pub precondition: Option<Precondition>,
    /// Fields set to the commit's time by the server.
    pub server_times: Vec<String>,
}

impl Write {
    /// Replaces (or creates) `path` with `fields`.
    pub fn set(path: impl Into<String>, fields: Map<String, Value>) -> Self {
        Self {
            path: path.into(),
            fields,
            mask: None,
            precondition: None,
            server_times: Vec::new(),
        }
    }

    pub fn only(mut self, precondition: Precondition) -> Self {
        self.precondition = Some(precondition);
        self
    }

    /// Writes only the fields given (and the server times), keeping the rest.
    pub fn merge(mut self) -> Self {
        self.mask = Some(self.fields.keys().cloned().collect());
        self
    }

    pub fn server_time(mut self, field: &str) -> Self {
        self.server_times.push(field.to_owned());
        self
    }
}

/// A Firestore database's documents (cheap to clone: the connections are shared).
#[derive(Debug, Clone)]
pub struct Firestore {
    http: reqwest::Client,
    /// `…/v1/projects/{p}/databases/(default)/documents`
    documents: String,
    /// `projects/{p}/databases/(default)/documents`, for names and references.
    root: String,
    credentials: Arc<Credentials>,
    /// Each call's bound.
    timeout: Duration,
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl Firestore {
    /// `base` is `https://firestore.googleapis.com` or an emulator's URL.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        project: &str,
        credentials: Arc<Credentials>,
    ) -> Self {
        let root = format!("projects/{project}/databases/(default)/documents");
        Self {
            http,
            documents: format!("{}/v1/{root}", base.trim_end_matches('/')),
            root,
            credentials,
            timeout: TIMEOUT,
        }
    }

    /// A client for `settings` (its own HTTP client, connections kept).
    pub async fn connect(settings: &crate::FirestoreSettings) -> Result<Self, String> {
        let credentials = Credentials::from_source(&settings.credentials).await?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        Ok(Self::new(
            http,
            &settings.base_url,
            &settings.project_id,
            Arc::new(credentials),
        ))
    }

    /// Bounds every call by `timeout` (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `projects/…/documents/{path}`: a document's full name.
    pub fn name(&self, path: &str) -> String {
        format!("{}/{path}", self.root)
    }

    /// The documents URL (for the calls this module does not wrap).
    pub fn documents_url(&self) -> &str {
        &self.documents
    }

    pub async fn bearer(&self) -> Result<String, GoogleError> {
        self.credentials.bearer().await
    }

    fn document(&self, doc: &Value) -> Option<Document> {
        let name = doc["name"].as_str()?;
        let path = name
            .strip_prefix(&self.root)
            .map(|p| p.trim_start_matches('/'))
            .unwrap_or(name)
            .to_owned();
        Some(Document {
            path,
            fields: decode_fields(&doc["fields"]),
            update_time: doc["updateTime"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// The document at `path`, or `None`.
    pub async fn get(&self, path: &str) -> Result<Option<Document>, GoogleError> {
        let response = self
            .http
            .get(format!("{}/{path}", self.documents))
            .header("authorization", self.bearer().await?)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| transport_error("reading a Firestore document", &e))?;
        match response.status().as_u16() {
            200 => {
                let doc: Value = response
                    .json()
                    .await
                    .map_err(|e| GoogleError::Transient(e.to_string()))?;
                Ok(self.document(&doc))
            }
            404 => Ok(None),
            _ => {
                let status = response.status();
                Err(http_error(
                    "reading a Firestore document",
                    status,
                    &response.text().await.unwrap_or_default(),
                ))
            }
        }
    }

    /// Creates or replaces the document at `path` with exactly `fields`.
    pub async fn set(&self, path: &str, fields: &Map<String, Value>) -> Result<(), GoogleError> {
        self.commit(&[Write::set(path, fields.clone())])
            .await
            .map(drop)
    }

    /// All `writes`, atomically; the commit's time. A failed precondition is
    /// [`GoogleError::Conflict`].
    pub async fn commit(&self, writes: &[Write]) -> Result<String, GoogleError> {
        let writes: Vec<Value> = writes
            .iter()
            .map(|w| {
                let mut write = json!({"update": {"name": self.name(&w.path), "fields": encode_fields(&w.fields)}});
                if let Some(mask) = &w.mask {
                    write["updateMask"] = json!({"fieldPaths": mask});
                }
                match &w.precondition {
                    Some(Precondition::Exists(exists)) => {
                        write["currentDocument"] = json!({"exists": exists});
                    }
                    Some(Precondition::UpdateTime(at)) => {
                        write["currentDocument"] = json!({"updateTime": at});
                    }
                    None => {}
                }
                if !w.server_times.is_empty() {
                    write["updateTransforms"] = Value::Array(
                        w.server_times
                            .iter()
                            .map(|f| json!({"fieldPath": f, "setToServerValue": "REQUEST_TIME"}))
                            .collect(),
                    );
                }
                write
            })
            .collect();
        let response = self
            .http
            .post(format!("{}:commit", self.documents))
            .header("authorization", self.bearer().await?)
            .timeout(self.timeout)
            .json(&json!({"writes": writes}))
            .send()
            .await
            .map_err(|e| transport_error("writing to Firestore", &e))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            return Ok(answer["commitTime"].as_str().unwrap_or_default().to_owned());
        }
        // Preconditions: ALREADY_EXISTS (409), FAILED_PRECONDITION (400), NOT_FOUND (404).
        if status.as_u16() == 409
            || status.as_u16() == 404
            || (status.as_u16() == 400 && body.contains("FAILED_PRECONDITION"))
        {
            return Err(GoogleError::Conflict(body.chars().take(200).collect()));
        }
        Err(http_error("writing to Firestore", status, &body))
    }

    /// Runs a structured query; the documents and the read time (the server's clock: what
    /// liveness is measured against, never the local one).
    pub async fn query(&self, structured: Value) -> Result<(Vec<Document>, String), GoogleError> {
        let response = self
            .http
            .post(format!("{}:runQuery", self.documents))
            .header("authorization", self.bearer().await?)
            .timeout(self.timeout)
            .json(&json!({"structuredQuery": structured}))
            .send()
            .await
            .map_err(|e| transport_error("querying Firestore", &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(http_error(
                "querying Firestore",
                status,
                &response.text().await.unwrap_or_default(),
            ));
        }
        let rows: Vec<Value> = response
            .json()
            .await
            .map_err(|e| GoogleError::Transient(e.to_string()))?;
        let read_time = rows
            .iter()
            .find_map(|r| r["readTime"].as_str())
            .unwrap_or_default()
            .to_owned();
        let docs = rows
            .iter()
            .filter_map(|r| r.get("document"))
            .filter_map(|d| self.document(d))
            .collect();
        Ok((docs, read_time))
    }
}
