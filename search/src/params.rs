//! Query-string parameters of `/v1/search` and `/v1/stats`, checked into typed queries.

use serde::Serialize;
use yiqi_schema::protocol::labels::{self, Enumeration};
use yiqi_schema::{classification, regions};

/// A parameter the hub answers with 400 `bad_parameter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct ParamError {
    pub parameter: String,
    pub message: String,
}

impl ParamError {
    pub fn new(parameter: &str, message: impl Into<String>) -> ParamError {
        ParamError {
            parameter: parameter.to_string(),
            message: message.into(),
        }
    }
}

/// The decoded `name=value` pairs of a query string, in order: what every endpoint of the hub
/// and the nodes checks its parameters from.
pub fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// Longest accepted `q`, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Default and largest `limit`.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
/// Deep paging bound: `offset + limit` may not exceed this.
pub const MAX_WINDOW: usize = 10_000;
/// Longest accepted `province` or `city`, as in the record schema.
const MAX_PLACE_CHARS: usize = 50;

/// The order of hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sort {
    /// Best match first; with an empty `q`, most recently updated first.
    #[default]
    Relevance,
    /// Highest `original_value_cny` first; records without a value last.
    ValueDesc,
    /// Most recent `updated_at` first.
    UpdatedDesc,
}

impl Sort {
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::ValueDesc => "value_desc",
            Sort::UpdatedDesc => "updated_desc",
        }
    }

    fn parse(value: &str) -> Option<Sort> {
        [Sort::Relevance, Sort::ValueDesc, Sort::UpdatedDesc]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// A checked `/v1/search` request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchQuery {
    /// Free text; empty matches every record.
    pub q: String,
    pub region: Option<String>,
    /// A classification code of any level; descendants are included.
    pub category: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub sharing: Option<String>,
    pub status: Option<String>,
    pub min_value: Option<u64>,
    pub max_value: Option<u64>,
    /// Only instruments idle in this year: reporting run hours for it under `idle_below`.
    pub idle: Option<u16>,
    /// The idle threshold of `idle`, in run hours a year.
    pub idle_below: u32,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
}

impl Default for SearchQuery {
    fn default() -> SearchQuery {
        SearchQuery {
            q: String::new(),
            region: None,
            category: None,
            province: None,
            city: None,
            sharing: None,
            status: None,
            min_value: None,
            max_value: None,
            idle: None,
            idle_below: crate::utilisation::DEFAULT_IDLE_HOURS,
            sort: Sort::Relevance,
            offset: 0,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// Rejects a parameter given twice.
pub(crate) fn once<'a>(seen: &mut Vec<&'a str>, name: &'a str) -> Result<(), ParamError> {
    if seen.contains(&name) {
        return Err(ParamError::new(name, "given more than once"));
    }
    seen.push(name);
    Ok(())
}

/// `None` for an empty value (an unselected form field), the value otherwise.
fn non_empty(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty()).then_some(value)
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ParamError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    let parsed = digits.then(|| value.parse().ok()).flatten();
    parsed.ok_or_else(|| ParamError::new(name, format!("not a non-negative integer: {value:?}")))
}

fn optional_number(name: &str, value: &str) -> Result<Option<u64>, ParamError> {
    non_empty(value).map(|v| number(name, v)).transpose()
}

pub(crate) fn region(value: &str) -> Result<Option<String>, ParamError> {
    let Some(value) = non_empty(value) else {
        return Ok(None);
    };
    if !regions::is_region(value) {
        return Err(ParamError::new(
            "region",
            format!("unknown region code {value:?} (e.g. CN-GS)"),
        ));
    }
    Ok(Some(value.to_string()))
}

fn one_of(name: &str, value: &str, allowed: &Enumeration) -> Result<Option<String>, ParamError> {
    let Some(value) = non_empty(value) else {
        return Ok(None);
    };
    if !allowed.contains(value) {
        let codes: Vec<&str> = allowed.codes().collect();
        return Err(ParamError::new(
            name,
            format!("must be one of {}", codes.join(", ")),
        ));
    }
    Ok(Some(value.to_string()))
}

fn place(name: &str, value: &str) -> Result<Option<String>, ParamError> {
    let Some(value) = non_empty(value) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_PLACE_CHARS {
        return Err(ParamError::new(
            name,
            format!("longer than {MAX_PLACE_CHARS} characters"),
        ));
    }
    Ok(Some(value.to_string()))
}

impl SearchQuery {
    /// Checks the query-string parameters of `/v1/search` (and of the search page).
    pub fn from_params(params: &[(String, String)]) -> Result<SearchQuery, ParamError> {
        let mut query = SearchQuery::default();
        let mut seen = Vec::new();
        for (name, value) in params {
            once(&mut seen, name)?;
            query.set(name, value)?;
        }
        query.check_bounds()?;
        Ok(query)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), ParamError> {
        match name {
            "q" => self.q = checked_q(value)?,
            "region" => self.region = region(value)?,
            "category" => self.category = category(value)?,
            "province" => self.province = place(name, value)?,
            "city" => self.city = place(name, value)?,
            "sharing" => self.sharing = one_of(name, value, &labels::SHARING_MODE)?,
            "status" => self.status = one_of(name, value, &labels::STATUS)?,
            "min_value" => self.min_value = optional_number(name, value)?,
            "max_value" => self.max_value = optional_number(name, value)?,
            "idle" => {
                self.idle = non_empty(value)
                    .map(crate::utilisation::year_param)
                    .transpose()?;
            }
            "idle_below" => self.idle_below = crate::utilisation::idle_below(value)?,
            "sort" => self.sort = sort(value)?,
            "offset" => self.offset = non_empty(value).map_or(Ok(0), |v| number(name, v))?,
            "limit" => {
                self.limit = non_empty(value).map_or(Ok(DEFAULT_LIMIT), |v| number(name, v))?;
            }
            _ => return Err(ParamError::new(name, "unknown parameter")),
        }
        Ok(())
    }

    fn check_bounds(&self) -> Result<(), ParamError> {
        if self.limit > MAX_LIMIT {
            return Err(ParamError::new("limit", format!("at most {MAX_LIMIT}")));
        }
        if self.offset.saturating_add(self.limit) > MAX_WINDOW {
            return Err(ParamError::new(
                "offset",
                format!("offset + limit may not exceed {MAX_WINDOW}"),
            ));
        }
        if let (Some(min), Some(max)) = (self.min_value, self.max_value)
            && min > max
        {
            return Err(ParamError::new("max_value", "smaller than min_value"));
        }
        Ok(())
    }

    /// The parameters that reproduce this query (defaults left out), for links.
    pub fn to_params(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                out.push((name.to_string(), value));
            }
        };
        push("q", non_empty(&self.q).map(str::to_string));
        push("region", self.region.clone());
        push("category", self.category.clone());
        push("province", self.province.clone());
        push("city", self.city.clone());
        push("sharing", self.sharing.clone());
        push("status", self.status.clone());
        push("min_value", self.min_value.map(|v| v.to_string()));
        push("max_value", self.max_value.map(|v| v.to_string()));
        push("idle", self.idle.map(|y| y.to_string()));
        push(
            "idle_below",
            (self.idle_below != crate::utilisation::DEFAULT_IDLE_HOURS)
                .then(|| self.idle_below.to_string()),
        );
        push(
            "sort",
            (self.sort != Sort::Relevance).then(|| self.sort.as_str().to_string()),
        );
        push(
            "offset",
            (self.offset != 0).then(|| self.offset.to_string()),
        );
        push(
            "limit",
            (self.limit != DEFAULT_LIMIT).then(|| self.limit.to_string()),
        );
        out
    }
}

fn checked_q(value: &str) -> Result<String, ParamError> {
    if value.chars().count() > MAX_QUERY_CHARS {
        return Err(ParamError::new(
            "q",
            format!("longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(value.trim().to_string())
}

pub(crate) fn category(value: &str) -> Result<Option<String>, ParamError> {
    let Some(value) = non_empty(value) else {
        return Ok(None);
    };
    if classification::get(value).is_none() {
        return Err(ParamError::new(
            "category",
            format!("not a code of the national classification: {value:?}"),
        ));
    }
    Ok(Some(value.to_string()))
}

fn sort(value: &str) -> Result<Sort, ParamError> {
    let Some(value) = non_empty(value) else {
        return Ok(Sort::Relevance);
    };
    Sort::parse(value)
        .ok_or_else(|| ParamError::new("sort", "must be relevance, value_desc or updated_desc"))
}

/// What `/v1/stats` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum GroupBy {
    #[default]
    Region,
    Province,
    /// The top-level class of the national classification.
    Category,
    Institution,
    CarrierType,
    Sharing,
    Status,
    /// `usage.year`.
    Year,
}

pub const GROUP_BYS: [GroupBy; 8] = [
    GroupBy::Region,
    GroupBy::Province,
    GroupBy::Category,
    GroupBy::Institution,
    GroupBy::CarrierType,
    GroupBy::Sharing,
    GroupBy::Status,
    GroupBy::Year,
];

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Region => "region",
            GroupBy::Province => "province",
            GroupBy::Category => "category",
            GroupBy::Institution => "institution",
            GroupBy::CarrierType => "carrier_type",
            GroupBy::Sharing => "sharing",
            GroupBy::Status => "status",
            GroupBy::Year => "year",
        }
    }
}

/// The representation `/v1/stats` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum StatsFormat {
    #[default]
    Json,
    Csv,
}

/// A checked `/v1/stats` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct StatsQuery {
    /// Default: region.
    pub group_by: GroupBy,
    /// Only the records of this region.
    pub region: Option<String>,
    /// Only the records of this class of the classification (any level; descendants included).
    pub category: Option<String>,
    pub format: StatsFormat,
}

impl StatsQuery {
    /// Checks the query-string parameters of `/v1/stats`.
    pub fn from_params(params: &[(String, String)]) -> Result<StatsQuery, ParamError> {
        let mut query = StatsQuery::default();
        let mut seen = Vec::new();
        for (name, value) in params {
            once(&mut seen, name)?;
            match name.as_str() {
                "group_by" => query.group_by = group_by(value)?,
                "region" => query.region = region(value)?,
                "category" => query.category = category(value)?,
                "format" => query.format = format(value)?,
                _ => return Err(ParamError::new(name, "unknown parameter")),
            }
        }
        Ok(query)
    }
}

fn group_by(value: &str) -> Result<GroupBy, ParamError> {
    let Some(value) = non_empty(value) else {
        return Ok(GroupBy::Region);
    };
    GROUP_BYS
        .into_iter()
        .find(|g| g.as_str() == value)
        .ok_or_else(|| {
            let names: Vec<&str> = GROUP_BYS.iter().map(|g| g.as_str()).collect();
            ParamError::new("group_by", format!("must be one of {}", names.join(", ")))
        })
}

pub(crate) fn format(value: &str) -> Result<StatsFormat, ParamError> {
    match non_empty(value) {
        None | Some("json") => Ok(StatsFormat::Json),
        Some("csv") => Ok(StatsFormat::Csv),
        Some(_) => Err(ParamError::new("format", "must be json or csv")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        SearchQuery::from_params(&params(pairs))
            .unwrap_err()
            .parameter
    }

    #[test]
    fn defaults() {
        let query = SearchQuery::from_params(&[]).unwrap();
        assert_eq!(query, SearchQuery::default());
        assert_eq!(
            (query.limit, query.offset, query.sort),
            (20, 0, Sort::Relevance)
        );
    }

    #[test]
    fn every_parameter_parses() {
        let query = SearchQuery::from_params(&params(&[
            ("q", " 电镜 "),
            ("region", "CN-GS"),
            ("category", "010100"),
            ("province", "甘肃省"),
            ("city", "兰州市"),
            ("sharing", "external"),
            ("status", "normal"),
            ("min_value", "100"),
            ("max_value", "200"),
            ("sort", "value_desc"),
            ("offset", "40"),
            ("limit", "100"),
        ]))
        .unwrap();
        assert_eq!(query.q, "电镜");
        assert_eq!(query.min_value, Some(100));
        assert_eq!(
            (query.offset, query.limit, query.sort),
            (40, 100, Sort::ValueDesc)
        );
        assert_eq!(SearchQuery::from_params(&query.to_params()).unwrap(), query);
    }

    #[test]
    fn empty_values_mean_unset() {
        let query =
            SearchQuery::from_params(&params(&[("region", ""), ("limit", ""), ("sort", "")]))
                .unwrap();
        assert_eq!(query, SearchQuery::default());
    }

    #[test]
    fn bad_parameters_are_named() {
        assert_eq!(error(&[("min_value", "abc")]), "min_value");
        assert_eq!(error(&[("max_value", "-5")]), "max_value");
        assert_eq!(
            error(&[("min_value", "99999999999999999999999")]),
            "min_value"
        );
        assert_eq!(error(&[("sort", "price")]), "sort");
        assert_eq!(error(&[("limit", "101")]), "limit");
        assert_eq!(error(&[("limit", "x")]), "limit");
        assert_eq!(error(&[("offset", "9990"), ("limit", "20")]), "offset");
        assert_eq!(error(&[("region", "CN-XX")]), "region");
        assert_eq!(error(&[("category", "999999")]), "category");
        assert_eq!(error(&[("sharing", "public")]), "sharing");
        assert_eq!(error(&[("status", "broken")]), "status");
        assert_eq!(error(&[("colour", "red")]), "colour");
        assert_eq!(error(&[("q", "a"), ("q", "b")]), "q");
        assert_eq!(error(&[("q", &"长".repeat(201))]), "q");
        assert_eq!(error(&[("city", &"长".repeat(51))]), "city");
        assert_eq!(
            error(&[("min_value", "10"), ("max_value", "5")]),
            "max_value"
        );
        assert!(SearchQuery::from_params(&params(&[("offset", "9980"), ("limit", "20")])).is_ok());
    }

    #[test]
    fn stats_parameters() {
        let query = StatsQuery::from_params(&params(&[
            ("group_by", "year"),
            ("region", "CN-BJ"),
            ("category", "010100"),
            ("format", "csv"),
        ]))
        .unwrap();
        assert_eq!(query.category.as_deref(), Some("010100"));
        assert_eq!(query.group_by, GroupBy::Year);
        assert_eq!(query.format, StatsFormat::Csv);
        assert_eq!(
            StatsQuery::from_params(&[]).unwrap().group_by,
            GroupBy::Region
        );
        let bad = |pairs: &[(&str, &str)]| {
            StatsQuery::from_params(&params(pairs))
                .unwrap_err()
                .parameter
        };
        assert_eq!(bad(&[("group_by", "colour")]), "group_by");
        assert_eq!(bad(&[("format", "xml")]), "format");
        assert_eq!(bad(&[("region", "XX")]), "region");
        assert_eq!(bad(&[("category", "999999")]), "category");
        assert_eq!(bad(&[("q", "x")]), "q");
    }
}
