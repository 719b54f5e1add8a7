//! [`DropReason`]: why a message was not stored, the `reason` label of the drop counter and
//! what an MQTT 5 PUBACK tells the client. Its own module because the packet layer
//! (`protocol`), the telemetry and the session all need it, and none of them should depend on
//! another for it.

use microdash_usecases::ParseError;

/// Why a message was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The payload is not JSON or not of the topic's shape.
    Malformed,
    /// An empty JSON array.
    Empty,
    /// More items than one request may carry.
    TooManyItems,
    /// A field is invalid (the HTTP API would answer 422).
    Invalid,
    /// More samples in one message than the token's whole per-minute quota.
    OverQuota,
    /// The topic is not under `metrics/`.
    ForeignTopic,
    /// A `metrics/` topic of the wrong shape or with an invalid level.
    BadTopic,
    /// A publish into another tenant; the client is also disconnected.
    CrossTenant,
    /// QoS 2, which an ingest-only endpoint does not support; the client is disconnected.
    Qos2,
    /// Bridge only: the topic names a tenant that does not exist.
    UnknownTenant,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 10] = [
        DropReason::Malformed,
        DropReason::Empty,
        DropReason::TooManyItems,
        DropReason::Invalid,
        DropReason::OverQuota,
        DropReason::ForeignTopic,
        DropReason::BadTopic,
        DropReason::CrossTenant,
        DropReason::Qos2,
        DropReason::UnknownTenant,
    ];

    /// The `reason` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::Empty => "empty",
            DropReason::TooManyItems => "too_many_items",
            DropReason::Invalid => "invalid",
            DropReason::OverQuota => "over_quota",
            DropReason::ForeignTopic => "foreign_topic",
            DropReason::BadTopic => "bad_topic",
            DropReason::CrossTenant => "cross_tenant",
            DropReason::Qos2 => "qos2",
            DropReason::UnknownTenant => "unknown_tenant",
        }
    }

    /// The reason for a message whose payload the ingest use case could not parse.
    pub(crate) fn of(error: &ParseError) -> Self {
        match error {
            ParseError::Malformed(_) => DropReason::Malformed,
            ParseError::Empty => DropReason::Empty,
            ParseError::TooManyItems { .. } => DropReason::TooManyItems,
            ParseError::Invalid(_) => DropReason::Invalid,
        }
    }

    /// Position in [`DropReason::ALL`], which indexes the counters.
    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use microdash_domain::ItemError;

    use super::*;

    #[test]
    fn each_parse_error_is_counted_under_its_own_reason() {
        let invalid = ParseError::Invalid(Vec::<ItemError>::new());
        let cases = [
            (ParseError::Malformed("{".into()), DropReason::Malformed),
            (ParseError::Empty, DropReason::Empty),
            (ParseError::TooManyItems { count: 3, max: 2 }, DropReason::TooManyItems),
            (invalid, DropReason::Invalid),
        ];
        for (error, reason) in cases {
            assert_eq!(DropReason::of(&error), reason, "{error:?}");
        }
    }
}
