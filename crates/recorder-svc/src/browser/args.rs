//! The Chromium command line: our switches, merged with `RECORDER_CHROMIUM_EXTRA_ARGS`.
//!
//! Chromium honours only the last copy of a switch, so feature lists (`--enable-features`,
//! `--disable-features`) from both sides are merged into one switch; for any other switch given on
//! both sides, the operator's wins.

use std::path::Path;

/// Switches every browser gets (see `../shared/notes/headless-chromium-audio.md` for why). The
/// test kit's callers' browser starts with them too (without DevTools).
pub const BUILT_IN: &[&str] = &[
    "--headless=new",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    // Without it the muted <audio> element each remote track needs never plays: nothing is heard.
    "--autoplay-policy=no-user-gesture-required",
    // In --headless=new every tab but the newest is hidden: keep their timers and renderers alive.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--password-store=basic",
    "--metrics-recording-only",
    // Mutes speakers only; the capture worker still reads every track.
    "--mute-audio",
    // DevTools on fds 3/4 (see `cdp_pipe`), never on a port another process could reach.
    "--remote-debugging-pipe",
];

const BUILT_IN_DISABLED_FEATURES: &[&str] = &["Translate", "MediaRouter", "OptimizationHints"];

fn switch_name(arg: &str) -> &str {
    arg.split_once('=').map_or(arg, |(name, _)| name)
}

/// Splits `RECORDER_CHROMIUM_EXTRA_ARGS` like a shell would (quotes allowed) and adds the leading
/// `--` where it is missing.
pub fn parse_extra(extra: &str) -> Result<Vec<String>, String> {
    let words = shlex::split(extra).ok_or_else(|| "has unbalanced quotes".to_owned())?;
    Ok(words
        .into_iter()
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.starts_with("--") {
                w
            } else {
                format!("--{w}")
            }
        })
        .collect())
}

/// The full argument list for one browser with its own profile folder. Without `sandbox`, the
/// renderers run unsandboxed (`--no-sandbox`): only where the sandbox cannot work (as root, or
/// where the container forbids the namespaces it needs; see `RECORDER_CHROMIUM_SANDBOX`).
pub fn command_line(profile: &Path, extra: &[String], sandbox: bool) -> Vec<String> {
    let mut features: [Vec<String>; 2] = [
        Vec::new(),
        BUILT_IN_DISABLED_FEATURES
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    ];
    let mut others: Vec<String> = Vec::new();
    for arg in extra {
        let list = match switch_name(arg) {
            "--enable-features" => Some(&mut features[0]),
            "--disable-features" => Some(&mut features[1]),
            _ => None,
        };
        match list {
            Some(list) => {
                let values = arg.split_once('=').map_or("", |(_, v)| v);
                list.extend(
                    values
                        .split(',')
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned),
                );
            }
            None => others.push(arg.clone()),
        }
    }
    let overridden: Vec<&str> = others.iter().map(|a| switch_name(a)).collect();
    let mut args: Vec<String> = BUILT_IN
        .iter()
        .filter(|a| !overridden.contains(&switch_name(a)))
        .map(|a| (*a).to_owned())
        .collect();
    if !sandbox && !overridden.contains(&"--no-sandbox") {
        args.push("--no-sandbox".to_owned());
    }
    args.push(format!("--user-data-dir={}", profile.display()));
    for (name, list) in [
        ("--enable-features", &features[0]),
        ("--disable-features", &features[1]),
    ] {
        if !list.is_empty() {
            args.push(format!("{name}={}", list.join(",")));
        }
    }
    args.extend(others);
    args.push("about:blank".to_owned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_switches_are_merged_not_repeated() {
        let extra = parse_extra(
            "allow-loopback-in-peer-connection --disable-features=WebRtcHideLocalIpsWithMdns \
             '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost' --autoplay-policy=document-user-activation-required",
        )
        .unwrap();
        let args = command_line(Path::new("/tmp/p"), &extra, false);
        let count = |name: &str| args.iter().filter(|a| switch_name(a) == name).count();
        assert_eq!(count("--disable-features"), 1);
        assert_eq!(count("--autoplay-policy"), 1);
        assert!(args.contains(&"--disable-features=Translate,MediaRouter,OptimizationHints,WebRtcHideLocalIpsWithMdns".to_owned()));
        assert!(
            args.contains(&"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost".to_owned())
        );
        assert!(args.contains(&"--allow-loopback-in-peer-connection".to_owned()));
        assert!(args.contains(&"--autoplay-policy=document-user-activation-required".to_owned()));
        assert!(args.contains(&"--user-data-dir=/tmp/p".to_owned()));
        assert!(!args.iter().any(|a| a.starts_with("----")));
        assert_eq!(count("--no-sandbox"), 1);
        assert_eq!(count("--remote-debugging-pipe"), 1);
        assert_eq!(count("--remote-debugging-port"), 0);
        let sandboxed = command_line(Path::new("/tmp/p"), &[], true);
        assert!(!sandboxed.iter().any(|a| a == "--no-sandbox"));
        assert!(parse_extra("'unbalanced").is_err());
    }
}
