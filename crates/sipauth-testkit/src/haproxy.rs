//! HAProxy (Debian's) in front of service instances ([`Haproxy`]): round robin, health checks
//! on `/readyz` every 200 ms, a request whose connection fails retried on another instance, and
//! HAProxy's own 503 (no instance ready) carrying `Retry-After` and sipauth's JSON error, as
//! `docs/deploy.md` configures it. On a free loopback port; stopped by PID when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running HAProxy.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its runtime directory (configuration, log).
    pub dir: PathBuf,
}

/// HAProxy's answer when no instance is ready: what an instance answers when its database is
/// away (503, `Retry-After`, the `temporarily_unavailable` code).
const NO_INSTANCE: &str = "HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/json\r\n\
Retry-After: 1\r\n\
Cache-Control: no-store\r\n\
Connection: close\r\n\
\r\n\
{\"error\":\"temporarily_unavailable\",\"error_description\":\"no service instance is ready; try again shortly\"}\n";

/// The configuration for `backends` (`127.0.0.1:port` each), listening on `port`.
pub fn config(port: u16, backends: &[u16], errorfile: &std::path::Path) -> String {
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, p)| format!("    server s{i} 127.0.0.1:{p} check\n"))
        .collect();
    format!(
        "global\n    maxconn 4096\n\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\
    timeout http-request 10s\n    retries 3\n    option redispatch 1\n    retry-on conn-failure empty-response\n\
    errorfile 503 {}\n\n\
frontend sipauth\n    bind 127.0.0.1:{port}\n    option forwardfor\n    default_backend instances\n\n\
backend instances\n    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect status 200\n\
    default-server inter 200ms fastinter 100ms downinter 200ms fall 2 rise 1\n{servers}",
        errorfile.display()
    )
}

impl Haproxy {
    /// Starts HAProxy in front of `backends` and waits until it listens.
    pub async fn start(name: &str, backends: &[u16]) -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("sipauth-haproxy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let errorfile = dir.join("503.http");
        std::fs::write(&errorfile, NO_INSTANCE)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config(port, backends, &errorfile))?;
        let check = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&cfg)
            .output()?;
        if !check.status.success() {
            return Err(std::io::Error::other(format!(
                "haproxy refused its configuration: {}",
                String::from_utf8_lossy(&check.stderr)
            )));
        }
        let log = std::fs::File::create(dir.join("haproxy.log"))?;
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let haproxy = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(haproxy);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(std::io::Error::other(format!(
            "haproxy did not listen; its log: {}",
            haproxy.log()
        )))
    }

    /// What HAProxy wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        crate::process::signal(self.child.id(), crate::process::Signal::Term);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
