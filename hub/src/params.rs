//! Query-string checks of the hub's own endpoints (the feed, the admin API): decoded pairs, strict about unknown names, so a
//! typo in a parameter is a clear 400 instead of a silently ignored filter.

use crate::error::AppError;

pub use yiqi_search::params::pairs;

/// Refuses any parameter not in `known`, and any given twice.
pub fn only_known(pairs: &[(String, String)], known: &[&str]) -> Result<(), AppError> {
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(bad(
                name,
                format!("unknown parameter; expected one of {known:?}"),
            ));
        }
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(bad(name, "given more than once".into()));
        }
    }
    Ok(())
}

/// The value of `name`, if given.
pub fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// An unsigned integer parameter within `max`, or `default` when absent.
pub fn number(
    pairs: &[(String, String)],
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, AppError> {
    let Some(text) = value(pairs, name) else {
        return Ok(default);
    };
    let n: u64 = text
        .parse()
        .map_err(|_| bad(name, format!("{text:?} is not a non-negative integer")))?;
    if n > max {
        return Err(bad(name, format!("{n} is above the maximum of {max}")));
    }
    Ok(n)
}

/// An unsigned integer parameter, if given.
pub fn optional_number(pairs: &[(String, String)], name: &str) -> Result<Option<u64>, AppError> {
    value(pairs, name)
        .map(|_| number(pairs, name, 0, u64::MAX))
        .transpose()
}

/// A required unsigned integer parameter.
pub fn required_number(pairs: &[(String, String)], name: &str) -> Result<u64, AppError> {
    optional_number(pairs, name)?.ok_or_else(|| bad(name, "required parameter is missing".into()))
}

/// A region-code parameter, checked against the 34 codes.
pub fn region<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, AppError> {
    match value(pairs, name) {
        Some(code) if !yiqi_schema::regions::is_region(code) => Err(bad(
            name,
            format!("{code:?} is not an ISO 3166-2:CN region code"),
        )),
        other => Ok(other),
    }
}

pub fn bad(parameter: &str, message: String) -> AppError {
    AppError::BadParameter {
        parameter: parameter.to_owned(),
        message: format!("{parameter}: {message}"),
    }
}
