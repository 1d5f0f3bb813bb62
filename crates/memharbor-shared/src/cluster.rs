//! What the services agree on in cluster mode: how recorders are named, how long a heartbeat
//! stays fresh, and which session a file belongs to.

use std::time::Duration;

use crate::settings_source::{SettingsError, number};

/// `RECORDER_ID`'s rule (it names the recorder's document in the directory).
pub const RECORDER_ID_RULE: &str =
    "must be 1-63 characters of A-Z a-z 0-9 . - _ (a host or pod name), not '.' or '..'";

pub fn valid_recorder_id(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// `MEMHARBOR_CLUSTER_LEASE_S` (default 10 s): a recorder whose heartbeat is older is not live.
/// Gateways and recorders must use the same value.
pub fn lease(value: Option<&str>) -> Result<Duration, SettingsError> {
    number("MEMHARBOR_CLUSTER_LEASE_S", value, 10u64, 3, 300).map(Duration::from_secs)
}

/// The stem `{channel}_{YYYY-MM-DDTHH-MM-SS}` a recording's files share: the mix
/// `{stem}.wav` (or `{stem}-2.wav` when the name was taken) and each speaker's `{stem}_{uid}.wav`.
/// Channel parts hold no `_`, so the stem is the first four `_`-separated parts, without a `-n`
/// suffix on the fourth.
pub fn stem_of_file(filename: &str) -> Option<String> {
    let name = filename.strip_suffix(".wav")?;
    let parts: Vec<&str> = name.splitn(5, '_').collect();
    if parts.len() < 4 {
        return None;
    }
    let stamp = parts[3];
    // `2026-02-03T12-00-00` is 19 bytes; `-2` and the like follow it.
    let stamp = stamp
        .get(..19)
        .filter(|s| s.as_bytes().get(10) == Some(&b'T'))?;
    Some(format!("{}_{}_{}_{stamp}", parts[0], parts[1], parts[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_a_recording_has_its_stem() {
        let stem = "g_a_b_2026-02-03T12-00-00";
        for name in [
            "g_a_b_2026-02-03T12-00-00.wav",
            "g_a_b_2026-02-03T12-00-00-2.wav",
            "g_a_b_2026-02-03T12-00-00_12345.wav",
        ] {
            assert_eq!(stem_of_file(name).as_deref(), Some(stem), "{name}");
        }
        assert_eq!(stem_of_file("g_a_b.wav"), None);
        assert_eq!(stem_of_file("x.txt"), None);
    }

    #[test]
    fn recorder_ids_are_host_names() {
        assert!(valid_recorder_id("recorder-0"));
        assert!(!valid_recorder_id("a/b"));
        assert!(!valid_recorder_id(".."));
        assert!(!valid_recorder_id(""));
    }
}
