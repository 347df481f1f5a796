//! A PostgreSQL cluster of a test's own ([`Cluster`]): `initdb` in a temporary directory, on a
//! free loopback port, trust authentication for loopback only, so a test may stop and start it
//! (an outage) without touching the shared one `testenv/start.sh` runs. As root, the cluster
//! belongs to Debian's `postgres` user (initdb refuses root). Stopped by PID when dropped.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A running cluster of one test.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    /// Its runtime directory (data, socket, log).
    pub dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:<port>/sipauth`.
    pub url: String,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command run as the cluster's owner.
fn as_owner(program: PathBuf) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--").arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> std::io::Result<()> {
    let out = command.output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

impl Cluster {
    /// Makes and starts a cluster with a `sipauth` database.
    pub fn start(name: &str) -> std::io::Result<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .ok_or_else(|| std::io::Error::other("no PostgreSQL under /usr/lib/postgresql"))?;
        let dir = std::env::temp_dir().join(format!("sipauth-pg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:").arg(&dir);
                    c
                },
                "chown",
            )?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut initdb = as_owner(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync"]);
        run(initdb, "initdb")?;
        let cluster = Self {
            bin,
            url: format!("postgres://postgres@127.0.0.1:{port}/sipauth"),
            dir,
            port,
        };
        cluster.start_again()?;
        let mut createdb = as_owner(cluster.bin.join("createdb"));
        createdb
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(port.to_string())
            .arg("sipauth");
        run(createdb, "createdb")?;
        Ok(cluster)
    }

    /// Starts the stopped cluster again (same port, same data); returns once it accepts
    /// connections.
    pub fn start_again(&self) -> std::io::Result<()> {
        let mut start = as_owner(self.bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-w", "-t", "30", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                self.port,
                self.dir.display()
            ))
            .arg("start");
        run(start, "pg_ctl start")
    }

    /// Stops the cluster at once (`-m immediate`: like a crash or a lost server; every
    /// connection drops).
    pub fn stop(&self) -> std::io::Result<()> {
        let mut stop = as_owner(self.bin.join("pg_ctl"));
        stop.arg("-D").arg(self.dir.join("data")).args([
            "-m",
            "immediate",
            "-w",
            "-t",
            "30",
            "stop",
        ]);
        run(stop, "pg_ctl stop")
    }

    /// The postmaster's PID while it runs.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            // Immediate shutdown: the postmaster takes its backends with it.
            crate::process::signal(pid, crate::process::Signal::Quit);
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
