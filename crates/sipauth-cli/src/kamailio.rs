//! `sipauth serve --dev --with-kamailio`: a Kamailio 5.6 beside the development service, with the
//! tested configuration (`testenv/kamailio/kamailio.cfg`, built into the binary), on free
//! loopback ports, reading the service's own database, stopped with the service. So the README's
//! main job goes from a clone to a registered SIP account in one command. Development only.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::CliError;

/// The tested configuration, exactly as the test suite runs it.
const CONFIG: &str = include_str!("../../../testenv/kamailio/kamailio.cfg");

/// Where the development Kamailio listens.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// SIP over UDP and TCP.
    pub sip: u16,
    /// SIP over WebSocket, and JSON-RPC at `/RPC`.
    pub ws: u16,
}

impl Ports {
    /// Free loopback ports (the SIP port free for both UDP and TCP).
    pub fn free() -> Result<Self, CliError> {
        let err = |e: std::io::Error| CliError::other(format!("no free loopback port: {e}"));
        let mut sip = None;
        for _ in 0..50 {
            let port = UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.local_addr())
                .map_err(err)?
                .port();
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                sip = Some(port);
                break;
            }
        }
        let sip = sip.ok_or_else(|| CliError::other("no loopback port free for UDP and TCP"))?;
        let ws = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(err)?
            .port();
        Ok(Self { sip, ws })
    }

    /// The WebSocket server browsers use.
    pub fn ws_uri(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.ws)
    }

    /// The registrar native phones use.
    pub fn sip_server(&self) -> String {
        format!("sip:127.0.0.1:{};transport=udp", self.sip)
    }

    /// Its JSON-RPC endpoint (what is registered goes when access ends).
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}/RPC", self.ws)
    }
}

/// A running development Kamailio; stopped (SIGTERM, which stops its children) when dropped.
#[derive(Debug)]
pub struct DevKamailio {
    child: Child,
    /// Its log.
    pub log: PathBuf,
}

impl DevKamailio {
    /// Starts Kamailio with the tested configuration on `ports`, reading `database` (the
    /// service's SQLite file or PostgreSQL URL), its runtime files under `dir`; waits until its
    /// WebSocket port accepts connections.
    pub async fn start(ports: Ports, database: &str, dir: &Path) -> Result<Self, CliError> {
        let binary = which("kamailio").ok_or_else(|| {
            CliError::config(
                "--with-kamailio: Kamailio is not installed (Debian: apt install kamailio kamailio-websocket-modules kamailio-sqlite-modules kamailio-postgres-modules)",
            )
        })?;
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::other(format!("{}: {e}", dir.display())))?;
        let config = dir.join("kamailio.cfg");
        std::fs::write(&config, CONFIG)
            .map_err(|e| CliError::other(format!("{}: {e}", config.display())))?;
        let log = dir.join("kamailio.log");
        let out = std::fs::File::create(&log)
            .map_err(|e| CliError::other(format!("{}: {e}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| CliError::other(e.to_string()))?;
        let mut defines = vec![
            format!("UDP_LISTEN=udp:127.0.0.1:{}", ports.sip),
            format!("TCP_LISTEN=tcp:127.0.0.1:{}", ports.sip),
            format!("WS_LISTEN=tcp:127.0.0.1:{}", ports.ws),
            format!("WS_PORT={}", ports.ws),
        ];
        if database.starts_with("postgres://") || database.starts_with("postgresql://") {
            defines.push("WITH_PGSQL".into());
            defines.push(format!("DBURL=\"{database}\""));
        } else {
            let path = database.strip_prefix("sqlite:").unwrap_or(database);
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
            defines.push(format!("DBURL=\"sqlite://{}\"", path.display()));
        }
        let mut command = Command::new(binary);
        command
            .arg("-f")
            .arg(&config)
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-Y"])
            .arg(dir);
        for d in &defines {
            command.arg("-A").arg(d);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| CliError::other(format!("cannot start kamailio: {e}")))?;
        let mut me = Self { child, log };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", ports.ws))
                .await
                .is_ok()
            {
                // The UDP workers start with the TCP ones; give them a moment.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Ok(me);
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                return Err(CliError::other(format!(
                    "kamailio stopped at once ({status}); its log: {}",
                    me.log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(CliError::other(format!(
            "kamailio did not start within 10 s; its log: {}",
            me.log.display()
        )))
    }
}

impl Drop for DevKamailio {
    fn drop(&mut self) {
        // SIGTERM through the system's `kill` (the workspace forbids `unsafe`): Kamailio's main
        // process stops its children. The target follows `--` (procps reads `-N` as options).
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-s", "TERM", "--", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

/// `name` on the `PATH` (and the system directories Debian puts Kamailio in).
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d: PathBuf| d.join(name))
        .find(|p| p.is_file())
}
