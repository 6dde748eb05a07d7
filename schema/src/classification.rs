//! The national classification of large research instruments (大型科学仪器设备分类), 739 codes in
//! three levels, shipped in the crate from `schema/data/instrument-classes.csv`.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The classification table as shipped (`code,parent,level,name_zh`).
pub const CLASSES_CSV: &str = include_str!("../data/instrument-classes.csv");

/// One class of the national classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    pub code: &'static str,
    /// The enclosing class; `None` for the 15 top-level classes.
    pub parent: Option<&'static str>,
    /// 1 (top), 2 (middle) or 3 (small).
    pub level: u8,
    pub name_zh: &'static str,
}

/// Every class, in the file's order.
pub fn all() -> &'static [Class] {
    static CLASSES: OnceLock<Vec<Class>> = OnceLock::new();
    CLASSES.get_or_init(|| CLASSES_CSV.lines().skip(1).filter_map(parse_line).collect())
}

fn parse_line(line: &'static str) -> Option<Class> {
    let mut cols = line.trim_end_matches('\r').split(',');
    let code = cols.next()?;
    let parent = cols.next()?;
    let level = cols.next()?.parse().ok()?;
    let name_zh = cols.next()?;
    Some(Class {
        code,
        parent: (!parent.is_empty()).then_some(parent),
        level,
        name_zh,
    })
}

fn by_code() -> &'static HashMap<&'static str, Class> {
    static INDEX: OnceLock<HashMap<&'static str, Class>> = OnceLock::new();
    INDEX.get_or_init(|| all().iter().map(|c| (c.code, *c)).collect())
}

/// The class with this code, if the classification has it.
pub fn get(code: &str) -> Option<Class> {
    by_code().get(code).copied()
}

/// The top-level class a code belongs to (itself for a top-level code).
pub fn top_level(code: &str) -> Option<Class> {
    let mut class = get(code)?;
    while let Some(parent) = class.parent {
        class = get(parent)?;
    }
    Some(class)
}

/// Whether `code` is `ancestor` or lies below it.
pub fn is_within(code: &str, ancestor: &str) -> bool {
    let mut current = get(code);
    while let Some(class) = current {
        if class.code == ancestor {
            return true;
        }
        current = class.parent.and_then(get);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_739_codes_in_three_levels() {
        assert_eq!(all().len(), 739);
        let top = all().iter().filter(|c| c.level == 1).count();
        let middle = all().iter().filter(|c| c.level == 2).count();
        assert_eq!((top, middle, all().len() - top - middle), (15, 93, 631));
        assert!(all().iter().all(|c| c.code.len() == 6));
        assert!(
            all()
                .iter()
                .all(|c| c.parent.is_none_or(|p| get(p).is_some()))
        );
    }

    #[test]
    fn walks_up_the_tree() {
        assert_eq!(get("010000").unwrap().name_zh, "分析仪器");
        let small = all().iter().find(|c| c.level == 3).unwrap();
        assert_eq!(top_level(small.code).unwrap().level, 1);
        assert!(is_within(small.code, small.parent.unwrap()));
        assert!(is_within(small.code, top_level(small.code).unwrap().code));
        assert!(!is_within("010000", small.code));
        assert!(get("999999").is_none());
    }
}
