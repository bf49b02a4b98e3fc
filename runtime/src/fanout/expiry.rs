//! Connections whose token has expired: they get no push, and are closed.
//!
//! API Gateway checks a token once, at `$connect`; the connection would otherwise outlive it by
//! up to two hours. Every record keeps the token's `exp`, so the fan-out sees which recipients
//! have expired without another read: each is closed through `DELETE @connections` (API
//! Gateway then runs `$disconnect`) and its records removed at once, so the next event does
//! not find it again. The fan-out's report counts them as `expired`.

use futures::stream::{self, StreamExt};

use crate::push::{PushOutcome, Pusher};
use crate::store::{ConnectionStore, Recipient};

/// Connections closed at once.
const CLOSING_IN_PARALLEL: usize = 16;

/// The recipients' connection ids: those whose token is still valid at `now`, and those whose
/// token expired (`leeway_secs` tolerated).
pub fn split_expired(
    recipients: Vec<Recipient>,
    now: i64,
    leeway_secs: u64,
) -> (Vec<String>, Vec<String>) {
    let (expired, live): (Vec<Recipient>, Vec<Recipient>) = recipients
        .into_iter()
        .partition(|r| r.token_expired(now, leeway_secs));
    let ids = |all: Vec<Recipient>| all.into_iter().map(|r| r.connection_id).collect();
    (ids(live), ids(expired))
}

/// Closes every connection in `expired` and removes its records; how many there were.
pub async fn close_expired(
    store: &dyn ConnectionStore,
    pusher: &dyn Pusher,
    expired: Vec<String>,
) -> usize {
    let count = expired.len();
    stream::iter(expired)
        .for_each_concurrent(CLOSING_IN_PARALLEL, |connection_id| async move {
            close(store, pusher, &connection_id).await;
        })
        .await;
    count
}

/// Closes one connection whose token expired. Nothing here fails the event: a connection
/// that could not be closed gets no push all the same, and its records expire by TTL.
pub async fn close(store: &dyn ConnectionStore, pusher: &dyn Pusher, connection_id: &str) {
    match pusher.delete_connection(connection_id).await {
        PushOutcome::Delivered | PushOutcome::Gone => {}
        other => {
            tracing::warn!(%connection_id, outcome = ?other, "could not close a connection whose token expired")
        }
    }
    match store.delete_connection(connection_id).await {
        Ok(_) => tracing::info!(%connection_id, "connection closed: its token expired"),
        Err(e) => {
            tracing::warn!(%connection_id, error = %e, "records of a connection whose token expired are left to TTL")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(id: &str, exp: Option<i64>) -> Recipient {
        Recipient {
            connection_id: id.into(),
            token_expires_at: exp,
        }
    }

    #[test]
    fn recipients_split_at_their_tokens_expiry_with_the_leeway() {
        let now = 1_000;
        let all = vec![
            recipient("unknown", None),
            recipient("valid", Some(1_100)),
            recipient("within-leeway", Some(980)),
            recipient("expired", Some(900)),
        ];
        let (live, expired) = split_expired(all, now, 30);
        assert_eq!(live, ["unknown", "valid", "within-leeway"]);
        assert_eq!(expired, ["expired"]);
    }
}
