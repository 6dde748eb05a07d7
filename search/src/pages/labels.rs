//! Chinese and English labels of record fields; the labels of their enumerated values are
//! `yiqi_schema::protocol::labels`.

use yiqi_schema::protocol::labels;

/// `(path, Chinese, English)` for every field of the record schema, in display order.
pub const FIELDS: [(&str, &str, &str); 49] = [
    ("name", "仪器名称", "Name"),
    ("name_en", "英文名称", "English name"),
    ("category", "仪器分类", "Category"),
    ("model", "规格型号", "Model"),
    ("manufacturer", "生产厂商", "Manufacturer"),
    ("country_of_origin", "产地国别", "Country of origin"),
    ("original_value_cny", "原值", "Original value (CNY)"),
    ("commissioned_on", "启用日期", "Commissioned on"),
    ("source", "仪器来源", "Source"),
    ("instrument_type", "仪器类型", "Instrument type"),
    ("institution.name", "所属单位", "Institution"),
    (
        "institution.code",
        "统一社会信用代码",
        "Unified social credit code",
    ),
    ("institution.department", "所属部门", "Department"),
    ("carrier.type", "载体类型", "Carrier type"),
    ("carrier.name", "所属载体", "Carrier"),
    ("location.province", "省份", "Province"),
    ("location.city", "城市", "City"),
    ("location.district", "区县", "District"),
    ("location.address", "安放地址", "Address"),
    ("location.lat", "纬度", "Latitude"),
    ("location.lon", "经度", "Longitude"),
    ("specs", "主要技术指标", "Specifications"),
    ("functions", "主要功能", "Functions"),
    ("service_content", "服务内容", "Services"),
    ("user_notice", "用户须知", "User notice"),
    ("fee", "收费标准", "Fees"),
    ("subjects", "主要学科领域", "Subjects"),
    ("keywords", "关键词", "Keywords"),
    ("sharing.mode", "共享方式", "Sharing"),
    ("sharing.booking_url", "预约链接", "Booking"),
    ("status", "运行状态", "Status"),
    ("usage.year", "统计年度", "Usage year"),
    ("usage.run_hours", "年运行机时", "Run hours per year"),
    (
        "usage.external_service_hours",
        "对外服务机时",
        "External service hours",
    ),
    ("contact.name", "联系人", "Contact"),
    ("contact.phone", "联系电话", "Phone"),
    ("contact.email", "电子邮箱", "Email"),
    ("contact.address", "通讯地址", "Postal address"),
    ("contact.postcode", "邮政编码", "Postcode"),
    ("funding", "资金来源", "Funding"),
    ("customs_supervised", "海关监管", "Customs supervised"),
    ("image_url", "仪器图片", "Image"),
    ("ext", "平台扩展字段", "Platform fields"),
    ("region", "地区", "Region"),
    ("local_id", "本地编号", "Local ID"),
    ("version", "版本", "Version"),
    ("updated_at", "更新时间", "Updated at"),
    ("kind", "记录类型", "Kind"),
    ("deleted", "已删除", "Deleted"),
];

/// The Chinese label of an enumerated value of the field at `path`, or the value itself (for a
/// field without an enumeration, or a value this build does not know).
pub fn enum_label<'a>(path: &str, value: &'a str) -> &'a str {
    labels::of_field(path).map_or(value, |enumeration| enumeration.zh(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(enum_label("sharing.mode", "external"), "对外共享");
        assert_eq!(enum_label("status", "standby"), "闲置");
        assert_eq!(enum_label("funding", "central"), "中央财政");
        assert_eq!(enum_label("carrier.type", "biobank"), "生物样本库");
        assert_eq!(enum_label("name", "x"), "x");
        assert_eq!(enum_label("status", "new"), "new");
    }
}
