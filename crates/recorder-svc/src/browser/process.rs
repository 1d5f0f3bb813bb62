//! One Chromium process: started by us (own process group, killed if we die, a minimal
//! environment: no secret of ours reaches it), DevTools on a pipe (see `cdp_pipe`), a pid file so
//! a later run can sweep what a killed run left behind.
//!
//! The only module with `unsafe`: `pre_exec`, `dup2(2)` and `kill(2)` have no safe equivalent.
#![allow(unsafe_code)]

use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use super::BrowserError;
use super::cdp_pipe::{self, Pipe};
use crate::metrics::BrowserCounters;

/// How long Chromium may take to answer on its DevTools pipe.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);

/// The whole environment Chromium gets. Nothing else of the recorder's (the Firebase
/// service-account key, `MEMHARBOR_SECRET_KEY`, whatever the operator's env file holds) reaches
/// a process that decodes media from the network; `HOME` and the XDG folders are its profile.
fn environment(profile: &Path) -> Vec<(&'static str, std::ffi::OsString)> {
    vec![
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME", profile.into()),
        ("XDG_CONFIG_HOME", profile.join("config").into()),
        ("XDG_CACHE_HOME", profile.join("cache").into()),
        ("LANG", "C.UTF-8".into()),
        ("TZ", "UTC".into()),
    ]
}

/// A running Chromium and what to clean up after it.
#[derive(Debug)]
pub struct ChromiumProcess {
    child: Child,
    pid: u32,
    profile: PathBuf,
    pid_file: PathBuf,
}

/// Starts `binary` with `args` (which include `--user-data-dir=<profile>` and
/// `--remote-debugging-pipe`), waits until it answers on its DevTools pipe, and returns the
/// loopback WebSocket URL (with its secret path) that reaches the pipe, for chromiumoxide, and the
/// signal that the pipe's link is over (see [`Pipe::serve`]).
///
/// Must be called from a thread that outlives the browser: `PR_SET_PDEATHSIG` fires when the
/// spawning *thread* exits (tokio runtime workers qualify; `spawn_blocking` threads do not).
pub async fn launch(
    binary: &Path,
    args: &[String],
    profile: &Path,
    pid_dir: &Path,
    counters: BrowserCounters,
) -> Result<(ChromiumProcess, String, oneshot::Receiver<()>), BrowserError> {
    std::fs::create_dir_all(profile)
        .map_err(|e| BrowserError::Launch(format!("profile {}: {e}", profile.display())))?;
    std::fs::create_dir_all(pid_dir)
        .map_err(|e| BrowserError::Launch(format!("{}: {e}", pid_dir.display())))?;
    let (child_ends, our_ends) = cdp_pipe::pipes()
        .map_err(|e| BrowserError::Launch(format!("cannot make the DevTools pipes: {e}")))?;
    let (commands, messages) = (
        child_ends.commands.as_raw_fd(),
        child_ends.messages.as_raw_fd(),
    );
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .env_clear()
        .envs(environment(profile))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    // SAFETY: only async-signal-safe calls (prctl, fcntl, dup2) on file descriptors between fork
    // and exec; no memory of the parent is touched. The pipe ends are first copied above fd 10
    // so that placing them on 3 and 4 can never overwrite one with the other.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let high_commands = libc::fcntl(commands, libc::F_DUPFD_CLOEXEC, 10);
            let high_messages = libc::fcntl(messages, libc::F_DUPFD_CLOEXEC, 10);
            if high_commands < 0
                || high_messages < 0
                || libc::dup2(high_commands, 3) < 0
                || libc::dup2(high_messages, 4) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| BrowserError::Launch(format!("cannot start {}: {e}", binary.display())))?;
    // Chromium has its copies; ours would keep the pipes open after it dies.
    drop(child_ends);
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
    // Keep reading stderr so Chromium never blocks on a full pipe; the first lines explain a
    // failed start.
    let (early_tx, mut early_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut kept = 0;
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::trace!(target: "chromium", "{line}");
            if kept < 20 {
                kept += 1;
                let _ = early_tx.send(line);
            }
        }
    });
    let ready = async {
        let mut pipe = Pipe::new(our_ends, counters)?;
        pipe.probe().await?;
        pipe.serve().await
    };
    let outcome = match tokio::time::timeout(LAUNCH_TIMEOUT, ready).await {
        Ok(Ok(served)) => Ok(served),
        Ok(Err(e)) => Err(format!("exited before it was ready ({e})")),
        Err(_) => Err("did not answer on its DevTools pipe within 20 s".to_owned()),
    };
    match outcome {
        Ok((url, over)) => Ok((process, url, over)),
        Err(why) => {
            process.kill().await;
            let mut output = Vec::new();
            while let Ok(line) = early_rx.try_recv() {
                output.push(line);
            }
            Err(BrowserError::Launch(format!(
                "Chromium {why}: {}",
                output.join(" | ")
            )))
        }
    }
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
