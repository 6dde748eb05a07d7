//! How crawlers and harvesters find a host's machine interfaces: the `<link>`s in every page's
//! head and `GET /.well-known/api-catalog` (RFC 9727, a linkset in JSON, RFC 9264) name the same
//! endpoints, from one list.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::http::Catalogue;
use crate::pages::ServedBy;

/// Where the API catalogue is (RFC 9727 §3).
pub const API_CATALOG_PATH: &str = "/.well-known/api-catalog";

/// One advertised interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Below the host's origin.
    pub path: &'static str,
    pub media_type: &'static str,
    pub title: &'static str,
}

/// The interfaces a host serves: OAI-PMH and the JSON search API on every host; the change
/// feed on the hub only (nodes do not serve it).
pub fn interfaces(served: &ServedBy) -> Vec<Interface> {
    let mut list = vec![
        Interface {
            path: "/oai",
            media_type: "text/xml",
            title: "OAI-PMH 2.0 repository (oai_dc, datacite, yiqi)",
        },
        Interface {
            path: "/v1/search",
            media_type: "application/json",
            title: "Search API",
        },
        Interface {
            path: crate::openapi::OPENAPI_PATH,
            media_type: "application/openapi+json",
            title: "OpenAPI 3.1 description of the HTTP API",
        },
    ];
    if matches!(served, ServedBy::Hub) {
        list.push(Interface {
            path: "/v1/feed",
            media_type: "application/json",
            title: "Change feed of signed records",
        });
    }
    list
}

/// `GET /.well-known/api-catalog`: every interface as an item of the catalogue, and each one as
/// a link context with its media type.
#[utoipa::path(get, path = "/.well-known/api-catalog", tag = "discovery",
    responses((status = 200, description = "A linkset (RFC 9264) naming the machine interfaces", body = Object, content_type = "application/linkset+json")))]
pub async fn api_catalog<C: Catalogue>(State(host): State<Arc<C>>, headers: HeaderMap) -> Response {
    let origin = crate::oai::origin(&headers);
    let interfaces = interfaces(&host.served_by());
    let items: Vec<Value> = interfaces
        .iter()
        .map(|i| json!({"href": format!("{origin}{}", i.path), "type": i.media_type, "title": i.title}))
        .collect();
    let mut linkset = vec![json!({"anchor": format!("{origin}{API_CATALOG_PATH}"), "item": items})];
    linkset.extend(interfaces.iter().filter(|i| i.path == "/oai").map(|i| {
        json!({"anchor": format!("{origin}{}", i.path),
            "describedby": [{"href": format!("{origin}{}?verb=Identify", i.path), "type": "text/xml"}]})
    }));
    // RFC 9727 §4.1: the JSON API's machine-readable description.
    linkset.push(json!({"anchor": format!("{origin}/v1/search"),
        "service-desc": [{"href": format!("{origin}{}", crate::openapi::OPENAPI_PATH),
            "type": "application/openapi+json"}]}));
    (
        [(
            header::CONTENT_TYPE,
            "application/linkset+json; profile=\"https://www.rfc-editor.org/info/rfc9727\"",
        )],
        json!({ "linkset": linkset }).to_string(),
    )
        .into_response()
}
