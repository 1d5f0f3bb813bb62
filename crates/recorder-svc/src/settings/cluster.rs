//! Cluster mode's settings: who this recorder is in the directory, where it is reached, how
//! often it beats.

use std::time::Duration;

use memharbor_shared::settings_source::{err, flag, http_url, number, present};

use super::{ClusterSettings, Raw, SettingsError};

/// The host name (the default recorder id and advertised host).
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Cluster mode: who this recorder is, where it is reached, how often it beats. It needs
/// Firebase (the directory is in Firestore).
pub(super) fn cluster(raw: &Raw) -> Result<Option<ClusterSettings>, SettingsError> {
    if !flag("MEMHARBOR_CLUSTER", present(&raw.memharbor_cluster))? {
        return Ok(None);
    }
    if present(&raw.firebase_project_id).is_none() {
        return Err(err(
            "MEMHARBOR_CLUSTER",
            "needs Firebase: the cluster's directory is in Firestore (set FIREBASE_PROJECT_ID and its settings)",
        ));
    }
    let host = host_name();
    let id = present(&raw.recorder_id).unwrap_or(&host).to_owned();
    if !memharbor_shared::cluster::valid_recorder_id(&id) {
        return Err(err(
            "RECORDER_ID",
            memharbor_shared::cluster::RECORDER_ID_RULE,
        ));
    }
    let advertise_url = match present(&raw.recorder_advertise_url) {
        Some(url) => http_url(
            "RECORDER_ADVERTISE_URL",
            Some(url),
            "http://recorder-0.recorder:3100",
        )?,
        None => format!("http://{host}:3100"),
    };
    let heartbeat = number(
        "MEMHARBOR_CLUSTER_HEARTBEAT_S",
        present(&raw.memharbor_cluster_heartbeat_s),
        3u64,
        1,
        60,
    )?;
    let lease = memharbor_shared::cluster::lease(present(&raw.memharbor_cluster_lease_s))?;
    if lease < Duration::from_secs(2 * heartbeat) {
        return Err(err(
            "MEMHARBOR_CLUSTER_LEASE_S",
            "must be at least twice MEMHARBOR_CLUSTER_HEARTBEAT_S, or one late beat makes a recorder look dead",
        ));
    }
    Ok(Some(ClusterSettings {
        id,
        advertise_url,
        heartbeat: Duration::from_secs(heartbeat),
        lease,
    }))
}
