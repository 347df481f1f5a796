//! The command line, as typed: clap definitions only, no behaviour. [`Profile`] is shared with
//! the TOML configuration file and the settings saved at login, so a setting has one name
//! everywhere: `--client-id`, `SIPAUTH_CLIENT_ID`, `client_id = "..."`. Resolving the layers is
//! [`crate::config`]'s job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use sipauth_server::{IssuerSettings, ServiceConfig};

/// Sign in with your identity provider and get working SIP credentials.
#[derive(Parser)]
#[command(name = "sipauth", version, about, long_about = None)]
pub struct Cli {
    #[allow(missing_docs)] // doc comments here would become help text
    #[command(flatten)]
    pub global: Global,
    #[allow(missing_docs)]
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command: which profile, which store, and the output form. Everything else
/// belongs to the commands that use it.
#[derive(Args, Clone, Default)]
pub struct Global {
    /// Named profile from the configuration file (default: `default`).
    #[arg(long, global = true, env = "SIPAUTH_PROFILE")]
    pub profile: Option<String>,
    /// Configuration file (default: <config dir>/sipauth/config.toml).
    #[arg(long, global = true, env = "SIPAUTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print one JSON document on standard output and nothing else there.
    #[arg(long, global = true)]
    pub json: bool,
    /// Where tokens are kept.
    #[arg(long, global = true, env = "SIPAUTH_STORE", value_enum)]
    pub store: Option<StoreKind>,
    /// Directory for the file store (default: <data dir>/sipauth/<profile>).
    #[arg(long, global = true, env = "SIPAUTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Token storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// The OS keyring on macOS and Windows, else a 0600 file.
    Auto,
    /// Nothing kept: every command signs in again.
    Memory,
    /// JSON files (0600) in the data directory.
    File,
    /// The OS keyring.
    Keyring,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Sign in (browser with a loopback redirect, or --device) and print SIP credentials.
    Login(LoginOpts),
    /// Who is signed in, token expiry, SIP URI (no request to the provider).
    #[command(mut_args = after_sign_in)]
    Status(ProviderArgs),
    /// Print a fresh access token (refreshed when needed).
    #[command(mut_args = after_sign_in)]
    Token(ProviderArgs),
    /// Print the SIP credentials.
    #[command(mut_args = after_sign_in)]
    Credentials(CredentialsOpts),
    /// Sign out, revoking the tokens where the provider can.
    #[command(mut_args = after_sign_in)]
    Logout(ProviderArgs),
    /// Your devices at the provisioning service (credentials per device): list them, or
    /// revoke one (its SIP password stops working; the others keep working).
    #[command(mut_args = after_sign_in)]
    Devices(DevicesOpts),
    /// Run the provisioning service: verify bearer tokens, create SIP accounts, answer with
    /// credentials.
    Serve(Box<ServeOpts>),
    /// Operate on the provisioning service's accounts: list, show, disable, enable, rotate,
    /// delete, audit.
    Admin(AdminOpts),
    /// Check that SIP credentials register: REGISTER, answer the digest challenge, report each
    /// step, unregister. Credentials from the signed-in profile, or given explicitly.
    RegisterCheck(RegisterCheckOpts),
    /// The provider templates and what each needs.
    Providers,
    /// Shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The commands after sign-in use the settings saved at login: their provider, SIP and
/// password options still work (a profile that names what was not saved, a script), but stay
/// out of their help, which lists what the command itself is for.
fn after_sign_in(arg: clap::Arg) -> clap::Arg {
    let saved = matches!(
        arg.get_help_heading(),
        Some("Provider" | "SIP credentials" | "Password strategy" | "Sign-in")
    );
    if saved {
        arg.hide(true)
    } else {
        arg
    }
}

/// `sipauth serve`: the flags configure one trusted issuer and override the `--config` file
/// (several issuers need the file).
#[derive(Args, Clone, Default)]
pub struct ServeOpts {
    /// Every setting of the service, each defined once in sipauth-server's `ServiceConfig`
    /// (its key in the file, its flag, its variable).
    #[command(flatten)]
    pub settings: ServiceConfig,
    /// The issuer the flags configure.
    #[command(flatten)]
    pub issuer: IssuerSettings,
    /// Development mode: a built-in identity provider at /dev-idp with demo users, and the web
    /// sign-in page. Never in production.
    #[arg(long)]
    pub dev: bool,
    /// A demo user of --dev (repeatable; default alice and bob).
    #[arg(long = "dev-user", requires = "dev")]
    pub dev_users: Vec<String>,
    /// Let --dev listen on a non-loopback address (its demo users sign anyone in: never on a
    /// network you do not control).
    #[arg(long, requires = "dev")]
    pub dev_public: bool,
    /// With --dev: also start Kamailio (when installed) with the tested configuration on free
    /// loopback ports, reading the service's database, stopped with the service; the accounts'
    /// WebSocket server and registrar are its.
    #[arg(long, requires = "dev")]
    pub with_kamailio: bool,
}

/// `sipauth register-check`.
#[derive(Args, Clone, Default)]
pub struct RegisterCheckOpts {
    /// SIP over WebSocket: ws:// or wss:// (default: the credentials' WebSocket server).
    #[arg(long, conflicts_with = "server")]
    pub ws_uri: Option<String>,
    /// A registrar for native clients instead: the service's `sipServer` form
    /// (sip:HOST[:PORT][;transport=udp|tcp|tls]), or HOST:PORT with --transport.
    #[arg(long)]
    pub server: Option<String>,
    /// The transport to a HOST:PORT --server [default: udp].
    #[arg(long, value_enum, requires = "server")]
    pub transport: Option<SipTransport>,
    /// The SIP user (default: the signed-in profile's credentials).
    #[arg(long, requires = "domain")]
    pub username: Option<String>,
    /// The SIP password (better: SIPAUTH_SIP_PASSWORD, kept off the command line).
    #[arg(long, env = "SIPAUTH_SIP_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// The SIP domain (with --username).
    #[arg(long)]
    pub domain: Option<String>,
    /// The digest username, when it differs from the user (Kamailio auth_ephemeral: <expiry>:<user>).
    #[arg(long)]
    pub auth_username: Option<String>,
    /// Keep the registration (no unregister at the end).
    #[arg(long)]
    pub keep: bool,
    /// Seconds the whole check may take.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Also trust the certificate authorities in this PEM file for tls and wss (a SIP server
    /// with a certificate from its own authority).
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<std::path::PathBuf>,
}

/// `sipauth devices`.
#[derive(Args, Clone)]
pub struct DevicesOpts {
    /// What to do [default: list].
    #[command(subcommand)]
    pub action: Option<DevicesAction>,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub provider: ProviderOpts,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub sip: SipOpts,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub strategy: StrategyOpts,
}

impl DevicesOpts {
    /// The settings given on the command line.
    pub fn profile(&self) -> Profile {
        Profile {
            provider: self.provider.clone(),
            sip: self.sip.clone(),
            strategy: self.strategy.clone(),
            ..Profile::default()
        }
    }
}

/// What `sipauth devices` does.
#[derive(Subcommand, Clone)]
pub enum DevicesAction {
    /// Your devices: id, name, digest user, last provisioned (a table, or --json).
    List,
    /// Revoke one device by its id.
    Revoke {
        /// The device's id (from `sipauth devices`).
        id: String,
    },
}

/// SIP transports to a registrar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum SipTransport {
    /// UDP.
    #[default]
    Udp,
    /// TCP.
    Tcp,
    /// TLS.
    Tls,
}

/// `sipauth admin`: operate on the service's accounts, over the same database and secret.
#[derive(Args, Clone)]
pub struct AdminOpts {
    /// Database: a path or sqlite:PATH (default <data dir>/sipauth/server.db), or postgres://...
    #[arg(long, global = true, env = "SIPAUTH_DATABASE")]
    pub database: Option<String>,
    /// The password-derivation secret (default <data dir>/sipauth/server.secret).
    #[arg(long, global = true, env = "SIPAUTH_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    #[allow(missing_docs)]
    #[command(subcommand)]
    pub action: AdminAction,
}

/// What `sipauth admin` does.
#[derive(Subcommand, Clone)]
pub enum AdminAction {
    /// Every account (a table, or --json).
    List,
    /// One account.
    Show {
        /// The SIP username.
        user: String,
    },
    /// Refuse the account SIP access (its password stops working at once).
    Disable {
        /// The SIP username.
        user: String,
    },
    /// Give a disabled account SIP access again.
    Enable {
        /// The SIP username.
        user: String,
    },
    /// A new password: the old one stops working at once.
    Rotate {
        /// The SIP username.
        user: String,
    },
    /// Remove the account and its SIP server row (the next sign-in creates a new one).
    Delete {
        /// The SIP username.
        user: String,
    },
    /// The account's devices (credentials per device): id, name, digest user, last provision.
    Devices {
        /// The SIP username.
        user: String,
    },
    /// Revoke one device of the account: its password stops working at once, the account's
    /// other devices keep working.
    RevokeDevice {
        /// The SIP username.
        user: String,
        /// The device's id (from `sipauth admin devices USER`).
        id: String,
    },
    /// The audit log.
    Audit {
        /// Only entries since: Unix seconds, or an age such as 15m, 24h, 7d.
        #[arg(long)]
        since: Option<String>,
    },
}

/// A command that needs only the provider (the rest comes from the saved login settings).
#[derive(Args, Clone, Default)]
pub struct ProviderArgs {
    #[allow(missing_docs)]
    #[command(flatten)]
    pub provider: ProviderOpts,
}

impl ProviderArgs {
    /// The settings given on the command line.
    pub fn profile(&self) -> Profile {
        Profile {
            provider: self.provider.clone(),
            ..Profile::default()
        }
    }
}

/// `sipauth login`.
#[derive(Args, Clone, Default)]
pub struct LoginOpts {
    /// Device code sign-in (RFC 8628), for machines without a browser.
    #[arg(long)]
    pub device: bool,
    /// Do not open a browser; only print the URL.
    #[arg(long)]
    pub no_browser: bool,
    /// Show the SIP password in text output.
    #[arg(long)]
    pub show_password: bool,
    /// Give up after this many seconds (discovery included).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub provider: ProviderOpts,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub redirect: RedirectOpts,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub sip: SipOpts,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub strategy: StrategyOpts,
}

impl LoginOpts {
    /// The settings given on the command line.
    pub fn profile(&self) -> Profile {
        Profile {
            provider: self.provider.clone(),
            redirect: self.redirect.clone(),
            sip: self.sip.clone(),
            strategy: self.strategy.clone(),
        }
    }
}

/// `sipauth credentials`.
#[derive(Args, Clone)]
pub struct CredentialsOpts {
    /// Output format.
    #[arg(long, value_enum, default_value_t = CredentialsFormat::Table)]
    pub format: CredentialsFormat,
    /// Show the SIP password in table output.
    #[arg(long)]
    pub show_password: bool,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub provider: ProviderOpts,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub sip: SipOpts,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub strategy: StrategyOpts,
}

impl CredentialsOpts {
    /// The settings given on the command line.
    pub fn profile(&self) -> Profile {
        Profile {
            provider: self.provider.clone(),
            sip: self.sip.clone(),
            strategy: self.strategy.clone(),
            ..Profile::default()
        }
    }
}

/// Credential output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CredentialsFormat {
    /// Aligned lines for people.
    Table,
    /// The credentials as JSON.
    Json,
    /// Shell `export` lines.
    Env,
    /// A JsSIP UA configuration.
    Jssip,
    /// SIP.js UserAgent options.
    Sipjs,
    /// A baresip account line (its outbound: the service's sipServer when given).
    Baresip,
    /// A linphonerc for `linphonec -c FILE` (needs the service's sipServer).
    Linphone,
}

/// Provider templates by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderName {
    /// Google.
    Google,
    /// Microsoft Entra ID.
    Microsoft,
    /// GitHub.
    Github,
    /// Okta.
    Okta,
    /// Auth0.
    Auth0,
    /// Keycloak.
    Keycloak,
    /// Any OpenID provider, by discovery from --issuer.
    Custom,
}

/// Password strategies by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum StrategyName {
    /// The access token.
    AccessToken,
    /// The ID token.
    IdToken,
    /// SHA-256/512 of sub, token and salt.
    Hash,
    /// Your backend issues it (--api-endpoint).
    Api,
    /// One password (development only).
    Static,
    /// Kamailio auth_ephemeral (--hmac-secret).
    HmacEphemeral,
}

/// Which provider, and this client's registration at it.
#[derive(Args, Clone, Default, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Provider")]
pub struct ProviderOpts {
    /// Provider template.
    #[arg(long, env = "SIPAUTH_PROVIDER", value_enum)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderName>,
    /// Issuer URL (OpenID discovery).
    #[arg(long, env = "SIPAUTH_ISSUER")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Client id.
    #[arg(long, env = "SIPAUTH_CLIENT_ID")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Client secret (confidential clients; Google desktop apps).
    #[arg(long, env = "SIPAUTH_CLIENT_SECRET", hide_env_values = true)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// File holding the client secret (a trailing newline is ignored).
    #[arg(long, env = "SIPAUTH_CLIENT_SECRET_FILE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<String>,
    /// Scopes to request, sent exactly as given (default: the provider's, plus offline_access
    /// where the provider supports it).
    #[arg(long, env = "SIPAUTH_SCOPE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Authentication context classes to ask the provider for (`acr_values`, space-separated,
    /// e.g. a multi-factor context a service's `required_acr` demands).
    #[arg(long, env = "SIPAUTH_ACR_VALUES")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
    /// Microsoft tenant: common, organizations, consumers or a GUID.
    #[arg(long, env = "SIPAUTH_TENANT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Okta or Auth0 domain.
    #[arg(long, env = "SIPAUTH_DOMAIN")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Okta authorization server (default: default).
    #[arg(long, env = "SIPAUTH_AUTHORIZATION_SERVER")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_server: Option<String>,
    /// Keycloak base URL.
    #[arg(long, env = "SIPAUTH_BASE_URL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Keycloak realm.
    #[arg(long, env = "SIPAUTH_REALM")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// Auth0 audience.
    #[arg(long, env = "SIPAUTH_AUDIENCE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Authorization endpoint (custom providers without discovery).
    #[arg(long, env = "SIPAUTH_AUTHORIZATION_ENDPOINT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// Token endpoint (custom providers without discovery).
    #[arg(long, env = "SIPAUTH_TOKEN_ENDPOINT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Userinfo endpoint (custom providers without discovery).
    #[arg(long, env = "SIPAUTH_USERINFO_ENDPOINT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// Revocation endpoint, RFC 7009 (custom providers without discovery).
    #[arg(long, env = "SIPAUTH_REVOCATION_ENDPOINT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// JWKS URI for ID-token signatures (custom providers without discovery).
    #[arg(long, env = "SIPAUTH_JWKS_URI")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
}

/// The loopback redirect of a browser sign-in (RFC 8252).
#[derive(Args, Clone, Default, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Sign-in")]
pub struct RedirectOpts {
    /// Loopback redirect port (default: any free port).
    #[arg(long, env = "SIPAUTH_REDIRECT_PORT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_port: Option<u16>,
    /// Loopback redirect path (default: /callback).
    #[arg(long, env = "SIPAUTH_REDIRECT_PATH")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_path: Option<String>,
}

/// How the identity becomes a SIP account.
#[derive(Args, Clone, Default, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "SIP credentials")]
pub struct SipOpts {
    /// SIP domain (default: the issuer's host).
    #[arg(long, env = "SIPAUTH_SIP_DOMAIN")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_domain: Option<String>,
    /// SIP WebSocket server (default: ws://127.0.0.1:8088/ws, for a quick local try).
    #[arg(long, env = "SIPAUTH_WS_URI")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_uri: Option<String>,
    /// SIP digest realm (default: the SIP domain).
    #[arg(long, env = "SIPAUTH_SIP_REALM")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_realm: Option<String>,
    /// Claim for the SIP username (default: a verified email's local part, then
    /// preferred_username, then sub, as the service names accounts).
    #[arg(long, env = "SIPAUTH_USERNAME_CLAIM")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_claim: Option<String>,
    /// Collision-free usernames (local part + hash of issuer and subject).
    #[arg(long, env = "SIPAUTH_COLLISION_FREE_USERNAMES")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_free_usernames: Option<bool>,
}

/// How the SIP password is made.
#[derive(Args, Clone, Default, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Password strategy")]
pub struct StrategyOpts {
    /// Password strategy (default: access_token).
    #[arg(long, env = "SIPAUTH_PASSWORD_STRATEGY", value_enum)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_strategy: Option<StrategyName>,
    /// Salt for the hash strategy.
    #[arg(long, env = "SIPAUTH_HASH_SALT", hide_env_values = true)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_salt: Option<String>,
    /// Use SHA-512 for the hash strategy.
    #[arg(long, env = "SIPAUTH_HASH_SHA512")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_sha512: Option<bool>,
    /// Endpoint of the api strategy.
    #[arg(long, env = "SIPAUTH_API_ENDPOINT")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    /// Use GET (no body) for the api strategy.
    #[arg(long, env = "SIPAUTH_API_GET")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_get: Option<bool>,
    /// This device's name for the api strategy ("Alice's laptop"): a service with credentials
    /// per device gives it its own SIP password, the same for the same name.
    #[arg(long, value_name = "NAME", env = "SIPAUTH_DEVICE_NAME")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// Password of the static strategy (development only).
    #[arg(long, env = "SIPAUTH_STATIC_PASSWORD", hide_env_values = true)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_password: Option<String>,
    /// File holding the static strategy's password.
    #[arg(long, env = "SIPAUTH_STATIC_PASSWORD_FILE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_password_file: Option<String>,
    /// Secret of the hmac_ephemeral strategy.
    #[arg(long, env = "SIPAUTH_HMAC_SECRET", hide_env_values = true)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret: Option<String>,
    /// File holding the hmac_ephemeral secret.
    #[arg(long, env = "SIPAUTH_HMAC_SECRET_FILE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret_file: Option<String>,
    /// Lifetime in seconds of hmac_ephemeral credentials (default 3600).
    #[arg(long, env = "SIPAUTH_HMAC_TTL")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_ttl: Option<u64>,
}

/// One sign-in configuration: a `[profiles.NAME]` table, the settings saved at the last login,
/// or a command's flags and `SIPAUTH_*` variables. Every field is optional; a setting has one
/// name everywhere (`--client-id`, `SIPAUTH_CLIENT_ID`, `client_id = "..."`); see
/// [`crate::config`].
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    /// Provider and client.
    #[serde(flatten)]
    pub provider: ProviderOpts,
    /// The loopback redirect.
    #[serde(flatten)]
    pub redirect: RedirectOpts,
    /// SIP account mapping.
    #[serde(flatten)]
    pub sip: SipOpts,
    /// Password strategy.
    #[serde(flatten)]
    pub strategy: StrategyOpts,
}

impl Profile {
    /// Every key a profile may have (the flags' names in snake_case).
    pub fn keys() -> Vec<String> {
        let mut command = clap::Command::new("keys");
        command = ProviderOpts::augment_args(command);
        command = RedirectOpts::augment_args(command);
        command = SipOpts::augment_args(command);
        command = StrategyOpts::augment_args(command);
        command
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sipauth").chain(args.iter().copied()))
    }

    fn login(args: &[&str]) -> LoginOpts {
        let mut all = vec!["login"];
        all.extend_from_slice(args);
        match parse(&all).unwrap().command {
            Command::Login(o) => o,
            _ => panic!("login"),
        }
    }

    #[test]
    fn login_flags() {
        let o = login(&[
            "--device",
            "--no-browser",
            "--show-password",
            "--timeout",
            "9",
        ]);
        assert!(o.device && o.no_browser && o.show_password);
        assert_eq!(o.timeout, 9);
        assert_eq!(login(&[]).timeout, 300);
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&[
            "--json",
            "login",
            "--issuer",
            "https://idp",
            "--client-id",
            "c",
            "--profile",
            "work",
        ])
        .unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.profile.as_deref(), Some("work"));
        let Command::Login(o) = cli.command else {
            panic!("login")
        };
        assert_eq!(o.provider.issuer.as_deref(), Some("https://idp"));
        assert_eq!(o.provider.client_id.as_deref(), Some("c"));
    }

    #[test]
    fn provider_template_flags() {
        let o = login(&["--provider", "microsoft", "--tenant", "organizations"]);
        assert_eq!(o.provider.provider, Some(ProviderName::Microsoft));
        assert_eq!(o.provider.tenant.as_deref(), Some("organizations"));
        let o = login(&[
            "--provider",
            "keycloak",
            "--base-url",
            "https://sso",
            "--realm",
            "voip",
        ]);
        assert_eq!(o.provider.realm.as_deref(), Some("voip"));
        let o = login(&[
            "--provider",
            "auth0",
            "--domain",
            "t.auth0.com",
            "--audience",
            "api",
        ]);
        assert_eq!(o.provider.audience.as_deref(), Some("api"));
        assert!(parse(&["login", "--provider", "gogle"]).is_err());
    }

    #[test]
    fn sip_and_strategy_flags() {
        let o = login(&[
            "--sip-domain",
            "sip.example.com",
            "--ws-uri",
            "wss://sip.example.com",
            "--username-claim",
            "preferred_username",
            "--password-strategy",
            "hmac_ephemeral",
            "--hmac-secret",
            "s",
            "--hmac-ttl",
            "60",
            "--scope",
            "openid email",
        ]);
        assert_eq!(o.sip.sip_domain.as_deref(), Some("sip.example.com"));
        assert_eq!(
            o.strategy.password_strategy,
            Some(StrategyName::HmacEphemeral)
        );
        assert_eq!(o.strategy.hmac_ttl, Some(60));
        assert_eq!(o.provider.scope.as_deref(), Some("openid email"));
        assert!(parse(&["login", "--password-strategy", "plaintext"]).is_err());
        for name in [
            "access_token",
            "id_token",
            "hash",
            "api",
            "static",
            "hmac_ephemeral",
        ] {
            parse(&["login", "--password-strategy", name]).unwrap();
        }
        assert!(parse(&["login", "--hmac-ttl", "soon"]).is_err());
    }

    #[test]
    fn credentials_formats_and_store() {
        for (flag, want) in [
            ("table", CredentialsFormat::Table),
            ("env", CredentialsFormat::Env),
            ("jssip", CredentialsFormat::Jssip),
            ("sipjs", CredentialsFormat::Sipjs),
            ("baresip", CredentialsFormat::Baresip),
            ("linphone", CredentialsFormat::Linphone),
            ("json", CredentialsFormat::Json),
        ] {
            let Command::Credentials(o) =
                parse(&["credentials", "--format", flag]).unwrap().command
            else {
                panic!("credentials")
            };
            assert_eq!(o.format, want);
        }
        let cli = parse(&["status", "--store", "file", "--data-dir", "/tmp/x"]).unwrap();
        assert_eq!(cli.global.store, Some(StoreKind::File));
        assert!(parse(&["status", "--store", "cloud"]).is_err());
    }

    #[test]
    fn every_profile_flag_lands_in_its_field() {
        let o = login(&[
            "--provider",
            "okta",
            "--issuer",
            "https://i",
            "--client-id",
            "c",
            "--client-secret",
            "s",
            "--scope",
            "openid",
            "--tenant",
            "t",
            "--domain",
            "d.okta.com",
            "--authorization-server",
            "aus1",
            "--base-url",
            "https://kc",
            "--realm",
            "r",
            "--audience",
            "a",
            "--redirect-port",
            "8765",
            "--redirect-path",
            "/cb",
            "--sip-domain",
            "sd",
            "--ws-uri",
            "wss://w",
            "--sip-realm",
            "sr",
            "--username-claim",
            "preferred_username",
            "--collision-free-usernames",
            "true",
            "--password-strategy",
            "api",
            "--hash-salt",
            "salt",
            "--hash-sha512",
            "true",
            "--api-endpoint",
            "https://api",
            "--api-get",
            "true",
            "--static-password",
            "sp",
            "--hmac-secret",
            "hs",
            "--hmac-ttl",
            "120",
            "--client-secret-file",
            "/run/cs",
            "--authorization-endpoint",
            "https://i/auth",
            "--token-endpoint",
            "https://i/token",
            "--userinfo-endpoint",
            "https://i/me",
            "--revocation-endpoint",
            "https://i/revoke",
            "--jwks-uri",
            "https://i/jwks",
            "--static-password-file",
            "/run/sp",
            "--hmac-secret-file",
            "/run/hs",
            "--acr-values",
            "urn:mfa",
            "--device-name",
            "Laptop",
        ]);
        let expected = serde_json::json!({
            "provider": "okta", "issuer": "https://i", "client_id": "c", "client_secret": "s",
            "scope": "openid", "tenant": "t", "domain": "d.okta.com", "authorization_server": "aus1",
            "base_url": "https://kc", "realm": "r", "audience": "a", "redirect_port": 8765,
            "redirect_path": "/cb", "sip_domain": "sd", "ws_uri": "wss://w", "sip_realm": "sr",
            "username_claim": "preferred_username", "collision_free_usernames": true,
            "password_strategy": "api", "hash_salt": "salt", "hash_sha512": true,
            "api_endpoint": "https://api", "api_get": true, "static_password": "sp",
            "hmac_secret": "hs", "hmac_ttl": 120, "client_secret_file": "/run/cs",
            "authorization_endpoint": "https://i/auth", "token_endpoint": "https://i/token",
            "userinfo_endpoint": "https://i/me", "revocation_endpoint": "https://i/revoke",
            "jwks_uri": "https://i/jwks", "static_password_file": "/run/sp",
            "hmac_secret_file": "/run/hs", "acr_values": "urn:mfa", "device_name": "Laptop"
        });
        assert_eq!(serde_json::to_value(o.profile()).unwrap(), expected);
        // Every key of the file format is a flag of login, and the reverse.
        let mut keys = Profile::keys();
        keys.sort();
        let mut want: Vec<String> = expected.as_object().unwrap().keys().cloned().collect();
        want.sort();
        assert_eq!(keys, want);
        assert!(parse(&["login", "--redirect-port", "70000"]).is_err());
    }

    #[test]
    fn rejects_options_a_command_does_not_use() {
        for args in [
            &["providers", "--hmac-secret", "x"][..],
            &["completions", "bash", "--client-id", "c"],
            &["token", "--hmac-secret", "x"],
            &["token", "--ws-uri", "wss://x"],
            &["status", "--redirect-port", "1"],
            &["logout", "--password-strategy", "api"],
            &["credentials", "--redirect-path", "/cb"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        parse(&["token", "--client-id", "c", "--issuer", "https://i"]).unwrap();
        parse(&[
            "credentials",
            "--ws-uri",
            "wss://x",
            "--password-strategy",
            "api",
        ])
        .unwrap();
    }

    #[test]
    fn token_help_shows_only_what_token_uses() {
        let mut command = Cli::command();
        let help = command
            .find_subcommand_mut("token")
            .unwrap()
            .render_long_help()
            .to_string();
        // The provider's options are the saved login's: accepted, not listed.
        assert!(help.contains("Print a fresh access token"), "{help}");
        for absent in [
            "--client-id",
            "Provider:",
            "--hmac-secret",
            "--ws-uri",
            "--redirect-port",
            "--password-strategy",
        ] {
            assert!(!help.contains(absent), "{absent} in\n{help}");
        }
        let login = command
            .find_subcommand_mut("login")
            .unwrap()
            .render_help()
            .to_string();
        for heading in [
            "Provider:",
            "Sign-in:",
            "SIP credentials:",
            "Password strategy:",
        ] {
            assert!(login.contains(heading), "{heading} in\n{login}");
        }
    }

    #[test]
    fn other_commands() {
        assert!(matches!(
            parse(&["status"]).unwrap().command,
            Command::Status(_)
        ));
        assert!(matches!(
            parse(&["token"]).unwrap().command,
            Command::Token(_)
        ));
        assert!(matches!(
            parse(&["logout"]).unwrap().command,
            Command::Logout(_)
        ));
        assert!(matches!(
            parse(&["providers"]).unwrap().command,
            Command::Providers
        ));
        assert!(matches!(
            parse(&["completions", "bash"]).unwrap().command,
            Command::Completions { .. }
        ));
        assert!(parse(&["frobnicate"]).is_err());
    }
}

/// Settings that are secrets: redacted wherever a profile is printed.
pub const SECRET_FIELDS: &[&str] = &[
    "client_secret",
    "hash_salt",
    "static_password",
    "hmac_secret",
];

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            for field in SECRET_FIELDS {
                if let Some(v) = map.get_mut(*field) {
                    *v = serde_json::Value::String("[redacted]".into());
                }
            }
        }
        write!(f, "Profile({value})")
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let p = Profile {
            provider: ProviderOpts {
                client_id: Some("cid".into()),
                client_secret: Some("s3cret".into()),
                ..ProviderOpts::default()
            },
            strategy: StrategyOpts {
                hmac_secret: Some("h".into()),
                ..StrategyOpts::default()
            },
            ..Profile::default()
        };
        let printed = format!("{p:?}");
        assert!(printed.contains("cid"));
        assert!(!printed.contains("s3cret"));
        assert!(printed.contains("[redacted]"));
    }
}
