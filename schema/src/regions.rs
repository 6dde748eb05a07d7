//! The 34 provincial-level regions of China as ISO 3166-2:CN codes, with their names.

/// `(code, Chinese name, English name)` for every region a record may come from.
pub const REGIONS: [(&str, &str, &str); 34] = [
    ("CN-BJ", "北京市", "Beijing"),
    ("CN-TJ", "天津市", "Tianjin"),
    ("CN-HE", "河北省", "Hebei"),
    ("CN-SX", "山西省", "Shanxi"),
    ("CN-NM", "内蒙古自治区", "Inner Mongolia"),
    ("CN-LN", "辽宁省", "Liaoning"),
    ("CN-JL", "吉林省", "Jilin"),
    ("CN-HL", "黑龙江省", "Heilongjiang"),
    ("CN-SH", "上海市", "Shanghai"),
    ("CN-JS", "江苏省", "Jiangsu"),
    ("CN-ZJ", "浙江省", "Zhejiang"),
    ("CN-AH", "安徽省", "Anhui"),
    ("CN-FJ", "福建省", "Fujian"),
    ("CN-JX", "江西省", "Jiangxi"),
    ("CN-SD", "山东省", "Shandong"),
    ("CN-HA", "河南省", "Henan"),
    ("CN-HB", "湖北省", "Hubei"),
    ("CN-HN", "湖南省", "Hunan"),
    ("CN-GD", "广东省", "Guangdong"),
    ("CN-GX", "广西壮族自治区", "Guangxi"),
    ("CN-HI", "海南省", "Hainan"),
    ("CN-CQ", "重庆市", "Chongqing"),
    ("CN-SC", "四川省", "Sichuan"),
    ("CN-GZ", "贵州省", "Guizhou"),
    ("CN-YN", "云南省", "Yunnan"),
    ("CN-XZ", "西藏自治区", "Tibet"),
    ("CN-SN", "陕西省", "Shaanxi"),
    ("CN-GS", "甘肃省", "Gansu"),
    ("CN-QH", "青海省", "Qinghai"),
    ("CN-NX", "宁夏回族自治区", "Ningxia"),
    ("CN-XJ", "新疆维吾尔自治区", "Xinjiang"),
    ("CN-HK", "香港特别行政区", "Hong Kong"),
    ("CN-MO", "澳门特别行政区", "Macao"),
    ("CN-TW", "台湾省", "Taiwan"),
];

/// Whether `code` is one of the 34 region codes.
pub fn is_region(code: &str) -> bool {
    REGIONS.iter().any(|(c, _, _)| *c == code)
}

/// The Chinese name of a region code.
pub fn name_zh(code: &str) -> Option<&'static str> {
    REGIONS.iter().find(|(c, _, _)| *c == code).map(|r| r.1)
}

/// The English name of a region code.
pub fn name_en(code: &str) -> Option<&'static str> {
    REGIONS.iter().find(|(c, _, _)| *c == code).map(|r| r.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_enum_lists_the_same_regions() {
        let schema = crate::validate::schema_value();
        let listed: Vec<&str> = schema["$defs"]["region"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = REGIONS.iter().map(|r| r.0).collect();
        assert_eq!(listed, ours);
        assert!(is_region("CN-GS") && !is_region("CN-XX"));
        assert_eq!(name_zh("CN-SC"), Some("四川省"));
    }
}
