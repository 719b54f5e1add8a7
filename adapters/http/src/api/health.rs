//! `/healthz` and `/readyz`, for load balancers and orchestrators.

use std::sync::Arc;

use microdash_usecases::HealthService;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;

/// Probe endpoints.
pub struct HealthApi {
    health: Arc<HealthService>,
}

impl HealthApi {
    /// Builds the API over the health service.
    pub fn new(health: Arc<HealthService>) -> Self {
        Self { health }
    }
}

/// The state of one dependency.
#[derive(Object)]
struct ComponentBody {
    /// `store` or `queue`.
    component: String,
    /// `ok` or `unavailable`.
    status: String,
    /// What is wrong, when unavailable.
    #[oai(skip_serializing_if_is_none)]
    error: Option<String>,
}

/// Readiness report.
#[derive(Object)]
struct ReadinessBody {
    /// `ready` or `not_ready`.
    status: String,
    /// Each dependency.
    components: Vec<ComponentBody>,
}

/// Liveness report.
#[derive(Object)]
struct LivenessBody {
    /// Always `ok` when the process answers.
    status: String,
}

#[derive(ApiResponse)]
enum ReadinessResponse {
    /// Every dependency answers.
    #[oai(status = 200)]
    Ready(Json<ReadinessBody>),
    /// At least one dependency does not answer; `components` says which.
    #[oai(status = 503)]
    NotReady(Json<ReadinessBody>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness
    ///
    /// 200 whenever the process is up and serving HTTP.
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> Json<LivenessBody> {
        Json(LivenessBody { status: "ok".into() })
    }

    /// Readiness
    ///
    /// 200 when the store and the queue answer; 503 naming the ones that do not.
    #[oai(path = "/readyz", method = "get")]
    async fn readyz(&self) -> ReadinessResponse {
        let report = self.health.readiness().await;
        let ready = report.iter().all(|c| c.error.is_none());
        let components = report
            .into_iter()
            .map(|c| ComponentBody {
                component: c.component.into(),
                status: if c.error.is_none() { "ok" } else { "unavailable" }.into(),
                error: c.error,
            })
            .collect();
        if ready {
            ReadinessResponse::Ready(Json(ReadinessBody { status: "ready".into(), components }))
        } else {
            ReadinessResponse::NotReady(Json(ReadinessBody { status: "not_ready".into(), components }))
        }
    }
}
