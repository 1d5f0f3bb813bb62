//! Free space on the recordings' filesystem: a start is refused below `RECORDER_MIN_FREE_MB`
//! (a recording that cannot be written is worse than one never started), and `/status` and the
//! metrics show it.

use std::path::Path;

/// Bytes available to the recorder on the filesystem holding `path`; `None` if it cannot be read.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temp_folder_has_some_space() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        assert_eq!(free_bytes(&dir.path().join("missing")), None);
    }
}
