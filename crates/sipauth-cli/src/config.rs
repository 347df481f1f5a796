//! From what was typed to what runs: reads the TOML configuration file, layers the settings
//! (flags > `SIPAUTH_*` variables > `[profiles.NAME]` > the settings saved at the last login >
//! defaults), and builds the provider, credential mapping and store. Side-effect free except for
//! reading files; the commands live in [`crate::commands`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use sipauth::sip::{ApiMethod, HashAlgorithm, HmacAlgorithm};
use sipauth::SessionStore;
use sipauth::{
    ClientRegistration, ClientSecret, CredentialMapping, FileStore, HttpClient, MemoryStore,
    PasswordStrategy, ProviderConfig, ProviderTemplate, SipPassword,
};

use crate::error::CliError;
use crate::opt::{Global, Profile, ProviderName, StoreKind, StrategyName};

/// The configuration file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    profiles: BTreeMap<String, toml::Table>,
}

/// The default configuration file: `<config dir>/sipauth/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("sipauth").join("config.toml"))
}

/// Reads one profile from a configuration file. A missing default file is fine; a file given
/// explicitly must exist. Unknown keys and invalid values name the key and the file.
pub fn load_profile(path: Option<&Path>, name: &str) -> Result<Profile, CliError> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match default_config_path() {
            Some(p) => (p, false),
            None => return Ok(Profile::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Profile::default())
        }
        Err(e) => {
            return Err(CliError::config(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let file: FileConfig = toml::from_str(&text).map_err(|e| {
        let message = e.message().to_string();
        let start = e.span().map(|s| s.start.min(text.len())).unwrap_or(0);
        let line_no = text.as_bytes()[..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        // Name the key the error points at (`key = value` on that line), unless the message does.
        let key = text
            .lines()
            .nth(line_no - 1)
            .and_then(|line| line.split_once('='))
            .map(|(k, _)| k.trim().trim_matches('"').to_string())
            .filter(|k| !k.is_empty() && !message.contains(k.as_str()));
        let key = key.map(|k| format!(" key `{k}`:")).unwrap_or_default();
        CliError::config(format!("{}:{line_no}:{key} {message}", path.display()))
    })?;
    match file.profiles.get(name) {
        Some(table) => profile_from_table(&text, &path, name, table),
        None if name == "default" => Ok(Profile::default()),
        None => Err(CliError::config(format!(
            "no profile [profiles.{name}] in {}",
            path.display()
        ))),
    }
}

/// A profile from its table, key by key, so an unknown key or an invalid value is named with
/// its line (a profile's fields are grouped, which serde cannot check for unknown keys itself).
fn profile_from_table(
    text: &str,
    path: &Path,
    name: &str,
    table: &toml::Table,
) -> Result<Profile, CliError> {
    let known = Profile::keys();
    let fail = |key: &str, message: String| {
        let line = key_line(text, name, key);
        CliError::config(format!("{}:{line}: key `{key}`: {message}", path.display()))
    };
    for (key, value) in table {
        if !known.iter().any(|k| k == key) {
            return Err(fail(key, "unknown key".into()));
        }
        let mut single = toml::Table::new();
        single.insert(key.clone(), value.clone());
        if let Err(e) = Profile::deserialize(toml::Value::Table(single)) {
            return Err(fail(key, e.message().to_string()));
        }
    }
    Profile::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        CliError::config(format!(
            "{}: [profiles.{name}]: {}",
            path.display(),
            e.message()
        ))
    })
}

/// The line (1-based) of `key = ...` inside `[profiles.NAME]`, or of the table's header.
fn key_line(text: &str, name: &str, key: &str) -> usize {
    let header = format!("[profiles.{name}]");
    let mut in_table = false;
    let mut header_line = 1;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_table = trimmed == header || trimmed == format!("[profiles.\"{name}\"]");
            if in_table {
                header_line = i + 1;
            }
            continue;
        }
        if in_table {
            if let Some((k, _)) = trimmed.split_once('=') {
                if k.trim().trim_matches('"') == key {
                    return i + 1;
                }
            }
        }
    }
    header_line
}

/// `upper`'s set fields over `lower`.
pub fn overlay(upper: &Profile, lower: &Profile) -> Profile {
    let to_map = |p: &Profile| match serde_json::to_value(p) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let mut merged = to_map(lower);
    merged.extend(to_map(upper));
    serde_json::from_value(Value::Object(merged)).unwrap_or_else(|_| upper.clone())
}

/// Everything a command needs, resolved.
pub struct Resolved {
    /// The merged profile.
    pub profile: Profile,
    /// The profile's name.
    pub name: String,
    /// The store.
    pub store: Arc<dyn SessionStore>,
}

/// The data directory: `--data-dir`, else `<data dir>/sipauth` (the service's, and the
/// profiles' parent).
pub fn data_dir(global: &Global) -> Result<PathBuf, CliError> {
    match &global.data_dir {
        Some(d) => Ok(d.clone()),
        None => dirs::data_dir().map(|d| d.join("sipauth")).ok_or_else(|| {
            CliError::config("no data directory: set --data-dir or SIPAUTH_DATA_DIR")
        }),
    }
}

/// A profile's directory: `--data-dir` itself when given, else `<data dir>/sipauth/<name>`.
fn profile_dir(global: &Global, name: &str) -> Result<PathBuf, CliError> {
    let root = data_dir(global)?;
    Ok(match &global.data_dir {
        Some(_) => root,
        None => root.join(name),
    })
}

/// Opens the store for a profile.
pub fn open_store(global: &Global, name: &str) -> Result<Arc<dyn SessionStore>, CliError> {
    let kind = global.store.unwrap_or(StoreKind::Auto);
    // Linux's kernel keyring (the only backend built without D-Bus) does not survive a reboot,
    // so "auto" means a 0600 file there and the OS keyring on macOS and Windows.
    let use_keyring = match kind {
        StoreKind::Keyring => true,
        StoreKind::Auto => cfg!(any(target_os = "macos", target_os = "windows")),
        _ => false,
    };
    Ok(match kind {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        _ if use_keyring => Arc::new(sipauth::KeyringStore::new(format!("sipauth.{name}"))),
        _ => Arc::new(
            FileStore::new(profile_dir(global, name)?)
                .map_err(|e| CliError::config(e.to_string()))?,
        ),
    })
}

const SAVED_PROFILE: &str = "sipauth_profile";

/// Layers a command's flags and environment over the file's profile over the saved settings.
pub fn resolve(global: &Global, flags: &Profile) -> Result<Resolved, CliError> {
    let name = global.profile.clone().unwrap_or_else(|| "default".into());
    let from_file = load_profile(global.config.as_deref(), &name)?;
    let store = open_store(global, &name)?;
    let saved = store
        .load(SAVED_PROFILE)
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str::<Profile>(&json).ok())
        .unwrap_or_default();
    let profile = overlay(flags, &overlay(&from_file, &saved));
    check_settings(&profile)?;
    Ok(Resolved {
        profile,
        name,
        store,
    })
}

/// Remembers the settings of a successful login, for the commands that follow. Secrets given
/// inline (`--client-secret`, `--hmac-secret`, `--static-password`) are not saved: the saved
/// settings are a plain file on Linux. Their `*_file` paths are.
pub fn save_profile(resolved: &Resolved) {
    let mut profile = resolved.profile.clone();
    let dropped: Vec<&str> = [
        ("--client-secret", profile.provider.client_secret.take()),
        ("--hmac-secret", profile.strategy.hmac_secret.take()),
        ("--static-password", profile.strategy.static_password.take()),
    ]
    .into_iter()
    .filter_map(|(flag, v)| v.map(|_| flag))
    .collect();
    if !dropped.is_empty() {
        crate::output::say(&format!(
            "note: {} not saved; give it again (its SIPAUTH_* variable, a *-file flag, or the config file) for later commands",
            dropped.join(", ")
        ));
    }
    if let Ok(json) = serde_json::to_string(&profile) {
        if let Err(e) = resolved.store.save(SAVED_PROFILE, &json) {
            tracing::warn!(error = %e, "cannot save the login settings");
        }
    }
}

/// A secret given inline or in a file (whose one trailing newline is ignored).
pub fn secret(
    inline: &Option<String>,
    file: &Option<String>,
    flag: &str,
) -> Result<Option<String>, CliError> {
    if let Some(value) = inline.as_deref().filter(|v| !v.is_empty()) {
        return Ok(Some(value.to_string()));
    }
    let Some(path) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::config(format!("{flag}-file {path}: {e}")))?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if text.is_empty() {
        return Err(CliError::config(format!("{flag}-file {path} is empty")));
    }
    Ok(Some(text.to_string()))
}

/// Checks every setting that can be checked without the network, so a bad value fails at once
/// with exit 5, before any sign-in or request: URLs (HTTPS except loopback, no credentials),
/// the WebSocket server (wss except loopback), the redirect path, secret files.
pub fn check_settings(p: &Profile) -> Result<(), CliError> {
    let urls: [(&'static str, &Option<String>); 8] = [
        ("--issuer", &p.provider.issuer),
        ("--base-url", &p.provider.base_url),
        ("--api-endpoint", &p.strategy.api_endpoint),
        (
            "--authorization-endpoint",
            &p.provider.authorization_endpoint,
        ),
        ("--token-endpoint", &p.provider.token_endpoint),
        ("--userinfo-endpoint", &p.provider.userinfo_endpoint),
        ("--revocation-endpoint", &p.provider.revocation_endpoint),
        ("--jwks-uri", &p.provider.jwks_uri),
    ];
    for (flag, value) in urls {
        if let Some(value) = value {
            sipauth::parse_secure_url(flag, value).map_err(|e| CliError::config(e.to_string()))?;
        }
    }
    if let Some(ws) = &p.sip.ws_uri {
        sipauth::sip::check_ws_uri(ws, false).map_err(|e| {
            CliError::config(format!(
                "--ws-uri: {e} [{}]",
                sipauth::Error::from(e.clone()).code()
            ))
        })?;
    }
    if let Some(path) = &p.redirect.redirect_path {
        redirect_path(path)?;
    }
    secret(
        &p.provider.client_secret,
        &p.provider.client_secret_file,
        "--client-secret",
    )?;
    Ok(())
}

/// Checks a loopback redirect path: absolute, no query or fragment, nothing the URL parser
/// would rewrite (so the path the provider redirects to is exactly the one we listen on).
pub fn redirect_path(path: &str) -> Result<&str, CliError> {
    let bad = |why: &str| CliError::config(format!("--redirect-path \"{path}\": {why}"));
    if !path.starts_with('/') {
        return Err(bad("must start with '/'"));
    }
    if path.contains(['?', '#']) {
        return Err(bad("may not contain a query or fragment"));
    }
    let parsed =
        url::Url::parse(&format!("http://127.0.0.1{path}")).map_err(|e| bad(&e.to_string()))?;
    if parsed.path() != path || path.contains('%') || path.contains("//") {
        return Err(bad(
            "may contain only letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ /",
        ));
    }
    Ok(path)
}

fn required<'a>(value: &'a Option<String>, flag: &str) -> Result<&'a str, CliError> {
    value.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| {
        CliError::config(format!(
            "{flag} is required (or SIPAUTH_{}, or in the profile)",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase()
        ))
    })
}

const DISCOVERY_CACHE: &str = "sipauth_discovery";
const DISCOVERY_MAX_AGE: i64 = 24 * 3600;

/// Discovery, served from the store when fresh (so `sipauth token` needs no network).
async fn discover(
    http: &HttpClient,
    issuer: &str,
    client: ClientRegistration,
    store: &Arc<dyn SessionStore>,
) -> Result<ProviderConfig, CliError> {
    use sipauth::Clock;
    let now = sipauth::SystemClock.now_unix();
    let cached = store
        .load(DISCOVERY_CACHE)
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str::<Value>(&json).ok());
    if let Some(entry) = cached {
        let fresh = entry["issuer"] == issuer
            && entry["fetched_at"]
                .as_i64()
                .is_some_and(|t| now - t < DISCOVERY_MAX_AGE);
        if fresh {
            if let Ok(doc) =
                serde_json::from_value::<sipauth::DiscoveryDocument>(entry["document"].clone())
            {
                return ProviderConfig::from_document(&doc, client).map_err(CliError::from);
            }
        }
    }
    let doc = sipauth::fetch_discovery_document(http, issuer)
        .await
        .map_err(CliError::from_library)?;
    let entry = serde_json::json!({ "issuer": issuer, "fetched_at": now, "document": doc });
    if let Err(e) = store.save(DISCOVERY_CACHE, &entry.to_string()) {
        tracing::warn!(error = %e, "cannot cache the discovery document");
    }
    ProviderConfig::from_document(&doc, client).map_err(CliError::from)
}

/// Builds the provider configuration for a redirect URI.
pub async fn provider(
    p: &Profile,
    redirect_uri: &str,
    http: &HttpClient,
    store: &Arc<dyn SessionStore>,
) -> Result<ProviderConfig, CliError> {
    let client_id = required(&p.provider.client_id, "--client-id")?;
    let client = match secret(
        &p.provider.client_secret,
        &p.provider.client_secret_file,
        "--client-secret",
    )? {
        Some(secret) => {
            ClientRegistration::confidential(client_id, ClientSecret::new(secret), redirect_uri)
        }
        None => ClientRegistration::public(client_id, redirect_uri),
    };
    let template = match p.provider.provider.unwrap_or(ProviderName::Custom) {
        ProviderName::Custom => None,
        ProviderName::Google => Some(ProviderTemplate::Google),
        ProviderName::Microsoft => Some(ProviderTemplate::Microsoft {
            tenant: p.provider.tenant.clone().unwrap_or_else(|| "common".into()),
        }),
        ProviderName::Github => Some(ProviderTemplate::GitHub),
        ProviderName::Okta => Some(ProviderTemplate::Okta {
            domain: required(&p.provider.domain, "--domain")?.to_string(),
            authorization_server: p.provider.authorization_server.clone(),
        }),
        ProviderName::Auth0 => Some(ProviderTemplate::Auth0 {
            domain: required(&p.provider.domain, "--domain")?.to_string(),
            audience: p.provider.audience.clone(),
        }),
        ProviderName::Keycloak => Some(ProviderTemplate::Keycloak {
            base_url: required(&p.provider.base_url, "--base-url")?.to_string(),
            realm: required(&p.provider.realm, "--realm")?.to_string(),
        }),
    };
    let provider = match (
        template,
        &p.provider.authorization_endpoint,
        &p.provider.token_endpoint,
    ) {
        (Some(t), _, _) => t
            .build(client)
            .map_err(|e| CliError::config(e.to_string()))?,
        (None, Some(authorization), Some(token)) => {
            custom_endpoints(p, client, authorization, token)?
        }
        (None, None, None) => {
            discover(
                http,
                required(&p.provider.issuer, "--issuer")?,
                client,
                store,
            )
            .await?
        }
        (None, _, _) => return Err(CliError::config(
            "a provider without discovery needs both --authorization-endpoint and --token-endpoint",
        )),
    };
    // --scope is sent exactly as given; otherwise offline_access is added where the provider
    // takes it, for a refresh token.
    Ok(match &p.provider.scope {
        Some(scope) => provider.with_scopes(scope.split_whitespace()),
        None => provider.with_offline_access(),
    })
}

/// A custom provider from explicit endpoints (no discovery).
fn custom_endpoints(
    p: &Profile,
    client: ClientRegistration,
    authorization: &str,
    token: &str,
) -> Result<ProviderConfig, CliError> {
    let cfg = |e: sipauth::ConfigError| CliError::config(e.to_string());
    let mut provider = ProviderConfig::custom(client, authorization, token).map_err(cfg)?;
    let optional = |flag: &'static str, v: &Option<String>| {
        v.as_deref()
            .map(|u| sipauth::parse_secure_url(flag, u))
            .transpose()
            .map_err(cfg)
    };
    provider.userinfo_endpoint = optional("--userinfo-endpoint", &p.provider.userinfo_endpoint)?;
    provider.revocation_endpoint =
        optional("--revocation-endpoint", &p.provider.revocation_endpoint)?;
    provider.jwks_uri = optional("--jwks-uri", &p.provider.jwks_uri)?;
    provider.issuer = p.provider.issuer.clone();
    provider = provider.with_scopes(["openid", "email", "profile"]);
    if provider.jwks_uri.is_none() || provider.issuer.is_none() {
        // Without keys and an issuer an ID token cannot be verified: plain OAuth, identity from
        // userinfo.
        provider = provider.with_scopes(["email", "profile"]);
        if provider.userinfo_endpoint.is_none() {
            return Err(CliError::config(
                "a provider without discovery needs --jwks-uri and --issuer (OpenID), or --userinfo-endpoint (plain OAuth)",
            ));
        }
    }
    Ok(provider)
}

/// The SIP domain: the profile's, else the issuer's (or authorization endpoint's) host.
pub fn sip_domain(p: &Profile, provider: &ProviderConfig) -> String {
    p.sip.sip_domain.clone().unwrap_or_else(|| {
        provider
            .issuer
            .as_deref()
            .and_then(|i| url::Url::parse(i).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .or_else(|| {
                provider
                    .authorization_endpoint
                    .host_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "localhost".into())
    })
}

/// The WebSocket server when none is configured: the service's default, defined once.
pub use sipauth_server::config::DEFAULT_WS_URI;

/// Builds the credential mapping.
pub fn mapping(p: &Profile, provider: &ProviderConfig) -> Result<CredentialMapping, CliError> {
    let strategy = match p
        .strategy
        .password_strategy
        .unwrap_or(StrategyName::AccessToken)
    {
        StrategyName::AccessToken => PasswordStrategy::AccessToken,
        StrategyName::IdToken => PasswordStrategy::IdToken,
        StrategyName::Hash => PasswordStrategy::Hash {
            algorithm: if p.strategy.hash_sha512 == Some(true) {
                HashAlgorithm::Sha512
            } else {
                HashAlgorithm::Sha256
            },
            salt: p.strategy.hash_salt.clone(),
        },
        StrategyName::Api => {
            let endpoint = required(&p.strategy.api_endpoint, "--api-endpoint")?;
            let endpoint = url::Url::parse(endpoint)
                .map_err(|e| CliError::config(format!("--api-endpoint: {e}")))?;
            PasswordStrategy::api(
                endpoint,
                if p.strategy.api_get == Some(true) {
                    ApiMethod::Get
                } else {
                    ApiMethod::Post
                },
            )
        }
        StrategyName::Static => PasswordStrategy::Static {
            password: SipPassword::new(required(
                &secret(
                    &p.strategy.static_password,
                    &p.strategy.static_password_file,
                    "--static-password",
                )?,
                "--static-password",
            )?),
        },
        StrategyName::HmacEphemeral => PasswordStrategy::HmacEphemeral {
            secret: SipPassword::new(required(
                &secret(
                    &p.strategy.hmac_secret,
                    &p.strategy.hmac_secret_file,
                    "--hmac-secret",
                )?,
                "--hmac-secret",
            )?),
            algorithm: HmacAlgorithm::Sha1,
            ttl: Duration::from_secs(p.strategy.hmac_ttl.unwrap_or(3600)),
        },
    };
    let ws = p
        .sip
        .ws_uri
        .clone()
        .unwrap_or_else(|| DEFAULT_WS_URI.into());
    // `--ws-uri` was checked with every other setting by `check_settings`, before any request.
    let mut m = CredentialMapping::new(sip_domain(p, provider), ws, strategy);
    if let Some(claim) = &p.sip.username_claim {
        m = m.username_claim(claim);
    } else if matches!(
        provider.kind,
        sipauth::ProviderKind::GitHub | sipauth::ProviderKind::Microsoft
    ) {
        // GitHub: the login. Entra ID: its `email` claim is unverified and user-editable, so
        // the UPN names the account.
        m = m.username_claim("preferred_username");
    } else {
        // The provisioning service's rule: a verified email's local part, then
        // preferred_username, then the subject; the command and the service name a person the
        // same.
        m = m.username_claims(sipauth::sip::DEFAULT_USERNAME_CLAIMS);
    }
    // Multi-tenant providers: two people may share a local part, so collision-free is the
    // default there; `--collision-free-usernames false` asks for the plain local part.
    let collision_free = p.sip.collision_free_usernames.unwrap_or(
        p.sip.username_claim.is_none()
            && provider.is_multi_tenant()
            && provider.kind != sipauth::ProviderKind::GitHub,
    );
    if collision_free {
        m = m.collision_free_usernames();
    }
    if let Some(realm) = &p.sip.sip_realm {
        m = m.realm(realm);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command's mapping and the service's provisioner name the same identity the same:
    /// one naming rule (the library's), whichever side reads the claims.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_command_and_the_service_name_a_person_the_same() {
        use serde_json::json;
        use sipauth::{MappingInput, TokenSet, UserInfo, VerifiedBy, VerifiedIdentity};
        use sipauth_provision::{
            Backend, Database, Policy, Provisioner, ServerSecret, SipSettings,
        };

        const ISSUER: &str = "https://idp.example.com";
        let client = sipauth::ClientRegistration::public("c", "http://127.0.0.1:8765/callback");
        let provider = ProviderConfig::custom(
            client,
            "https://idp.example.com/authorize",
            "https://idp.example.com/token",
        )
        .unwrap();
        let mut profile = Profile::default();
        profile.sip.sip_domain = Some("sip.example.com".into());
        let command = mapping(&profile, &provider).unwrap();

        let dir = std::env::temp_dir().join(format!("sipauth-cli-naming-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Database::open(dir.join("s.db").to_str().unwrap())
            .await
            .unwrap();
        let settings = SipSettings {
            domain: "sip.example.com".into(),
            realm: None,
            ws_uri: "wss://sip.example.com/ws".into(),
            sip_server: None,
        };
        let service = Provisioner::new(
            db,
            Backend::KamailioSubscriber {
                store_plaintext: false,
            },
            settings,
            ServerSecret::new(b"0123456789abcdef".to_vec()).unwrap(),
            Policy::default(),
            std::sync::Arc::new(sipauth::SystemClock),
        );
        let tokens: TokenSet = serde_json::from_value(json!({
            "access_token": "at", "token_type": "Bearer", "expires_in": 60
        }))
        .unwrap();
        for (case, claims) in [
            (
                "verified email",
                json!({"sub": "s1", "email": "Ada.L@example.com",
                "email_verified": true, "name": "Ada \"L\""}),
            ),
            (
                "unverified email",
                json!({"sub": "s2", "email": "ceo@example.com",
                "preferred_username": "Mallory", "name": " M. "}),
            ),
            (
                "verified as a string",
                json!({"sub": "s3", "email": "bo@example.com",
                "email_verified": "true"}),
            ),
            ("subject only", json!({"sub": "Sub_4!"})),
            (
                "long name",
                json!({"sub": "s5", "preferred_username": "x".repeat(90)}),
            ),
        ] {
            let info: UserInfo = serde_json::from_value(claims.clone()).unwrap();
            let input = MappingInput {
                tokens: &tokens,
                user_info: &info,
                issuer: Some(ISSUER),
            };
            let by_command = command.username_for(&input).unwrap();
            let mut map = claims.as_object().unwrap().clone();
            map.remove("sub");
            let identity =
                VerifiedIdentity::for_testing(ISSUER, info.sub.clone(), VerifiedBy::IdToken, map);
            let by_service = service.provision(&identity, None).await.unwrap();
            assert_eq!(by_command, by_service.account.username, "{case}");
            let shown = command
                .provision(&input, &sipauth::HttpClient::new().unwrap(), 0)
                .await
                .unwrap();
            assert_eq!(
                shown.display_name, by_service.account.display_name,
                "{case}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn write(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("sipauth-cli-{name}-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_a_named_profile() {
        let path = write("ok", "[profiles.work]\nprovider = \"microsoft\"\ntenant = \"organizations\"\nclient_id = \"abc\"\n");
        let p = load_profile(Some(&path), "work").unwrap();
        assert_eq!(p.provider.provider, Some(ProviderName::Microsoft));
        assert_eq!(p.provider.client_id.as_deref(), Some("abc"));
    }

    #[test]
    fn rejects_unknown_keys_naming_key_and_file() {
        let path = write("unknown", "[profiles.work]\nclient_idd = \"abc\"\n");
        let err = load_profile(Some(&path), "work").unwrap_err();
        assert!(err.message.contains("client_idd"), "{}", err.message);
        assert!(
            err.message.contains(path.to_str().unwrap()),
            "{}",
            err.message
        );
        assert_eq!(err.exit_code(), crate::error::EXIT_CONFIG);
    }

    #[test]
    fn rejects_invalid_values_naming_key_and_file() {
        let path = write("invalid", "[profiles.work]\nprovider = \"gogle\"\n");
        let err = load_profile(Some(&path), "work").unwrap_err();
        assert!(err.message.contains("gogle"), "{}", err.message);
        assert!(err.message.contains("key `provider`"), "{}", err.message);
        assert!(err.message.contains(path.to_str().unwrap()));
        let path = write("badport", "[profiles.work]\nredirect_port = \"eighty\"\n");
        let err = load_profile(Some(&path), "work").unwrap_err();
        assert!(
            err.message.contains(path.to_str().unwrap()),
            "{}",
            err.message
        );
        assert!(
            err.message.contains(":2: key `redirect_port`:"),
            "{}",
            err.message
        );
    }

    #[test]
    fn rejects_a_missing_named_profile_or_file() {
        let path = write("missing", "[profiles.home]\n");
        assert!(load_profile(Some(&path), "work").is_err());
        assert!(load_profile(Some(Path::new("/nonexistent/sipauth.toml")), "default").is_err());
        assert!(load_profile(Some(&path), "default").is_ok());
    }

    #[test]
    fn the_readme_example_profile_parses() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("```toml\n").unwrap() + 8;
        let end = start + readme[start..].find("```").unwrap();
        let path = write("readme", &readme[start..end]);
        let p = load_profile(Some(&path), "work").unwrap();
        assert_eq!(p.provider.provider, Some(ProviderName::Microsoft));
        assert_eq!(p.strategy.password_strategy, Some(StrategyName::Api));
    }

    #[test]
    fn rejects_redirect_paths_that_are_not_literal_paths() {
        for bad in [
            "/cb/{id}", "/a?x=1", "cb", "/a#b", "/a b", "/a%2Fb", "//evil",
        ] {
            assert!(redirect_path(bad).is_err(), "{bad}");
        }
        for good in ["/callback", "/cb/:id", "/oauth2/callback", "/a-b_c.d~"] {
            assert_eq!(redirect_path(good).unwrap(), good);
        }
    }

    #[test]
    fn secret_files_lose_one_trailing_newline_only() {
        let path = write("secret", "s3cret\n");
        let path = Some(path.to_string_lossy().into_owned());
        assert_eq!(
            secret(&None, &path, "--client-secret").unwrap().as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            secret(&Some("inline".into()), &path, "--client-secret")
                .unwrap()
                .as_deref(),
            Some("inline")
        );
        let empty = Some(write("empty", "\n").to_string_lossy().into_owned());
        assert!(secret(&None, &empty, "--client-secret").is_err());
    }

    #[test]
    fn upper_layers_win_field_by_field() {
        let lower = Profile {
            provider: crate::opt::ProviderOpts {
                issuer: Some("https://a".into()),
                client_id: Some("low".into()),
                ..Default::default()
            },
            ..Profile::default()
        };
        let upper = Profile {
            provider: crate::opt::ProviderOpts {
                client_id: Some("high".into()),
                ..Default::default()
            },
            ..Profile::default()
        };
        let merged = overlay(&upper, &lower);
        assert_eq!(merged.provider.issuer.as_deref(), Some("https://a"));
        assert_eq!(merged.provider.client_id.as_deref(), Some("high"));
    }
}
