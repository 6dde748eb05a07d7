//! The record's enumerations with their Chinese and English labels, in one place.
//!
//! Pages, statistics, the search parameters and the importers all speak of the same values; they
//! take the codes and labels from here, and a test ties every list to the JSON Schema's `$defs`,
//! so a value added to the schema without a label (or the reverse) fails the build's tests.

/// One enumerated value: the code records carry, and its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    pub code: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
}

/// An enumeration of the record: the `$defs` entry that defines it and its values in schema order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enumeration {
    /// The name of its definition in the JSON Schema's `$defs`.
    pub def: &'static str,
    /// The record fields that use it (dotted paths).
    pub fields: &'static [&'static str],
    pub values: &'static [Label],
}

const fn label(code: &'static str, zh: &'static str, en: &'static str) -> Label {
    Label { code, zh, en }
}

impl Enumeration {
    /// The label of `code`, if it is one of this enumeration's values.
    pub fn label(&self, code: &str) -> Option<&'static Label> {
        self.values.iter().find(|l| l.code == code)
    }

    pub fn contains(&self, code: &str) -> bool {
        self.label(code).is_some()
    }

    /// The codes, in schema order.
    pub fn codes(&self) -> impl Iterator<Item = &'static str> + use<> {
        self.values.iter().map(|l| l.code)
    }

    /// The position of `code` in schema order (statistics keep counts by it).
    pub fn position(&self, code: &str) -> Option<usize> {
        self.values.iter().position(|l| l.code == code)
    }

    /// The Chinese label of `code`, or the code itself for a value this build does not know.
    pub fn zh<'a>(&self, code: &'a str) -> &'a str {
        self.label(code).map_or(code, |l| l.zh)
    }
}

/// `sharing.mode` (共享模式).
pub const SHARING_MODE: Enumeration = Enumeration {
    def: "sharing_mode",
    fields: &["sharing.mode"],
    values: &[
        label("external", "对外共享", "shared externally"),
        label("internal", "内部共享", "shared internally"),
        label("none", "不共享", "not shared"),
    ],
};

/// `status` (运行状态). `standby` (闲置) is the platform's own report that an instrument stands
/// idle; it is not the utilisation figure "under the idle threshold of run hours".
pub const STATUS: Enumeration = Enumeration {
    def: "status",
    fields: &["status"],
    values: &[
        label("normal", "正常", "in service"),
        label("occasional_fault", "偶有故障", "occasional faults"),
        label("frequent_fault", "故障频繁", "frequent faults"),
        label("awaiting_repair", "待修", "awaiting repair"),
        label("awaiting_disposal", "待报废", "awaiting disposal"),
        label("standby", "闲置", "standing idle (reported)"),
        label("remote_service", "远程服务", "remote service"),
    ],
};

/// `source` (仪器来源).
pub const SOURCE: Enumeration = Enumeration {
    def: "source",
    fields: &["source"],
    values: &[
        label("purchased", "购置", "purchased"),
        label("developed", "研制", "developed in house"),
        label("donated", "捐赠", "donated"),
        label("other", "其他", "other"),
    ],
};

/// `instrument_type` (仪器类型).
pub const INSTRUMENT_TYPE: Enumeration = Enumeration {
    def: "instrument_type",
    fields: &["instrument_type"],
    values: &[
        label("general", "通用", "general purpose"),
        label("special", "专用", "special purpose"),
    ],
};

/// `carrier.type` (所属资源载体).
pub const CARRIER_TYPE: Enumeration = Enumeration {
    def: "carrier_type",
    fields: &["carrier.type"],
    values: &[
        label("facility", "大型科研设施", "research facility"),
        label("instrument_center", "分析测试中心", "instrument centre"),
        label("state_key_lab", "国家重点实验室", "state key laboratory"),
        label(
            "engineering_center",
            "工程技术研究中心",
            "engineering research centre",
        ),
        label("biobank", "生物样本库", "biobank"),
        label("other", "其他", "other"),
    ],
};

/// `funding[]` (主要购置经费来源).
pub const FUNDING: Enumeration = Enumeration {
    def: "funding",
    fields: &["funding"],
    values: &[
        label("central", "中央财政", "central government"),
        label("local", "地方财政", "local government"),
        label("own", "单位自筹", "own funds"),
        label("other", "其他", "other"),
    ],
};

/// `modes[]` of a service (服务方式).
pub const SERVICE_MODE: Enumeration = Enumeration {
    def: "service_mode",
    fields: &["modes"],
    values: &[
        label("occupancy", "占用共享", "occupancy (client operates)"),
        label("technical", "技术共享", "technical service"),
        label("commissioned", "委托共享", "commissioned testing"),
        label("remote", "远程共享", "remote service"),
        label("other", "其他", "other"),
    ],
};

/// `client` of a service (服务对象).
pub const SERVICE_CLIENT: Enumeration = Enumeration {
    def: "service_client",
    fields: &["client"],
    values: &[
        label("internal", "内部用户", "internal user"),
        label("external", "外部用户", "external user"),
    ],
};

/// `purpose` of a service (服务类型).
pub const SERVICE_PURPOSE: Enumeration = Enumeration {
    def: "service_purpose",
    fields: &["purpose"],
    values: &[
        label("research", "科学研究", "research"),
        label("development", "科技开发", "technology development"),
        label("teaching", "教学", "teaching"),
        label("other", "其他", "other"),
    ],
};

/// `rating` of a service (用户评价及意见).
pub const SERVICE_RATING: Enumeration = Enumeration {
    def: "service_rating",
    fields: &["rating"],
    values: &[
        label("very_satisfied", "非常满意", "very satisfied"),
        label("satisfied", "基本满意", "satisfied"),
        label("fair", "一般", "fair"),
        label("dissatisfied", "不满意", "dissatisfied"),
        label("very_poor", "极差", "very poor"),
    ],
};

/// `client_institution.type` of a service (服务对象单位类型).
pub const CLIENT_TYPE: Enumeration = Enumeration {
    def: "client_type",
    fields: &["client_institution.type"],
    values: &[
        label("university", "高校", "university"),
        label("institute", "科研院所", "research institute"),
        label("enterprise", "企业", "enterprise"),
        label("sme", "中小企业", "small or medium enterprise"),
        label("government", "政府机构", "government body"),
        label("other", "其他", "other"),
    ],
};

/// `funding[]` of a service: the 17 national sources of the served project (服务经费来源).
pub const SERVICE_FUNDING: Enumeration = Enumeration {
    def: "service_funding",
    fields: &["funding"],
    values: &[
        label(
            "national_major_project",
            "国家重大科技专项",
            "national major S&T project",
        ),
        label(
            "nsfc",
            "国家自然科学基金",
            "National Natural Science Foundation",
        ),
        label("program_863", "863计划", "863 Program"),
        label(
            "key_technologies_program",
            "国家科技支撑（攻关）计划",
            "Key Technologies R&D Program",
        ),
        label("torch_program", "火炬计划", "Torch Program"),
        label("spark_program", "星火计划", "Spark Program"),
        label("program_973", "973计划", "973 Program"),
        label("project_211", "211工程", "Project 211"),
        label("project_985", "985工程", "Project 985"),
        label(
            "public_welfare_research",
            "公益性行业科研专项",
            "public welfare research project",
        ),
        label("nssf", "国家社会科学基金", "National Social Science Fund"),
        label(
            "basic_work_program",
            "国家科技基础性工作专项",
            "national basic S&T work project",
        ),
        label(
            "platform_program",
            "科技基础条件平台专项",
            "S&T platform project",
        ),
        label(
            "other_central",
            "除上述计划外由中央政府部门下达",
            "other central government project",
        ),
        label("local_program", "地方科技计划项目", "local S&T programme"),
        label("other", "其他", "other"),
        label("none", "无", "none"),
    ],
};

/// Every enumeration of the instrument record.
pub const ENUMERATIONS: [&Enumeration; 6] = [
    &SHARING_MODE,
    &STATUS,
    &SOURCE,
    &INSTRUMENT_TYPE,
    &CARRIER_TYPE,
    &FUNDING,
];

/// Every enumeration of the service record.
pub const SERVICE_ENUMERATIONS: [&Enumeration; 6] = [
    &SERVICE_MODE,
    &SERVICE_CLIENT,
    &SERVICE_PURPOSE,
    &SERVICE_RATING,
    &CLIENT_TYPE,
    &SERVICE_FUNDING,
];

/// The enumeration an instrument record field (dotted path) takes its values from.
pub fn of_field(field: &str) -> Option<&'static Enumeration> {
    ENUMERATIONS.into_iter().find(|e| e.fields.contains(&field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enumeration_is_the_schema_definition_of_the_same_name() {
        let schema = crate::validate::schema_value();
        for enumeration in ENUMERATIONS.iter().chain(&SERVICE_ENUMERATIONS) {
            let listed: Vec<&str> = schema["$defs"][enumeration.def]["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("$defs/{} has no enum", enumeration.def))
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(listed, enumeration.codes().collect::<Vec<_>>());
        }
    }

    #[test]
    fn every_enumerated_field_of_the_schema_has_labels() {
        let schema = crate::validate::schema_value();
        let defs = schema["$defs"].as_object().unwrap();
        let referenced: Vec<&str> = defs
            .iter()
            .filter(|(_, def)| def.get("enum").is_some())
            .map(|(name, _)| name.as_str())
            .filter(|name| !matches!(*name, "region" | "category"))
            .collect();
        let labelled: Vec<&str> = ENUMERATIONS
            .iter()
            .chain(&SERVICE_ENUMERATIONS)
            .map(|e| e.def)
            .collect();
        for name in referenced {
            assert!(labelled.contains(&name), "$defs/{name} has no labels");
        }
    }

    #[test]
    fn labels_are_found_by_field_and_code() {
        assert_eq!(of_field("sharing.mode"), Some(&SHARING_MODE));
        assert_eq!(STATUS.label("standby").unwrap().zh, "闲置");
        assert_eq!(STATUS.zh("unheard_of"), "unheard_of");
        assert_eq!(CARRIER_TYPE.position("biobank"), Some(4));
        assert!(!FUNDING.contains("foreign"));
    }
}
