//! Typed recorder settings, loaded once: built-in defaults, then `.env`, then the environment.
//! Every problem is one line naming the variable; secrets never appear in it. One function per
//! group of settings; the parsers are `memharbor_shared::settings_source`'s.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use memharbor_shared::settings_source::{
    self, address, err, flag, http_url, log_format, number, present,
};
use secrecy::SecretString;
use serde::Deserialize;

use crate::browser;

mod cluster;
mod webhooks;

use cluster::cluster;
use webhooks::webhooks;

pub use crate::storage::firebase::{FirebaseCredentials, FirebaseSettings};
pub use crate::webhooks::WebhookSettings;
pub use memharbor_shared::settings_source::SettingsError;

#[derive(Debug, Clone)]
pub struct Settings {
    pub http_addr: SocketAddr,
    /// The loopback page server (tabs load the recorder page from it).
    pub page_addr: SocketAddr,
    pub debug: bool,
    pub json_logs: bool,
    /// Shared with the gateway (required); the internal API key is derived from it.
    pub secret_key: SecretString,
    pub recordings_dir: PathBuf,
    pub chromium: PathBuf,
    pub chromium_extra_args: Vec<String>,
    /// Chromium's sandbox (`RECORDER_CHROMIUM_SANDBOX`: auto, on, off).
    pub chromium_sandbox: browser::SandboxMode,
    pub agora_sdk: PathBuf,
    pub max_sessions: usize,
    pub sessions_per_browser: usize,
    pub idle_timeout: Duration,
    pub max_duration: Duration,
    pub join_timeout: Duration,
    /// How long the page waits for late audio frames before it mixes an instant.
    pub audio_cushion_ms: u32,
    pub channel_mode: ChannelMode,
    pub client_role: ClientRole,
    /// Starts are refused below this much free space for recordings, in MiB.
    pub min_free_mb: u64,
    pub gateway_url: String,
    /// Allows `/internal/sessions/{sid}/drill/*` (tests and resilience drills).
    pub drills: bool,
    /// Firebase Storage + Firestore; `None` = local storage (the embedded default).
    pub firebase: Option<FirebaseSettings>,
    /// `MEMHARBOR_CLUSTER=true`: one of many recorders on the Firestore directory.
    pub cluster: Option<ClusterSettings>,
    /// `MEMHARBOR_WEBHOOK_URLS`: where recording events are delivered; `None` = no webhooks.
    pub webhooks: Option<WebhookSettings>,
}

/// This recorder as a member of the cluster.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// `RECORDER_ID`: stable across restarts (default: the host name, a StatefulSet pod's name).
    pub id: String,
    /// `RECORDER_ADVERTISE_URL`: where gateways and other recorders reach this one (default
    /// `http://{host name}:3100`).
    pub advertise_url: String,
    /// `MEMHARBOR_CLUSTER_HEARTBEAT_S` (default 3).
    pub heartbeat: Duration,
    /// `MEMHARBOR_CLUSTER_LEASE_S` (default 10): a heartbeat older than this is stale.
    pub lease: Duration,
}

/// Agora's channel profile the bot joins with (`RECORDER_CHANNEL_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelMode {
    /// Live broadcasting: the bot joins as an audience member, invisible to the others.
    Live,
    Rtc,
}

/// The bot's role in live mode (`RECORDER_CLIENT_ROLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientRole {
    Audience,
    Host,
}

pub const DEFAULT_HTTP_ADDR: &str = "0.0.0.0:3100";
pub const DEFAULT_PAGE_ADDR: &str = "127.0.0.1:0";
pub const DEFAULT_AGORA_SDK: &str = "vendor/agora-rtc-sdk-ng-4.24.8/AgoraRTC_N-production.js";
/// Two-speaker calls one core records with about a quarter of it spare (`bench/README.md`,
/// "Sizing": 12–15 % of a core per call): `RECORDER_MAX_SESSIONS` defaults to this many per core.
pub const SESSIONS_PER_CORE: usize = 5;

/// `RECORDER_MAX_SESSIONS` when unset: [`SESSIONS_PER_CORE`] for each core this process may use
/// (a container's CPU quota counts, not the host's cores).
pub fn default_max_sessions() -> usize {
    (std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        * SESSIONS_PER_CORE)
        .min(1000)
}

pub const DEFAULT_SESSIONS_PER_BROWSER: usize = 20;
/// Where Debian, Ubuntu and Google put Chromium, in the order they are tried.
pub const CHROMIUM_CANDIDATES: &[&str] = &[
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome-stable",
    "/usr/bin/google-chrome",
];

/// The first Chromium found in the usual places.
pub fn find_chromium() -> Option<PathBuf> {
    CHROMIUM_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Raw {
    recorder_http_addr: Option<String>,
    recorder_page_addr: Option<String>,
    memharbor_debug: Option<String>,
    memharbor_log_format: Option<String>,
    memharbor_secret_key: Option<String>,
    recorder_recordings_dir: Option<String>,
    recorder_chromium: Option<String>,
    recorder_chromium_extra_args: Option<String>,
    recorder_chromium_sandbox: Option<String>,
    recorder_agora_sdk: Option<String>,
    recorder_max_sessions: Option<String>,
    recorder_sessions_per_browser: Option<String>,
    recorder_idle_timeout_s: Option<String>,
    recorder_max_duration_s: Option<String>,
    recorder_join_timeout_s: Option<String>,
    recorder_audio_cushion_ms: Option<String>,
    recorder_channel_mode: Option<String>,
    recorder_client_role: Option<String>,
    recorder_gateway_url: Option<String>,
    recorder_min_free_mb: Option<String>,
    recorder_enable_drills: Option<String>,
    firebase_project_id: Option<String>,
    firebase_storage_bucket: Option<String>,
    firebase_use_emulator: Option<String>,
    firestore_emulator_host: Option<String>,
    firebase_storage_emulator_host: Option<String>,
    storage_emulator_host: Option<String>,
    firebase_service_account: Option<String>,
    recorder_keep_local_days: Option<String>,
    memharbor_cluster: Option<String>,
    memharbor_cluster_heartbeat_s: Option<String>,
    memharbor_cluster_lease_s: Option<String>,
    recorder_id: Option<String>,
    recorder_advertise_url: Option<String>,
    recorder_upload_wait_s: Option<String>,
    recorder_upload_chunk_mb: Option<String>,
    memharbor_webhook_urls: Option<String>,
    memharbor_webhook_secret: Option<String>,
    memharbor_webhook_retry_s: Option<String>,
    memharbor_webhook_timeout_s: Option<String>,
}

/// `host:port` or a URL → a base URL without a trailing slash.
fn emulator_base(host: &str) -> String {
    memharbor_google::settings::emulator_base(host)
}

fn firebase(raw: &Raw) -> Result<Option<FirebaseSettings>, SettingsError> {
    let Some(project_id) = present(&raw.firebase_project_id) else {
        return Ok(None);
    };
    memharbor_google::settings::project_id(project_id)?;
    let bucket = present(&raw.firebase_storage_bucket)
        .ok_or_else(|| err("FIREBASE_STORAGE_BUCKET", "is missing: with FIREBASE_PROJECT_ID set it names the Storage bucket, like your-project-id.appspot.com"))?;
    let credentials = if flag("FIREBASE_USE_EMULATOR", present(&raw.firebase_use_emulator))? {
        let firestore = present(&raw.firestore_emulator_host)
            .ok_or_else(|| err("FIRESTORE_EMULATOR_HOST", "is missing: with FIREBASE_USE_EMULATOR=true it gives the Firestore emulator's host:port"))?;
        let storage = present(&raw.firebase_storage_emulator_host)
            .or(present(&raw.storage_emulator_host))
            .ok_or_else(|| err("FIREBASE_STORAGE_EMULATOR_HOST", "is missing: with FIREBASE_USE_EMULATOR=true it (or STORAGE_EMULATOR_HOST) gives the Storage emulator's host:port"))?;
        FirebaseCredentials::Emulator {
            firestore: emulator_base(firestore),
            storage: emulator_base(storage),
        }
    } else if let Some(json) = present(&raw.firebase_service_account) {
        memharbor_google::check_service_account(json)
            .map_err(|problem| err("FIREBASE_SERVICE_ACCOUNT", problem))?;
        FirebaseCredentials::ServiceAccount(SecretString::from(json.to_owned()))
    } else {
        FirebaseCredentials::ApplicationDefault
    };
    let chunk_mb = number(
        "RECORDER_UPLOAD_CHUNK_MB",
        present(&raw.recorder_upload_chunk_mb),
        8u64,
        1,
        256,
    )?;
    Ok(Some(FirebaseSettings {
        project_id: project_id.to_owned(),
        bucket: bucket.trim_start_matches("gs://").to_owned(),
        credentials,
        upload_wait: Duration::from_secs(number(
            "RECORDER_UPLOAD_WAIT_S",
            present(&raw.recorder_upload_wait_s),
            30,
            0,
            600,
        )?),
        chunk_bytes: chunk_mb * 1024 * 1024,
        keep_local: Duration::from_secs(
            86_400
                * number(
                    "RECORDER_KEEP_LOCAL_DAYS",
                    present(&raw.recorder_keep_local_days),
                    7u64,
                    0,
                    3650,
                )?,
        ),
    }))
}

impl Settings {
    pub fn load() -> Result<Self, SettingsError> {
        let dotenv = settings_source::read_env_file(Path::new(".env"))
            .map_err(|e| err("(.env file)", format!("cannot be read: {e}")))?;
        Self::from_sources(dotenv, std::env::vars().collect())
    }

    pub fn from_sources(
        dotenv: HashMap<String, String>,
        env: HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let raw: Raw = settings_source::build_config(dotenv, env)
            .and_then(|c| c.try_deserialize())
            .map_err(|e| err("(settings)", format!("cannot be read: {e}")))?;
        let secret_key = SecretString::from(settings_source::secret_key(present(
            &raw.memharbor_secret_key,
        ))?);
        let (chromium, chromium_extra_args, chromium_sandbox, agora_sdk) = browser_settings(&raw)?;
        let sessions = session_settings(&raw)?;
        Ok(Self {
            http_addr: address(
                "RECORDER_HTTP_ADDR",
                present(&raw.recorder_http_addr),
                DEFAULT_HTTP_ADDR,
            )?,
            page_addr: address(
                "RECORDER_PAGE_ADDR",
                present(&raw.recorder_page_addr),
                DEFAULT_PAGE_ADDR,
            )?,
            debug: flag("MEMHARBOR_DEBUG", present(&raw.memharbor_debug))?,
            json_logs: log_format(present(&raw.memharbor_log_format))?,
            secret_key,
            recordings_dir: PathBuf::from(
                present(&raw.recorder_recordings_dir).unwrap_or("recordings"),
            ),
            chromium,
            chromium_extra_args,
            chromium_sandbox,
            agora_sdk,
            max_sessions: sessions.max_sessions,
            sessions_per_browser: sessions.sessions_per_browser,
            idle_timeout: sessions.idle_timeout,
            max_duration: sessions.max_duration,
            join_timeout: sessions.join_timeout,
            audio_cushion_ms: sessions.audio_cushion_ms,
            channel_mode: sessions.channel_mode,
            client_role: sessions.client_role,
            // One 4-hour mix is 461 MB (16 kHz × 2 bytes × 14 400 s).
            min_free_mb: number(
                "RECORDER_MIN_FREE_MB",
                present(&raw.recorder_min_free_mb),
                512,
                0,
                10_000_000,
            )?,
            gateway_url: http_url(
                "RECORDER_GATEWAY_URL",
                present(&raw.recorder_gateway_url),
                "http://127.0.0.1:8001",
            )?,
            drills: flag(
                "RECORDER_ENABLE_DRILLS",
                present(&raw.recorder_enable_drills),
            )?,
            firebase: firebase(&raw)?,
            cluster: cluster(&raw)?,
            webhooks: webhooks(&raw)?,
        })
    }
}

/// Chromium: the binary, the operator's switches, the sandbox; and the SDK the page loads.
fn browser_settings(
    raw: &Raw,
) -> Result<(PathBuf, Vec<String>, browser::SandboxMode, PathBuf), SettingsError> {
    let chromium = match present(&raw.recorder_chromium) {
        Some(path) => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(err(
                    "RECORDER_CHROMIUM",
                    format!("names {}, which does not exist", path.display()),
                ));
            }
            path
        }
        None => find_chromium().ok_or_else(|| {
            err("RECORDER_CHROMIUM", format!(
                "is not set and no Chromium was found in {}; install Debian's chromium package or set it",
                CHROMIUM_CANDIDATES.join(", ")
            ))
        })?,
    };
    let extra_args = browser::parse_extra(present(&raw.recorder_chromium_extra_args).unwrap_or(""))
        .map_err(|e| err("RECORDER_CHROMIUM_EXTRA_ARGS", e))?;
    let sandbox = match present(&raw.recorder_chromium_sandbox)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("auto") => browser::SandboxMode::Auto,
        Some("on" | "true" | "1") => browser::SandboxMode::On,
        Some("off" | "false" | "0") => browser::SandboxMode::Off,
        Some(_) => return Err(err("RECORDER_CHROMIUM_SANDBOX", "must be auto, on or off")),
    };
    let agora_sdk = PathBuf::from(present(&raw.recorder_agora_sdk).unwrap_or(DEFAULT_AGORA_SDK));
    if !agora_sdk.is_file() {
        return Err(err(
            "RECORDER_AGORA_SDK",
            format!(
                "names {}, which does not exist; `make run` fetches the pinned agora-rtc-sdk-ng, or point it at the SDK's AgoraRTC_N-production.js",
                agora_sdk.display()
            ),
        ));
    }
    Ok((chromium, extra_args, sandbox, agora_sdk))
}

/// How sessions run: how many, how long, how the bot joins.
struct SessionGroup {
    max_sessions: usize,
    sessions_per_browser: usize,
    idle_timeout: Duration,
    max_duration: Duration,
    join_timeout: Duration,
    audio_cushion_ms: u32,
    channel_mode: ChannelMode,
    client_role: ClientRole,
}

fn session_settings(raw: &Raw) -> Result<SessionGroup, SettingsError> {
    let seconds = |variable, value, default, min, max| {
        number(variable, value, default, min, max).map(Duration::from_secs)
    };
    Ok(SessionGroup {
        max_sessions: number(
            "RECORDER_MAX_SESSIONS",
            present(&raw.recorder_max_sessions),
            default_max_sessions(),
            1,
            1000,
        )?,
        sessions_per_browser: number(
            "RECORDER_SESSIONS_PER_BROWSER",
            present(&raw.recorder_sessions_per_browser),
            DEFAULT_SESSIONS_PER_BROWSER,
            1,
            40,
        )?,
        idle_timeout: seconds(
            "RECORDER_IDLE_TIMEOUT_S",
            present(&raw.recorder_idle_timeout_s),
            60,
            1,
            86_400,
        )?,
        // WAV sizes are 32-bit: 36 h at 16 kHz s16 is the most one file can hold.
        max_duration: seconds(
            "RECORDER_MAX_DURATION_S",
            present(&raw.recorder_max_duration_s),
            14_400,
            1,
            129_600,
        )?,
        join_timeout: seconds(
            "RECORDER_JOIN_TIMEOUT_S",
            present(&raw.recorder_join_timeout_s),
            20,
            1,
            300,
        )?,
        audio_cushion_ms: number(
            "RECORDER_AUDIO_CUSHION_MS",
            present(&raw.recorder_audio_cushion_ms),
            80,
            0,
            1000,
        )?,
        channel_mode: match present(&raw.recorder_channel_mode).unwrap_or("live") {
            "live" => ChannelMode::Live,
            "rtc" => ChannelMode::Rtc,
            _ => return Err(err("RECORDER_CHANNEL_MODE", "must be live or rtc")),
        },
        client_role: match present(&raw.recorder_client_role).unwrap_or("audience") {
            "audience" => ClientRole::Audience,
            "host" => ClientRole::Host,
            _ => return Err(err("RECORDER_CLIENT_ROLE", "must be audience or host")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let sdk = std::env::current_exe().unwrap().display().to_string();
        let mut map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        // Any existing file stands in for the SDK and the browser here.
        map.entry("MEMHARBOR_SECRET_KEY".into())
            .or_insert_with(|| "a-test-secret-that-is-32-bytes-long".into());
        map.insert("RECORDER_AGORA_SDK".into(), sdk.clone());
        map.insert("RECORDER_CHROMIUM".into(), sdk);
        map
    }

    #[test]
    fn the_secret_key_is_required_and_not_a_placeholder() {
        for bad in ["", "change-me", "short"] {
            let e = Settings::from_sources(HashMap::new(), env(&[("MEMHARBOR_SECRET_KEY", bad)]))
                .unwrap_err();
            assert_eq!(e.variable, "MEMHARBOR_SECRET_KEY");
        }
    }

    #[test]
    fn max_sessions_defaults_to_five_per_core_and_can_be_set() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let s = Settings::from_sources(HashMap::new(), env(&[])).unwrap();
        assert_eq!(s.max_sessions, 5 * cores);
        let s =
            Settings::from_sources(HashMap::new(), env(&[("RECORDER_MAX_SESSIONS", "3")])).unwrap();
        assert_eq!(s.max_sessions, 3);
    }

    #[test]
    fn firebase_is_off_unless_a_project_is_set() {
        let s = Settings::from_sources(HashMap::new(), env(&[])).unwrap();
        assert!(s.firebase.is_none());
    }

    #[test]
    fn emulator_mode_needs_both_hosts_and_accepts_the_gcs_variable() {
        let base = [
            ("FIREBASE_PROJECT_ID", "demo-p"),
            ("FIREBASE_STORAGE_BUCKET", "b"),
            ("FIREBASE_USE_EMULATOR", "true"),
        ];
        let e = Settings::from_sources(HashMap::new(), env(&base)).unwrap_err();
        assert_eq!(e.variable, "FIRESTORE_EMULATOR_HOST");
        let mut pairs = base.to_vec();
        pairs.push(("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080"));
        let e = Settings::from_sources(HashMap::new(), env(&pairs)).unwrap_err();
        assert_eq!(e.variable, "FIREBASE_STORAGE_EMULATOR_HOST");
        pairs.push(("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443"));
        let fb = Settings::from_sources(HashMap::new(), env(&pairs))
            .unwrap()
            .firebase
            .unwrap();
        match fb.credentials {
            FirebaseCredentials::Emulator { firestore, storage } => {
                assert_eq!(
                    (firestore.as_str(), storage.as_str()),
                    ("http://127.0.0.1:8080", "http://127.0.0.1:4443")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            (fb.upload_wait.as_secs(), fb.keep_local.as_secs()),
            (30, 7 * 86_400)
        );
    }

    #[test]
    fn a_malformed_service_account_is_refused_without_being_echoed() {
        let secret = r#"{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nSECRETSECRET"}"#;
        let e = Settings::from_sources(
            HashMap::new(),
            env(&[
                ("FIREBASE_PROJECT_ID", "p"),
                ("FIREBASE_STORAGE_BUCKET", "b"),
                ("FIREBASE_SERVICE_ACCOUNT", secret),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.variable, "FIREBASE_SERVICE_ACCOUNT");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        let e = Settings::from_sources(HashMap::new(), env(&[("FIREBASE_PROJECT_ID", "p")]))
            .unwrap_err();
        assert_eq!(e.variable, "FIREBASE_STORAGE_BUCKET");
    }
}
