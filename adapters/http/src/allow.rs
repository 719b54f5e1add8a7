//! The `Allow` header of a 405: the methods the OpenAPI document lists for the path asked
//! for, as RFC 9110 requires, so a client that used the wrong method learns the right ones.
//! Not for routing: poem's router decides that a method is not allowed; this only names the
//! allowed ones.

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response};

/// The documented paths, each as segments (`None` for a `{parameter}`), with their methods.
#[derive(Debug, Default)]
pub(crate) struct AllowTable {
    paths: Vec<(Vec<Option<String>>, HeaderValue)>,
}

impl AllowTable {
    /// The table of an OpenAPI document's `paths`.
    pub(crate) fn from_spec(spec: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut paths = Vec::new();
        for (path, operations) in spec["paths"].as_object().into_iter().flatten() {
            let mut methods: Vec<String> = operations
                .as_object()
                .into_iter()
                .flatten()
                .map(|(method, _)| method.to_ascii_uppercase())
                .filter(|m| ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()))
                .collect();
            methods.sort();
            let Ok(value) = HeaderValue::from_str(&methods.join(", ")) else { continue };
            let segments = path
                .split('/')
                .map(|s| if s.starts_with('{') && s.ends_with('}') { None } else { Some(s.to_owned()) })
                .collect();
            paths.push((segments, value));
        }
        Self { paths }
    }

    /// The methods of the documented path that `path` is: a path with more literal segments
    /// wins, as it does in the router (`/stream/tickets` over `/stream/{tenant}`).
    pub(crate) fn methods(&self, path: &str) -> Option<&HeaderValue> {
        let asked: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .filter(|(segments, _)| {
                segments.len() == asked.len()
                    && segments.iter().zip(&asked).all(|(s, a)| match s {
                        Some(literal) => literal == a,
                        None => !a.is_empty(),
                    })
            })
            .max_by_key(|(segments, _)| segments.iter().filter(|s| s.is_some()).count())
            .map(|(_, methods)| methods)
    }
}

/// `endpoint` with an `Allow` header on its 405 answers.
pub(crate) fn with_allow<E>(endpoint: E, table: AllowTable) -> impl Endpoint<Output = Response>
where
    E: Endpoint + 'static,
    E::Output: IntoResponse,
{
    let table = Arc::new(table);
    endpoint.around(move |inner, request: Request| {
        let table = table.clone();
        async move {
            let path = request.uri().path().to_owned();
            let mut response = inner.call(request).await?.into_response();
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Some(methods) = table.methods(&path)
            {
                response.headers_mut().insert(header::ALLOW, methods.clone());
            }
            Ok(response)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_gets_the_methods_of_the_documented_path_it_is() {
        let table = AllowTable::from_spec(
            r#"{"paths": {
                "/api/v1/metrics": {"post": {}},
                "/api/v1/stream/tickets": {"post": {}},
                "/api/v1/stream/{tenant}": {"get": {}, "parameters": []},
                "/api/v1/agents/{agent_id}": {"get": {}, "delete": {}}
            }}"#,
        );
        let methods = |p: &str| table.methods(p).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(methods("/api/v1/metrics").as_deref(), Some("POST"));
        assert_eq!(methods("/api/v1/stream/tickets").as_deref(), Some("POST"), "the literal path wins");
        assert_eq!(methods("/api/v1/stream/acme").as_deref(), Some("GET"));
        assert_eq!(methods("/api/v1/agents/h1").as_deref(), Some("DELETE, GET"));
        assert_eq!(methods("/api/v1/agents/"), None, "a parameter is never empty");
        assert_eq!(methods("/nowhere"), None);
    }
}
