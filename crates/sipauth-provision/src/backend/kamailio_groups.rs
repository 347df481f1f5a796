//! Kamailio 5.6's `group` module over the `grp` table (`username`, `domain`, `grp`; the module's
//! `use_domain` on): an account's call rights as its groups, written in the account's
//! transaction, checked by the routing script with `is_user_in("From", "<right>")`.
//!
//! sipauth adds and removes only the rows of rights: the configured ones and those it wrote
//! before. Any other group of the same user (one an operator gave by hand) stays.

use sqlx::{Any, Transaction};

use crate::account::Account;
use crate::error::ProvisionError;

/// Makes the account's rows say exactly `rights` among `managed` (the configured rights and
/// those written before): the others of `managed` removed, the missing ones added.
pub(super) async fn write(
    tx: &mut Transaction<'_, Any>,
    account: &Account,
    managed: &[&str],
    rights: &[String],
) -> Result<(), ProvisionError> {
    for name in managed.iter().filter(|m| !rights.iter().any(|r| r == *m)) {
        sqlx::query("DELETE FROM grp WHERE username = $1 AND domain = $2 AND grp = $3")
            .bind(account.username.clone())
            .bind(account.domain.clone())
            .bind(name.to_string())
            .execute(&mut **tx)
            .await?;
    }
    for right in rights {
        sqlx::query(
            "INSERT INTO grp (username, domain, grp) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(account.username.clone())
        .bind(account.domain.clone())
        .bind(right.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
