//! From what was typed to what runs, in two stages (as ripgrep does): first the settings are
//! layered into one [`Resolved`] value (flags > `SIPAUTH_*` variables > `[profiles.NAME]` >
//! the settings saved at the last login > defaults: [`resolve`]), then the side-effecting parts
//! are built from it ([`build`]: the provider, by discovery when needed, and the credential
//! mapping). Each job has its room: [`file`] (the TOML file, layering), [`checks`] (what can be
//! checked offline), [`store`] (the data directory, the session store, the saved settings),
//! [`build`]. The commands live in [`crate::commands`].

mod build;
mod checks;
mod file;
mod store;

use std::sync::Arc;

use sipauth::{CredentialMapping, HttpClient, ProviderConfig, SessionStore};

pub use build::{mapping, provider, sip_domain, username_claims, UsernameClaims, DEFAULT_WS_URI};
pub use checks::{check_settings, redirect_path, secret};
pub use file::{default_config_path, load_profile, overlay, profile_from_text};
pub use store::{data_dir, open_store, save_profile};

use crate::error::CliError;
use crate::opt::{Global, Profile};

/// Everything a command needs, resolved.
pub struct Resolved {
    /// The merged profile.
    pub profile: Profile,
    /// The profile's name.
    pub name: String,
    /// The store.
    pub store: Arc<dyn SessionStore>,
    /// The settings saved at the last successful login (empty before any).
    pub saved: Profile,
}

impl Resolved {
    /// Refuses `flags` naming another provider or client than the saved login's: a command
    /// after sign-in uses the session's tokens, and they go to the provider that issued them
    /// and to no other (`token --issuer B` after signing in at A must not send A's refresh
    /// token to B).
    pub fn check_same_provider(&self, flags: &Profile) -> Result<(), CliError> {
        let norm = |v: &Option<String>| v.as_deref().map(|s| s.trim_end_matches('/').to_string());
        let pairs = [
            (
                "--issuer",
                &flags.provider.issuer,
                &self.saved.provider.issuer,
            ),
            (
                "--client-id",
                &flags.provider.client_id,
                &self.saved.provider.client_id,
            ),
            (
                "--token-endpoint",
                &flags.provider.token_endpoint,
                &self.saved.provider.token_endpoint,
            ),
        ];
        for (flag, given, saved) in pairs {
            if let (Some(given), Some(saved)) = (norm(given), norm(saved)) {
                if given != saved {
                    return Err(CliError::config(format!(
                        "{flag} {given} is not the one this profile signed in with ({saved}): the session's tokens go only to the provider that issued them; sign in there with `sipauth login` (another --profile keeps both)"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Layers a command's flags and environment over the file's profile over the saved settings.
pub fn resolve(global: &Global, flags: &Profile) -> Result<Resolved, CliError> {
    let name = global.profile.clone().unwrap_or_else(|| "default".into());
    let from_file = load_profile(global.config.as_deref(), &name)?;
    let store = open_store(global, &name)?;
    let saved = store
        .load(store::SAVED_PROFILE)
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
        saved,
    })
}

/// What the second stage builds for a command that signs in or uses the session.
pub struct Built {
    /// The provider and this client's registration.
    pub provider: ProviderConfig,
    /// How the identity becomes SIP credentials.
    pub mapping: CredentialMapping,
}

/// The second stage: the provider (discovered through the store's cache when needed) and the
/// mapping, from the resolved settings.
pub async fn build(
    resolved: &Resolved,
    redirect_uri: &str,
    http: &HttpClient,
) -> Result<Built, CliError> {
    let provider = provider(&resolved.profile, redirect_uri, http, &resolved.store).await?;
    let mapping = mapping(&resolved.profile, &provider)?;
    Ok(Built { provider, mapping })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::opt::{ProviderName, StrategyName};

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
        let readme = include_str!("../../../../README.md");
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
