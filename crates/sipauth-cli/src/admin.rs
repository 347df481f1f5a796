//! `sipauth admin`: an operator's view of the provisioning service's accounts, over the same
//! database and secret as `sipauth serve` (`--database`, `--secret-file`, or `--config`). Thin:
//! every action is one [`sipauth_provision::Provisioner`] call; this file only prints. Changes
//! take effect at the SIP server at once (the `subscriber` row is rewritten or removed in the
//! same transaction) and are audited.

use std::sync::Arc;

use sipauth::SystemClock;
use sipauth_provision::{Account, ProvisionError, Provisioner};

use crate::commands::{print_json, print_stdout};
use crate::config::data_dir;
use crate::error::CliError;
use crate::opt::{AdminAction, AdminOpts, Global};
use crate::output::sanitize;
use crate::serve::file_config;

fn failed(e: ProvisionError) -> CliError {
    match e {
        ProvisionError::NotFound(_) => CliError::new(
            crate::error::EXIT_NOT_FOUND,
            sipauth::ErrorCode::NotFound.as_str(),
            e.to_string(),
        ),
        ProvisionError::Config(_) => CliError::config(e.to_string()),
        other => CliError::new(
            crate::error::EXIT_OTHER,
            other.code().as_str(),
            other.to_string(),
        ),
    }
}

async fn provisioner(global: &Global, opts: &AdminOpts) -> Result<Provisioner, CliError> {
    // The file, then every SIPAUTH_* variable of the service's settings, then these flags.
    let env = sipauth_server::ServiceConfig::from_env().map_err(|e| CliError::config(e.0))?;
    let mut config = file_config(global)?
        .overlay(&env)
        .map_err(|e| CliError::config(e.0))?;
    if opts.database.is_some() {
        config.database.clone_from(&opts.database);
    }
    if opts.secret_file.is_some() {
        config.secret_file.clone_from(&opts.secret_file);
    }
    let dir = data_dir(global)?;
    let database = config.database_url(&dir);
    if !database.starts_with("postgres") {
        let path = database
            .strip_prefix("sqlite://")
            .or_else(|| database.strip_prefix("sqlite:"))
            .unwrap_or(&database);
        if !std::path::Path::new(path).exists() {
            return Err(CliError::config(format!(
                "no service database at {path}: pass --database (the one sipauth serve uses)"
            )));
        }
    }
    config
        .provisioner(&dir, Arc::new(SystemClock))
        .await
        .map_err(|e| CliError::config(e.0))
}

fn row(a: &Account) -> String {
    format!(
        "{:<24} {:<8} {:<4} {:<40} {}",
        sanitize(&a.username),
        if a.enabled { "enabled" } else { "disabled" },
        a.generation,
        sanitize(&a.display_name),
        sanitize(&format!("{} {}", a.issuer, a.subject)),
    )
}

fn show(global: &Global, a: &Account) -> Result<(), CliError> {
    if global.json {
        return print_json(&serde_json::to_value(a).unwrap_or_default());
    }
    print_stdout(&format!(
        "username:     {}\ndomain:       {}\ndisplay name: {}\nemail:        {}\nenabled:      {}\ngeneration:   {}\ncall rights:  {}\nissuer:       {}\nsubject:      {}\ncreated:      {}\nupdated:      {}",
        sanitize(&a.username),
        sanitize(&a.domain),
        sanitize(&a.display_name),
        sanitize(a.email.as_deref().unwrap_or("-")),
        a.enabled,
        a.generation,
        if a.rights.is_empty() {
            "-".to_string()
        } else {
            sanitize(&a.rights.join(", "))
        },
        sanitize(&a.issuer),
        sanitize(&a.subject),
        a.created_at,
        a.updated_at,
    ))
}

/// `--since`: Unix seconds, or an age (`30s`, `15m`, `24h`, `7d`) before `now`.
pub fn parse_since(text: &str, now: i64) -> Result<i64, CliError> {
    let bad = || {
        CliError::config(format!(
            "--since {text}: give Unix seconds or an age such as 15m, 24h, 7d"
        ))
    };
    if let Ok(at) = text.parse::<i64>() {
        return Ok(at);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(scale)
        .and_then(|age| now.checked_sub(age))
        .ok_or_else(bad)
}

/// `sipauth admin ...`.
pub async fn admin(global: &Global, opts: &AdminOpts) -> Result<(), CliError> {
    let p = provisioner(global, opts).await?;
    match &opts.action {
        AdminAction::List => {
            let accounts = p.list().await.map_err(failed)?;
            if global.json {
                return print_json(&serde_json::to_value(&accounts).unwrap_or_default());
            }
            let mut out = vec![format!(
                "{:<24} {:<8} {:<4} {:<40} {}",
                "USERNAME", "STATE", "GEN", "DISPLAY NAME", "IDENTITY"
            )];
            out.extend(accounts.iter().map(row));
            print_stdout(&out.join("\n"))
        }
        AdminAction::Show { user } => show(global, &p.show(user).await.map_err(failed)?),
        AdminAction::Disable { user } => show(global, &p.disable(user).await.map_err(failed)?),
        AdminAction::Enable { user } => show(global, &p.enable(user).await.map_err(failed)?),
        AdminAction::Rotate { user } => show(global, &p.rotate(user).await.map_err(failed)?),
        AdminAction::Delete { user } => {
            p.delete(user).await.map_err(failed)?;
            if global.json {
                print_json(&serde_json::json!({ "deleted": user }))
            } else {
                print_stdout(&format!("deleted {}", sanitize(user)))
            }
        }
        AdminAction::Devices { user } => {
            let devices = p.devices_of_user(user).await.map_err(failed)?;
            if global.json {
                return print_json(&serde_json::to_value(&devices).unwrap_or_default());
            }
            let mut out = vec![format!(
                "{:<18} {:<24} {:<32} {:<12} {}",
                "ID", "DIGEST USER", "NAME", "LAST USED", "USER AGENT"
            )];
            out.extend(devices.iter().map(|d| {
                sanitize(&format!(
                    "{:<18} {:<24} {:<32} {:<12} {}",
                    d.id,
                    d.authorization_username,
                    d.name,
                    d.last_provisioned_at,
                    d.user_agent.as_deref().unwrap_or("-")
                ))
            }));
            print_stdout(&out.join("\n"))
        }
        AdminAction::RevokeDevice { user, id } => {
            if !p.revoke_device_of_user(user, id).await.map_err(failed)? {
                return Err(CliError::new(
                    crate::error::EXIT_NOT_FOUND,
                    sipauth::ErrorCode::NotFound.as_str(),
                    format!("{} has no device {}", sanitize(user), sanitize(id)),
                ));
            }
            if global.json {
                print_json(&serde_json::json!({ "revoked": id, "user": user }))
            } else {
                print_stdout(&format!(
                    "revoked device {} of {}",
                    sanitize(id),
                    sanitize(user)
                ))
            }
        }
        AdminAction::Audit { since } => {
            let now = sipauth::Clock::now_unix(&SystemClock);
            let since = since
                .as_deref()
                .map(|s| parse_since(s, now))
                .transpose()?
                .unwrap_or(0);
            let entries = p.audit_log(since).await.map_err(failed)?;
            if global.json {
                return print_json(&serde_json::to_value(&entries).unwrap_or_default());
            }
            let lines: Vec<String> = entries
                .iter()
                .map(|e| {
                    sanitize(&format!(
                        "{} {:<11} {:<22} {:<20} {} {}",
                        e.at,
                        e.action,
                        e.outcome,
                        e.username.as_deref().unwrap_or("-"),
                        e.client_ip.as_deref().unwrap_or("-"),
                        e.subject.as_deref().unwrap_or("-"),
                    ))
                })
                .collect();
            print_stdout(&lines.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_seconds_or_an_age() {
        assert_eq!(parse_since("1700000000", 0).unwrap(), 1_700_000_000);
        assert_eq!(parse_since("15m", 10_000).unwrap(), 10_000 - 900);
        assert_eq!(parse_since("2d", 1_000_000).unwrap(), 1_000_000 - 172_800);
    }

    #[test]
    fn rejects_unreadable_ages() {
        for bad in ["", "m", "15y", "-", "99999999999999999999d", "1.5h"] {
            assert!(parse_since(bad, 0).is_err(), "{bad}");
        }
    }
}
