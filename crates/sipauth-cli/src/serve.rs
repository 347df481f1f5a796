//! `sipauth serve`: the provisioning service. Thin: it reads the `--config` file (a
//! [`ServiceConfig`]), lays the flags over it (they configure one issuer; several issuers need
//! the file), lets the server crate build the state (discovery, database, secrets), and runs
//! [`sipauth_server::app`] until Ctrl-C or SIGTERM, finishing the requests in flight. Prints
//! `listening on http://ADDR` on standard error when ready.

use std::sync::Arc;

use sipauth::{HttpClient, SystemClock};
use sipauth_server::config::{
    BackendKind, EphemeralAlgorithm, IssuerSettings, LogFormat, ServiceConfig,
};

use crate::error::CliError;
use crate::opt::{BackendName, EphemeralAlgorithmName, Global, LogFormatName, ServeOpts};

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

/// The settings: the file, with the flags over it.
pub fn service_config(global: &Global, opts: &ServeOpts) -> Result<ServiceConfig, CliError> {
    let mut c = file_config(global)?;
    let set = |slot: &mut Option<String>, flag: &Option<String>| {
        if flag.is_some() {
            slot.clone_from(flag);
        }
    };
    set(&mut c.listen, &opts.listen);
    set(&mut c.database, &opts.database);
    set(&mut c.sip.domain, &opts.sip_domain);
    set(&mut c.sip.ws_uri, &opts.ws_uri);
    set(&mut c.sip.sip_server, &opts.sip_server);
    set(&mut c.public_url, &opts.public_url);
    if opts.dev {
        let dev = c.dev.get_or_insert_with(Default::default);
        dev.users.extend(opts.dev_users.iter().cloned());
    }
    if opts.secret_file.is_some() {
        c.secret_file.clone_from(&opts.secret_file);
    }
    if let Some(b) = opts.backend {
        c.backend.kind = match b {
            BackendName::Kamailio => BackendKind::Kamailio,
            BackendName::Ephemeral => BackendKind::Ephemeral,
        };
    }
    if opts.ephemeral_secret_file.is_some() {
        c.backend
            .ephemeral_secret_file
            .clone_from(&opts.ephemeral_secret_file);
    }
    if let Some(a) = opts.ephemeral_algorithm {
        c.backend.ephemeral_algorithm = match a {
            EphemeralAlgorithmName::Sha1 => EphemeralAlgorithm::Sha1,
            EphemeralAlgorithmName::Sha256 => EphemeralAlgorithm::Sha256,
        };
    }
    if opts.ephemeral_ttl.is_some() {
        c.backend.ephemeral_ttl = opts.ephemeral_ttl;
    }
    if let Some(f) = opts.log_format {
        c.log_format = Some(match f {
            LogFormatName::Text => LogFormat::Text,
            LogFormatName::Json => LogFormat::Json,
        });
    }
    c.policy
        .allowed_email_domains
        .extend(opts.allow_email_domains.iter().cloned());
    // The issuer flags: a new issuer, or more settings for the file's issuer of that URL (or
    // its only one, when no --issuer is given).
    let issuer_flags = !opts.audiences.is_empty()
        || opts.web_client_id.is_some()
        || opts.web_client_secret_file.is_some()
        || opts.introspection_client_id.is_some()
        || opts.introspection_client_secret_file.is_some()
        || opts.allow_userinfo_tokens;
    let target = match &opts.issuer {
        Some(url) => {
            let at = c.issuers.iter().position(|i| &i.url == url);
            Some(at.unwrap_or_else(|| {
                c.issuers.push(IssuerSettings {
                    url: url.clone(),
                    ..IssuerSettings::default()
                });
                c.issuers.len() - 1
            }))
        }
        None if issuer_flags && c.issuers.len() == 1 => Some(0),
        None if issuer_flags => {
            return Err(CliError::config(
                "--audience and the other issuer flags need --issuer (or exactly one [[issuer]] in the config file)",
            ))
        }
        None => None,
    };
    if let Some(i) = target {
        let issuer = &mut c.issuers[i];
        issuer.audiences.extend(opts.audiences.iter().cloned());
        if opts.introspection_client_id.is_some() {
            issuer
                .introspection_client_id
                .clone_from(&opts.introspection_client_id);
        }
        if opts.introspection_client_secret_file.is_some() {
            issuer
                .introspection_client_secret_file
                .clone_from(&opts.introspection_client_secret_file);
        }
        issuer.allow_userinfo_tokens |= opts.allow_userinfo_tokens;
        if opts.web_client_id.is_some() {
            issuer.web_client_id.clone_from(&opts.web_client_id);
        }
        if opts.web_client_secret_file.is_some() {
            issuer
                .web_client_secret_file
                .clone_from(&opts.web_client_secret_file);
        }
    }
    c.check().map_err(config_error)?;
    Ok(c)
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
    let config = service_config(global, opts)?;
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
    let state = config
        .state(&data_dir(global)?, &http, Arc::new(SystemClock), &base)
        .await
        .map_err(config_error)?;
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
    }
    eprintln!("listening on http://{addr}");
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
