//! `/v1/utilisation`, `/v1/flows` and the `/utilisation` page, mounted by
//! [`crate::http::read_routes`] on the hub and every serving node alike.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{FlowsQuery, UtilisationQuery, year_param};
use crate::http::{ApiError, Catalogue, question, statistics_ready};
use crate::pages::{UtilisationView, utilisation_page, warming_up_page};
use crate::params::{SearchQuery, Sort, StatsFormat, pairs};

/// How many idle instruments the page lists.
const TOP_IDLE: usize = 20;

/// The utilisation routes over any host that is a [`Catalogue`].
pub fn routes<C: Catalogue>() -> Router<Arc<C>> {
    Router::new()
        .route("/v1/utilisation", get(utilisation_api::<C>))
        .route("/v1/flows", get(flows_api::<C>))
        .route("/utilisation", get(utilisation_html::<C>))
}

/// A CSV attachment named `file`.
pub(crate) fn csv_response(file: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /v1/utilisation`.
#[utoipa::path(get, path = "/v1/utilisation", tag = "read",
    params(crate::openapi::UtilisationParams),
    responses(
        (status = 200, description = "Utilisation of year Y by group, exact (docs/protocol.md §6.6); CSV with format=csv", content(
            (Object = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "`bad_parameter`", body = yiqi_schema::protocol::ErrorBody),
        (status = 503, description = "`warming_up`: the statistics are being rebuilt after a restart; `Retry-After` says when to retry", body = yiqi_schema::protocol::ErrorBody),
    ))]
pub(crate) async fn utilisation_api<C: Catalogue>(
    State(host): State<Arc<C>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = UtilisationQuery::from_params(&pairs(raw.as_deref()))?;
    statistics_ready(host.as_ref())?;
    let search = host.search().clone();
    let csv = query.format == StatsFormat::Csv;
    let answer = question(move || Ok(search.utilisation(&query))).await?;
    if csv {
        let file = format!("yiqi-utilisation-{}-{}.csv", answer.year, answer.group_by);
        return Ok(csv_response(&file, answer.to_csv()));
    }
    Ok(axum::Json(answer).into_response())
}

/// `GET /v1/flows`.
#[utoipa::path(get, path = "/v1/flows", tag = "read",
    params(crate::openapi::FlowsParams),
    responses(
        (status = 200, description = "Services of year Y by client region and owner region; CSV with format=csv", content(
            (Object = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "`bad_parameter`", body = yiqi_schema::protocol::ErrorBody),
        (status = 503, description = "`warming_up`: the statistics are being rebuilt after a restart; `Retry-After` says when to retry", body = yiqi_schema::protocol::ErrorBody),
    ))]
pub(crate) async fn flows_api<C: Catalogue>(
    State(host): State<Arc<C>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = FlowsQuery::from_params(&pairs(raw.as_deref()))?;
    statistics_ready(host.as_ref())?;
    let search = host.search().clone();
    let answer = question(move || Ok(search.flows(query.year))).await?;
    if query.format == StatsFormat::Csv {
        let file = format!("yiqi-flows-{}.csv", answer.year);
        return Ok(csv_response(&file, answer.to_csv()));
    }
    Ok(axum::Json(answer).into_response())
}

/// `GET /utilisation`: the utilisation page.
#[utoipa::path(get, path = "/utilisation", tag = "pages",
    params(crate::openapi::UtilisationPageParams),
    responses(
        (status = 200, description = "The utilisation page; while the statistics rebuild after a restart, a banner saying how far instead", body = String, content_type = "text/html"),
        (status = 400, description = "`bad_parameter`", body = yiqi_schema::protocol::ErrorBody),
    ))]
pub(crate) async fn utilisation_html<C: Catalogue>(
    State(host): State<Arc<C>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let chosen = pairs(raw.as_deref())
        .into_iter()
        .find(|(name, _)| name == "year")
        .map(|(_, value)| year_param(&value))
        .transpose()?;
    let served = host.served_by();
    if let Some(progress) = host.search().warming_up() {
        let page = warming_up_page("利用 Utilisation", &progress, &served);
        return Ok(page.into_response());
    }
    let search = host.search().clone();
    question(move || {
        let years = search.utilisation_years();
        let last_full_year = u16::try_from(time::OffsetDateTime::now_utc().year() - 1).ok();
        let year = chosen
            .or(years.first().copied())
            .or(last_full_year)
            .unwrap_or(super::DEFAULT_YEAR);
        let by_region = search.utilisation(&UtilisationQuery::year(year));
        let flows = search.flows(year);
        let idle = SearchQuery {
            idle: Some(year),
            sort: Sort::ValueDesc,
            limit: TOP_IDLE,
            ..SearchQuery::default()
        };
        let top_idle = search.search(&idle)?.hits;
        let view = UtilisationView {
            years: &years,
            by_region: &by_region,
            flows: &flows,
            top_idle: &top_idle,
        };
        Ok::<_, ApiError>(utilisation_page(&view, &served).into_response())
    })
    .await
}
