//! Stream tickets: what a browser puts in `?ticket=` because `EventSource` cannot send
//! headers. A ticket names one tenant and an expiry and is signed with the server secret, so
//! it needs no storage and any api node of the deployment accepts it; it is short-lived
//! because a URL ends up in logs and browser history, which is also why the API token itself
//! never goes into one.
//!
//! Format: `<tenant id>.<tenant slug>.<expiry, epoch ms>.<HMAC-SHA256 hex>`, URL-safe as is.

use microdash_domain::{TenantId, TenantSlug, Timestamp};

use super::{LiveError, Viewer};
use crate::signing::Signer;

/// Separates stream tickets from anything else the server secret signs (export links), so a
/// signature made for one can never pass as the other.
const PURPOSE: &str = "stream-ticket:v1";

/// A freshly issued ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTicket {
    /// The ticket to pass as `?ticket=`.
    pub ticket: String,
    /// The tenant whose stream it opens.
    pub tenant: TenantSlug,
    /// When it stops opening streams (streams already open stay open).
    pub expires_at: Timestamp,
}

fn message(tenant: TenantId, slug: &TenantSlug, expires: Timestamp) -> String {
    format!("{PURPOSE}:{tenant}:{slug}:{}", expires.as_millis())
}

/// Signs a ticket for `viewer` expiring at `expires`.
pub(super) fn issue(signer: &Signer, viewer: &Viewer, expires: Timestamp) -> StreamTicket {
    let signature = signer.sign(message(viewer.tenant, &viewer.slug, expires).as_bytes());
    StreamTicket {
        ticket: format!("{}.{}.{}.{signature}", viewer.tenant, viewer.slug, expires.as_millis()),
        tenant: viewer.slug.clone(),
        expires_at: expires,
    }
}

/// Checks a ticket's signature, then its expiry.
pub(super) fn redeem(signer: &Signer, ticket: &str, now: Timestamp) -> Result<Viewer, LiveError> {
    let mut parts = ticket.trim().split('.');
    let (Some(id), Some(slug), Some(expires), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(LiveError::InvalidTicket);
    };
    let tenant = id.parse().map(TenantId::new).map_err(|_| LiveError::InvalidTicket)?;
    let slug = TenantSlug::new(slug).map_err(|_| LiveError::InvalidTicket)?;
    let expires = expires.parse().map(Timestamp::from_millis).map_err(|_| LiveError::InvalidTicket)?;
    // The signature first: a forged ticket learns nothing, not even that it would be expired.
    if !signer.verify(message(tenant, &slug, expires).as_bytes(), signature) {
        return Err(LiveError::InvalidTicket);
    }
    if now >= expires {
        return Err(LiveError::TicketExpired);
    }
    Ok(Viewer { tenant, slug })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer() -> Viewer {
        Viewer { tenant: TenantId::new(42), slug: TenantSlug::new("acme").unwrap() }
    }

    #[test]
    fn a_ticket_opens_its_tenant_until_it_expires() {
        let signer = Signer::new(b"secret");
        let t = issue(&signer, &viewer(), Timestamp::from_millis(60_000));
        assert_eq!(t.ticket.split('.').take(3).collect::<Vec<_>>(), ["42", "acme", "60000"]);
        assert_eq!(redeem(&signer, &t.ticket, Timestamp::from_millis(59_999)).unwrap(), viewer());
        assert!(matches!(
            redeem(&signer, &t.ticket, Timestamp::from_millis(60_000)),
            Err(LiveError::TicketExpired)
        ));
    }

    #[test]
    fn altered_foreign_or_malformed_tickets_are_invalid() {
        let signer = Signer::new(b"secret");
        let t = issue(&signer, &viewer(), Timestamp::from_millis(60_000)).ticket;
        let now = Timestamp::from_millis(0);
        let invalid = |ticket: &str, signer: &Signer| {
            matches!(redeem(signer, ticket, now), Err(LiveError::InvalidTicket))
        };
        assert!(invalid(&t.replacen("42.", "43.", 1), &signer), "another tenant id");
        assert!(invalid(&t.replacen("acme", "acmf", 1), &signer), "another slug");
        assert!(invalid(&t.replacen("60000", "99999", 1), &signer), "a later expiry");
        assert!(invalid(&t, &Signer::new(b"another deployment")), "another secret");
        for garbage in ["", "a.b.c.d", "42.acme.60000", &format!("{t}.x"), "42.ACME.60000.00"] {
            assert!(invalid(garbage, &signer), "{garbage:?}");
        }
    }
}
