use crate::helpers::{json_of, spawn_api};

#[tokio::test]
async fn liveness_and_readiness_report_the_components() {
    let api = spawn_api().await;
    let (status, body) = json_of(api.client.get("/healthz").send().await).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = json_of(api.client.get("/readyz").send().await).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    let names: Vec<&str> =
        body["components"].as_array().unwrap().iter().map(|c| c["component"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["store", "queue"]);

    api.queue.close();
    let (status, body) = json_of(api.client.get("/readyz").send().await).await;
    assert_eq!((status, body["status"].as_str()), (503, Some("not_ready")));
    assert_eq!(body["components"][1]["status"], "unavailable");
}

#[tokio::test]
async fn the_openapi_document_describes_every_operation_status_and_both_auth_schemes() {
    let api = spawn_api().await;
    let (status, spec) = json_of(api.client.get("/openapi.json").send().await).await;
    assert_eq!(status, 200);
    let post = &spec["paths"]["/api/v1/metrics"]["post"];
    for code in ["202", "401", "413", "415", "422", "429", "503"] {
        assert!(post["responses"][code].is_object(), "POST /api/v1/metrics documents {code}");
    }
    for path in ["/api/v1/metrics/query", "/api/v1/metrics/names", "/api/v1/agents", "/healthz", "/readyz"] {
        assert!(spec["paths"][path]["get"].is_object(), "{path} documented");
    }
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["BearerToken"]["scheme"], "bearer");
    assert_eq!(schemes["ApiTokenHeader"]["name"], "X-API-Token");
    assert!(spec["components"]["schemas"]["Sample"]["properties"]["dedupe_id"]["description"].is_string());
    let docs = api.client.get("/docs").send().await;
    assert_eq!(docs.0.status().as_u16(), 200);
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let api = spawn_api().await;
    let (status, body) = json_of(api.client.get("/api/v1/nope").send().await).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn a_wrong_method_gets_405_json_naming_the_allowed_methods() {
    let api = crate::helpers::spawn_api().await;
    for (method, path, allowed) in [
        (poem::http::Method::TRACE, "/api/v1/metrics", "POST"),
        (poem::http::Method::DELETE, "/api/v1/agents/web-1", "GET"),
        (poem::http::Method::GET, "/api/v1/stream/tickets", "POST"),
        (poem::http::Method::PUT, "/healthz", "GET"),
    ] {
        let resp = api.client.request(method.clone(), path).send().await;
        assert_eq!(resp.0.status().as_u16(), 405, "{method} {path}");
        let allow = resp.0.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allow.as_deref(), Some(allowed), "{method} {path}");
        let (_, body) = crate::helpers::json_of(resp).await;
        assert_eq!(body["code"], "method_not_allowed", "{method} {path}: {body}");
    }
}
