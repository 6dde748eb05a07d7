//! The hub's OpenAPI 3.1 description: the read routes it shares with the nodes
//! ([`yiqi_search::openapi::read_api`]) plus its own paths, from the handlers' annotations.

use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

#[derive(OpenApi)]
#[openapi(paths(
    crate::api::healthz,
    crate::api::metrics_text,
    crate::api::schema,
    crate::api::list_regions,
    crate::api::post_records,
    crate::api::get_history,
    crate::api::get_feed,
    crate::log_api::log_key,
    crate::log_api::checkpoint,
    crate::log_api::inclusion,
    crate::log_api::consistency,
    crate::log_api::tile,
    crate::log_api::cosignature,
))]
struct HubApi;

/// The whole description `GET /openapi.json` serves on the hub.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = yiqi_search::openapi::read_api();
    document.merge(HubApi::openapi());
    document
}

/// The parameters of `GET /v1/feed` (docs/protocol.md#feed).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Entries after this seq (default 0).
    pub after: Option<u64>,
    /// At most this many entries (default 1000).
    pub limit: Option<u64>,
    /// Only this region's entries.
    pub region: Option<String>,
    /// All but this region's entries.
    pub exclude_region: Option<String>,
    /// Seconds to wait for a new entry when there is none (long poll).
    pub wait: Option<u64>,
}

#[cfg(test)]
mod tests {
    use crate::api_tests::TestHub;
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use http_body_util::BodyExt;
    use serde_json::Value;
    use tower::ServiceExt;

    /// Every route `crate::api::app` mounts, in OpenAPI's template syntax.
    const ROUTES: [&str; 27] = [
        "/",
        "/.well-known/api-catalog",
        "/healthz",
        "/instruments/{region}/{local_id}",
        "/metrics",
        "/oai",
        "/oai/yiqi-envelope.xsd",
        "/openapi.json",
        "/stats",
        "/utilisation",
        "/v1/feed",
        "/v1/flows",
        "/v1/log/checkpoint",
        "/v1/log/cosignatures",
        "/v1/log/key",
        "/v1/log/proof/consistency",
        "/v1/log/proof/inclusion",
        "/v1/log/tile/{path}",
        "/v1/records",
        "/v1/records/{region}/{local_id}",
        "/v1/records/{region}/{local_id}/history",
        "/v1/regions",
        "/v1/schema",
        "/v1/search",
        "/v1/search/export",
        "/v1/stats",
        "/v1/utilisation",
    ];

    async fn served_document(hub: &TestHub) -> Value {
        let response = hub
            .router
            .clone()
            .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn the_document_lists_every_route_the_hub_serves() {
        let document = served_document(&TestHub::new()).await;
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut documented: Vec<&str> = document["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort_unstable();
        assert_eq!(documented, ROUTES);
    }

    /// The other direction: each documented operation reaches a handler, not the fallbacks
    /// (404 "no such endpoint", 405).
    #[tokio::test]
    async fn every_documented_operation_is_routed() {
        let hub = TestHub::new();
        let document = served_document(&hub).await;
        for (path, item) in document["paths"].as_object().unwrap() {
            let concrete = path
                .replace("{region}", "CN-BJ")
                .replace("{local_id}", "x")
                .replace("{path}", "0/000");
            for method in item.as_object().unwrap().keys() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let request = Request::builder()
                    .method(method.clone())
                    .uri(&concrete)
                    .body(Body::empty())
                    .unwrap();
                let response = hub.router.clone().oneshot(request).await.unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                let fallback = status == StatusCode::METHOD_NOT_ALLOWED
                    || String::from_utf8_lossy(&body).contains("no such endpoint");
                assert!(!fallback, "{method} {path} is documented but not routed");
            }
        }
    }

    #[test]
    fn every_error_answer_is_described_by_the_error_body() {
        let document = serde_json::to_value(super::document()).unwrap();
        let codes = &document["components"]["schemas"]["ErrorDetail"]["properties"]["code"];
        for code in ["malformed_json", "not_found", "bad_parameter", "internal"] {
            assert!(
                codes["enum"].as_array().unwrap().contains(&code.into()),
                "{codes}"
            );
        }
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    let json = &response["content"]["application/json"]["schema"]["$ref"];
                    if status.starts_with('4') || status.starts_with('5') {
                        let html = response["content"].get("text/html").is_some();
                        assert!(
                            html || json == "#/components/schemas/ErrorBody",
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }
}
