//! What every handler shares: built once in [`crate::startup::Application::build`], reached as
//! `web::Data<AppState>`.

use std::sync::Arc;

use agora_token::RtcTokenBuilder;
use ipnet::IpNet;

use crate::auth::Authenticator;
use crate::auth::access::AccessRules;
use crate::auth::limits::Limits;
use crate::metrics::Metrics;
use crate::middleware::api_log::ApiLog;
use crate::recorders::Recorders;

#[derive(Debug)]
pub struct AppState {
    pub tokens: RtcTokenBuilder,
    pub api_log: ApiLog,
    /// Who may call (API keys, Firebase ID tokens).
    pub auth: Arc<Authenticator>,
    /// What users may do, and how often.
    pub access: AccessRules,
    pub limits: Limits,
    pub trusted_proxies: Vec<IpNet>,
    /// The recorder, or the cluster's recorders (the routing seam).
    pub recorders: Recorders,
    /// The recording bot's uid and the longest recording (its token outlives it).
    pub recorder_uid: u32,
    pub recorder_max_duration_s: u32,
    /// What the recorder presents on `/internal/*` routes of the gateway.
    pub internal_key: String,
    pub metrics: Arc<Metrics>,
}

/// The handlers' extractor for the state.
pub type State = actix_web::web::Data<AppState>;
