//! A complete, valid record for tests across the workspace.

use serde_json::{Value, json};

/// A record that uses every field of the schema and passes validation.
pub fn sample_record() -> Value {
    json!({
        "kind": "instrument",
        "region": "CN-GS",
        "local_id": "GS-0001",
        "version": 3,
        "updated_at": "2026-03-01T08:00:00Z",
        "name": "场发射透射电子显微镜",
        "name_en": "Field emission transmission electron microscope",
        "category": "010101",
        "model": "Talos F200X",
        "manufacturer": "Thermo Fisher Scientific",
        "country_of_origin": "US",
        "original_value_cny": 12_800_000,
        "commissioned_on": "2019-06-18",
        "source": "purchased",
        "instrument_type": "general",
        "institution": {"name": "兰州大学", "code": "12100000438000985M", "department": "电镜中心"},
        "carrier": {"type": "instrument_center", "name": "兰州大学分析测试中心"},
        "location": {"province": "甘肃省", "city": "兰州市", "district": "城关区",
                     "address": "天水南路222号", "lat": 36.05, "lon": 103.86},
        "specs": "点分辨率 0.25 nm；加速电压 200 kV",
        "functions": "材料微观结构与成分分析",
        "service_content": "TEM 成像、EDS 面扫",
        "user_notice": "需提前三天预约",
        "fee": "500 元/小时",
        "subjects": ["材料科学", "化学"],
        "keywords": ["TEM", "透射电镜"],
        "sharing": {"mode": "external", "booking_url": "https://yiqi.lzu.edu.cn/book/GS-0001"},
        "status": "normal",
        "usage": {"year": 2025, "run_hours": 1620, "external_service_hours": 310},
        "contact": {"name": "王老师", "phone": "0931-8912345", "email": "tem@lzu.edu.cn",
                    "address": "兰州市天水南路222号", "postcode": "730000"},
        "funding": ["central", "own"],
        "customs_supervised": false,
        "image_url": "https://yiqi.lzu.edu.cn/img/GS-0001.jpg",
        "ext": {"platform_code": "GS-2019-018"}
    })
}
