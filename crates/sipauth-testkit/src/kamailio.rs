//! A real Kamailio 5.6 (Debian's) per test, from `testenv/kamailio/kamailio.cfg`: free loopback
//! ports (UDP and a WebSocket TCP port), its own runtime directory, its log in that directory,
//! stopped (SIGTERM to its process group) when dropped. Three ways to check passwords, as the
//! provisioning service's backends need: auth_db over the service's SQLite file, auth_db over
//! PostgreSQL, and auth_ephemeral with a shared secret.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How Kamailio checks passwords.
#[derive(Debug, Clone)]
pub enum KamailioAuth {
    /// auth_db over the `subscriber` table in this SQLite file.
    Sqlite(PathBuf),
    /// auth_db over the `subscriber` table at this PostgreSQL URL.
    Postgres(String),
    /// auth_ephemeral with this secret (HMAC-SHA256 when `sha256`).
    Ephemeral { secret: String, sha256: bool },
}

/// A running Kamailio.
#[derive(Debug)]
pub struct Kamailio {
    pid: u32,
    /// UDP (and SIP over TCP on the same port): `127.0.0.1:port`.
    pub udp: SocketAddr,
    /// `ws://127.0.0.1:port/`.
    pub ws_uri: String,
    /// Its JSON-RPC endpoint (`jsonrpcs` over HTTP): `http://127.0.0.1:port/RPC`.
    pub rpc_url: String,
    /// Runtime directory (holds `kamailio.log`).
    pub dir: PathBuf,
}

impl Kamailio {
    /// Its registrar for native clients as the provisioning service hands it out
    /// (`--sip-server`): `sip:127.0.0.1:port;transport=udp|tcp`.
    pub fn sip_server(&self, transport: &str) -> String {
        format!("sip:{};transport={transport}", self.udp)
    }
}

/// A port free for both UDP and TCP (SIP listens on both).
fn free_udp() -> std::io::Result<u16> {
    for _ in 0..50 {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::other("no port free for both UDP and TCP"))
}

fn free_tcp() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Kamailio {
    /// Starts one and waits until its WebSocket port accepts connections.
    pub async fn start(auth: KamailioAuth) -> std::io::Result<Self> {
        Self::start_with(auth, &[]).await
    }

    /// The same, with more defines of the configuration (`GATEWAY="sip:127.0.0.1:5080"`,
    /// `BAN_SECONDS=3`, ...: testenv/kamailio/kamailio.cfg lists them).
    pub async fn start_with(auth: KamailioAuth, extra: &[String]) -> std::io::Result<Self> {
        let udp_port = free_udp()?;
        let ws_port = free_tcp()?;
        let dir = std::env::temp_dir().join(format!(
            "sipauth-kamailio-{}-{udp_port}-{ws_port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        let cfg = crate::testenv_dir().join("kamailio").join("kamailio.cfg");
        let mut defines = vec![
            format!("UDP_LISTEN=udp:127.0.0.1:{udp_port}"),
            format!("TCP_LISTEN=tcp:127.0.0.1:{udp_port}"),
            format!("WS_LISTEN=tcp:127.0.0.1:{ws_port}"),
            format!("WS_PORT={ws_port}"),
        ];
        match &auth {
            KamailioAuth::Sqlite(path) => {
                defines.push(format!("DBURL=\"sqlite://{}\"", path.display()))
            }
            KamailioAuth::Postgres(url) => {
                defines.push("WITH_PGSQL".into());
                defines.push(format!("DBURL=\"{url}\""));
            }
            KamailioAuth::Ephemeral { secret, sha256 } => {
                defines.push("WITH_EPHEMERAL".into());
                defines.push(format!("EPH_SECRET=\"{secret}\""));
                if *sha256 {
                    defines.push("EPH_SHA256".into());
                }
            }
        }
        defines.extend(extra.iter().cloned());
        let log = std::fs::File::create(dir.join("kamailio.log"))?;
        let mut command = std::process::Command::new("kamailio");
        command
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-Y"])
            .arg(&dir);
        for d in &defines {
            command.arg("-A").arg(d);
        }
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let me = Self {
            pid: child.id(),
            udp: SocketAddr::from(([127, 0, 0, 1], udp_port)),
            ws_uri: format!("ws://127.0.0.1:{ws_port}/"),
            rpc_url: format!("http://127.0.0.1:{ws_port}/RPC"),
            dir,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", ws_port))
                .await
                .is_ok()
            {
                // The UDP workers start with the TCP ones; give them a moment.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Ok(me);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(std::io::Error::other(format!(
            "kamailio did not start; its log:\n{}",
            me.log()
        )))
    }

    /// Calls its JSON-RPC (`ul.dump`, …): the `result`, or the whole answer when it has none.
    pub async fn rpc(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let answer: serde_json::Value = reqwest::Client::new()
            .post(&self.rpc_url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        Ok(answer.get("result").cloned().unwrap_or(answer))
    }

    /// Adds a contact for `user` to the location table (`ul.add`), as a registration would: a
    /// SIPp UAS at `contact` becomes callable as `user`.
    pub async fn add_contact(&self, user: &str, contact: &str) -> Result<(), String> {
        self.rpc(
            "ul.add",
            serde_json::json!(["location", user, contact, 3600, 1.0, "", 0, 0, 0]),
        )
        .await
        .map(|_| ())
    }

    /// The calls in progress (`dlg.list`).
    pub async fn dialogs(&self) -> Vec<serde_json::Value> {
        self.rpc("dlg.list", serde_json::json!([]))
            .await
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// True when `ul.dump` lists a contact for `user` (its AoR, with or without the domain).
    pub async fn has_contact(&self, user: &str) -> bool {
        let dump = self
            .rpc("ul.dump", serde_json::json!([]))
            .await
            .unwrap_or_default()
            .to_string();
        dump.contains(&format!("\"AoR\":\"{user}\""))
            || dump.contains(&format!("\"AoR\":\"{user}@"))
    }

    /// How many contacts `ul.lookup` lists for `aor` (`user@domain`): 0 when none.
    pub async fn contact_count(&self, aor: &str) -> usize {
        self.rpc("ul.lookup", serde_json::json!(["location", aor]))
            .await
            .map(|v| v.to_string().matches("\"Address\":").count())
            .unwrap_or(0)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // The whole process group: the main process and its workers.
        crate::process::signal_group(self.pid, crate::process::Signal::Term);
    }
}
