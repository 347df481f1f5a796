//! `sipauth serve`: the provisioning service. Thin: it reads the `--config` file (a
//! [`ServiceConfig`]), lays the flags over it (they configure one issuer; several issuers need
//! the file), lets the server crate build the state (discovery, database, secrets), and runs
//! [`sipauth_server::app`] until Ctrl-C or SIGTERM, finishing the requests in flight. Prints
//! `listening on http://ADDR` on standard error when ready.

use std::sync::Arc;

use sipauth::{HttpClient, SystemClock};
use sipauth_server::{IssuerSettings, ServiceConfig};

use crate::error::CliError;
use crate::opt::{Global, ServeOpts};

use crate::config::data_dir;

fn config_error(e: sipauth_server::ConfigError) -> CliError {
    CliError::config(e.0)
}

/// The `--config` file, if any, or empty settings.
pub fn file_config(global: &Global) -> Result<ServiceConfig, CliError> {
    match &global.config {
        Some(path) => ServiceConfig::from_file(path).map_err(config_error),
        None => Ok(ServiceConfig::default()),
    }
}

/// The settings: the file, with the flags and variables over it (one rule:
/// [`ServiceConfig::overlay`]); the issuer flags name a new issuer, or add to the file's issuer
/// of that URL (or its only one, when no --issuer is given).
pub fn service_config(global: &Global, opts: &ServeOpts) -> Result<ServiceConfig, CliError> {
    let mut c = file_config(global)?
        .overlay(&opts.settings)
        .map_err(config_error)?;
    if opts.dev {
        let listen = c.listen.as_deref().unwrap_or("127.0.0.1:8080");
        if !opts.dev_public && !is_loopback_listen(listen) {
            return Err(CliError::config(format!(
                "--dev listens on loopback only (its demo users sign anyone in), not {listen}; add --dev-public to serve it on a network you control"
            )));
        }
        let dev = c.dev.get_or_insert_with(Default::default);
        dev.users.extend(opts.dev_users.iter().cloned());
    }
    let flags = &opts.issuer;
    let issuer_flags = !flags.audiences.is_empty()
        || flags.web_client_id.is_some()
        || flags.web_client_secret_file.is_some()
        || flags.introspection_client_id.is_some()
        || flags.introspection_client_secret_file.is_some()
        || flags.name.is_some()
        || flags.allow_userinfo_tokens
        || flags.scim_external_id_claim.is_some()
        || flags.backchannel_logout.is_some()
        || (flags.scim_token_file.is_some() && !(opts.dev && c.issuers.is_empty()));
    // `--dev --scim-token-file` with no issuer: the development provider's directory.
    if opts.dev && flags.url.is_empty() && c.issuers.is_empty() {
        if let Some(dev) = c.dev.as_mut() {
            dev.scim_token_file = flags.scim_token_file.clone();
        }
    }
    let target = match flags.url.as_str() {
        "" if issuer_flags && c.issuers.len() == 1 => Some(0),
        "" if issuer_flags => {
            return Err(CliError::config(
                "--audience and the other issuer flags need --issuer (or exactly one [[issuer]] in the config file)",
            ))
        }
        "" => None,
        url => Some(match c.issuers.iter().position(|i| i.url == url) {
            Some(at) => at,
            None => {
                c.issuers.push(IssuerSettings {
                    url: url.to_string(),
                    ..IssuerSettings::default()
                });
                c.issuers.len() - 1
            }
        }),
    };
    if let Some(i) = target {
        c.issuers[i] = c.issuers[i].overlay(flags).map_err(config_error)?;
    }
    c.check().map_err(config_error)?;
    Ok(c)
}

/// True for a listen address on loopback (`127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`).
fn is_loopback_listen(listen: &str) -> bool {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().is_loopback(),
        Err(_) => listen
            .rsplit_once(':')
            .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost")),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// `sipauth serve`.
pub async fn serve(global: &Global, opts: &ServeOpts) -> Result<(), CliError> {
    let mut config = service_config(global, opts)?;
    // --with-kamailio: its ports become the accounts' servers before the state is built; it
    // starts once the migrations made the tables it reads.
    let kamailio_ports = if opts.with_kamailio {
        if config.sip.ws_uri.is_some() || config.sip.sip_server.is_some() {
            return Err(CliError::config(
                "--with-kamailio chooses the WebSocket server and the registrar: drop --ws-uri and --sip-server",
            ));
        }
        let ports = crate::kamailio::Ports::free()?;
        config.sip.ws_uri = Some(ports.ws_uri());
        config.sip.sip_server = Some(ports.sip_server());
        config.backend.kamailio_rpc_urls.push(ports.rpc_url());
        Some(ports)
    } else {
        None
    };
    let http = HttpClient::new()?;
    // Bind first: the development issuer and the web page's redirect URI name the address.
    let listen = config.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CliError::config(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::other(e.to_string()))?;
    let base = format!("http://{addr}");
    let data = data_dir(global)?;
    let state = config
        .state(&data, &http, Arc::new(SystemClock), &base)
        .await
        .map_err(config_error)?;
    let _kamailio = match kamailio_ports {
        Some(ports) => {
            let kamailio = crate::kamailio::DevKamailio::start(
                ports,
                &config.database_url(&data),
                &data.join("kamailio"),
            )
            .await?;
            eprintln!(
                "  Kamailio (tested configuration): {} and {}; log {}",
                ports.ws_uri(),
                ports.sip_server(),
                kamailio.log.display()
            );
            Some(kamailio)
        }
        None => None,
    };
    tracing::info!(%addr, issuers = state.tokens.issuers.len(), "sipauth serve started");
    #[cfg(feature = "dev-idp")]
    if let Some(idp) = &state.dev_idp {
        let public = config
            .public_url
            .as_deref()
            .unwrap_or(&base)
            .trim_end_matches('/');
        let users: Vec<&str> = idp.users().iter().map(|u| u.login.as_str()).collect();
        eprintln!("sipauth serve --dev: DEVELOPMENT MODE (demo users, not for production)");
        eprintln!(
            "  open {public}/ in a browser and sign in as {}",
            users.join(" or ")
        );
        eprintln!(
            "  development issuer: {} (client sipauth-dev)",
            idp.issuer()
        );
        eprintln!(
            "  from the command line: sipauth login --issuer {} --client-id sipauth-dev --password-strategy api --api-endpoint {public}/api/sip/provision",
            idp.issuer()
        );
        eprintln!(
            "  one instance only: the development provider keeps its sign-ins, codes and grants in this process (several instances need a real provider: docs/deploy.md)"
        );
    }
    let public = config
        .public_url
        .as_deref()
        .unwrap_or(&base)
        .trim_end_matches('/')
        .to_string();
    if state.backchannel.is_some() {
        // What to register for the web page's client at the provider.
        eprintln!(
            "  back-channel logout: register backchannel_logout_uri = {public}/backchannel-logout, backchannel_logout_session_required = true"
        );
    }
    if state.scim.is_some() {
        eprintln!("  SCIM 2.0: {public}/scim/v2 (the bearer secret of scim_token_file)");
    }
    eprintln!("listening on http://{addr}");
    if let Some(retention) = config.audit_retention() {
        let provisioner = state.provisioner.clone();
        // Hourly, from the start; it ends with the process.
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                match provisioner.sweep_audit(retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "swept audit rows past their retention"),
                    Err(e) => tracing::warn!(error = %e, "the audit sweep failed"),
                }
            }
        });
    }
    {
        // Expired shared records (sign-ins never finished, sessions past their lifetime,
        // logout tokens past their expiry) are never answered; once a minute they are removed.
        let provisioner = state.provisioner.clone();
        let clock = state.clock.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                match provisioner.shared_records().sweep(clock.now_unix()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(records = n, "swept expired shared records"),
                    Err(e) => tracing::warn!(error = %e, "the shared records' sweep failed"),
                }
            }
        });
    }
    if config.credential_ttl().is_some() {
        // Leases end at the SIP server within a second of their end.
        let state = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_millis(250));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match state.provisioner.expire_leases().await {
                    Ok(ended) => {
                        if !ended.identities.is_empty() {
                            tracing::info!(
                                accounts = ended.identities.len(),
                                "credential leases ended"
                            );
                            sipauth_server::access_ended(&state, &ended).await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "the lease sweep failed"),
                }
            }
        });
    }
    sipauth_server::serve(
        listener,
        sipauth_server::app(state),
        shutdown_signal(),
        sipauth_server::HEADER_READ_TIMEOUT,
    )
    .await
    .map_err(|e| CliError::other(format!("the service stopped: {e}")))?;
    eprintln!("stopped");
    Ok(())
}
