//! From identity to SIP credentials: the guide's "SIP Credential Mapping" and "Password
//! Generation Strategies". [`CredentialMapping`] says how user info
//! becomes a username, display name, domain, WebSocket server and realm;
//! [`PasswordStrategy`](crate::PasswordStrategy) how the password is made;
//! [`ProvisionedCredentials`] is the result, and
//! [`client_config`] turns it into configurations for SIP clients (JsSIP, SIP.js, baresip,
//! linphone); [`SipServer`] reads the registrar native clients use.
//! [`username_from_claims`] and its neighbours are the one naming rule the command and the
//! provisioning service share. Registering on a real SIP server is the provisioning layer's job.

pub mod client_config;
pub(crate) mod credentials;
pub(crate) mod mapping;
mod naming;
pub(crate) mod password;
mod server;
mod username;

// `CredentialMapping`, `MappingInput`, `PasswordStrategy` and `ProvisionedCredentials` are
// re-exported at the crate root (one path each); the rules and functions around them are here.
pub use credentials::{escape_user, sip_uri};
pub use mapping::{check_domain, check_ws_uri, DisplayNameRule, UsernameRule, ValueRule};
pub use naming::{
    display_name, has_suffix_form, suffixed_username, username_candidates, username_from_claims,
    IdentityClaims, NamedBy, ReservedUsernames, DEFAULT_RESERVED_USERNAMES,
    DEFAULT_USERNAME_CLAIMS,
};
pub use password::{ephemeral_credentials, ApiMethod, HashAlgorithm, HmacAlgorithm};
pub use server::{SipServer, SipTransport};
pub use username::UsernamePolicy;
/// The SIP username alphabet: sanitising, and the reference's email rule (shared with the
/// provisioning service, so a username means the same everywhere).
pub use username::{local_part as email_local_part, sanitize as sanitize_username};

use crate::{CredentialMapping, MappingInput, ProvisionedCredentials};

/// Why an identity could not become SIP credentials (defined with the other errors).
pub use crate::error::CredentialError;

impl CredentialMapping {
    /// Turns a completed sign-in into SIP credentials, running the password strategy with the
    /// client's HTTP client and clock; the issuer (for collision-free usernames) is the verified
    /// ID token's, else the provider's.
    pub async fn provision_sign_in(
        &self,
        client: &crate::oidc::OidcClient,
        sign_in: &crate::oidc::SignIn,
    ) -> Result<ProvisionedCredentials, crate::error::Error> {
        let issuer = sign_in
            .id_token
            .as_ref()
            .map(|t| t.claims().iss.as_str())
            .or(client.provider().issuer.as_deref());
        let input = MappingInput {
            tokens: &sign_in.tokens,
            user_info: &sign_in.user_info,
            issuer,
        };
        Ok(self
            .provision(&input, client.http(), client.clock().now_unix())
            .await?)
    }
}
