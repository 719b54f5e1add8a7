//! `/api/v1/agents`: the hosts and devices that report.

use std::sync::Arc;

use microdash_usecases::{AuthService, QueryService};
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

/// An agent and when it was last heard from.
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

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Agents")]
impl AgentsApi {
    /// List agents
    ///
    /// Every agent of the tenant with when it was first and last heard from.
    #[oai(path = "/agents", method = "get")]
    async fn list(&self, auth: TokenAuth) -> AgentsResponse {
        let agents = async {
            let who = auth.principal(&self.auth).await?;
            Ok::<_, ApiError>(self.query.agents(who.tenant).await?)
        };
        agents.await.map_or_else(ApiError::into, |list| {
            AgentsResponse::Ok(Json(AgentsBody {
                agents: list
                    .into_iter()
                    .map(|a| AgentBody {
                        agent_id: a.agent.to_string(),
                        first_seen: a.first_seen.as_millis(),
                        last_seen: a.last_seen.as_millis(),
                        last_sample_at: a.last_sample_at.as_millis(),
                        samples: a.samples,
                    })
                    .collect(),
            }))
        })
    }
}
