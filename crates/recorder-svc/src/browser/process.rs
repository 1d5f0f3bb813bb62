//! One Chromium process: started by us (own process group, killed if we die), its DevTools URL read
//! from stderr, a pid file so a later run can sweep what a killed run left behind.
//!
//! The only module with `unsafe`: `pre_exec` and `kill(2)` have no safe equivalent in std.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::BrowserError;

/// How long Chromium may take to print its DevTools URL.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);

/// A running Chromium and what to clean up after it.
#[derive(Debug)]
pub struct ChromiumProcess {
    child: Child,
    pid: u32,
    profile: PathBuf,
    pid_file: PathBuf,
}

/// Starts `binary` with `args` (which include `--user-data-dir=<profile>`) and waits for its
/// DevTools WebSocket URL.
///
/// Must be called from a thread that outlives the browser: `PR_SET_PDEATHSIG` fires when the
/// spawning *thread* exits (tokio runtime workers qualify; `spawn_blocking` threads do not).
pub async fn launch(
    binary: &Path,
    args: &[String],
    profile: &Path,
    pid_dir: &Path,
) -> Result<(ChromiumProcess, String), BrowserError> {
    std::fs::create_dir_all(profile)
        .map_err(|e| BrowserError::Launch(format!("profile {}: {e}", profile.display())))?;
    std::fs::create_dir_all(pid_dir)
        .map_err(|e| BrowserError::Launch(format!("{}: {e}", pid_dir.display())))?;
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    // SAFETY: prctl(2) is async-signal-safe and touches no memory of the parent; it is the only
    // thing run between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| BrowserError::Launch(format!("cannot start {}: {e}", binary.display())))?;
    let pid = child
        .id()
        .ok_or_else(|| BrowserError::Launch("Chromium exited at once".into()))?;
    let pid_file = pid_dir.join(format!("{pid}.pid"));
    let _ = std::fs::write(&pid_file, format!("{pid}\n{}\n", profile.display()));
    let mut process = ChromiumProcess {
        child,
        pid,
        profile: profile.to_owned(),
        pid_file,
    };

    let stderr = process.child.stderr.take();
    let Some(stderr) = stderr else {
        process.kill().await;
        return Err(BrowserError::Launch("no stderr from Chromium".into()));
    };
    let mut lines = BufReader::new(stderr).lines();
    let found = tokio::time::timeout(LAUNCH_TIMEOUT, async {
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some((_, url)) = line.rsplit_once("DevTools listening on ") {
                return Ok(url.trim().to_owned());
            }
            if seen.len() < 20 {
                seen.push(line);
            }
        }
        Err(seen.join(" | "))
    })
    .await;
    let url = match found {
        Ok(Ok(url)) => url,
        Ok(Err(output)) => {
            process.kill().await;
            return Err(BrowserError::Launch(format!(
                "Chromium exited before it was ready: {output}"
            )));
        }
        Err(_) => {
            process.kill().await;
            return Err(BrowserError::Launch(
                "Chromium did not start within 20 s".into(),
            ));
        }
    };
    // Keep reading stderr so Chromium never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::trace!(target: "chromium", "{line}");
        }
    });
    Ok((process, url))
}

impl ChromiumProcess {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills the whole process group, reaps the main process, removes the profile and pid file.
    pub async fn kill(mut self) {
        kill_group(self.pid);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = tokio::fs::remove_dir_all(&self.profile).await;
        let _ = tokio::fs::remove_file(&self.pid_file).await;
    }

    /// Sends SIGKILL to the whole group without waiting or cleaning up (a drill: the pool notices
    /// the death and cleans up as it would after a real crash).
    pub fn signal_kill(&self) {
        kill_group(self.pid);
    }
}

fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Kills browsers a previous run left behind (it was killed before it could): each pid file names
/// a pid and its profile; the process is killed only if its command line still has that profile,
/// and the profile is deleted only if it lies inside `profiles_dir` (a pid file is data on disk:
/// it must not be able to name any other folder). Returns how many were killed.
pub fn sweep_leftovers(pid_dir: &Path, profiles_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(pid_dir) else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut lines = text.lines();
        let (Some(pid), Some(profile)) = (
            lines.next().and_then(|p| p.parse::<u32>().ok()),
            lines.next(),
        ) else {
            let _ = std::fs::remove_file(&path);
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let needle = format!("--user-data-dir={profile}");
        if cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == needle.as_bytes())
        {
            kill_group(pid);
            killed += 1;
        }
        if is_inside(Path::new(profile), profiles_dir) {
            let _ = std::fs::remove_dir_all(profile);
        } else {
            tracing::warn!(pid_file = %path.display(), "a pid file names a profile outside the profiles folder; not deleting it");
        }
        let _ = std::fs::remove_file(&path);
    }
    killed
}

/// True if `path` is a folder strictly inside `dir` (no `..`, no symlink out of it).
fn is_inside(path: &Path, dir: &Path) -> bool {
    let (Ok(path), Ok(dir)) = (path.canonicalize(), dir.canonicalize()) else {
        return false;
    };
    path != dir && path.starts_with(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_deletes_only_profiles_inside_the_profiles_folder() {
        let root = tempfile::tempdir().unwrap();
        let (pids, profiles, elsewhere) = (
            root.path().join("browsers"),
            root.path().join("profiles"),
            root.path().join("precious"),
        );
        for dir in [&pids, &profiles.join("1-1"), &elsewhere] {
            std::fs::create_dir_all(dir).unwrap();
        }
        // Pids that are not Chromium (nothing is killed): only the profiles are judged.
        std::fs::write(
            pids.join("1.pid"),
            format!("999999999\n{}\n", profiles.join("1-1").display()),
        )
        .unwrap();
        std::fs::write(
            pids.join("2.pid"),
            format!("999999998\n{}\n", profiles.join("../precious").display()),
        )
        .unwrap();
        assert_eq!(sweep_leftovers(&pids, &profiles), 0);
        assert!(
            !profiles.join("1-1").exists(),
            "a leftover profile is removed"
        );
        assert!(
            elsewhere.exists(),
            "a folder outside the profiles is never removed"
        );
        assert_eq!(std::fs::read_dir(&pids).unwrap().count(), 0);
    }
}
