//! `sipauth serve`: the provisioning service from flags (one trusted issuer). Thin: it reads
//! the settings and secrets, discovers the issuer (as a resource server it needs only `issuer`,
//! `jwks_uri` and, for opaque tokens, `introspection_endpoint` / `userinfo_endpoint`), opens the
//! database, and runs [`sipauth_server::app`] until Ctrl-C or SIGTERM, finishing the requests in
//! flight. Prints `listening on http://ADDR` on standard error when ready.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sipauth::{
    ClientSecret, HttpClient, Introspector, Issuer, JwksCache, SystemClock, TokenVerifier,
    VerifyOptions,
};
use sipauth_provision::{Backend, Database, Policy, Provisioner, ServerSecret, SipSettings};
use sipauth_server::{AppState, IssuerConfig, TokenCheck};

use crate::config;
use crate::error::CliError;
use crate::opt::{BackendName, Global, ServeOpts};

fn data_dir(global: &Global) -> Result<PathBuf, CliError> {
    match &global.data_dir {
        Some(d) => Ok(d.clone()),
        None => dirs::data_dir().map(|d| d.join("sipauth")).ok_or_else(|| {
            CliError::config("no data directory: set --data-dir or SIPAUTH_DATA_DIR")
        }),
    }
}

fn read_secret(path: &std::path::Path, flag: &str) -> Result<String, CliError> {
    config::secret(&None, &Some(path.display().to_string()), flag)?
        .ok_or_else(|| CliError::config(format!("{flag}-file is empty")))
}

fn provision_error(e: sipauth_provision::ProvisionError) -> CliError {
    CliError::config(e.to_string())
}

/// Builds the service's state from the flags.
pub async fn state(global: &Global, opts: &ServeOpts) -> Result<AppState, CliError> {
    let issuer = opts
        .issuer
        .as_deref()
        .ok_or_else(|| CliError::config("--issuer is required (or SIPAUTH_ISSUER)"))?;
    sipauth::url_policy::parse_secure("--issuer", issuer)
        .map_err(|e| CliError::config(e.to_string()))?;
    if opts.audiences.is_empty() {
        return Err(CliError::config(
            "--audience is required: the client id tokens must be issued to",
        ));
    }
    let ws_uri = opts
        .ws_uri
        .clone()
        .unwrap_or_else(|| config::DEFAULT_WS_URI.into());
    sipauth::sip::check_ws_uri(&ws_uri, false)
        .map_err(|e| CliError::config(format!("--ws-uri: {e}")))?;
    let sip_domain = match &opts.sip_domain {
        Some(d) => d.clone(),
        None => url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "localhost".into()),
    };
    let dir = data_dir(global)?;
    let secret = ServerSecret::load_or_create(
        &opts
            .secret_file
            .clone()
            .unwrap_or_else(|| dir.join("server.secret")),
    )
    .map_err(provision_error)?;
    let backend = match opts.backend {
        BackendName::Kamailio => Backend::KamailioSubscriber {
            store_plaintext: false,
        },
        BackendName::Ephemeral => {
            let path = opts.ephemeral_secret_file.as_ref().ok_or_else(|| {
                CliError::config("--backend ephemeral needs --ephemeral-secret-file")
            })?;
            Backend::Ephemeral {
                secret: sipauth::SipPassword::new(read_secret(path, "--ephemeral-secret")?),
                algorithm: sipauth::sip::HmacAlgorithm::Sha1,
                ttl: Duration::from_secs(opts.ephemeral_ttl.max(1)),
            }
        }
    };

    let http = HttpClient::new()?;
    let clock: sipauth::SharedClock = Arc::new(SystemClock);
    let doc = sipauth::provider::discovery::fetch_document(&http, issuer).await?;
    let jwks = doc
        .jwks_uri
        .as_deref()
        .map(|u| sipauth::url_policy::parse_secure("jwks_uri", u))
        .transpose()?
        .map(|uri| JwksCache::new(uri, http.clone(), clock.clone(), VerifyOptions::default()));
    let introspector = match (
        &opts.introspection_client_id,
        &opts.introspection_client_secret_file,
        &doc.introspection_endpoint,
    ) {
        (Some(id), Some(file), Some(endpoint)) => Some(Introspector::new(
            sipauth::url_policy::parse_secure("introspection_endpoint", endpoint)?,
            http.clone(),
            id.clone(),
            ClientSecret::new(read_secret(file, "--introspection-client-secret")?),
            Issuer::new(doc.issuer.clone()),
            clock.clone(),
        )),
        (Some(_), Some(_), None) => {
            return Err(CliError::config(
                "the issuer publishes no introspection_endpoint",
            ))
        }
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(CliError::config(
                "--introspection-client-id and --introspection-client-secret-file go together",
            ))
        }
        (None, None, _) => None,
    };
    let userinfo = doc
        .userinfo_endpoint
        .as_deref()
        .map(|u| sipauth::url_policy::parse_secure("userinfo_endpoint", u))
        .transpose()?
        .map(|u| (http.clone(), u));
    if opts.allow_userinfo_tokens && userinfo.is_none() {
        return Err(CliError::config(
            "the issuer publishes no userinfo_endpoint",
        ));
    }
    let tokens = TokenCheck::new(
        vec![IssuerConfig {
            verifier: TokenVerifier::new(Issuer::new(doc.issuer.clone()), jwks, clock.clone()),
            audiences: opts.audiences.clone(),
            introspector,
            userinfo,
            userinfo_tokens: opts.allow_userinfo_tokens,
        }],
        clock.clone(),
    );
    let database = opts
        .database
        .clone()
        .unwrap_or_else(|| dir.join("server.db").display().to_string());
    let db = Database::open(&database).await.map_err(provision_error)?;
    let policy = Policy {
        allowed_email_domains: opts.allow_email_domains.clone(),
        ..Policy::default()
    };
    let settings = SipSettings {
        domain: sip_domain,
        realm: None,
        ws_uri,
        sip_server: opts.sip_server.clone(),
    };
    Ok(AppState {
        provisioner: Arc::new(Provisioner::new(
            db, backend, settings, secret, policy, clock,
        )),
        tokens: Arc::new(tokens),
    })
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
    let state = state(global, opts).await?;
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .map_err(|e| CliError::config(format!("cannot listen on {}: {e}", opts.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::other(e.to_string()))?;
    eprintln!("listening on http://{addr}");
    axum::serve(listener, sipauth_server::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| CliError::other(format!("the service stopped: {e}")))?;
    eprintln!("stopped");
    Ok(())
}
