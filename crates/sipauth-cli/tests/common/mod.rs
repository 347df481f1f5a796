//! What every CLI test needs: a data directory of its own and the `sipauth` binary run in it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

pub struct Env {
    pub dir: PathBuf,
}

impl Env {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sipauth-cli-{name}-{}-{}",
            std::process::id(),
            sipauth::random_urlsafe(4).unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipauth"));
        cmd.args(args)
            .env("SIPAUTH_DATA_DIR", self.dir.join("data"))
            .env("SIPAUTH_STORE", "file")
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        tokio::time::timeout(Duration::from_secs(60), self.cmd(args).output())
            .await
            .unwrap()
            .unwrap()
    }

    pub fn stored(&self) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.dir.join("data/sipauth_session.json")).unwrap(),
        )
        .unwrap()
    }
}
