//! Client ids and sessions, as far as an ingest-only endpoint needs them.
//!
//! - A client id is unique per tenant: a second connection with the same id takes over (the
//!   first is closed, as MQTT requires). Ids are scoped by tenant, so one tenant can never
//!   close another tenant's device by reusing its id.
//! - The server holds no state for a session (no subscriptions, nothing to deliver, QoS 2
//!   refused), so a persistent session is only the promise that it exists: the CONNACK's
//!   *session present* flag is set when the client had asked for a persistent session before
//!   and it has not expired, so the client keeps, and resends, its unacknowledged publishes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use microdash_domain::TenantId;
use tokio_util::sync::CancellationToken;

/// Persistent sessions remembered at most; beyond it new ones are not remembered (their
/// clients are told "no session" and resend nothing, which is still correct).
const MAX_REMEMBERED: usize = 100_000;

#[derive(Default)]
struct Entry {
    /// The connection holding the id now, and how to close it.
    live: Option<(u64, CancellationToken)>,
    /// A persistent session: `None` never expires, `Some(d)` ends `d` after disconnection.
    persistent: Option<Option<Duration>>,
    /// When the last connection ended.
    ended: Option<Instant>,
}

impl Entry {
    fn session_valid(&self, now: Instant) -> bool {
        match (self.persistent, self.ended) {
            (None, _) => false,
            (Some(None), _) | (Some(Some(_)), None) => true,
            (Some(Some(expiry)), Some(ended)) => now.duration_since(ended) < expiry,
        }
    }
}

/// The registry of client ids.
#[derive(Default)]
pub(crate) struct Sessions {
    inner: Mutex<HashMap<(TenantId, String), Entry>>,
}

/// What a CONNECT asked for.
pub(crate) struct SessionRequest<'a> {
    pub tenant: TenantId,
    pub client_id: &'a str,
    pub connection: u64,
    pub clean_start: bool,
    /// `None` never expires; `Some(ZERO)` ends with the connection.
    pub expiry: Option<Duration>,
}

impl Sessions {
    /// Registers a connection: closes the one holding the id (if any) and says whether a
    /// session was present. The returned token is cancelled when a later connection takes
    /// the id over.
    pub(crate) fn open(&self, req: &SessionRequest<'_>) -> (bool, CancellationToken) {
        let now = Instant::now();
        let mut map = self.inner.lock().expect("sessions mutex poisoned");
        if map.len() >= MAX_REMEMBERED {
            map.retain(|_, e| e.live.is_some() || e.session_valid(now));
        }
        let room = map.len() < MAX_REMEMBERED;
        let entry = map.entry((req.tenant, req.client_id.to_owned())).or_default();
        if let Some((_, previous)) = entry.live.take() {
            previous.cancel();
        }
        let present = !req.clean_start && entry.session_valid(now);
        entry.persistent = (!req.clean_start && room).then_some(req.expiry);
        entry.ended = None;
        let kick = CancellationToken::new();
        entry.live = Some((req.connection, kick.clone()));
        (present, kick)
    }

    /// Unregisters a connection that ended (unless another took its id over meanwhile).
    pub(crate) fn close(&self, tenant: TenantId, client_id: &str, connection: u64) {
        let mut map = self.inner.lock().expect("sessions mutex poisoned");
        let key = (tenant, client_id.to_owned());
        let Some(entry) = map.get_mut(&key) else { return };
        if entry.live.as_ref().is_none_or(|(c, _)| *c != connection) {
            return;
        }
        entry.live = None;
        entry.ended = Some(Instant::now());
        if !entry.session_valid(Instant::now()) || entry.persistent == Some(Some(Duration::ZERO)) {
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        tenant: i64,
        id: &str,
        connection: u64,
        clean: bool,
        expiry: Option<Duration>,
    ) -> SessionRequest<'_> {
        SessionRequest {
            tenant: TenantId::new(tenant),
            client_id: id,
            connection,
            clean_start: clean,
            expiry,
        }
    }

    #[test]
    fn a_second_connection_with_the_same_id_closes_the_first() {
        let s = Sessions::default();
        let (_, first) = s.open(&req(1, "dev", 1, true, None));
        let (_, second) = s.open(&req(1, "dev", 2, true, None));
        assert!(first.is_cancelled());
        assert!(!second.is_cancelled());
        s.close(TenantId::new(1), "dev", 1);
        let (_, third) = s.open(&req(1, "dev", 3, true, None));
        assert!(second.is_cancelled(), "the late close of connection 1 did not free the id");
        assert!(!third.is_cancelled());
    }

    #[test]
    fn the_same_client_id_in_another_tenant_is_another_client() {
        let s = Sessions::default();
        let (_, alpha) = s.open(&req(1, "dev", 1, true, None));
        let (_, beta) = s.open(&req(2, "dev", 2, true, None));
        assert!(!alpha.is_cancelled() && !beta.is_cancelled());
    }

    #[test]
    fn a_persistent_session_is_present_on_reconnect_until_a_clean_start() {
        let s = Sessions::default();
        assert!(!s.open(&req(1, "dev", 1, false, None)).0, "nothing to resume the first time");
        s.close(TenantId::new(1), "dev", 1);
        assert!(s.open(&req(1, "dev", 2, false, None)).0);
        s.close(TenantId::new(1), "dev", 2);
        assert!(!s.open(&req(1, "dev", 3, true, None)).0);
        s.close(TenantId::new(1), "dev", 3);
        assert!(!s.open(&req(1, "dev", 4, false, None)).0, "the clean start ended the session");
    }

    #[test]
    fn an_mqtt5_session_with_zero_expiry_ends_with_its_connection() {
        let s = Sessions::default();
        s.open(&req(1, "dev", 1, false, Some(Duration::ZERO)));
        s.close(TenantId::new(1), "dev", 1);
        assert!(!s.open(&req(1, "dev", 2, false, Some(Duration::from_secs(60)))).0);
        s.close(TenantId::new(1), "dev", 2);
        assert!(s.open(&req(1, "dev", 3, false, Some(Duration::from_secs(60)))).0);
    }
}
