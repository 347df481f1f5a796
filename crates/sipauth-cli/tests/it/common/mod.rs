//! What every CLI test needs: a data directory of its own and the `sipauth` binary run in it.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

pub(crate) mod service;

pub(crate) struct Env {
    pub dir: PathBuf,
    /// Run every command with `SIPAUTH_LOG=trace`.
    pub trace: bool,
}

impl Env {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sipauth-cli-{name}-{}-{}",
            std::process::id(),
            sipauth::random_urlsafe(4).unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, trace: false }
    }

    /// The same, logging everything (`SIPAUTH_LOG=trace`).
    pub(crate) fn traced(mut self) -> Self {
        self.trace = true;
        self
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipauth"));
        cmd.args(args)
            .env("SIPAUTH_DATA_DIR", self.dir.join("data"))
            .env("SIPAUTH_STORE", "file")
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if self.trace {
            cmd.env("SIPAUTH_LOG", "trace");
        }
        cmd
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Output {
        tokio::time::timeout(Duration::from_secs(60), self.cmd(args).output())
            .await
            .unwrap()
            .unwrap()
    }

    pub(crate) fn stored(&self) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.dir.join("data/sipauth_session.json")).unwrap(),
        )
        .unwrap()
    }
}

/// Starts `sipauth login --no-browser ARGS` and returns the child and the authorization URL.
pub(crate) async fn start_login(
    env: &Env,
    args: &[&str],
) -> (
    tokio::process::Child,
    String,
    tokio::task::JoinHandle<String>,
) {
    let mut all = vec!["login", "--no-browser"];
    all.extend_from_slice(args);
    let mut child = env.cmd(&all).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap_or_else(|| panic!("no URL on stderr: {seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if let Some(url) = line.trim().strip_prefix("http") {
            break format!("http{url}");
        }
    };
    let rest = tokio::spawn(async move {
        let mut rest = seen;
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    (child, url, rest)
}

/// Delivers `callback` to a `sipauth login --json` started by [`start_login`] and returns what it
/// printed, once it exited 0 within 30 s.
pub(crate) async fn finish_login(
    child: tokio::process::Child,
    rest: tokio::task::JoinHandle<String>,
    callback: &str,
) -> Value {
    reqwest::get(callback).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = rest.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn interrupt(child: &tokio::process::Child) {
    let pid = child.id().unwrap();
    assert!(sipauth_testkit::process::signal(
        pid,
        sipauth_testkit::process::Signal::Int
    ));
}

pub(crate) fn pending_files(env: &Env) -> Vec<String> {
    std::fs::read_dir(env.dir.join("data"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.contains("pending"))
                .collect()
        })
        .unwrap_or_default()
}

/// `node testenv/web/SCRIPT ARGS`: (exit code, its last JSON line).
pub(crate) async fn node(script: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("node")
            .arg(sipauth_testkit::testenv_dir().join("web").join(script))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let doc = serde_json::from_str(last).unwrap_or_else(|_| {
        Value::String(format!(
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    });
    (out.status.code().unwrap_or(-1), doc)
}
