//! Paging through the series of a query: a reply holds a bounded number of series, and its
//! cursor names the last one, so the next page starts right after it even when series were
//! created in between.
//!
//! Not for: paging through points (a series' points are reduced, never paged).

use crate::hex::{from_hex, to_hex};
use crate::sample::{AgentId, Tags};

/// Where a page of series ended: the agent and tags of its last series (the order of series
/// in a reply). Encoded as lowercase hex of compact JSON, so it needs no URL escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesCursor {
    /// Agent of the last series returned.
    pub agent: Option<AgentId>,
    /// Tags of the last series returned.
    pub tags: Tags,
}

/// A cursor that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor returned by this server")]
pub struct MalformedCursor;

impl SeriesCursor {
    /// The token to hand to the client.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&(&self.agent, &self.tags)).expect("a cursor always serialises");
        to_hex(&json)
    }

    /// Reads a token made by [`SeriesCursor::encode`]; names and tags are validated again.
    ///
    /// # Errors
    /// [`MalformedCursor`] for anything else.
    pub fn decode(token: &str) -> Result<Self, MalformedCursor> {
        let bytes = from_hex(token).ok_or(MalformedCursor)?;
        let (agent, tags): (Option<AgentId>, Tags) =
            serde_json::from_slice(&bytes).map_err(|_| MalformedCursor)?;
        Ok(Self { agent, tags })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let cursor = SeriesCursor {
            agent: Some(AgentId::new("web-1").unwrap()),
            tags: Tags::new(BTreeMap::from([("mount".to_owned(), "/ var".to_owned())])).unwrap(),
        };
        let token = cursor.encode();
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(SeriesCursor::decode(&token), Ok(cursor));
        for bad in ["", "abc", "zz", &to_hex(b"[\"bad agent!\",{}]")] {
            assert_eq!(SeriesCursor::decode(bad), Err(MalformedCursor), "{bad}");
        }
        let none = SeriesCursor { agent: None, tags: Tags::empty() };
        assert_eq!(SeriesCursor::decode(&none.encode()), Ok(none.clone()));
        assert!(none < SeriesCursor { agent: Some(AgentId::new("a").unwrap()), tags: Tags::empty() });
    }
}
