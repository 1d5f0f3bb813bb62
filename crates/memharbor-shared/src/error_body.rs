//! The error body every non-2xx response carries: `{"error": {"code", "message", "field"}}`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable snake_case identifier, one per distinct cause.
    pub code: String,
    /// One sentence: what was wrong and what is accepted.
    pub message: String,
    /// The input field that caused it, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The session the error is about, when the client needs it (`session_orphaned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>, field: Option<&str>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                field: field.map(str::to_owned),
                sid: None,
            },
        }
    }

    /// The same, naming session `sid`.
    pub fn with_sid(mut self, sid: impl Into<String>) -> Self {
        self.error.sid = Some(sid.into());
        self
    }
}
