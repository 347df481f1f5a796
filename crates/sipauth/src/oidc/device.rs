//! The device authorization grant (RFC 8628) for headless boxes and desk phones: ask for a device
//! code, show the user code and verification URI, then poll the token endpoint honouring
//! `interval` and `slow_down` until the user approves, refuses, or the code expires. Showing the
//! code (text, QR) is the caller's job; verifying the ID token is [`crate::verify`]'s.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{ConfigError, Endpoint, Error, ProviderError};
use crate::oidc::token;
use crate::oidc::{Exchanged, OidcClient};
use crate::secret::AuthorizationCode;

/// The grant type of RFC 8628 §3.4.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A started device sign-in: show `user_code` and `verification_uri` to the user.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeviceAuthorization {
    /// The device code (secret; reuses the authorization-code newtype for redaction).
    pub device_code: AuthorizationCode,
    /// What the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The same with the code filled in (for a QR code), when the provider gives one.
    pub verification_uri_complete: Option<String>,
    /// When the device code expires (Unix seconds).
    pub expires_at: i64,
    /// Seconds between polls.
    pub interval: u64,
}

#[derive(Deserialize)]
struct DeviceResponse {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")] // Google's name for it
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: serde_json::Value,
    interval: Option<serde_json::Value>,
}

fn seconds(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

impl OidcClient {
    /// Starts a device sign-in (RFC 8628 §3.1).
    pub async fn start_device_authorization(&self) -> Result<DeviceAuthorization, Error> {
        let provider = self.provider();
        let endpoint = provider
            .device_authorization_endpoint
            .clone()
            .ok_or_else(|| ConfigError::Unsupported {
                field: "device sign-in",
                value: provider.issuer.clone().unwrap_or_default(),
                reason: "this provider does not offer the device authorization grant (RFC 8628): its discovery document names no device_authorization_endpoint; sign in with the browser instead".into(),
            })?;
        let form = vec![("scope", provider.scopes.join(" "))];
        let raw = token::post_client_form(
            self.http(),
            provider,
            endpoint,
            Endpoint::DeviceAuthorization,
            form,
            None,
        )
        .await?;
        if !raw.is_success() {
            return Err(raw.endpoint_error(Endpoint::DeviceAuthorization));
        }
        let parsed: DeviceResponse = serde_json::from_slice(&raw.body).map_err(|e| {
            raw.unusable(
                Endpoint::DeviceAuthorization,
                format!("not a device authorization response: {e}"),
            )
        })?;
        let now = self.clock().now_unix();
        let expires_in = seconds(&parsed.expires_in).unwrap_or(600);
        Ok(DeviceAuthorization {
            device_code: AuthorizationCode::new(parsed.device_code),
            user_code: parsed.user_code,
            verification_uri: parsed.verification_uri,
            verification_uri_complete: parsed.verification_uri_complete,
            expires_at: now.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX)),
            interval: parsed
                .interval
                .as_ref()
                .and_then(seconds)
                .unwrap_or(5)
                .max(1),
        })
    }

    /// Polls until the user approves (tokens, ID token verified), refuses (`access_denied`) or
    /// the code expires (`expired_token`). Waits `interval` between polls, 5 s more after each
    /// `slow_down` (RFC 8628 §3.5).
    pub async fn poll_device_token(
        &self,
        device: &DeviceAuthorization,
    ) -> Result<Exchanged, Error> {
        let mut interval = device.interval;
        loop {
            self.clock().sleep(Duration::from_secs(interval)).await;
            if self.clock().now_unix() >= device.expires_at {
                return Err(ProviderError::new(
                    Endpoint::Token,
                    "expired_token",
                    Some("the device code expired before the sign-in was approved".into()),
                )
                .into());
            }
            let form = vec![
                ("grant_type", DEVICE_CODE_GRANT.to_string()),
                ("device_code", device.device_code.secret().to_string()),
            ];
            let raw = token::post_token_form(self.http(), self.provider(), form).await?;
            match token::parse_token_response(self.provider().kind, &raw, self.clock().now_unix()) {
                Ok(mut tokens) => {
                    // RFC 8628 does not require an ID token on the device grant: without one,
                    // the identity comes from userinfo with the access token, as for plain
                    // OAuth providers.
                    let id_token = match (self.id_token_verifier(), &tokens.id_token) {
                        (Some(verifier), Some(raw)) => Some(verifier.verify(raw, None).await?),
                        _ => None,
                    };
                    tokens.id_token_expires_at = id_token.as_ref().map(|t| t.claims().exp);
                    return Ok(Exchanged { tokens, id_token });
                }
                Err(Error::Provider(e)) if e.error == "authorization_pending" => {}
                Err(Error::Provider(e)) if e.error == "slow_down" => interval += 5,
                Err(e) => return Err(e),
            }
        }
    }
}
