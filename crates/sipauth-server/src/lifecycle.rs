//! What the service does when the provider ends a person's access, whichever way it said so
//! (a SCIM deactivation or deletion, a back-channel logout, a lease that ended): their web
//! sessions end, and every Kamailio node forgets what they registered ([`KamailioRpc`]). The
//! accounts and the SIP server's rows changed before, in the change's own transaction; this is
//! what lives outside the database. A node that could not be told is counted and audited.

use sipauth_provision::Ended;

use crate::kamailio_rpc::KamailioRpc;
use crate::state::AppState;

/// Ends the web sessions and the registrations of everyone in `ended`.
pub async fn access_ended(state: &AppState, ended: &Ended) {
    if let Some(web) = &state.web {
        for (issuer, subject) in &ended.identities {
            web.end_sessions(issuer, subject).await;
        }
    }
    if let Some(rpc) = &state.kamailio {
        remove_contacts(state, rpc, &ended.aors).await;
    }
}

async fn remove_contacts(state: &AppState, rpc: &KamailioRpc, aors: &[String]) {
    for aor in aors {
        let failed = rpc.remove_contacts(aor).await;
        let outcome = match failed.is_empty() {
            true => "ok".to_string(),
            false => {
                state.metrics.kamailio_rpc_failure();
                format!("failed at {}", failed.join(" "))
            }
        };
        let username = aor.split('@').next();
        if let Err(e) = state
            .provisioner
            .note("kamailio_contacts_removed", username, &outcome)
            .await
        {
            tracing::warn!(error = %e, "auditing the contacts' removal failed");
        }
    }
}
