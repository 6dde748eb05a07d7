//! The record fields a column can fill, written as dotted paths (`contact.email`), and the kind
//! of value each one holds. The kind decides how a cell is converted, so a mapping file only has
//! to name the field.

use serde_json::{Map, Value};

/// How a cell becomes a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    /// The record's key: text limited to `[A-Za-z0-9._~-]{1,64}`.
    LocalId,
    /// A code of the national classification, given as a code, "code name" or an exact name.
    Category,
    /// A decimal amount in yuan, stored as integer yuan.
    Yuan,
    /// A decimal amount in 万元 (10,000 yuan), stored as integer yuan.
    WanYuan,
    /// A calendar date, stored as `YYYY-MM-DD`.
    Date,
    /// A country, given as its Chinese name or ISO 3166 alpha-2 code.
    Country,
    Integer,
    Number,
    Boolean,
    /// Several texts separated by commas, 、 or semicolons.
    TextList,
    /// The NRII picture column: a URL goes to `image_url`, a bare file name to `ext.image_file`.
    ImageReference,
}

/// Every schema field a column may fill, with the kind of its value. `ext.*` paths are free text.
const FIELDS: &[(&str, ValueKind)] = &[
    ("local_id", ValueKind::LocalId),
    ("name", ValueKind::Text),
    ("name_en", ValueKind::Text),
    ("category", ValueKind::Category),
    ("model", ValueKind::Text),
    ("manufacturer", ValueKind::Text),
    ("country_of_origin", ValueKind::Country),
    ("original_value_cny", ValueKind::Yuan),
    ("commissioned_on", ValueKind::Date),
    ("source", ValueKind::Text),
    ("instrument_type", ValueKind::Text),
    ("institution.name", ValueKind::Text),
    ("institution.code", ValueKind::Text),
    ("institution.department", ValueKind::Text),
    ("carrier.type", ValueKind::Text),
    ("carrier.name", ValueKind::Text),
    ("location.province", ValueKind::Text),
    ("location.city", ValueKind::Text),
    ("location.district", ValueKind::Text),
    ("location.address", ValueKind::Text),
    ("location.lat", ValueKind::Number),
    ("location.lon", ValueKind::Number),
    ("specs", ValueKind::Text),
    ("functions", ValueKind::Text),
    ("service_content", ValueKind::Text),
    ("user_notice", ValueKind::Text),
    ("fee", ValueKind::Text),
    ("subjects", ValueKind::TextList),
    ("keywords", ValueKind::TextList),
    ("sharing.mode", ValueKind::Text),
    ("sharing.booking_url", ValueKind::Text),
    ("status", ValueKind::Text),
    ("usage.year", ValueKind::Integer),
    ("usage.run_hours", ValueKind::Integer),
    ("usage.external_service_hours", ValueKind::Integer),
    ("contact.name", ValueKind::Text),
    ("contact.phone", ValueKind::Text),
    ("contact.email", ValueKind::Text),
    ("contact.address", ValueKind::Text),
    ("contact.postcode", ValueKind::Text),
    ("funding", ValueKind::TextList),
    ("customs_supervised", ValueKind::Boolean),
    ("image_url", ValueKind::Text),
];

/// The kind of value the field at `path` holds, or `None` if no column may fill it.
pub fn kind_of(path: &str) -> Option<ValueKind> {
    if let Some(rest) = path.strip_prefix("ext.") {
        return rest
            .split('.')
            .all(|s| !s.is_empty())
            .then_some(ValueKind::Text);
    }
    FIELDS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, kind)| *kind)
}

/// Whether `path` is a platform-specific field under `ext`.
pub fn is_extension(path: &str) -> bool {
    path.starts_with("ext.")
}

/// The JSON Pointer of a dotted path, as the schema's violations spell it.
pub fn pointer(path: &str) -> String {
    path.split('.')
        .map(|segment| format!("/{}", segment.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Whether one path lies inside the other (`contact` and `contact.email`), so both cannot be set.
pub fn overlaps(a: &str, b: &str) -> bool {
    let nested = |outer: &str, inner: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    nested(a, b) || nested(b, a)
}

/// Sets the field at `path`, creating the enclosing objects.
///
/// Paths come from the tables in this module or from a checked mapping, so an enclosing value
/// that is not an object can only come from a native record; it is reported, not overwritten.
pub fn insert(record: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), String> {
    let mut segments = path.split('.').peekable();
    let mut object = record;
    while let Some(segment) = segments.next() {
        if segments.peek().is_none() {
            object.insert(segment.to_owned(), value);
            return Ok(());
        }
        let child = object
            .entry(segment.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        object = child
            .as_object_mut()
            .ok_or_else(|| format!("{} is not an object", pointer(segment)))?;
    }
    Ok(())
}

/// The value at `path`, if present.
pub fn get<'a>(record: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let first = record.get(segments.next()?)?;
    segments.try_fold(first, |value, segment| value.get(segment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema_leaf_paths() -> Vec<String> {
        let schema = yiqi_schema::validate::schema_value();
        let properties = schema["$defs"]["instrument"]["properties"]
            .as_object()
            .unwrap();
        let mut paths = Vec::new();
        for (name, definition) in properties {
            match definition.get("properties").and_then(Value::as_object) {
                Some(children) => paths.extend(children.keys().map(|c| format!("{name}.{c}"))),
                None => paths.push(name.clone()),
            }
        }
        paths
    }

    #[test]
    fn every_schema_field_but_the_node_owned_ones_can_be_filled() {
        let node_owned = ["kind", "region", "version", "updated_at", "ext"];
        for path in schema_leaf_paths() {
            let fillable = kind_of(&path).is_some();
            assert_eq!(fillable, !node_owned.contains(&path.as_str()), "{path}");
        }
        assert_eq!(kind_of("ext.asset_number"), Some(ValueKind::Text));
        assert_eq!(kind_of("ext."), None);
        assert_eq!(kind_of("contact"), None);
    }

    #[test]
    fn builds_nested_objects_and_pointers() {
        let mut record = Map::new();
        insert(&mut record, "contact.email", json!("a@b.cn")).unwrap();
        insert(&mut record, "contact.name", json!("王")).unwrap();
        insert(&mut record, "name", json!("x")).unwrap();
        assert_eq!(
            Value::Object(record.clone()),
            json!({"contact": {"email": "a@b.cn", "name": "王"}, "name": "x"})
        );
        assert_eq!(get(&record, "contact.name"), Some(&json!("王")));
        assert!(insert(&mut record, "name.first", json!("y")).is_err());
        assert_eq!(pointer("ext.a/b"), "/ext/a~1b");
        assert!(overlaps("ext.a", "ext.a.b") && !overlaps("ext.a", "ext.ab"));
    }
}
