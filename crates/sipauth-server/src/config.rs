//! [`ServiceConfig`]: the one settings type of the service. Each setting is defined once, here:
//! the same field is its key in the TOML file (unknown keys rejected; errors name the key and
//! the line), its `sipauth serve` flag and its `SIPAUTH_*` variable (clap derives both from
//! the field), and its default is applied where it is used. [`ServiceConfig::overlay`] lays
//! flags and variables over the file; [`ServiceConfig::from_env`] reads the variables alone
//! (`sipauth admin`). It builds what the service runs on: the [`Provisioner`] (no network:
//! `sipauth admin` uses it too) and the [`TokenCheck`] (discovery of each trusted issuer: as a
//! resource server, only `issuer`, `jwks_uri` and, for opaque tokens, `introspection_endpoint` /
//! `userinfo_endpoint` are needed). Reading flags is the command's; what the settings mean is here.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! database = "sqlite:/var/lib/sipauth/server.db"   # or postgres://...
//! secret_file = "/etc/sipauth/server.secret"
//!
//! [[issuer]]
//! url = "https://accounts.example.com"
//! audiences = ["my-softphone"]
//!
//! [sip]
//! domain = "example.com"
//! ws_uri = "wss://sip.example.com/ws"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sipauth::{
    ClientSecret, HttpClient, Introspector, Issuer, JwksCache, SharedClock, TokenVerifier,
    VerifyOptions,
};
use sipauth_provision::{
    Backend, Database, OnPolicyFailure, Policy, Provisioner, ServerSecret, SipSettings,
};

use crate::auth::{IssuerConfig, OutboundBudget, TokenCheck};
use crate::limits::{Rate, RateLimits};
use crate::network::NetworkPolicy;

/// Why the settings cannot run a service.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    fn new(what: impl Into<String>) -> Self {
        Self(what.into())
    }
}

impl From<sipauth_provision::ProvisionError> for ConfigError {
    fn from(e: sipauth_provision::ProvisionError) -> Self {
        Self(e.to_string())
    }
}

impl From<sipauth::ConfigError> for ConfigError {
    fn from(e: sipauth::ConfigError) -> Self {
        Self(e.to_string())
    }
}

impl From<sipauth::Error> for ConfigError {
    fn from(e: sipauth::Error) -> Self {
        Self(e.to_string())
    }
}

/// The service's settings. Every field is optional in the file; [`ServiceConfig::check`] says
/// what a running service needs.
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SIPAUTH_LISTEN")]
    pub listen: Option<String>,
    /// Database: a path or sqlite:PATH (default <data dir>/sipauth/server.db), or postgres://...
    #[arg(long, env = "SIPAUTH_DATABASE")]
    pub database: Option<String>,
    /// The password-derivation secret, also sealing the records instances share (created 0600 when missing on SQLite; on PostgreSQL it must exist, the same file on every instance; default <data dir>/sipauth/server.secret).
    #[arg(long, env = "SIPAUTH_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// The secret itself (prefer `secret_file`; the variable is `SIPAUTH_SERVER_SECRET`, never
    /// a flag); `Debug` prints `[redacted]`.
    #[arg(skip)]
    pub secret: Option<sipauth::SecretText>,
    /// Log lines as text or JSON [default: text].
    #[arg(long, env = "SIPAUTH_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Trusted issuers (`[[issuer]]`; the flags configure one: see [`IssuerSettings`]).
    #[serde(default, rename = "issuer")]
    #[arg(skip)]
    pub issuers: Vec<IssuerSettings>,
    /// The SIP side.
    #[serde(default)]
    #[command(flatten)]
    pub sip: SipConfig,
    /// How the SIP server learns passwords.
    #[serde(default)]
    #[command(flatten)]
    pub backend: BackendConfig,
    /// Who may have SIP access.
    #[serde(default)]
    #[command(flatten)]
    pub policy: PolicyConfig,
    /// Call rights from the provider (`[rights]`, file only): each right is granted by groups
    /// (the `groups` claim or SCIM groups) or claim values, e.g. `outbound = { groups =
    /// ["voip-outbound"] }`, and written to Kamailio's `grp` table for the routing script.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[arg(skip)]
    pub rights: BTreeMap<String, RightConfig>,
    /// Where requests may come from.
    #[serde(default)]
    #[command(flatten)]
    pub network: NetworkConfig,
    /// Rate limits and timeouts.
    #[serde(default)]
    #[command(flatten)]
    pub limits: LimitsConfig,
    /// Days the audit log keeps its rows [default: 365; 0: for ever]; older rows are swept
    /// hourly.
    #[arg(long, value_name = "DAYS", env = "SIPAUTH_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u64>,
    /// The URL browsers reach the service at, behind a reverse proxy (default http://<listen address>); the web sign-in page's redirect URI is <public_url>/auth/callback.
    #[arg(long, env = "SIPAUTH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A web page origin (scheme://host[:port]) whose scripts may call the API from another
    /// origin (repeatable; `*`: any page, warned about). Bearer tokens only: no credentials.
    #[serde(default)]
    #[arg(
        long = "cors-allow-origin",
        value_name = "ORIGIN",
        env = "SIPAUTH_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,
    /// A built single-page app served beside the API (same origin: the app calls the relative
    /// `/api/sip/provision`); unknown paths outside the service's own fall back to its
    /// index.html.
    #[arg(long, value_name = "DIR", env = "SIPAUTH_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    /// The development identity provider: only `sipauth serve --dev` on the command line turns
    /// it on; it is no key of the file and no variable.
    #[arg(skip)]
    #[serde(skip)]
    pub dev: Option<DevConfig>,
}

/// The development identity provider at `/dev-idp` (`sipauth serve --dev`). Never in
/// production.
#[derive(Debug, Clone, Default)]
pub struct DevConfig {
    /// Demo users (default alice and bob).
    pub users: Vec<String>,
    /// The development provider's SCIM secret file (`--dev --scim-token-file`).
    pub scim_token_file: Option<PathBuf>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// One trusted issuer (`[[issuer]]`); as flags, the issuer `--issuer` names (added to the
/// file's issuers, or more settings for the file's issuer of that URL, or for its only one).
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// A trusted issuer (OpenID discovery at <url>/.well-known/openid-configuration).
    #[arg(
        id = "issuer",
        long = "issuer",
        value_name = "URL",
        env = "SIPAUTH_ISSUER",
        default_value = "",
        hide_default_value = true
    )]
    pub url: String,
    /// A client id (or resource) tokens must be issued to (repeatable).
    #[serde(default)]
    #[arg(long = "audience", env = "SIPAUTH_AUDIENCE", value_delimiter = ',')]
    pub audiences: Vec<String>,
    /// The service's own client id at the issuer, for introspecting opaque tokens.
    #[arg(long, env = "SIPAUTH_INTROSPECTION_CLIENT_ID")]
    pub introspection_client_id: Option<String>,
    /// File holding that client's secret.
    #[arg(long, env = "SIPAUTH_INTROSPECTION_CLIENT_SECRET_FILE")]
    pub introspection_client_secret_file: Option<PathBuf>,
    /// Also accept opaque tokens the issuer's userinfo endpoint answers for (no audience check).
    #[serde(default)]
    #[arg(long)]
    pub allow_userinfo_tokens: bool,
    /// The prefix of this issuer's opaque tokens (GitHub's `gho_`, say): an opaque token goes
    /// only to the issuer whose prefix it has. Needed when several issuers take opaque tokens.
    #[arg(long, value_name = "PREFIX", env = "SIPAUTH_OPAQUE_TOKEN_PREFIX")]
    pub opaque_token_prefix: Option<String>,
    /// The name on the web page's button ("Sign in with <name>"; default: the issuer's host).
    #[arg(
        id = "issuer_name",
        long = "issuer-name",
        value_name = "NAME",
        env = "SIPAUTH_ISSUER_NAME"
    )]
    pub name: Option<String>,
    /// The web sign-in page's client id at the issuer (a confidential client).
    #[arg(long, env = "SIPAUTH_WEB_CLIENT_ID")]
    pub web_client_id: Option<String>,
    /// File holding that client's secret.
    #[arg(long, env = "SIPAUTH_WEB_CLIENT_SECRET_FILE")]
    pub web_client_secret_file: Option<PathBuf>,
    /// File holding this issuer's SCIM bearer secret: enables `/scim/v2` for its directory
    /// (with `--dev` and no `--issuer`: the development provider's).
    #[arg(long, value_name = "PATH", env = "SIPAUTH_SCIM_TOKEN_FILE")]
    pub scim_token_file: Option<PathBuf>,
    /// The claim of this issuer's tokens that a SCIM user's `externalId` holds (default
    /// `sub`; Entra ID: `oid`).
    #[arg(long, value_name = "CLAIM", env = "SIPAUTH_SCIM_EXTERNAL_ID_CLAIM")]
    pub scim_external_id_claim: Option<String>,
    /// What this issuer's back-channel logout of a person does to their SIP access (default
    /// `sessions`: only their web sessions end).
    #[arg(
        long,
        value_enum,
        value_name = "EFFECT",
        env = "SIPAUTH_BACKCHANNEL_LOGOUT"
    )]
    pub backchannel_logout: Option<BackchannelLogout>,
    /// This issuer's people's SIP settings, each set value replacing `[sip]`'s (a customer on
    /// its own identity provider and SIP server): `sip = { domain = "acme.com", ws_uri =
    /// "wss://pbx.acme.com/ws", realm = "acme.com", sip_server = "sip:pbx.acme.com;transport=tcp" }`.
    /// The tenant templates, when set, still apply. Configuration file only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[arg(skip)]
    pub sip: Option<IssuerSip>,
}

/// One SIP password per person, or one per device (`[sip] credentials`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum CredentialsMode {
    /// One password for all of a person's devices.
    #[default]
    PerPerson,
    /// Each device its own digest username and password.
    PerDevice,
}

/// A new device beyond `max_devices` (`[sip] device_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DeviceLimitConfig {
    /// Refused with `409 too_many_devices`.
    #[default]
    Refuse,
    /// The least recently provisioned device is revoked to make room.
    RevokeOldestUnused,
}

/// What grants one call right (`[rights] NAME = { groups = [...], claims = { ... } }`): any of
/// the groups, or any claim with its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RightConfig {
    /// Groups (the token's `groups` claim, or the provider's SCIM groups) that grant it.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Claims whose value grants it (a string equal to it, or an array holding it).
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
}

/// An issuer's own SIP settings (`[[issuer]] sip = { ... }`); unset values are `[sip]`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSip {
    /// The SIP domain of this issuer's people's accounts.
    pub domain: Option<String>,
    /// Their digest realm (default: that domain).
    pub realm: Option<String>,
    /// The WebSocket server their clients connect to.
    pub ws_uri: Option<String>,
    /// The registrar for their native clients (`sip:host:port;transport=udp|tcp|tls`).
    pub sip_server: Option<String>,
}

/// What a back-channel logout does (`backchannel_logout` of an issuer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackchannelLogout {
    /// The person's web sessions end; SIP access stays.
    #[default]
    Sessions,
    /// Also their SIP password rotates (registered devices stop working until they provision).
    Rotate,
    /// Also their SIP access ends until they sign in again.
    Disable,
}

impl From<BackchannelLogout> for sipauth_provision::LogoutEffect {
    fn from(b: BackchannelLogout) -> Self {
        match b {
            BackchannelLogout::Sessions => Self::Sessions,
            BackchannelLogout::Rotate => Self::Rotate,
            BackchannelLogout::Disable => Self::Disable,
        }
    }
}

impl IssuerSettings {
    /// `upper`'s set values over these, by [`ServiceConfig::overlay`]'s rule (the issuer flags
    /// over the file's issuer).
    pub fn overlay(&self, upper: &IssuerSettings) -> Result<IssuerSettings, ConfigError> {
        overlay(self, upper)
    }
}

/// `[sip]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// The SIP domain of the accounts (default: the first issuer's host).
    #[arg(
        id = "sip_domain",
        long = "sip-domain",
        value_name = "DOMAIN",
        env = "SIPAUTH_SIP_DOMAIN"
    )]
    pub domain: Option<String>,
    /// The digest realm (default: the domain).
    #[arg(
        id = "sip_realm",
        long = "sip-realm",
        value_name = "REALM",
        env = "SIPAUTH_SIP_REALM"
    )]
    pub realm: Option<String>,
    /// The SIP WebSocket server clients use.
    #[arg(long, env = "SIPAUTH_WS_URI")]
    pub ws_uri: Option<String>,
    /// The registrar for native clients, sip:host:port;transport=udp|tcp|tls.
    #[arg(long, env = "SIPAUTH_SIP_SERVER")]
    pub sip_server: Option<String>,
    /// Each person's SIP domain from their verified claims, e.g. `sip.{email_domain}`
    /// (placeholders {email_domain}: a verified email's domain, {tenant}: the `tid` claim); the
    /// result must be in allowed_domains.
    #[arg(long, value_name = "TEMPLATE", env = "SIPAUTH_SIP_DOMAIN_TEMPLATE")]
    pub domain_template: Option<String>,
    /// Each person's WebSocket server, e.g. `wss://pbx.{email_domain}:7443/ws` (also {domain}:
    /// their SIP domain); its host must be under an allowed domain.
    #[arg(long, value_name = "TEMPLATE", env = "SIPAUTH_WS_URI_TEMPLATE")]
    pub ws_uri_template: Option<String>,
    /// Each SIP domain's digest realm, e.g. `{domain}` (default: the domain).
    #[arg(long, value_name = "TEMPLATE", env = "SIPAUTH_SIP_REALM_TEMPLATE")]
    pub realm_template: Option<String>,
    /// A domain the templates may give (repeatable; `*.example.com` for its subdomains): a
    /// result outside the list is refused with 403 domain_not_allowed.
    #[serde(default)]
    #[arg(
        long = "allowed-sip-domain",
        value_name = "DOMAIN",
        env = "SIPAUTH_ALLOWED_SIP_DOMAINS",
        value_delimiter = ','
    )]
    pub allowed_domains: Vec<String>,
    /// A claim new accounts' usernames come from, in order (repeatable; default email,
    /// preferred_username, sub).
    #[serde(default)]
    #[arg(
        long = "username-claim",
        env = "SIPAUTH_USERNAME_CLAIMS",
        value_delimiter = ','
    )]
    pub username_claims: Vec<String>,
    /// A name no identity gets as its plain name; it gets the suffixed form (repeatable;
    /// replaces the default list: admin, administrator, root, postmaster, hostmaster,
    /// webmaster, abuse, operator, sip, kamailio, anonymous, system, voicemail, support).
    #[arg(
        long = "reserved-username",
        value_name = "NAME",
        env = "SIPAUTH_RESERVED_USERNAMES",
        value_delimiter = ','
    )]
    pub reserved_usernames: Option<Vec<String>>,
    /// All-digit names (they look like extensions) [default: reserved].
    #[arg(
        long,
        value_name = "RULE",
        env = "SIPAUTH_NUMERIC_USERNAMES",
        value_enum
    )]
    pub numeric_usernames: Option<NumericUsernames>,
    /// Days a deleted account's username stays away from other identities [default: for
    /// ever]; the same identity gets it back at any time.
    #[arg(long, value_name = "DAYS", env = "SIPAUTH_USERNAME_QUARANTINE_DAYS")]
    pub username_quarantine_days: Option<u64>,
    /// Credential leases: a SIP password works only this many seconds after the person's last
    /// provision with a valid token (the answer's `expiresAt`); then it ends at the SIP server
    /// within a second, and the next provision gets a new one. Off by default.
    #[arg(long, value_name = "SECONDS", env = "SIPAUTH_CREDENTIAL_TTL")]
    pub credential_ttl: Option<u64>,
    /// One SIP password per person (the default), or one per device: each device a person
    /// names at provisioning gets its own digest username and password under their one SIP
    /// URI, listed and revoked alone (the kamailio backend).
    #[arg(long, value_enum, env = "SIPAUTH_CREDENTIALS")]
    pub credentials: Option<CredentialsMode>,
    /// With credentials per device: the most devices a person may have [default: 5].
    #[arg(long, value_name = "N", env = "SIPAUTH_MAX_DEVICES")]
    pub max_devices: Option<usize>,
    /// With credentials per device, a new device beyond max_devices: refused (the default:
    /// the person revokes one), or the least recently provisioned device is revoked.
    #[arg(long, value_enum, env = "SIPAUTH_DEVICE_LIMIT")]
    pub device_limit: Option<DeviceLimitConfig>,
}

/// Whether all-digit usernames are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NumericUsernames {
    /// Reserved: they look like extensions.
    #[default]
    Reserved,
    /// Handed out like any name.
    Allowed,
}

/// Backend names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Kamailio `auth_db` over the `subscriber` table.
    #[default]
    Kamailio,
    /// Kamailio `auth_ephemeral`.
    Ephemeral,
}

/// Ephemeral HMAC names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EphemeralAlgorithm {
    /// HMAC-SHA1 (Kamailio's default).
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
}

/// `[backend]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// How the SIP server learns passwords [default: kamailio].
    #[arg(
        id = "backend",
        long = "backend",
        value_name = "BACKEND",
        env = "SIPAUTH_BACKEND",
        value_enum
    )]
    pub kind: Option<BackendKind>,
    /// Kamailio: also fill the plaintext `password` column (for calculate_ha1 = 1).
    #[serde(default)]
    #[arg(long)]
    pub store_plaintext: bool,
    /// Kamailio: a new random password on every provision instead of the derived one.
    #[serde(default)]
    #[arg(long)]
    pub random_passwords: bool,
    /// The secret shared with Kamailio auth_ephemeral.
    #[arg(long, env = "SIPAUTH_EPHEMERAL_SECRET_FILE")]
    pub ephemeral_secret_file: Option<PathBuf>,
    /// The auth_ephemeral HMAC [default: sha1].
    #[arg(long, env = "SIPAUTH_EPHEMERAL_ALGORITHM", value_enum)]
    pub ephemeral_algorithm: Option<EphemeralAlgorithm>,
    /// Lifetime of ephemeral credentials, in seconds [default: 3600].
    #[arg(long, env = "SIPAUTH_EPHEMERAL_TTL")]
    pub ephemeral_ttl: Option<u64>,
    /// Kamailio's JSON-RPC endpoint (`jsonrpcs` over HTTP), repeatable for several nodes: when
    /// a person's access ends, their contacts are removed from the location table and their
    /// calls in progress ended at once.
    #[serde(default)]
    #[arg(
        long = "kamailio-rpc-url",
        value_name = "URL",
        env = "SIPAUTH_KAMAILIO_RPC_URLS",
        value_delimiter = ','
    )]
    pub kamailio_rpc_urls: Vec<String>,
}

/// `[policy]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Only verified emails of this domain get SIP access (repeatable).
    #[serde(default)]
    #[arg(
        long = "allow-email-domain",
        env = "SIPAUTH_ALLOW_EMAIL_DOMAINS",
        value_delimiter = ','
    )]
    pub allowed_email_domains: Vec<String>,
    /// Only this Entra tenant (`tid`) gets SIP access (repeatable).
    #[serde(default)]
    #[arg(
        long = "allow-tenant",
        env = "SIPAUTH_ALLOW_TENANTS",
        value_delimiter = ','
    )]
    pub allowed_tenants: Vec<String>,
    /// Claims that must have a value (a string equal to it, or an array holding it); in the
    /// file only (`[policy.required_claims]`).
    #[serde(default)]
    #[arg(skip)]
    pub required_claims: BTreeMap<String, String>,
    /// The verified token's `acr` must be one of these (repeatable), e.g. a multi-factor
    /// context; request it from the provider with the client's `acr_values`.
    #[serde(default)]
    #[arg(
        long = "required-acr",
        value_name = "VALUE",
        env = "SIPAUTH_REQUIRED_ACR",
        value_delimiter = ','
    )]
    pub required_acr: Vec<String>,
    /// What a provision the policy refuses does to the identity's existing account
    /// [default: disable].
    #[arg(
        long,
        value_name = "WHAT",
        env = "SIPAUTH_ON_POLICY_FAILURE",
        value_enum
    )]
    pub on_policy_failure: Option<PolicyFailure>,
}

/// `on_policy_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PolicyFailure {
    /// Refuse the provision; the account stays as it was.
    Refuse,
    /// Refuse it and disable the account: its SIP access ends at once, and returns (with a new
    /// password) when the identity passes again.
    #[default]
    Disable,
}

/// `[network]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Only clients in this network may provision (CIDR, repeatable; none: any).
    #[serde(default)]
    #[arg(
        long = "allowed-network",
        env = "SIPAUTH_ALLOWED_NETWORKS",
        value_delimiter = ','
    )]
    pub allowed_networks: Vec<String>,
    /// A proxy whose X-Forwarded-For is believed (CIDR, repeatable).
    #[serde(default)]
    #[arg(
        long = "trusted-proxy",
        env = "SIPAUTH_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// Only clients in this network may read /metrics and /readyz (CIDR, repeatable; none: as
    /// allowed_networks). /healthz stays open for load balancers.
    #[serde(default)]
    #[arg(
        long = "ops-allowed-network",
        env = "SIPAUTH_OPS_ALLOWED_NETWORKS",
        value_delimiter = ','
    )]
    pub ops_allowed_networks: Vec<String>,
}

/// `[limits]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Provisioning requests per client IP per minute (off when absent).
    #[arg(long, env = "SIPAUTH_PER_IP_PER_MINUTE")]
    pub per_ip_per_minute: Option<u32>,
    /// Provisioning requests per identity per minute (off when absent).
    #[arg(long, env = "SIPAUTH_PER_IDENTITY_PER_MINUTE")]
    pub per_identity_per_minute: Option<u32>,
    /// Questions per second to identity providers about unknown opaque tokens [default: 50].
    #[arg(long, env = "SIPAUTH_OUTBOUND_PER_SECOND")]
    pub outbound_per_second: Option<u32>,
    /// Seconds a request may take before it is answered 503 [default: 15].
    #[arg(long, env = "SIPAUTH_REQUEST_TIMEOUT")]
    pub request_timeout: Option<u64>,
}

impl ServiceConfig {
    /// Reads a TOML file: unknown keys and bad values are errors naming the key and the line.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| ConfigError::new(format!("{}: {}", path.display(), e.0)))
    }

    /// `upper`'s set values over `self`'s: a value that is set (not absent, empty or `false`)
    /// replaces the file's; lists add to the file's (`--audience` adds an audience). The flags
    /// and variables of `sipauth serve` are laid over the file this way.
    pub fn overlay(&self, upper: &ServiceConfig) -> Result<ServiceConfig, ConfigError> {
        overlay(self, upper)
    }

    /// The settings the `SIPAUTH_*` variables give (every key that has one), with no flags:
    /// what `sipauth admin` lays over the file.
    pub fn from_env() -> Result<ServiceConfig, ConfigError> {
        use clap::{Args, FromArgMatches};
        let command = ServiceConfig::augment_args(clap::Command::new("sipauth-env"));
        let matches = command
            .try_get_matches_from(["sipauth-env"])
            .map_err(|e| ConfigError::new(e.to_string()))?;
        ServiceConfig::from_arg_matches(&matches).map_err(|e| ConfigError::new(e.to_string()))
    }

    /// Reads TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        if let Ok(table) = text.parse::<toml::Table>() {
            if table.contains_key("dev") {
                return Err(ConfigError::new(
                    "[dev] is not a setting of the file: the development identity provider starts only with `sipauth serve --dev` on the command line",
                ));
            }
        }
        toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| {
                text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1
            });
            let message = e.message().trim_end().to_string();
            match line {
                Some(line) => ConfigError::new(format!("line {line}: {message}")),
                None => ConfigError::new(message),
            }
        })
    }

    /// What a running service needs and cannot default: an issuer with an audience, secure
    /// URLs, coherent pairs.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.sip.credential_ttl.is_some_and(|t| t > 0)
            && self.backend.kind == Some(BackendKind::Ephemeral)
        {
            return Err(ConfigError::new(
                "--credential-ttl is for passwords the SIP server stores; auth_ephemeral credentials expire by --ephemeral-ttl",
            ));
        }
        if self.issuers.is_empty() && self.dev.is_none() {
            return Err(ConfigError::new(
                "no trusted issuer: set --issuer (or [[issuer]] in the config file), or --dev",
            ));
        }
        for issuer in &self.issuers {
            sipauth::parse_secure_url("issuer url", &issuer.url)?;
            if issuer.audiences.is_empty() {
                return Err(ConfigError::new(format!(
                    "issuer {}: --audience is required: the client id tokens must be issued to",
                    issuer.url
                )));
            }
            if issuer.web_client_id.is_some() != issuer.web_client_secret_file.is_some() {
                return Err(ConfigError::new(
                    "--web-client-id and --web-client-secret-file go together",
                ));
            }
            if issuer.introspection_client_id.is_some()
                != issuer.introspection_client_secret_file.is_some()
            {
                return Err(ConfigError::new(
                    "--introspection-client-id and --introspection-client-secret-file go together",
                ));
            }
        }
        let opaque: Vec<&IssuerSettings> = self
            .issuers
            .iter()
            .filter(|i| i.introspection_client_id.is_some() || i.allow_userinfo_tokens)
            .collect();
        if opaque.len() > 1 && opaque.iter().any(|i| i.opaque_token_prefix.is_none()) {
            return Err(ConfigError::new(
                "several issuers take opaque tokens: give each an opaque_token_prefix, so a token is sent only to the issuer it belongs to",
            ));
        }
        sipauth::sip::check_ws_uri(self.ws_uri(), false)
            .map_err(|e| ConfigError::new(format!("ws_uri: {e}")))?;
        for issuer in &self.issuers {
            let Some(sip) = &issuer.sip else { continue };
            let what = |field: &str| format!("issuer {} sip.{field}", issuer.url);
            if let Some(domain) = &sip.domain {
                sipauth::sip::check_domain(domain)
                    .map_err(|e| ConfigError::new(format!("{}: {e}", what("domain"))))?;
            }
            if let Some(ws_uri) = &sip.ws_uri {
                sipauth::sip::check_ws_uri(ws_uri, false)
                    .map_err(|e| ConfigError::new(format!("{}: {e}", what("ws_uri"))))?;
            }
            if let Some(server) = &sip.sip_server {
                sipauth::sip::SipServer::parse(server)
                    .map_err(|e| ConfigError::new(format!("{}: {e}", what("sip_server"))))?;
            }
        }
        if self.backend.kind.unwrap_or_default() == BackendKind::Ephemeral
            && self.backend.ephemeral_secret_file.is_none()
        {
            return Err(ConfigError::new(
                "--backend ephemeral needs --ephemeral-secret-file",
            ));
        }
        self.network_policy()?;
        self.tenancy()?;
        self.rights()?;
        if self.sip.credentials == Some(CredentialsMode::PerDevice)
            && self.backend.kind.unwrap_or_default() == BackendKind::Ephemeral
        {
            return Err(ConfigError::new(
                "credentials per device need the kamailio backend: auth_ephemeral has one secret for everyone",
            ));
        }
        if self.sip.max_devices == Some(0) {
            return Err(ConfigError::new("max_devices must be at least 1"));
        }
        if let Some(server) = &self.sip.sip_server {
            sipauth::sip::SipServer::parse(server)
                .map_err(|e| ConfigError::new(format!("sip_server: {e}")))?;
        }
        crate::cors::Cors::parse(&self.cors_allowed_origins).map_err(ConfigError::new)?;
        if let Some(dir) = &self.static_dir {
            if !dir.join("index.html").is_file() {
                return Err(ConfigError::new(format!(
                    "static_dir {}: no index.html in it (build the app first)",
                    dir.display()
                )));
            }
        }
        Ok(())
    }

    fn ws_uri(&self) -> &str {
        self.sip.ws_uri.as_deref().unwrap_or(DEFAULT_WS_URI)
    }

    /// The accounts' SIP domain.
    pub fn sip_domain(&self) -> String {
        self.sip.domain.clone().unwrap_or_else(|| {
            self.issuers
                .first()
                .and_then(|i| url::Url::parse(&i.url).ok())
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "localhost".into())
        })
    }

    /// The database URL, under `data_dir` by default.
    pub fn database_url(&self, data_dir: &Path) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| data_dir.join("server.db").display().to_string())
    }

    /// Opens the database and makes the provisioner: no network, so `sipauth admin` can too.
    pub async fn provisioner(
        &self,
        data_dir: &Path,
        clock: SharedClock,
    ) -> Result<Provisioner, ConfigError> {
        let secret = match (&self.secret, std::env::var("SIPAUTH_SERVER_SECRET")) {
            (_, Ok(env)) if !env.is_empty() => ServerSecret::new(env.trim_end().as_bytes())?,
            (Some(inline), _) => ServerSecret::new(inline.secret().as_bytes())?,
            _ => {
                let path = self
                    .secret_file
                    .clone()
                    .unwrap_or_else(|| data_dir.join("server.secret"));
                if Database::is_postgres_url(&self.database_url(data_dir)) {
                    // Several instances share PostgreSQL: a secret one of them made for itself
                    // would give the same person other passwords (and unreadable sessions) on
                    // the others.
                    ServerSecret::load(&path).map_err(|e| {
                        ConfigError::new(format!(
                            "{e}: on PostgreSQL every instance needs the same server secret, \
                             made once by the operator (e.g. `head -c 32 /dev/urandom | base64 \
                             > {}` with mode 0600) and given to each by --secret-file or \
                             SIPAUTH_SERVER_SECRET; an instance never makes its own there",
                            path.display()
                        ))
                    })?
                } else {
                    ServerSecret::load_or_create(&path)?
                }
            }
        };
        let backend = match self.backend.kind.unwrap_or_default() {
            BackendKind::Kamailio => Backend::KamailioSubscriber {
                store_plaintext: self.backend.store_plaintext,
            },
            BackendKind::Ephemeral => {
                let path = self
                    .backend
                    .ephemeral_secret_file
                    .as_deref()
                    .ok_or_else(|| {
                        ConfigError::new("--backend ephemeral needs --ephemeral-secret-file")
                    })?;
                Backend::Ephemeral {
                    secret: sipauth::SipPassword::new(read_secret_file(path)?),
                    algorithm: match self.backend.ephemeral_algorithm.unwrap_or_default() {
                        EphemeralAlgorithm::Sha1 => sipauth::sip::HmacAlgorithm::Sha1,
                        EphemeralAlgorithm::Sha256 => sipauth::sip::HmacAlgorithm::Sha256,
                    },
                    ttl: Duration::from_secs(self.backend.ephemeral_ttl.unwrap_or(3600).max(1)),
                }
            }
        };
        let db = Database::open(&self.database_url(data_dir)).await?;
        let policy = Policy {
            allowed_issuers: Vec::new(),
            allowed_tenants: self.policy.allowed_tenants.clone(),
            allowed_email_domains: self.policy.allowed_email_domains.clone(),
            required_claims: self
                .policy
                .required_claims
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            required_acr: self.policy.required_acr.clone(),
            on_failure: match self.policy.on_policy_failure.unwrap_or_default() {
                PolicyFailure::Refuse => OnPolicyFailure::Refuse,
                PolicyFailure::Disable => OnPolicyFailure::Disable,
            },
        };
        let settings = SipSettings {
            domain: self.sip_domain(),
            realm: self.sip.realm.clone(),
            ws_uri: self.ws_uri().to_string(),
            sip_server: self.sip.sip_server.clone(),
        };
        // Issuers with SIP settings of their own: theirs over the service's.
        let own: Vec<(Issuer, SipSettings)> = self
            .issuers
            .iter()
            .filter_map(|i| Some((Issuer::new(i.url.clone()), i.sip.as_ref()?)))
            .map(|(issuer, own)| {
                let domain = own
                    .domain
                    .as_deref()
                    .map_or_else(|| settings.domain.clone(), str::to_ascii_lowercase);
                let realm = match (&own.realm, &own.domain) {
                    (Some(realm), _) => Some(realm.clone()),
                    // Another domain: its own realm, not the service's.
                    (None, Some(_)) => None,
                    (None, None) => settings.realm.clone(),
                };
                let sip = SipSettings {
                    domain,
                    realm,
                    ws_uri: own
                        .ws_uri
                        .clone()
                        .unwrap_or_else(|| settings.ws_uri.clone()),
                    sip_server: own
                        .sip_server
                        .clone()
                        .or_else(|| settings.sip_server.clone()),
                };
                (issuer, sip)
            })
            .collect();
        let rights = self.rights()?;
        let mut provisioner =
            Provisioner::new(db, backend, settings, secret, policy, clock).with_rights(rights);
        for (issuer, sip) in own {
            provisioner = provisioner.with_issuer_settings(issuer, sip);
        }
        if !self.backend.kamailio_rpc_urls.is_empty() {
            provisioner = provisioner.with_kamailio_rpc(
                sipauth_provision::KamailioRpc::new(&self.backend.kamailio_rpc_urls)
                    .map_err(ConfigError::new)?,
            );
        }
        if let Some(tenancy) = self.tenancy()? {
            provisioner = provisioner.with_tenancy(tenancy);
        }
        Ok(provisioner
            .with_username_claims(self.sip.username_claims.clone())
            .with_reserved_usernames(self.reserved_usernames())
            .with_username_quarantine(
                self.sip
                    .username_quarantine_days
                    .map(|d| Duration::from_secs(d.saturating_mul(86_400))),
            )
            .with_random_passwords(self.backend.random_passwords)
            .with_credential_ttl(self.credential_ttl()))
        .map(|p| match self.sip.credentials.unwrap_or_default() {
            CredentialsMode::PerPerson => p,
            CredentialsMode::PerDevice => p.with_credentials_per_device(
                self.sip.max_devices.unwrap_or(5),
                match self.sip.device_limit.unwrap_or_default() {
                    DeviceLimitConfig::Refuse => sipauth_provision::DeviceLimit::Refuse,
                    DeviceLimitConfig::RevokeOldestUnused => {
                        sipauth_provision::DeviceLimit::RevokeOldestUnused
                    }
                },
            ),
        })
    }

    /// The call rights (`[rights]`).
    fn rights(&self) -> Result<sipauth_provision::Rights, ConfigError> {
        self.rights
            .iter()
            .map(|(name, r)| {
                sipauth_provision::Right::new(
                    name,
                    r.groups.clone(),
                    r.claims
                        .iter()
                        .map(|(c, v)| (c.clone(), v.clone()))
                        .collect(),
                )
                .map_err(|e| ConfigError::new(format!("[rights]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(sipauth_provision::Rights::new)
    }

    /// The per-person SIP settings (`None` without templates).
    fn tenancy(&self) -> Result<Option<sipauth_provision::Tenancy>, ConfigError> {
        let t = &self.sip;
        if t.domain_template.is_none() && t.ws_uri_template.is_none() && t.realm_template.is_none()
        {
            return Ok(None);
        }
        sipauth_provision::Tenancy::new(
            t.domain_template.as_deref(),
            t.ws_uri_template.as_deref(),
            t.realm_template.as_deref(),
            &t.allowed_domains,
        )
        .map(Some)
        .map_err(ConfigError::new)
    }

    /// How long a provision's password works (`None`: leases off).
    pub fn credential_ttl(&self) -> Option<Duration> {
        self.sip
            .credential_ttl
            .filter(|t| *t > 0)
            .map(Duration::from_secs)
    }

    /// How long audit rows are kept (`None`: for ever).
    pub fn audit_retention(&self) -> Option<Duration> {
        match self.audit_retention_days.unwrap_or(365) {
            0 => None,
            days => Some(Duration::from_secs(days.saturating_mul(86_400))),
        }
    }

    /// The names no identity gets plain: the configured list (or the library's default) and,
    /// unless allowed, all-digit names.
    fn reserved_usernames(&self) -> sipauth::sip::ReservedUsernames {
        let numeric = self.sip.numeric_usernames.unwrap_or_default() == NumericUsernames::Reserved;
        match &self.sip.reserved_usernames {
            Some(names) => sipauth::sip::ReservedUsernames::new(names, numeric),
            None => sipauth::sip::ReservedUsernames::new(
                sipauth::sip::DEFAULT_RESERVED_USERNAMES,
                numeric,
            ),
        }
    }

    /// Discovers every trusted issuer and makes the token check.
    pub async fn token_check(
        &self,
        http: &HttpClient,
        clock: SharedClock,
    ) -> Result<TokenCheck, ConfigError> {
        let mut issuers = Vec::new();
        for settings in &self.issuers {
            issuers.push(issuer(settings, http, clock.clone()).await?);
        }
        let budget = OutboundBudget::new(
            self.limits.outbound_per_second.unwrap_or(50),
            self.limits
                .outbound_per_second
                .unwrap_or(50)
                .saturating_mul(2),
        );
        Ok(TokenCheck::with_budget(issuers, clock, budget))
    }

    /// Where requests may come from.
    pub fn network_policy(&self) -> Result<NetworkPolicy, ConfigError> {
        NetworkPolicy::parse(
            &self.network.allowed_networks,
            &self.network.trusted_proxies,
        )
        .and_then(|p| p.with_ops_networks(&self.network.ops_allowed_networks))
        .map_err(ConfigError::new)
    }

    /// The rate limits (off unless configured).
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits::new(
            self.limits.per_ip_per_minute.map(Rate::per_minute),
            self.limits.per_identity_per_minute.map(Rate::per_minute),
        )
    }

    /// How long a request may take.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.request_timeout.unwrap_or(15).max(1))
    }

    /// Everything the service runs on, for a service reachable at `base_url` (the web page's
    /// redirect URI and the development issuer are made from it).
    pub async fn state(
        &self,
        data_dir: &Path,
        http: &HttpClient,
        clock: SharedClock,
        base_url: &str,
    ) -> Result<crate::AppState, ConfigError> {
        self.check()?;
        let base = self
            .public_url
            .as_deref()
            .unwrap_or(base_url)
            .trim_end_matches('/');
        let redirect = format!("{base}/auth/callback");
        #[cfg_attr(not(feature = "dev-idp"), allow(unused_mut))]
        let mut tokens = self.token_check(http, clock.clone()).await?;
        let mut web_providers = Vec::new();
        #[cfg(feature = "dev-idp")]
        let mut dev_idp = None;
        #[cfg(not(feature = "dev-idp"))]
        if self.dev.is_some() {
            return Err(ConfigError::new(
                "[dev]: this build has no development identity provider (built without the `dev-idp` feature)",
            ));
        }
        #[cfg(feature = "dev-idp")]
        if let Some(dev) = &self.dev {
            let secret = sipauth::SipPassword::new(
                sipauth::random_urlsafe(32).map_err(|e| ConfigError::new(e.to_string()))?,
            );
            let users = dev
                .users
                .iter()
                .map(|u| crate::dev_idp::DevUser::new(u))
                .collect();
            let idp = crate::dev_idp::DevIdp::new(
                &format!("{base}/dev-idp"),
                &data_dir.join("dev-idp.key"),
                users,
                &redirect,
                secret.clone(),
                clock.clone(),
            )
            .map_err(ConfigError::new)?;
            tokens.issuers.push(
                idp.issuer_config(http, clock.clone())
                    .map_err(ConfigError::new)?,
            );
            web_providers.push(crate::web::WebProvider {
                name: "the development identity provider".into(),
                client: idp
                    .web_client(http, clock.clone(), &redirect, &secret)
                    .map_err(ConfigError::new)?,
            });
            dev_idp = Some(idp);
        }
        let mut backchannel = crate::backchannel::Backchannel::new();
        let mut backchannel_on = false;
        for (i, settings) in self.issuers.iter().enumerate() {
            let (Some(id), Some(file)) =
                (&settings.web_client_id, &settings.web_client_secret_file)
            else {
                continue;
            };
            if let Some(issuer) = tokens.issuers.get(i) {
                backchannel = backchannel.with_client(
                    issuer.verifier.issuer().as_str(),
                    id,
                    settings.backchannel_logout.unwrap_or_default().into(),
                );
                backchannel_on = true;
            }
            let registration = sipauth::ClientRegistration::confidential(
                id.clone(),
                ClientSecret::new(read_secret_file(file)?),
                redirect.clone(),
            );
            let provider =
                sipauth::ProviderConfig::discover(http, &settings.url, registration).await?;
            let client = sipauth::OidcClient::builder(provider)
                .http(http.clone())
                .clock(clock.clone())
                .build()?;
            let name = settings.name.clone().unwrap_or_else(|| {
                url::Url::parse(&settings.url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_else(|| settings.url.clone())
            });
            web_providers.push(crate::web::WebProvider { name, client });
        }
        let mut provisioner = self.provisioner(data_dir, clock.clone()).await?;
        // SCIM: each issuer with a secret, by the identifier its tokens carry (the token
        // check's issuers are the configured ones, in order, then the development provider).
        let mut scim = crate::scim::Scim::new(base);
        let mut scim_on = false;
        #[cfg_attr(not(feature = "dev-idp"), allow(unused_mut))]
        let mut scim_issuers: Vec<(usize, Option<&PathBuf>, Option<&String>)> = self
            .issuers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    i,
                    s.scim_token_file.as_ref(),
                    s.scim_external_id_claim.as_ref(),
                )
            })
            .collect();
        #[cfg(feature = "dev-idp")]
        if let Some(dev) = &self.dev {
            scim_issuers.push((self.issuers.len(), dev.scim_token_file.as_ref(), None));
        }
        for (i, file, claim) in scim_issuers {
            let Some(issuer) = tokens
                .issuers
                .get(i)
                .map(|c| c.verifier.issuer().as_str().to_string())
            else {
                continue;
            };
            if let Some(claim) = claim.filter(|c| !c.is_empty()) {
                provisioner = provisioner.with_link_claim(&issuer, claim);
            } else if file.is_some() {
                provisioner = provisioner.with_link_claim(&issuer, "sub");
            }
            if let Some(file) = file {
                scim = scim
                    .with_issuer(&issuer, &read_secret_file(file)?)
                    .map_err(ConfigError::new)?;
                scim_on = true;
            }
        }
        let mut state = crate::AppState::new(Arc::new(provisioner), Arc::new(tokens))
            .with_network(self.network_policy()?)
            .with_limits(self.rate_limits())
            .with_request_timeout(self.request_timeout())
            .with_cors(
                crate::cors::Cors::parse(&self.cors_allowed_origins).map_err(ConfigError::new)?,
            )
            .with_clock(clock);
        if let Some(dir) = &self.static_dir {
            state = state.with_static_dir(dir.clone());
        }
        if scim_on {
            state = state.with_scim(scim);
        }

        if backchannel_on {
            state = state.with_backchannel(backchannel);
        }
        if !web_providers.is_empty() {
            // Secure cookies everywhere but plain HTTP on loopback.
            let loopback_http = url::Url::parse(base)
                .ok()
                .is_some_and(|u| u.scheme() == "http" && sipauth::is_loopback_url(&u));
            let (records, key) = (
                state.provisioner.shared_records(),
                state.provisioner.sealing_key(),
            );
            state = state.with_web(crate::web::Web::new(
                web_providers,
                records,
                key,
                !loopback_http,
                self.dev.is_some(),
            ));
        }
        #[cfg(feature = "dev-idp")]
        if let Some(idp) = dev_idp {
            state = state.with_dev_idp(idp);
        }
        Ok(state)
    }
}

/// `upper` over `lower`, field by field through their serde form (one rule for every setting):
/// objects merge, lists concatenate, and an absent, empty or `false` value leaves `lower`'s.
pub(crate) fn overlay<T: Serialize + serde::de::DeserializeOwned>(
    lower: &T,
    upper: &T,
) -> Result<T, ConfigError> {
    use serde_json::Value;
    fn merge(lower: &mut Value, upper: Value) {
        match (lower, upper) {
            (Value::Object(l), Value::Object(u)) => {
                for (k, v) in u {
                    merge(l.entry(k).or_insert(Value::Null), v);
                }
            }
            (Value::Array(l), Value::Array(u)) => l.extend(u),
            (_, Value::Null | Value::Bool(false)) => {}
            (_, Value::String(u)) if u.is_empty() => {}
            (l, u) => *l = u,
        }
    }
    let json = |v: &T| serde_json::to_value(v).map_err(|e| ConfigError::new(e.to_string()));
    let mut merged = json(lower)?;
    merge(&mut merged, json(upper)?);
    serde_json::from_value(merged).map_err(|e| ConfigError::new(e.to_string()))
}

/// The WebSocket server when none is configured (Kamailio's usual port on this machine).
pub const DEFAULT_WS_URI: &str = "ws://127.0.0.1:8088/ws";

/// Reads a secret file the library's one way ([`sipauth::read_secret_file`]), naming the file
/// in the error.
pub(crate) fn read_secret_file(path: &Path) -> Result<String, ConfigError> {
    sipauth::read_secret_file(path)
        .map(|s| s.secret().to_string())
        .map_err(|e| ConfigError::new(format!("secret file {}: {e}", path.display())))
}

async fn issuer(
    settings: &IssuerSettings,
    http: &HttpClient,
    clock: SharedClock,
) -> Result<IssuerConfig, ConfigError> {
    let doc = sipauth::fetch_discovery_document(http, &settings.url).await?;
    let jwks = doc
        .jwks_uri
        .as_deref()
        .map(|u| sipauth::parse_secure_url("jwks_uri", u))
        .transpose()?
        .map(|uri| JwksCache::new(uri, http.clone(), clock.clone(), VerifyOptions::default()));
    let introspector = match (
        &settings.introspection_client_id,
        &settings.introspection_client_secret_file,
    ) {
        (Some(id), Some(file)) => {
            let endpoint = doc.introspection_endpoint.as_deref().ok_or_else(|| {
                ConfigError::new(format!(
                    "{} publishes no introspection_endpoint",
                    settings.url
                ))
            })?;
            Some(Introspector::new(
                sipauth::parse_secure_url("introspection_endpoint", endpoint)?,
                http.clone(),
                id.clone(),
                ClientSecret::new(read_secret_file(file)?),
                Issuer::new(doc.issuer.clone()),
                clock.clone(),
            ))
        }
        _ => None,
    };
    let userinfo = doc
        .userinfo_endpoint
        .as_deref()
        .map(|u| sipauth::parse_secure_url("userinfo_endpoint", u))
        .transpose()?
        .map(|u| (http.clone(), u));
    if settings.allow_userinfo_tokens && userinfo.is_none() {
        return Err(ConfigError::new(format!(
            "{} publishes no userinfo_endpoint",
            settings.url
        )));
    }
    Ok(IssuerConfig {
        verifier: TokenVerifier::new(Issuer::new(doc.issuer.clone()), jwks, clock),
        audiences: settings.audiences.clone(),
        introspector,
        userinfo,
        userinfo_tokens: settings.allow_userinfo_tokens,
        opaque_prefix: settings
            .opaque_token_prefix
            .clone()
            .filter(|p| !p.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_lie_over_the_file_by_one_rule() {
        let file = ServiceConfig::from_toml(
            "listen = \"127.0.0.1:1\"\n[sip]\ndomain = \"a.example\"\n[backend]\nstore_plaintext = true\n\
             [policy]\nallowed_email_domains = [\"a.example\"]\n",
        )
        .unwrap();
        let mut flags = ServiceConfig::default();
        flags.sip.domain = Some("b.example".into());
        flags.backend.kind = Some(BackendKind::Ephemeral);
        flags.policy.allowed_email_domains = vec!["b.example".into()];
        let merged = file.overlay(&flags).unwrap();
        assert_eq!(
            merged.listen.as_deref(),
            Some("127.0.0.1:1"),
            "unset flags keep the file"
        );
        assert_eq!(
            merged.sip.domain.as_deref(),
            Some("b.example"),
            "a set flag wins"
        );
        assert_eq!(merged.backend.kind, Some(BackendKind::Ephemeral));
        assert!(
            merged.backend.store_plaintext,
            "an unset switch keeps the file's"
        );
        assert_eq!(
            merged.policy.allowed_email_domains,
            ["a.example", "b.example"],
            "lists add"
        );
    }

    #[test]
    fn every_flagged_setting_reads_its_variable() {
        // A variable no other test reads.
        std::env::set_var("SIPAUTH_OUTBOUND_PER_SECOND", "7");
        let env = ServiceConfig::from_env().unwrap();
        std::env::remove_var("SIPAUTH_OUTBOUND_PER_SECOND");
        assert_eq!(env.limits.outbound_per_second, Some(7));
        assert_eq!(env.listen, None);
    }

    #[test]
    fn debug_never_prints_the_inline_secret() {
        let c =
            ServiceConfig::from_toml("secret = \"a-server-secret-of-32-characters\"\n").unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("a-server-secret"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn reads_several_issuers_and_every_section() {
        let config = ServiceConfig::from_toml(
            r#"
listen = "0.0.0.0:9000"
[[issuer]]
url = "https://a.example"
audiences = ["app"]
[[issuer]]
url = "https://b.example"
audiences = ["app2"]
allow_userinfo_tokens = true
[sip]
domain = "sip.example.com"
reserved_usernames = ["reception"]
numeric_usernames = "allowed"
username_quarantine_days = 90
[backend]
kind = "ephemeral"
ephemeral_secret_file = "/etc/x"
ephemeral_algorithm = "sha256"
[policy]
required_claims = { groups = "voip" }
required_acr = ["mfa"]
on_policy_failure = "refuse"
[network]
trusted_proxies = ["10.0.0.0/8"]
[limits]
per_ip_per_minute = 60
"#,
        )
        .unwrap();
        assert_eq!(config.issuers.len(), 2);
        assert!(config.issuers[1].allow_userinfo_tokens);
        assert_eq!(
            config.backend.ephemeral_algorithm,
            Some(EphemeralAlgorithm::Sha256)
        );
        assert_eq!(config.policy.required_claims["groups"], "voip");
        assert_eq!(config.policy.required_acr, ["mfa"]);
        assert_eq!(config.policy.on_policy_failure, Some(PolicyFailure::Refuse));
        let reserved = config.reserved_usernames();
        assert!(reserved.contains("reception") && !reserved.contains("admin"));
        assert!(!reserved.contains("1001"), "numeric names allowed");
        assert!(ServiceConfig::default()
            .reserved_usernames()
            .contains("1001"));
        assert_eq!(config.sip.username_quarantine_days, Some(90));
        assert_eq!(
            ServiceConfig::default().audit_retention(),
            Some(Duration::from_secs(365 * 86_400))
        );
        let forever = ServiceConfig::from_toml("audit_retention_days = 0\n").unwrap();
        assert_eq!(forever.audit_retention(), None);
        config.check().unwrap();
    }

    #[test]
    fn rejects_unknown_keys_naming_key_and_line() {
        let e = ServiceConfig::from_toml("listen = \"x\"\n\n[sip]\ndomian = \"a\"\n").unwrap_err();
        assert!(e.0.contains("line 4"), "{e}");
        assert!(e.0.contains("domian"), "{e}");
        let e = ServiceConfig::from_toml("[limits]\nper_ip_per_minute = \"sixty\"\n").unwrap_err();
        assert!(e.0.contains("line 2"), "{e}");
    }

    #[test]
    fn rejects_services_that_cannot_run() {
        let none = ServiceConfig::default();
        assert!(none.check().unwrap_err().0.contains("issuer"));
        let mut c = ServiceConfig::from_toml("[[issuer]]\nurl = \"https://a.example\"\n").unwrap();
        assert!(c.check().unwrap_err().0.contains("audience"));
        c.issuers[0].audiences.push("app".into());
        c.check().unwrap();
        c.issuers[0].url = "http://a.example".into();
        assert!(c.check().is_err(), "plain HTTP off loopback");
        c.issuers[0].url = "https://a.example".into();
        c.network.allowed_networks.push("10.0.0.0/33".into());
        assert!(c.check().unwrap_err().0.contains("10.0.0.0/33"));
    }

    #[test]
    fn rejects_sending_opaque_tokens_to_several_issuers() {
        let two = |a: &str, b: &str| {
            ServiceConfig::from_toml(&format!(
                "[[issuer]]\nurl = \"https://a.example\"\naudiences = [\"x\"]\nintrospection_client_id = \"s\"\nintrospection_client_secret_file = \"/f\"\n{a}\n\
                 [[issuer]]\nurl = \"https://b.example\"\naudiences = [\"x\"]\nallow_userinfo_tokens = true\n{b}\n"
            ))
            .unwrap()
        };
        let e = two("", "").check().unwrap_err();
        assert!(e.0.contains("opaque_token_prefix"), "{e}");
        assert!(two("", "opaque_token_prefix = \"gho_\"").check().is_err());
        two(
            "opaque_token_prefix = \"kc_\"",
            "opaque_token_prefix = \"gho_\"",
        )
        .check()
        .unwrap();
    }
}
