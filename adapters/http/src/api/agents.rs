//! `/api/v1/agents`: the hosts and devices that report, whether they still do, and what.

use std::sync::Arc;

use microdash_usecases::query::AgentView;
use microdash_usecases::{AuthService, QueryService};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::auth::TokenAuth;
use crate::error::{ApiError, ErrorBody, error_responses};

/// Agents endpoints.
pub struct AgentsApi {
    auth: Arc<AuthService>,
    query: Arc<QueryService>,
}

impl AgentsApi {
    /// Builds the API over its services.
    pub fn new(auth: Arc<AuthService>, query: Arc<QueryService>) -> Self {
        Self { auth, query }
    }
}

/// An agent: when it was last heard from, how often it reports, whether it still does, and
/// which metrics it sends.
#[derive(Object)]
struct AgentBody {
    /// The agent id.
    agent_id: String,
    /// First time its samples arrived, epoch milliseconds.
    first_seen: i64,
    /// Last time its samples arrived, epoch milliseconds.
    last_seen: i64,
    /// Newest timestamp among its samples, epoch milliseconds.
    last_sample_at: i64,
    /// Samples stored from it in all.
    samples: u64,
    /// Its reporting interval in milliseconds, learnt from the gaps between its samples;
    /// absent until it has reported twice.
    #[oai(skip_serializing_if_is_none)]
    interval_ms: Option<u64>,
    /// `online`, or `offline` when nothing arrived for more than twice its interval (a
    /// minute's worth when the interval is not known yet).
    status: String,
    /// The metric names it reports, sorted.
    metrics: Vec<String>,
}

impl From<AgentView> for AgentBody {
    fn from(a: AgentView) -> Self {
        AgentBody {
            agent_id: a.info.agent.to_string(),
            first_seen: a.info.first_seen.as_millis(),
            last_seen: a.info.last_seen.as_millis(),
            last_sample_at: a.info.last_sample_at.as_millis(),
            samples: a.info.samples,
            interval_ms: a.info.interval.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            status: a.status.as_str().to_owned(),
            metrics: a.metrics.into_iter().map(String::from).collect(),
        }
    }
}

/// The tenant's agents.
#[derive(Object)]
struct AgentsBody {
    /// Agents sorted by id.
    agents: Vec<AgentBody>,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "AgentsResponse::bad_request")]
enum AgentsResponse {
    /// The agents.
    #[oai(status = 200)]
    Ok(Json<AgentsBody>),
    /// Missing, unknown or revoked token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Storage unavailable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; quote `request_id`.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
error_responses!(AgentsResponse { 401 => Unauthorized } with_retry { 503 => Unavailable });

#[derive(ApiResponse)]
#[oai(bad_request_handler = "AgentResponse::bad_request")]
enum AgentResponse {
    /// The agent.
    #[oai(status = 200)]
    Ok(Json<AgentBody>),
    /// Missing, unknown or revoked token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The tenant has no agent with this id.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Storage unavailable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A bug; quote `request_id`.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
error_responses!(AgentResponse { 401 => Unauthorized, 404 => NotFound } with_retry { 503 => Unavailable });

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Agents")]
impl AgentsApi {
    /// List agents
    ///
    /// Every agent of the tenant: when it was first and last heard from, its reporting
    /// interval, whether it is online, and the metrics it reports.
    #[oai(path = "/agents", method = "get")]
    async fn list(&self, auth: TokenAuth) -> AgentsResponse {
        let agents = async {
            let who = auth.principal(&self.auth).await?;
            Ok::<_, ApiError>(self.query.agents(who.tenant).await?)
        };
        agents.await.map_or_else(ApiError::into, |list| {
            AgentsResponse::Ok(Json(AgentsBody { agents: list.into_iter().map(AgentBody::from).collect() }))
        })
    }

    /// Show one agent
    ///
    /// One agent of the tenant, with the same details as the list.
    #[oai(path = "/agents/:agent_id", method = "get")]
    async fn show(
        &self,
        auth: TokenAuth,
        /// The agent id.
        agent_id: Path<String>,
    ) -> AgentResponse {
        let agent = async {
            let who = auth.principal(&self.auth).await?;
            Ok::<_, ApiError>(self.query.agent(who.tenant, &agent_id.0).await?)
        };
        agent.await.map_or_else(ApiError::into, |a| AgentResponse::Ok(Json(a.into())))
    }
}
