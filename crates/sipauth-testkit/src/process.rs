//! Signals for the peers the tests start (Kamailio, `sipauth serve`, `sipauth login`), through
//! the system's `kill` since the workspace forbids `unsafe`. It owns one trap: procps-ng's
//! `kill -TERM -12345` reads `-12345` as options and signals process group `-1`, which is every
//! process the caller may signal (as root: the whole machine, the CI runner included). So a
//! target always follows `--`, and the signal is named with `-s`.

use std::process::Command;

/// A signal the tests send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT, as Ctrl-C sends.
    Int,
    /// SIGTERM, a polite stop.
    Term,
    /// SIGQUIT (PostgreSQL's immediate shutdown).
    Quit,
    /// SIGKILL: `kill -9`, no chance to clean up.
    Kill,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Self::Int => "INT",
            Self::Term => "TERM",
            Self::Quit => "QUIT",
            Self::Kill => "KILL",
        }
    }
}

/// The arguments of `kill` sending `signal` to one process (`group: false`) or to the process
/// group it leads (`group: true`).
pub fn kill_args(signal: Signal, pid: u32, group: bool) -> Vec<String> {
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    vec!["-s".into(), signal.name().into(), "--".into(), target]
}

/// Sends `signal` to the process `pid`; true when it was delivered.
pub fn signal(pid: u32, signal: Signal) -> bool {
    run(kill_args(signal, pid, false))
}

/// Sends `signal` to every process of the group led by `pid` (a child spawned with
/// `process_group(0)`); true when it was delivered.
pub fn signal_group(pid: u32, signal: Signal) -> bool {
    // Never a group id of 0 or 1: 0 is the caller's own group and 1 is init's.
    if pid <= 1 {
        return false;
    }
    run(kill_args(signal, pid, true))
}

fn run(args: Vec<String>) -> bool {
    Command::new("kill")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::time::Duration;

    #[test]
    fn a_group_target_always_follows_the_end_of_options() {
        // `kill -TERM -12345` would be kill(-1, SIGTERM): everything.
        assert_eq!(
            kill_args(Signal::Term, 12345, true),
            ["-s", "TERM", "--", "-12345"]
        );
        assert_eq!(
            kill_args(Signal::Int, 45678, false),
            ["-s", "INT", "--", "45678"]
        );
    }

    // The testkit does not depend on the library: it measures its own waits.
    #[allow(clippy::disallowed_methods)]
    fn exited_within(child: &mut std::process::Child, limit: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn a_group_signal_stops_that_group_and_nothing_else() {
        let mut target = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let mut bystander = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        assert!(signal_group(target.id(), Signal::Term));
        assert!(exited_within(&mut target, Duration::from_secs(5)));
        assert!(
            bystander.try_wait().unwrap().is_none(),
            "another group was signalled"
        );
        assert!(signal(bystander.id(), Signal::Term));
        assert!(exited_within(&mut bystander, Duration::from_secs(5)));
    }

    #[test]
    fn rejects_the_callers_own_group_and_inits() {
        assert!(!signal_group(0, Signal::Term));
        assert!(!signal_group(1, Signal::Term));
    }
}
