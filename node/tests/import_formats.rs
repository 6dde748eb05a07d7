//! The catalogue reader on whole files: every format, the encodings, the real NRII template and
//! the real St Andrews register (see tests/fixtures/README.md for the fixtures' origins).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use yiqi_node::import::{
    Encoding, Format, ImportError, ImportOptions, ParsedCatalogue, read_catalogue,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn uniquip_mapping() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/uniquip.toml")
}

fn options() -> ImportOptions {
    ImportOptions {
        region: "CN-GS".into(),
        mapping: None,
        encoding: Encoding::Auto,
        institution: Some("兰州大学".into()),
        sharing_mode: Some("external".into()),
        ..ImportOptions::new("CN-GS")
    }
}

fn st_andrews_options(encoding: Encoding) -> ImportOptions {
    ImportOptions {
        mapping: Some(uniquip_mapping()),
        encoding,
        institution: Some("University of St Andrews".into()),
        ..options()
    }
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write a temporary file");
    path
}

fn row_numbers(parsed: &ParsedCatalogue) -> Vec<usize> {
    parsed.rows.iter().map(|r| r.row).collect()
}

fn error_lines(parsed: &ParsedCatalogue) -> Vec<String> {
    parsed.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn import_st_andrews_register_through_the_uniquip_mapping() {
    let path = fixture("st-andrews-equipment.csv");
    let parsed = read_catalogue(&path, &st_andrews_options(Encoding::Windows1252)).unwrap();
    assert_eq!(parsed.format, Format::Mapped);
    assert_eq!(parsed.rows.len(), 577);
    assert_eq!(parsed.errors.len(), 47);

    // Every one of the 623 data rows (lines 2 to 624) is either imported or reported.
    let bad_rows: BTreeSet<usize> = parsed.errors.iter().map(|e| e.row).collect();
    assert_eq!(bad_rows.len(), 46);
    let all_rows: BTreeSet<usize> = row_numbers(&parsed).into_iter().chain(bad_rows).collect();
    assert_eq!(all_rows, (2..=624).collect());

    // 35 repeats of description, department and contact address: reported, never dropped.
    let duplicates: Vec<_> = parsed
        .errors
        .iter()
        .filter(|e| e.message.starts_with("duplicate of row "))
        .collect();
    assert_eq!(duplicates.len(), 35);
    assert!(duplicates.iter().all(|e| e.pointer == "/local_id"));
    let errors = error_lines(&parsed);
    assert!(errors.contains(&"row 31 (u-45e9a08ec34b202b): /local_id: duplicate of row 30".into()));
    assert!(
        errors.contains(&"row 319 (u-10c6d7a5d2cc12fe): /local_id: duplicate of row 315".into())
    );

    // A stray Windows-1252 byte after ten contact addresses makes them invalid e-mail addresses.
    let bad_email = parsed
        .errors
        .iter()
        .filter(|e| e.pointer == "/contact/email")
        .count();
    assert_eq!(bad_email, 10);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("row 112 (u-") && e.contains("st-andrews.ac.ukÊ"))
    );

    // A control character in one description: the name falls back to nothing.
    let row_484: Vec<&String> = errors
        .iter()
        .filter(|e| e.starts_with("row 484 "))
        .collect();
    assert_eq!(row_484.len(), 2, "{row_484:?}");
    assert!(row_484[0].contains("/ext/description: contains the control character U+0016"));
    assert!(row_484[1].ends_with("/name: required field is missing"));

    // The first line: a row with no contact e-mail is still an instrument record.
    let first = &parsed.rows[0];
    assert_eq!(first.row, 2);
    assert_eq!(first.content["name"], "UNKNOWN");
    assert_eq!(first.content["category"], "990000");
    assert_eq!(first.content["location"]["province"], "Scotland");
    assert_eq!(
        first.content["institution"]["name"],
        "University of St Andrews"
    );
    assert!(first.content["contact"].get("email").is_none());
}

#[test]
fn import_st_andrews_register_is_not_gb18030() {
    // The mapping states Windows-1252; an explicit --encoding wins over it.
    let path = fixture("st-andrews-equipment.csv");
    let error = read_catalogue(&path, &st_andrews_options(Encoding::Gb18030)).unwrap_err();
    assert!(
        matches!(error, ImportError::Undecodable { line: 112, .. }),
        "{error}"
    );
    assert!(error.to_string().starts_with("line 112: "));
}

/// A small NRII export as CSV text, with annotated headers and the group row.
const NRII_CSV: &str = "\
仪器基本信息,,,,,,,,联系人信息,
仪器编号（（必填，管理系统中的关联仪器编号））,仪器设备名称,仪器分类编码,原值（单位万元、保留小数点后两位）,建账日期（例：2016-01-01）,安放地址-省,安放地址-市,共享模式,联系人,电子邮箱
GS-0001,场发射透射电子显微镜,010101,1280.00,2019-06-18,甘肃省,兰州市,外部共享,王老师,tem@lzu.edu.cn
GS-0002,核磁共振波谱仪,分析仪器,12.34,20200102,甘肃省,兰州市,,,
GS-0003,热分析仪,010101,abc,2019/6/18,甘肃省,兰州市,,,
";

#[test]
fn import_nrii_csv_in_gb18030_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(NRII_CSV);
    assert!(!unmappable);
    let path = write_temp(&dir, "nrii-gb18030.csv", &bytes);
    let parsed = read_catalogue(&path, &options()).unwrap();
    assert_eq!(parsed.format, Format::Nrii);
    assert_eq!(row_numbers(&parsed), [3, 4]);
    let first = &parsed.rows[0].content;
    assert_eq!(first["name"], "场发射透射电子显微镜");
    assert_eq!(first["original_value_cny"], 12_800_000);
    assert_eq!(first["contact"]["name"], "王老师");
    assert_eq!(parsed.rows[1].content["category"], "010000");
    assert_eq!(parsed.rows[1].content["commissioned_on"], "2020-01-02");
    assert_eq!(
        error_lines(&parsed),
        [
            "row 5 (GS-0003): /original_value_cny: \"abc\" is not a plain decimal amount (digits, at most one point)"
        ]
    );
}

#[test]
fn import_nrii_csv_in_utf8_with_bom_and_without_the_group_row() {
    let dir = tempfile::tempdir().unwrap();
    let without_group = NRII_CSV.split_once('\n').map_or("", |(_, rest)| rest);
    let bytes = [b"\xEF\xBB\xBF".as_slice(), without_group.as_bytes()].concat();
    let path = write_temp(&dir, "nrii-bom.csv", &bytes);
    let parsed = read_catalogue(&path, &options()).unwrap();
    assert_eq!(parsed.format, Format::Nrii);
    assert_eq!(row_numbers(&parsed), [2, 3]);
    assert_eq!(parsed.rows[0].content["local_id"], "GS-0001");
    assert_eq!(parsed.errors.len(), 1);
    // The error names the column as the file spells it, and the field in both languages.
    assert_eq!(
        parsed.errors[0].column.as_deref(),
        Some("原值（单位万元、保留小数点后两位）")
    );
    let line = yiqi_node::row_report::error_line(&parsed.errors[0]);
    assert!(
        line.starts_with(
            "row 4 第 4 行 (GS-0003) · column 列「原值（单位万元、保留小数点后两位）」 · field 字段 \
             原值 Original value (CNY) (/original_value_cny): "
        ),
        "{line}"
    );
}

#[test]
fn import_nrii_csv_with_an_undecodable_byte_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = encoding_rs::GB18030.encode(NRII_CSV).0.into_owned();
    bytes.extend_from_slice(b"GS-0009,\x81\x20\n");
    let path = write_temp(&dir, "broken.csv", &bytes);
    let error = read_catalogue(&path, &options()).unwrap_err();
    assert!(error.to_string().starts_with("line 6: "), "{error}");
    let utf8 = ImportOptions {
        encoding: Encoding::Utf8,
        ..options()
    };
    let error = read_catalogue(&path, &utf8).unwrap_err();
    assert!(error.to_string().starts_with("line 1: "), "{error}");
}

#[test]
fn import_nrii_workbook_with_typed_cells() {
    let parsed = read_catalogue(&fixture("nrii-sample.xlsx"), &options()).unwrap();
    assert_eq!(parsed.format, Format::Nrii);
    assert_eq!(row_numbers(&parsed), [3, 4, 8]);
    let first = &parsed.rows[0].content;
    assert_eq!(
        first["category"], "010101",
        "a numeric cell lost the leading zero"
    );
    assert_eq!(first["original_value_cny"], 12_805_000);
    assert_eq!(first["commissioned_on"], "2019-06-18", "a date cell");
    assert_eq!(first["contact"]["phone"], "9318912345", "a numeric cell");
    assert_eq!(first["usage"]["run_hours"], 1620);
    assert_eq!(first["customs_supervised"], false);
    assert_eq!(first["country_of_origin"], "US");
    assert_eq!(first["funding"], serde_json::json!(["central", "own"]));
    assert_eq!(first["subjects"], serde_json::json!(["材料科学", "化学"]));
    assert_eq!(first["ext"]["image_file"], "tem.jpg");
    assert_eq!(parsed.rows[1].content["sharing"]["mode"], "internal");
    assert_eq!(parsed.rows[2].content["commissioned_on"], "2021-03-04");
    let pointers: Vec<(usize, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.row, e.pointer.as_str()))
        .collect();
    assert_eq!(
        pointers,
        [
            (5, "/local_id"),
            (5, "/category"),
            (5, "/source"),
            (5, "/original_value_cny"),
            (5, "/commissioned_on"),
            (6, "/local_id"),
        ]
    );
    assert_eq!(parsed.errors[5].message, "duplicate of row 3");
}

#[test]
fn import_refuses_a_sheet_too_large_to_hold() {
    let error = read_catalogue(&fixture("nrii-far-apart.xlsx"), &options()).unwrap_err();
    assert!(matches!(error, ImportError::Spreadsheet(_)), "{error}");
    assert!(error.to_string().contains("16384 columns"), "{error}");
}

#[test]
fn import_the_real_template_has_headers_and_no_rows() {
    let parsed = read_catalogue(&fixture("nrii-equipment-template.xls"), &options()).unwrap();
    assert_eq!(parsed.format, Format::Nrii);
    assert!(parsed.rows.is_empty());
    assert!(parsed.errors.is_empty());
}

const RECORD: &str = r#"{"local_id":"L1","name":"电镜","category":"010101","location":{"province":"甘肃省","city":"兰州市"}}"#;

#[test]
fn import_native_ndjson_and_json_array_files() {
    let dir = tempfile::tempdir().unwrap();
    let other_region = RECORD.replace("\"L1\"", "\"L2\",\"region\":\"CN-BJ\"");
    let ndjson =
        format!("{RECORD}\n\n{other_region}\n{{\"local_id\":\"L3\",\"local_id\":\"L4\"}}\n");
    let parsed =
        read_catalogue(&write_temp(&dir, "a.ndjson", ndjson.as_bytes()), &options()).unwrap();
    assert_eq!(parsed.format, Format::Native);
    assert_eq!(row_numbers(&parsed), [1]);
    assert_eq!(parsed.rows[0].content["sharing"]["mode"], "external");
    let errors = error_lines(&parsed);
    assert_eq!(errors.len(), 2);
    assert!(errors[0].starts_with("row 3 (L2): /region: "));
    assert!(errors[1].starts_with("row 4: (record): not I-JSON: duplicate member name"));

    let array = format!("[{RECORD},\n {RECORD}]");
    let parsed = read_catalogue(&write_temp(&dir, "a.json", array.as_bytes()), &options()).unwrap();
    assert_eq!(row_numbers(&parsed), [1]);
    assert_eq!(
        error_lines(&parsed),
        ["row 2 (L1): /local_id: duplicate of row 1"]
    );
}

#[test]
fn import_a_csv_in_another_layout_needs_a_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "other.csv", b"Name,Model\nTEM,F200X\n");
    let error = read_catalogue(&path, &options()).unwrap_err();
    assert!(
        matches!(error, ImportError::UnrecognisedHeader(_)),
        "{error}"
    );
    let bad_mapping = ImportOptions {
        mapping: Some(write_temp(
            &dir,
            "bad.toml",
            b"[columns]\n\"Name\" = \"nom\"\n",
        )),
        ..options()
    };
    let error = read_catalogue(&path, &bad_mapping).unwrap_err();
    assert!(matches!(error, ImportError::Mapping { .. }), "{error}");
}

#[test]
fn import_options_are_checked_before_the_file_is_read() {
    let missing = Path::new("/nonexistent/catalogue.csv");
    let bad_region = ImportOptions {
        region: "CN-XX".into(),
        ..options()
    };
    assert!(matches!(
        read_catalogue(missing, &bad_region),
        Err(ImportError::InvalidOption(_))
    ));
    let bad_mode = ImportOptions {
        sharing_mode: Some("public".into()),
        ..options()
    };
    assert!(matches!(
        read_catalogue(missing, &bad_mode),
        Err(ImportError::InvalidOption(_))
    ));
    assert!(matches!(
        read_catalogue(missing, &options()),
        Err(ImportError::Unreadable { .. })
    ));
}

#[test]
fn import_fifty_thousand_nrii_rows() {
    let mut text = String::from(
        "仪器编号,仪器设备名称,仪器分类编码,原值（万元）,建账日期,安放地址-省,安放地址-市,联系人,电子邮箱,主要学科领域\n",
    );
    for i in 0..50_000 {
        text.push_str(&format!(
            "GS-{i:06},透射电子显微镜 {i},010101,{}.{:02},2019-06-18,甘肃省,兰州市,王老师,tem{i}@lzu.edu.cn,材料科学、化学\n",
            i % 5000,
            i % 100
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "large.csv", text.as_bytes());
    let parsed = read_catalogue(&path, &options()).unwrap();
    assert_eq!(parsed.rows.len(), 50_000);
    assert!(parsed.errors.is_empty());
    assert_eq!(
        parsed.rows[49_999].content["original_value_cny"],
        49_990_000 + 99 * 100
    );
}

#[test]
fn the_uniquip_mapping_states_its_encoding() {
    let path = fixture("st-andrews-equipment.csv");
    let stated = read_catalogue(&path, &st_andrews_options(Encoding::Auto)).unwrap();
    let explicit = read_catalogue(&path, &st_andrews_options(Encoding::Windows1252)).unwrap();
    assert_eq!(stated, explicit);
    assert_eq!(stated.rows.len(), 577);
}

#[test]
fn a_file_in_an_unknown_layout_says_so_before_any_encoding_complaint() {
    // The Windows-1252 register without its mapping: neither UTF-8 nor GB18030, and not NRII.
    let error = read_catalogue(&fixture("st-andrews-equipment.csv"), &options()).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ImportError::UnrecognisedHeader(_)),
        "{message}"
    );
    assert!(
        message.contains("not the NRII template's header") && message.contains("--mapping"),
        "{message}"
    );
    // The NRII header with a byte that decodes in no encoding still gets the encoding complaint.
    let dir = tempfile::tempdir().unwrap();
    let bad = write_temp(&dir, "bad.csv", b"\xD2\xC7\xC6\xF7\xB1\xE0\xBA\xC5,\xD2\xC7\xC6\xF7\xC9\xE8\xB1\xB8\xC3\xFB\xB3\xC6\nGS-1,\xFF\xFF\n");
    let error = read_catalogue(&bad, &options()).unwrap_err();
    assert!(matches!(error, ImportError::Undecodable { .. }), "{error}");
}

#[test]
fn reads_a_service_export_workbook_with_typed_cells() {
    let mut links = yiqi_node::import::Links::default();
    links.add_own_instrument(&serde_json::json!({"local_id": "BJ-1",
        "ext": {"asset_number": "ZC-001"}}));
    let options = ImportOptions {
        kind: yiqi_node::import::RecordKind::Service,
        links: Some(std::sync::Arc::new(links)),
        ..ImportOptions::new("CN-BJ")
    };
    let parsed = read_catalogue(&fixture("service-export.xlsx"), &options).unwrap();
    assert_eq!(parsed.format, Format::ServiceExport);
    assert_eq!(parsed.personal_rows, 1);
    assert_eq!(parsed.rows.len(), 1, "{:?}", parsed.errors);
    let service = &parsed.rows[0].content;
    assert_eq!(service["local_id"], "service.FW001");
    assert_eq!(service["instrument"], "BJ-1");
    assert_eq!(service["started_at"], "2025-03-04T09:00:00+08:00");
    assert_eq!(service["ended_at"], "2025-03-04T17:00:00+08:00");
    assert_eq!(service["amount_cny"], 2400);
    assert!(!service.to_string().contains("13800000000"));
    let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("row 4 (service.FW002): /instrument: 所在单位仪器编号 \"ZC-404\"")
    );
}
