use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use microdash_domain::{AgentId, TenantId, Timestamp};

use super::StoreError;

/// That an agent was heard from, as the worker records it after storing its samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSeen {
    /// The agent.
    pub agent: AgentId,
    /// When the API received its samples.
    pub received_at: Timestamp,
    /// Newest sample timestamp among them.
    pub last_sample_at: Timestamp,
    /// How many samples were stored.
    pub samples: u64,
}

/// An agent as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    /// The agent.
    pub agent: AgentId,
    /// First time it was heard from.
    pub first_seen: Timestamp,
    /// Last time it was heard from (receive time).
    pub last_seen: Timestamp,
    /// Newest sample timestamp it sent.
    pub last_sample_at: Timestamp,
    /// Samples stored from it in all.
    pub samples: u64,
    /// Its reporting interval, learnt from the gaps between the newest sample times of
    /// successive sightings (see [`learn_interval`](microdash_domain::agent_status::learn_interval)); `None` until two were recorded.
    pub interval: Option<Duration>,
}

/// Which agents a tenant has and when each was last heard from.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AgentRegistry: Send + Sync {
    /// Records sightings; keeps the newest `last_seen`/`last_sample_at`, adds up `samples`,
    /// and, when a sighting's `last_sample_at` is newer than the stored one, learns the
    /// interval from the gap with
    /// [`learn_interval`](microdash_domain::agent_status::learn_interval).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn record(&self, tenant: TenantId, seen: &[AgentSeen]) -> Result<(), StoreError>;

    /// The tenant's agents, sorted by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn list(&self, tenant: TenantId) -> Result<Vec<AgentInfo>, StoreError>;

    /// One agent of the tenant; `None` when the tenant has no such agent.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn find(&self, tenant: TenantId, agent: &AgentId) -> Result<Option<AgentInfo>, StoreError>;
}

/// Shared [`AgentRegistry`].
pub type AgentRegistryRef = Arc<dyn AgentRegistry>;
