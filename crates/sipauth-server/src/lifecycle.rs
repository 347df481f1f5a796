//! What the service does when the provider ends a person's access, whichever way it said so
//! (a SCIM deactivation or deletion, a back-channel logout, a lease that ended): their web
//! sessions end. The accounts, the SIP server's rows and what is registered there changed
//! before, in the change's own transaction and right after its commit
//! (`sipauth_provision::KamailioRpc`); the page's sessions live here.

use sipauth_provision::Ended;

use crate::state::AppState;

/// Ends the web sessions of everyone in `ended`.
pub async fn access_ended(state: &AppState, ended: &Ended) {
    if let Some(web) = &state.web {
        for (issuer, subject) in &ended.identities {
            web.end_sessions(issuer, subject).await;
        }
    }
}
