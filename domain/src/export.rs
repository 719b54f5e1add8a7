//! What a CSV export link stands for: one tenant's query, frozen (absolute range, resolution
//! chosen) and with an expiry, encoded into the link's id. The link is signed over that id, so
//! the id must only be decoded after the signature checked out: it is not validated input.
//!
//! Not for: signing (see `microdash_usecases::Signer`) or producing the CSV.

use serde::{Deserialize, Serialize};

use crate::hex::{from_hex, to_hex};
use crate::resolution::Resolution;
use crate::sample::{AgentId, MetricName, Tags};
use crate::tenant::TenantId;
use crate::time::Timestamp;

/// A frozen export query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportSpec {
    /// Whose data; the link reads nothing else.
    pub tenant: TenantId,
    /// The metric.
    pub metric: MetricName,
    /// Only this agent's series, when given.
    pub agent: Option<AgentId>,
    /// Only series carrying all these tags.
    pub tags: Tags,
    /// Inclusive start.
    pub start: Timestamp,
    /// Inclusive end.
    pub end: Timestamp,
    /// `raw`, `1m` or `5m`.
    #[serde(with = "resolution_name")]
    pub resolution: Resolution,
    /// Every series merged into one (`group=none`).
    pub merge: bool,
    /// After this the link is refused.
    pub expires_at: Timestamp,
}

/// An export id that does not decode. Only possible for ids that were not signed by us.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed export id")]
pub struct MalformedExportId;

impl ExportSpec {
    /// The URL-safe id (lowercase hex of compact JSON) that stands for this spec.
    pub fn encode(&self) -> String {
        to_hex(&serde_json::to_vec(self).expect("an export spec always serialises"))
    }

    /// Decodes an id made by [`ExportSpec::encode`].
    ///
    /// # Errors
    /// [`MalformedExportId`] for anything else.
    pub fn decode(id: &str) -> Result<Self, MalformedExportId> {
        let bytes = from_hex(id).ok_or(MalformedExportId)?;
        serde_json::from_slice(&bytes).map_err(|_| MalformedExportId)
    }
}

/// The tags of a series as the CSV export writes them: compact JSON, keys sorted, `{}` when
/// there are none.
pub fn tags_json(tags: &Tags) -> String {
    serde_json::to_string(tags.as_map()).expect("string maps always serialise")
}

mod resolution_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::resolution::Resolution;

    pub(super) fn serialize<S: Serializer>(r: &Resolution, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(r.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Resolution, D::Error> {
        let name = String::deserialize(d)?;
        Resolution::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn spec() -> ExportSpec {
        ExportSpec {
            tenant: TenantId::new(7),
            metric: MetricName::new("cpu").unwrap(),
            agent: Some(AgentId::new("h1").unwrap()),
            tags: Tags::new(BTreeMap::from([("core".to_owned(), "0,\"1\"".to_owned())])).unwrap(),
            start: Timestamp::from_millis(1),
            end: Timestamp::from_millis(2),
            resolution: Resolution::OneMinute,
            merge: false,
            expires_at: Timestamp::from_millis(3),
        }
    }

    #[test]
    fn an_id_round_trips_and_is_url_safe() {
        let id = spec().encode();
        assert!(id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
        assert_eq!(ExportSpec::decode(&id), Ok(spec()));
    }

    #[test]
    fn garbage_ids_do_not_decode() {
        for bad in ["", "0", "zz", "7b7d", "ééé"] {
            assert_eq!(ExportSpec::decode(bad), Err(MalformedExportId), "{bad}");
        }
    }
}
