//! Typed gateway settings, loaded once: built-in defaults, then `.env`, then the environment.
//!
//! Every problem is reported as one line naming the variable; secret values never appear in it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use agora_token::{AppCertificate, AppId, Version};
use ipnet::IpNet;
use memharbor_shared::settings_source::{
    self, address, err, flag, http_url, log_format, number, present,
};
use secrecy::SecretString;
use serde::Deserialize;

/// Settings of the gateway process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub http_addr: SocketAddr,
    /// Actix worker threads; `None` = one per CPU core.
    pub workers: Option<usize>,
    pub agora: AgoraSettings,
    /// Accepted `Authorization: Bearer` keys; empty = no API keys required.
    pub api_keys: Vec<SecretString>,
    /// Firebase ID tokens, what users may do, and how often (`MEMHARBOR_AUTH`, …).
    pub auth: AuthSettings,
    /// Shared with the recorder; the internal API key is derived from it. Required.
    pub secret_key: SecretString,
    pub log_dir: PathBuf,
    /// When `api.log` rotates (`MEMHARBOR_LOG_MAX_MB`, `MEMHARBOR_LOG_KEEP`).
    pub log_rotation: crate::middleware::api_log::Rotation,
    /// Peers whose `X-Real-IP` / `X-Forwarded-For` are believed (nginx).
    pub trusted_proxies: Vec<IpNet>,
    pub recorder: RecorderSettings,
    /// `MEMHARBOR_CLUSTER=true`: recorders are found, placed and routed to through the
    /// Firestore directory instead of `RECORDER_URL`.
    pub cluster: Option<ClusterSettings>,
    pub telemetry: TelemetrySettings,
}

/// How the gateway reaches the cluster's directory.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub firestore: memharbor_google::FirestoreSettings,
    /// `MEMHARBOR_CLUSTER_LEASE_S`: a recorder whose heartbeat is older is not live.
    pub lease: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct AgoraSettings {
    pub app_id: AppId,
    pub app_cert: AppCertificate,
    pub token_version: Version,
}

#[derive(Debug, Clone)]
pub struct RecorderSettings {
    /// Base URL of the recorder's internal API.
    pub url: String,
    /// The recording bot's Agora uid.
    pub uid: u32,
    /// Longest recording; the bot's token outlives it.
    pub max_duration_s: u32,
    /// How long start and stop may take at the recorder (a join, an upload) before 504.
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TelemetrySettings {
    pub debug: bool,
    pub json: bool,
}

/// A setting that is missing or malformed: `variable` names it, `problem` says what is accepted.
pub use memharbor_shared::settings_source::SettingsError;

pub use crate::auth::access::AccessRules;
pub use crate::auth::firebase::{FirebaseAuthSettings, GOOGLE_KEYS_URL};
pub use crate::auth::limits::LimitSettings;

/// Who may call and what users may do. Without `firebase`, users do not exist (API keys or
/// nothing, as before).
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    pub firebase: Option<FirebaseAuthSettings>,
    pub rules: AccessRules,
    pub limits: LimitSettings,
}

pub const DEFAULT_HTTP_ADDR: &str = "0.0.0.0:8001";
pub const DEFAULT_RECORDER_URL: &str = "http://127.0.0.1:3100";
pub const DEFAULT_RECORDER_UID: u32 = 999_999;
pub const DEFAULT_MAX_DURATION_S: u32 = 14_400;
pub const DEFAULT_TRUSTED_PROXIES: &str =
    "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";

/// The variables as the `config` crate sees them (lower-cased names, string values).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Raw {
    agora_app_id: Option<String>,
    agora_app_cert: Option<String>,
    memharbor_secret_key: Option<String>,
    memharbor_debug: Option<String>,
    memharbor_http_addr: Option<String>,
    memharbor_workers: Option<String>,
    memharbor_token_version: Option<String>,
    memharbor_api_keys: Option<String>,
    memharbor_auth: Option<String>,
    memharbor_auth_keys_url: Option<String>,
    memharbor_auth_user_claim: Option<String>,
    memharbor_auth_bind_account: Option<String>,
    memharbor_auth_open_channels: Option<String>,
    memharbor_max_recordings_per_user: Option<String>,
    memharbor_rate_tokens_per_min: Option<String>,
    memharbor_rate_starts_per_min: Option<String>,
    firebase_project_id: Option<String>,
    firebase_auth_emulator_host: Option<String>,
    memharbor_log_dir: Option<String>,
    memharbor_log_max_mb: Option<String>,
    memharbor_log_keep: Option<String>,
    memharbor_log_format: Option<String>,
    memharbor_trusted_proxies: Option<String>,
    recorder_url: Option<String>,
    recorder_uid: Option<String>,
    recorder_max_duration_s: Option<String>,
    memharbor_recorder_timeout_s: Option<String>,
    memharbor_cluster: Option<String>,
    memharbor_cluster_lease_s: Option<String>,
    firebase_use_emulator: Option<String>,
    firestore_emulator_host: Option<String>,
    firebase_service_account: Option<String>,
}

impl Settings {
    /// Loads from `.env` in the working directory (if any) and the process environment.
    pub fn load() -> Result<Self, SettingsError> {
        let dotenv = settings_source::read_env_file(std::path::Path::new(".env"))
            .map_err(|e| err("(.env file)", format!("cannot be read: {e}")))?;
        Self::from_sources(dotenv, std::env::vars().collect())
    }

    /// Builds settings from explicit `.env` and environment maps (the environment wins).
    pub fn from_sources(
        dotenv: HashMap<String, String>,
        env: HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let raw: Raw = settings_source::build_config(dotenv, env)
            .and_then(|c| c.try_deserialize())
            .map_err(|e| err("(settings)", format!("cannot be read: {e}")))?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<Self, SettingsError> {
        let (http_addr, workers) = server(&raw)?;
        let api_keys = api_keys(&raw);
        let auth = auth(&raw, !api_keys.is_empty())?;
        let (log_dir, log_rotation, telemetry) = logs(&raw)?;
        Ok(Self {
            http_addr,
            workers,
            agora: agora(&raw)?,
            api_keys,
            auth,
            secret_key: SecretString::from(settings_source::secret_key(present(
                &raw.memharbor_secret_key,
            ))?),
            log_dir,
            log_rotation,
            trusted_proxies: trusted_proxies(&raw)?,
            recorder: recorder(&raw)?,
            cluster: cluster(&raw)?,
            telemetry,
        })
    }
}

/// The Agora project: App ID, App Certificate, token format.
fn agora(raw: &Raw) -> Result<AgoraSettings, SettingsError> {
    let app_id = match present(&raw.agora_app_id) {
        None => {
            return Err(err(
                "AGORA_APP_ID",
                "is missing: set it to your Agora project's App ID (32 hex characters)",
            ));
        }
        Some(v) => AppId::new(v).map_err(|e| err("AGORA_APP_ID", e.to_string()))?,
    };
    let app_cert = match present(&raw.agora_app_cert) {
        None => {
            return Err(err(
                "AGORA_APP_CERT",
                "is missing: set it to your Agora project's primary App Certificate (32 hex characters)",
            ));
        }
        Some(v) => AppCertificate::new(v).map_err(|e| err("AGORA_APP_CERT", e.to_string()))?,
    };
    let token_version = present(&raw.memharbor_token_version)
        .map_or(Ok(Version::V006), Version::from_str)
        .map_err(|_| err("MEMHARBOR_TOKEN_VERSION", "must be 006 or 007"))?;
    Ok(AgoraSettings {
        app_id,
        app_cert,
        token_version,
    })
}

/// Where the gateway listens, with how many worker threads.
fn server(raw: &Raw) -> Result<(SocketAddr, Option<usize>), SettingsError> {
    let http_addr = address(
        "MEMHARBOR_HTTP_ADDR",
        present(&raw.memharbor_http_addr),
        DEFAULT_HTTP_ADDR,
    )?;
    let workers = match present(&raw.memharbor_workers) {
        None => None,
        value => Some(number("MEMHARBOR_WORKERS", value, 1, 1, 256)?),
    };
    Ok((http_addr, workers))
}

/// `MEMHARBOR_AUTH` and what goes with it. The API keys themselves decide whether keys are
/// accepted; `MEMHARBOR_AUTH` must agree with them (unset = `keys` with keys, `none` without).
fn auth(raw: &Raw, have_keys: bool) -> Result<AuthSettings, SettingsError> {
    let modes = match present(&raw.memharbor_auth)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => (have_keys, false),
        Some("none") => (false, false),
        Some("keys") => (true, false),
        Some("firebase") => (false, true),
        Some("firebase,keys" | "keys,firebase") => (true, true),
        Some(_) => {
            return Err(err(
                "MEMHARBOR_AUTH",
                "must be none, keys, firebase, or firebase,keys",
            ));
        }
    };
    if modes.0 != have_keys {
        return Err(err(
            "MEMHARBOR_AUTH",
            if have_keys {
                "does not include keys, but MEMHARBOR_API_KEYS is set: add keys (e.g. firebase,keys) or unset the keys"
            } else {
                "includes keys, but MEMHARBOR_API_KEYS is empty: set at least one key"
            },
        ));
    }
    let firebase = if modes.1 {
        let project_id = present(&raw.firebase_project_id).ok_or_else(|| {
            err(
                "FIREBASE_PROJECT_ID",
                "is missing: MEMHARBOR_AUTH=firebase checks that ID tokens are for this project",
            )
        })?;
        Some(FirebaseAuthSettings {
            project_id: project_id.to_owned(),
            keys_url: http_url(
                "MEMHARBOR_AUTH_KEYS_URL",
                present(&raw.memharbor_auth_keys_url),
                GOOGLE_KEYS_URL,
            )?,
            user_claim: present(&raw.memharbor_auth_user_claim).map(str::to_owned),
            emulator: present(&raw.firebase_auth_emulator_host).is_some(),
            refetch_interval: crate::auth::firebase::REFETCH_INTERVAL,
        })
    } else {
        None
    };
    Ok(AuthSettings {
        firebase,
        rules: AccessRules {
            open_channels: flag(
                "MEMHARBOR_AUTH_OPEN_CHANNELS",
                present(&raw.memharbor_auth_open_channels),
            )?,
            bind_account: flag(
                "MEMHARBOR_AUTH_BIND_ACCOUNT",
                present(&raw.memharbor_auth_bind_account),
            )?,
        },
        limits: LimitSettings {
            tokens_per_min: number(
                "MEMHARBOR_RATE_TOKENS_PER_MIN",
                present(&raw.memharbor_rate_tokens_per_min),
                60,
                0,
                1_000_000,
            )?,
            starts_per_min: number(
                "MEMHARBOR_RATE_STARTS_PER_MIN",
                present(&raw.memharbor_rate_starts_per_min),
                10,
                0,
                1_000_000,
            )?,
            max_recordings_per_user: number(
                "MEMHARBOR_MAX_RECORDINGS_PER_USER",
                present(&raw.memharbor_max_recordings_per_user),
                2,
                1,
                10_000,
            )?,
        },
    })
}

fn api_keys(raw: &Raw) -> Vec<SecretString> {
    present(&raw.memharbor_api_keys)
        .map(|keys| {
            keys.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| SecretString::from(k.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn trusted_proxies(raw: &Raw) -> Result<Vec<IpNet>, SettingsError> {
    present(&raw.memharbor_trusted_proxies)
        .unwrap_or(DEFAULT_TRUSTED_PROXIES)
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| err("MEMHARBOR_TRUSTED_PROXIES", format!("must be a comma-separated list of IP addresses or CIDR ranges (got {p:?})")))
        })
        .collect()
}

/// Cluster mode: the directory in Firestore (the same project and credentials variables as the
/// recorder's).
fn cluster(raw: &Raw) -> Result<Option<ClusterSettings>, SettingsError> {
    if !flag("MEMHARBOR_CLUSTER", present(&raw.memharbor_cluster))? {
        return Ok(None);
    }
    let firestore = memharbor_google::settings::firestore(
        present(&raw.firebase_project_id),
        present(&raw.firebase_use_emulator),
        present(&raw.firestore_emulator_host),
        present(&raw.firebase_service_account),
    )?
    .ok_or_else(|| {
        err(
            "MEMHARBOR_CLUSTER",
            "needs Firebase: the cluster's directory is in Firestore (set FIREBASE_PROJECT_ID and its credentials, as for the recorder)",
        )
    })?;
    Ok(Some(ClusterSettings {
        firestore,
        lease: memharbor_shared::cluster::lease(present(&raw.memharbor_cluster_lease_s))?,
    }))
}

/// The recorder behind the gateway, and the bot the gateway mints tokens for.
fn recorder(raw: &Raw) -> Result<RecorderSettings, SettingsError> {
    Ok(RecorderSettings {
        url: http_url(
            "RECORDER_URL",
            present(&raw.recorder_url),
            DEFAULT_RECORDER_URL,
        )?,
        // 0 is Agora's wildcard: never the bot's.
        uid: number(
            "RECORDER_UID",
            present(&raw.recorder_uid),
            DEFAULT_RECORDER_UID,
            1,
            u32::MAX,
        )?,
        max_duration_s: number(
            "RECORDER_MAX_DURATION_S",
            present(&raw.recorder_max_duration_s),
            DEFAULT_MAX_DURATION_S,
            1,
            u32::MAX,
        )?,
        timeout: std::time::Duration::from_secs(number(
            "MEMHARBOR_RECORDER_TIMEOUT_S",
            present(&raw.memharbor_recorder_timeout_s),
            60,
            1,
            86_400,
        )?),
    })
}

/// The request log (folder, rotation) and stdout's logs.
fn logs(
    raw: &Raw,
) -> Result<
    (
        PathBuf,
        crate::middleware::api_log::Rotation,
        TelemetrySettings,
    ),
    SettingsError,
> {
    let rotation = crate::middleware::api_log::Rotation {
        max_bytes: number(
            "MEMHARBOR_LOG_MAX_MB",
            present(&raw.memharbor_log_max_mb),
            100u64,
            0,
            1_000_000,
        )? * 1024
            * 1024,
        keep: number(
            "MEMHARBOR_LOG_KEEP",
            present(&raw.memharbor_log_keep),
            5,
            0,
            1000,
        )?,
    };
    let telemetry = TelemetrySettings {
        debug: flag("MEMHARBOR_DEBUG", present(&raw.memharbor_debug))?,
        json: log_format(present(&raw.memharbor_log_format))?,
    };
    let dir = PathBuf::from(present(&raw.memharbor_log_dir).unwrap_or("logs"));
    Ok((dir, rotation, telemetry))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "970CA35de60c44645bbae8a215061b33";
    const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
    const SECRET: &str = "a-test-secret-that-is-32-bytes-long";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_apply_and_the_environment_beats_dotenv() {
        let s = Settings::from_sources(
            env(&[
                ("AGORA_APP_ID", ID),
                ("AGORA_APP_CERT", CERT),
                ("MEMHARBOR_SECRET_KEY", SECRET),
                ("MEMHARBOR_TOKEN_VERSION", "007"),
            ]),
            env(&[
                ("MEMHARBOR_TOKEN_VERSION", "006"),
                ("MEMHARBOR_API_KEYS", "a, b,,"),
            ]),
        )
        .unwrap();
        assert_eq!(s.agora.token_version, Version::V006);
        assert_eq!(s.http_addr.to_string(), DEFAULT_HTTP_ADDR);
        assert_eq!(s.api_keys.len(), 2);
        assert_eq!(s.recorder.url, DEFAULT_RECORDER_URL);
    }

    #[test]
    fn the_secret_key_is_required_long_and_not_a_placeholder() {
        let with = |secret: Option<&str>| {
            let mut pairs = vec![("AGORA_APP_ID", ID), ("AGORA_APP_CERT", CERT)];
            pairs.extend(secret.map(|s| ("MEMHARBOR_SECRET_KEY", s)));
            Settings::from_sources(HashMap::new(), env(&pairs))
        };
        for bad in [None, Some("change-me"), Some("too-short")] {
            let e = with(bad).unwrap_err();
            assert_eq!(e.variable, "MEMHARBOR_SECRET_KEY");
            assert!(bad.is_none_or(|b| !e.to_string().contains(b)), "{e}");
        }
        assert!(with(Some(SECRET)).is_ok());
    }

    #[test]
    fn a_bad_credential_names_the_variable_and_hides_the_value() {
        let e = Settings::from_sources(
            HashMap::new(),
            env(&[("AGORA_APP_ID", ID), ("MEMHARBOR_SECRET_KEY", SECRET)]),
        )
        .unwrap_err();
        assert_eq!(e.variable, "AGORA_APP_CERT");
        let secret = "not-hex-not-hex-not-hex-not-hex!";
        let e = Settings::from_sources(
            HashMap::new(),
            env(&[
                ("AGORA_APP_ID", ID),
                ("AGORA_APP_CERT", secret),
                ("MEMHARBOR_SECRET_KEY", SECRET),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.variable, "AGORA_APP_CERT");
        assert!(!e.to_string().contains(secret), "{e}");
    }

    #[test]
    fn auth_modes_must_agree_with_the_keys_and_firebase_needs_a_project() {
        let with = |pairs: &[(&str, &str)]| {
            let mut all = vec![
                ("AGORA_APP_ID", ID),
                ("AGORA_APP_CERT", CERT),
                ("MEMHARBOR_SECRET_KEY", SECRET),
            ];
            all.extend_from_slice(pairs);
            Settings::from_sources(HashMap::new(), env(&all))
        };
        // Unset: keys with keys, none without (as before).
        assert!(with(&[]).unwrap().api_keys.is_empty());
        assert_eq!(
            with(&[("MEMHARBOR_API_KEYS", "k")]).unwrap().api_keys.len(),
            1
        );
        for (pairs, variable) in [
            (vec![("MEMHARBOR_AUTH", "keys")], "MEMHARBOR_AUTH"),
            (
                vec![("MEMHARBOR_AUTH", "none"), ("MEMHARBOR_API_KEYS", "k")],
                "MEMHARBOR_AUTH",
            ),
            (vec![("MEMHARBOR_AUTH", "firebase")], "FIREBASE_PROJECT_ID"),
            (vec![("MEMHARBOR_AUTH", "oauth")], "MEMHARBOR_AUTH"),
            (
                vec![
                    ("MEMHARBOR_AUTH", "firebase"),
                    ("FIREBASE_PROJECT_ID", "p"),
                    ("MEMHARBOR_API_KEYS", "k"),
                ],
                "MEMHARBOR_AUTH",
            ),
        ] {
            assert_eq!(with(&pairs).unwrap_err().variable, variable, "{pairs:?}");
        }
        let s = with(&[
            ("MEMHARBOR_AUTH", "firebase,keys"),
            ("MEMHARBOR_API_KEYS", "k"),
            ("FIREBASE_PROJECT_ID", "demo-p"),
            ("MEMHARBOR_MAX_RECORDINGS_PER_USER", "3"),
        ])
        .unwrap();
        let firebase = s.auth.firebase.unwrap();
        assert_eq!(firebase.project_id, "demo-p");
        assert_eq!(firebase.keys_url, GOOGLE_KEYS_URL);
        assert!(!firebase.emulator);
        assert_eq!(s.auth.limits.max_recordings_per_user, 3);
    }

    #[test]
    fn malformed_values_are_refused() {
        for (var, value) in [
            ("MEMHARBOR_TOKEN_VERSION", "008"),
            ("MEMHARBOR_HTTP_ADDR", "nowhere"),
            ("MEMHARBOR_DEBUG", "maybe"),
            ("RECORDER_URL", "ftp://x"),
            ("RECORDER_UID", "0"),
            ("MEMHARBOR_TRUSTED_PROXIES", "10.0.0.0/33"),
        ] {
            let e = Settings::from_sources(
                HashMap::new(),
                env(&[
                    ("AGORA_APP_ID", ID),
                    ("AGORA_APP_CERT", CERT),
                    ("MEMHARBOR_SECRET_KEY", SECRET),
                    (var, value),
                ]),
            )
            .unwrap_err();
            assert_eq!(e.variable, var);
        }
    }
}
