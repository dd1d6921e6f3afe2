use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};

use super::*;

const FILE: &str = "t.csv";
const ID1: &str = "0123456789ABCDEF0";
const ID2: &str = "0123456789ABCDEF1";

fn schema(json: &str) -> TableSchema {
    TableSchema::from_json(json.as_bytes()).unwrap()
}

/// ID (person identifier), SEX (enum + nomenclature), DTD, DGN (nomenclature),
/// MNT, NOTE; primary key (ID, DTD).
fn claims() -> TableSchema {
    schema(
        r#"{"name": "CLAIMS", "fields": [
            {"name": "ID", "type": "string", "hdh:identifier": "person",
             "constraints": {"required": true, "minLength": 17, "maxLength": 17, "pattern": "[0-9A-F]+"}},
            {"name": "SEX", "type": "integer", "nomenclature": "IR_SEX_V", "constraints": {"enum": [1, 2]}},
            {"name": "DTD", "type": "date"},
            {"name": "DGN", "type": "string", "nomenclature": "MS_CIM_V"},
            {"name": "MNT", "type": "number", "unit": "EUR", "constraints": {"minimum": 0}},
            {"name": "NOTE", "type": "string", "nomenclature": "-"}
        ], "primaryKey": ["ID", "DTD"]}"#,
    )
}

const CLAIMS_HEADER: &str = "ID,SEX,DTD,DGN,MNT,NOTE\n";

fn noms() -> HashMap<String, HashSet<String>> {
    let mut m: HashMap<String, HashSet<String>> = HashMap::new();
    m.insert("IR_SEX_V".into(), ["1", "2"].map(String::from).into());
    m.insert("MS_CIM_V".into(), ["A00", "B01"].map(String::from).into());
    m
}

fn run_with(
    schema: &TableSchema,
    csv: &[u8],
    opts: &IngestOptions,
) -> (TableReport, Vec<RecordBatch>) {
    let mut batches = Vec::new();
    let report = ingest_csv(schema, FILE, csv, &noms(), opts, &mut |b| {
        batches.push(b);
        Ok(())
    })
    .unwrap();
    (report, batches)
}

fn run(schema: &TableSchema, csv: &str) -> (TableReport, Vec<RecordBatch>) {
    run_with(schema, csv.as_bytes(), &IngestOptions::default())
}

fn err(line: u64, column: Option<u64>, field: Option<&str>, reason: &str) -> RowError {
    RowError {
        file: FILE.into(),
        line,
        column,
        field: field.map(String::from),
        reason: reason.into(),
    }
}

/// Runs the claims schema on one data row and returns its errors.
fn claims_errors(rows: &str) -> Vec<RowError> {
    let (report, batches) = run(&claims(), &format!("{CLAIMS_HEADER}{rows}"));
    assert!(batches.is_empty());
    assert_eq!(report.error_count, report.errors.len() as u64);
    report.errors
}

#[test]
fn valid_file_gives_typed_batches() {
    let s = schema(
        r#"{"name": "ALL", "fields": [
            {"name": "NIR", "type": "string", "hdh:identifier": "person", "constraints": {"required": true}},
            {"name": "SEX", "type": "integer", "nomenclature": "IR_SEX_V", "constraints": {"enum": [1, 2]}},
            {"name": "DTD", "type": "date"},
            {"name": "TS", "type": "datetime"},
            {"name": "MNT", "type": "number"},
            {"name": "OK", "type": "boolean"},
            {"name": "YR", "type": "year"},
            {"name": "AMD", "type": "yearmonth"},
            {"name": "DGN", "type": "string", "nomenclature": "MS_CIM_V"},
            {"name": "RAW", "type": "any"}
        ], "primaryKey": "NIR", "hdh:periodField": "DTD"}"#,
    );
    let csv = format!(
        "NIR,SEX,DTD,TS,MNT,OK,YR,AMD,DGN,RAW\n\
         {ID1},1,2020-01-31,2020-01-31T12:00:00+01:00,12.5,true,2020,202001,A00,x\n\
         {ID2},,,2020-02-01 00:00:00,,0,,2020-02,,\n"
    );
    let (report, batches) = run(&s, &csv);
    assert_eq!(report.errors, vec![]);
    assert_eq!(report.error_count, 0);
    assert!(report.is_valid());
    assert_eq!(report.rows, 2);
    assert_eq!((report.table.as_str(), report.file.as_str()), ("ALL", FILE));
    assert_eq!(report.warnings, Vec::<String>::new());
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.num_rows(), 2);
    assert_eq!(b.schema().as_ref(), &arrow_schema(&s));

    let nir = b.column(0).as_string::<i32>();
    assert_eq!((nir.value(0), nir.value(1)), (ID1, ID2));
    let sex = b.column(1).as_primitive::<Int64Type>();
    assert_eq!((sex.value(0), sex.is_null(1)), (1, true));
    let dtd = b.column(2).as_primitive::<Date32Type>();
    assert_eq!((dtd.value(0), dtd.is_null(1)), (18292, true));
    let ts = b.column(3).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), 1_580_468_400_000_000);
    assert_eq!(ts.value(1), 1_580_515_200_000_000);
    let mnt = b.column(4).as_primitive::<Float64Type>();
    assert_eq!((mnt.value(0), mnt.is_null(1)), (12.5, true));
    let ok = b.column(5).as_boolean();
    assert_eq!((ok.value(0), ok.value(1)), (true, false));
    let yr = b.column(6).as_primitive::<Int64Type>();
    assert_eq!((yr.value(0), yr.is_null(1)), (2020, true));
    let amd = b.column(7).as_string::<i32>();
    assert_eq!((amd.value(0), amd.value(1)), ("202001", "2020-02"));
    let dgn = b.column(8).as_string::<i32>();
    assert_eq!((dgn.value(0), dgn.is_null(1)), ("A00", true));
    let raw = b.column(9).as_string::<i32>();
    assert_eq!((raw.value(0), raw.is_null(1)), ("x", true));
}

#[test]
fn arrow_schema_types_nullability_and_metadata() {
    let s = claims();
    let a = arrow_schema(&s);
    let types: Vec<(&str, DataType, bool)> = a
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable()))
        .collect();
    assert_eq!(
        types,
        vec![
            ("ID", DataType::Utf8, false),
            ("SEX", DataType::Int64, true),
            ("DTD", DataType::Date32, false), // primary key: implicitly required
            ("DGN", DataType::Utf8, true),
            ("MNT", DataType::Float64, true),
            ("NOTE", DataType::Utf8, true),
        ]
    );
    let id = a.field(0).metadata();
    assert_eq!(id.get("hdh:identifier").map(String::as_str), Some("person"));
    assert_eq!(id.get("hdh:type").map(String::as_str), Some("string"));
    let sex = a.field(1).metadata();
    assert_eq!(
        sex.get("nomenclature").map(String::as_str),
        Some("IR_SEX_V")
    );
    assert!(!sex.contains_key("hdh:identifier"));
    assert_eq!(
        a.field(4).metadata().get("unit").map(String::as_str),
        Some("EUR")
    );
    assert!(!a.field(5).metadata().contains_key("nomenclature"));
    assert_eq!(
        a.metadata().get("hdh:table").map(String::as_str),
        Some("CLAIMS")
    );

    let t = schema(
        r#"{"name": "T", "fields": [{"name": "ts", "type": "datetime", "description": "when"},
            {"name": "y", "type": "year"}, {"name": "b", "type": "boolean"}, {"name": "x", "type": "any"}]}"#,
    );
    let a = arrow_schema(&t);
    assert_eq!(
        a.field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    assert_eq!(
        a.field(0).metadata().get("description").map(String::as_str),
        Some("when")
    );
    assert_eq!(a.field(1).data_type(), &DataType::Int64);
    assert_eq!(
        a.field(1).metadata().get("hdh:type").map(String::as_str),
        Some("year")
    );
    assert_eq!(a.field(2).data_type(), &DataType::Boolean);
    assert_eq!(a.field(3).data_type(), &DataType::Utf8);
}

#[test]
fn bad_enum_code() {
    assert_eq!(
        claims_errors(&format!("{ID1},3,2020-01-01,A00,1,\n")),
        vec![err(
            2,
            Some(2),
            Some("SEX"),
            r#"value "3" is not one of the allowed values (1, 2)"#
        )]
    );
}

#[test]
fn bad_nomenclature_code() {
    assert_eq!(
        claims_errors(&format!("{ID1},1,2020-01-01,X99,1,\n")),
        vec![err(
            2,
            Some(4),
            Some("DGN"),
            r#"code "X99" not in nomenclature MS_CIM_V"#
        )]
    );
}

#[test]
fn wrong_types() {
    assert_eq!(
        claims_errors(&format!(
            "{ID1},12a,2020-01-01,A00,1,\n{ID2},1,2020-02-30,A00,x1,\n"
        )),
        vec![
            err(2, Some(2), Some("SEX"), r#"not an integer: "12a""#),
            err(
                3,
                Some(3),
                Some("DTD"),
                r#"not a date (YYYY-MM-DD): "2020-02-30""#
            ),
            err(3, Some(5), Some("MNT"), r#"not a number: "x1""#),
        ]
    );
}

#[test]
fn constraint_violations() {
    assert_eq!(
        claims_errors(&format!(
            ",1,2020-01-01,A00,1,\n{ID1}0,1,2020-01-01,A00,1,\n0123456789abcdef0,1,2020-01-01,A00,1,\n{ID1},1,2020-01-01,A00,-0.5,\n"
        )),
        vec![
            err(2, Some(1), Some("ID"), "required value missing"),
            err(
                3,
                Some(1),
                Some("ID"),
                "length 18 is longer than maxLength 17"
            ),
            err(
                4,
                Some(1),
                Some("ID"),
                r#"value <identifier withheld> does not match pattern "[0-9A-F]+""#
            ),
            err(
                5,
                Some(5),
                Some("MNT"),
                r#"value "-0.5" is less than minimum 0"#
            ),
        ]
    );
}

#[test]
fn duplicate_primary_key_names_both_lines() {
    assert_eq!(
        claims_errors(&format!(
            "{ID1},1,2020-01-01,A00,1,\n{ID1},1,2020-01-02,A00,1,\n{ID1},2,2020-01-01,B01,2,\n"
        )),
        vec![err(
            4,
            None,
            None,
            r#"duplicate primary key (ID=<identifier withheld>, DTD="2020-01-01") first seen at line 2"#
        )]
    );
}

#[test]
fn duplicate_single_column_key_and_unique_field() {
    let s = schema(
        r#"{"name": "T", "fields": [{"name": "k", "type": "integer"}, {"name": "u", "constraints": {"unique": true}}],
            "primaryKey": "k"}"#,
    );
    // "01" and "1" are the same integer key.
    let (report, _) = run(&s, "k,u\n1,a\n2,\n01,b\n3,\n4,a\n");
    assert_eq!(
        report.errors,
        vec![
            err(
                4,
                Some(1),
                Some("k"),
                r#"duplicate primary key (k="01") first seen at line 2"#
            ),
            err(
                6,
                Some(2),
                Some("u"),
                r#"duplicate value "a" in a unique field, first seen at line 2"#
            ),
        ]
    );
}

#[test]
fn truncated_last_line() {
    assert_eq!(
        claims_errors(&format!("{ID1},1,2020-01-01,A00,1,\n{ID2},1")),
        vec![err(3, None, None, "expected 6 fields, found 2")]
    );
    let (report, _) = run(
        &claims(),
        &format!("{CLAIMS_HEADER}{ID1},1,2020-01-01,A00,1,,extra\n"),
    );
    assert_eq!(
        report.errors,
        vec![err(2, None, None, "expected 6 fields, found 7")]
    );
    assert_eq!(report.rows, 1);
}

#[test]
fn non_utf8_byte() {
    let mut csv =
        format!("{CLAIMS_HEADER}{ID1},1,2020-01-01,A00,1,ok\n{ID2},1,2020-01-01,A00,1,caf")
            .into_bytes();
    csv.extend_from_slice(b"\xE9\n");
    let (report, batches) = run_with(&claims(), &csv, &IngestOptions::default());
    assert!(batches.is_empty());
    assert_eq!(
        report.errors,
        vec![err(
            3,
            Some(6),
            Some("NOTE"),
            "not valid UTF-8: byte 0xE9 at byte 4 of the value"
        )]
    );
}

#[test]
fn bad_header() {
    let cases = [
        (
            "ID,SEX,DTD,MNT,NOTE\n",
            "header does not match the schema: missing column(s) DGN",
        ),
        (
            "ID,SEX,DTD,DGN,MNT,NOTE,EXTRA\n",
            r#"header does not match the schema: unexpected column(s) "EXTRA" (column 7)"#,
        ),
        (
            "ID,SEX,DTD,DGN,MNT,NOTE,NOTE\n",
            r#"header does not match the schema: unexpected column(s) duplicate "NOTE" (column 7)"#,
        ),
        (
            "ID,SEX,DTD,DGN,MONTANT,NOTE\n",
            r#"header does not match the schema: missing column(s) MNT; unexpected column(s) "MONTANT" (column 5)"#,
        ),
        (
            "ID,DTD,SEX,DGN,MNT,NOTE\n",
            "columns out of order: expected ID, SEX, DTD, DGN, MNT, NOTE; found ID, DTD, SEX, DGN, MNT, NOTE",
        ),
        ("", "empty file: the header row is missing"),
    ];
    for (header, reason) in cases {
        let csv = format!("{header}{ID1},1,2020-01-01,A00,1,\n");
        let csv = if header.is_empty() {
            String::new()
        } else {
            csv
        };
        let (report, batches) = run(&claims(), &csv);
        assert_eq!(report.errors, vec![err(1, None, None, reason)], "{header}");
        assert_eq!((report.rows, report.error_count), (0, 1));
        assert!(batches.is_empty());
    }
}

#[test]
fn missing_header_does_not_leak_identifiers() {
    let (report, _) = run(&claims(), &format!("{ID1},1,2020-01-01,A00,1,\n"));
    assert_eq!(report.error_count, 1);
    let reason = &report.errors[0].reason;
    assert!(!reason.contains(ID1), "{reason}");
    assert!(reason.contains(WITHHELD), "{reason}");
    assert!(reason.contains(r#""2020-01-01" (column 3)"#), "{reason}");
}

#[test]
fn identifier_values_never_appear() {
    let s = schema(
        r#"{"name": "T", "fields": [
            {"name": "ID", "hdh:identifier": "person", "nomenclature": "IDS",
             "constraints": {"unique": true, "pattern": "[0-9]+", "enum": ["111", "222", "SECRET9"]}},
            {"name": "N", "type": "integer", "hdh:identifier": "person", "constraints": {"minimum": 5, "maximum": 10}},
            {"name": "D", "type": "date", "hdh:identifier": "person"}
        ], "primaryKey": ["ID", "N"]}"#,
    );
    let mut csv = b"ID,N,D\n".to_vec();
    for row in [
        "SECRET1,7,2020-01-01\n",   // enum
        "SECRET9,7,2020-01-01\n",   // pattern
        "222,7,2020-01-01\n",       // nomenclature
        "111,4444,2020-01-01\n",    // maximum
        "111,SECRET2,2020-01-01\n", // integer; unique
        "111,7,SECRET3\n",          // date; unique
        "111,7,2020-01-02\n",       // primary key; unique
    ] {
        csv.extend_from_slice(row.as_bytes());
    }
    csv.extend_from_slice(b"SECRET4\xFF,7,2020-01-01\n");
    let mut lookup = noms();
    lookup.insert("IDS".into(), ["111".to_owned()].into());
    let report = ingest_report_bytes(&s, &csv, &lookup).0;
    assert_eq!(report.error_count, 11, "{report:#?}");
    for e in &report.errors {
        for secret in ["SECRET", "4444", "111", "222", "0xFF"] {
            assert!(!e.reason.contains(secret), "{secret} leaked in {e}");
        }
    }
    let reasons: Vec<&str> = report.errors.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "value <identifier withheld> is not one of the allowed values",
            r#"value <identifier withheld> does not match pattern "[0-9]+""#,
            "code <identifier withheld> not in nomenclature IDS",
            "value <identifier withheld> is greater than maximum 10",
            "not an integer: <identifier withheld>",
            "duplicate value <identifier withheld> in a unique field, first seen at line 5",
            "not a date (YYYY-MM-DD): <identifier withheld>",
            "duplicate value <identifier withheld> in a unique field, first seen at line 5",
            "duplicate primary key (ID=<identifier withheld>, N=<identifier withheld>) first seen at line 7",
            "duplicate value <identifier withheld> in a unique field, first seen at line 5",
            "not valid UTF-8 at byte 8 of the value",
        ]
    );
}

fn ingest_report_bytes(
    s: &TableSchema,
    csv: &[u8],
    lookup: &dyn NomenclatureLookup,
) -> (TableReport, Vec<RecordBatch>) {
    let mut batches = Vec::new();
    let report = ingest_csv(s, FILE, csv, lookup, &IngestOptions::default(), &mut |b| {
        batches.push(b);
        Ok(())
    })
    .unwrap();
    (report, batches)
}

#[test]
fn errors_are_capped_but_counted() {
    let rows: String = (0..10)
        .map(|i| format!("{ID1},x{i},2020-01-{:02},A00,1,\n", i + 1))
        .collect();
    let opts = IngestOptions {
        max_errors: 3,
        ..IngestOptions::default()
    };
    let (report, batches) = run_with(
        &claims(),
        format!("{CLAIMS_HEADER}{rows}").as_bytes(),
        &opts,
    );
    assert_eq!(report.rows, 10);
    assert_eq!(report.error_count, 10);
    assert_eq!(report.errors.len(), 3);
    assert_eq!(
        report.errors[2],
        err(4, Some(2), Some("SEX"), r#"not an integer: "x2""#)
    );
    assert!(batches.is_empty());

    let opts = IngestOptions {
        max_errors: 0,
        ..IngestOptions::default()
    };
    let (report, _) = run_with(
        &claims(),
        format!("{CLAIMS_HEADER}{rows}").as_bytes(),
        &opts,
    );
    assert_eq!((report.errors.len(), report.error_count), (0, 10));
}

#[test]
fn quoted_newlines_keep_line_numbers() {
    let mut csv = format!(
        "{CLAIMS_HEADER}\
         {ID1},1,2020-01-01,A00,1,\"line one\nline two\"\n\
         {ID2},3,2020-01-02,A00,1,\n\
         {ID2},1,2020-01-03,\"B01\",\"1\",\"a\n\nb\"\n\
         {ID2},1,\"2020-01-04\",A00,\"\n-1\",x\n\
         {ID2},1,2020-01-05,A00,2,\"x\ny"
    )
    .into_bytes();
    csv.extend_from_slice(b"\xC3\n\"\n");
    csv.extend_from_slice(format!("{ID2},1,2020-01-06,A00,2,,\n").as_bytes());
    let (report, _) = run_with(&claims(), &csv, &IngestOptions::default());
    assert_eq!(report.rows, 6);
    assert_eq!(
        report.errors,
        vec![
            err(
                4,
                Some(2),
                Some("SEX"),
                r#"value "3" is not one of the allowed values (1, 2)"#
            ),
            err(8, Some(5), Some("MNT"), r#"not a number: "\n-1""#),
            err(
                11,
                Some(6),
                Some("NOTE"),
                "not valid UTF-8: byte 0xC3 at byte 4 of the value"
            ),
            err(13, None, None, "expected 6 fields, found 7"),
        ]
    );
}

#[test]
fn blank_lines_and_crlf() {
    let csv = format!(
        "\u{FEFF}{}\r\n{ID1},1,2020-01-01,A00,1,\r\n\r\n{ID2},9,2020-01-01,A00,1,\r\n",
        CLAIMS_HEADER.trim_end()
    );
    let (report, _) = run(&claims(), &csv);
    assert_eq!(report.rows, 2);
    assert_eq!(
        report.errors,
        vec![err(
            4,
            Some(2),
            Some("SEX"),
            r#"value "9" is not one of the allowed values (1, 2)"#
        )]
    );
}

#[test]
fn batches_are_split_by_batch_rows() {
    let rows: String = (1..=5)
        .map(|i| format!("{ID1},1,2020-01-0{i},A00,{i},n{i}\n"))
        .collect();
    let opts = IngestOptions {
        batch_rows: 2,
        ..IngestOptions::default()
    };
    let (report, batches) = run_with(
        &claims(),
        format!("{CLAIMS_HEADER}{rows}").as_bytes(),
        &opts,
    );
    assert!(report.is_valid(), "{report:#?}");
    assert_eq!(report.rows, 5);
    assert_eq!(
        batches
            .iter()
            .map(RecordBatch::num_rows)
            .collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    let notes: Vec<&str> = batches
        .iter()
        .flat_map(|b| {
            let a = b.column(5).as_string::<i32>();
            (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(notes, vec!["n1", "n2", "n3", "n4", "n5"]);
}

#[test]
fn no_batch_after_the_first_error() {
    let rows: String = (1..=7)
        .map(|i| {
            format!(
                "{ID1},{},2020-01-0{i},A00,{i},\n",
                if i == 4 { 7 } else { 1 }
            )
        })
        .collect();
    let opts = IngestOptions {
        batch_rows: 2,
        ..IngestOptions::default()
    };
    let (report, batches) = run_with(
        &claims(),
        format!("{CLAIMS_HEADER}{rows}").as_bytes(),
        &opts,
    );
    assert_eq!((report.rows, report.error_count), (7, 1));
    assert_eq!(batches.len(), 1);
}

#[test]
fn sink_errors_stop_ingestion() {
    let csv = format!("{CLAIMS_HEADER}{ID1},1,2020-01-01,A00,1,\n");
    let result = ingest_csv(
        &claims(),
        FILE,
        csv.as_bytes(),
        &noms(),
        &IngestOptions::default(),
        &mut |_| Err(IngestError::Sink("disk full".into())),
    );
    assert!(matches!(result, Err(IngestError::Sink(e)) if e.to_string() == "disk full"));
}

#[test]
fn unknown_nomenclature_is_warned_once() {
    let s = schema(
        r#"{"name": "T", "fields": [{"name": "a", "nomenclature": "ZZ_UNK_V"}, {"name": "b", "nomenclature": "ZZ_UNK_V"},
            {"name": "c", "nomenclature": "MS_CIM_V"}]}"#,
    );
    let (report, batches) = run(&s, "a,b,c\nx,y,A00\nz,w,B01\n");
    assert!(report.is_valid());
    assert_eq!(batches[0].num_rows(), 2);
    assert_eq!(
        report.warnings,
        vec![
            "nomenclature ZZ_UNK_V is unknown to the hub: codes of field a were not checked against it"
        ]
    );
    let (report, _) = ingest_report(&s, "a,b,c\nx,y,Q\n", &NoNomenclatures);
    assert_eq!(report.warnings.len(), 2);
    assert!(report.is_valid());
}

fn ingest_report(
    s: &TableSchema,
    csv: &str,
    lookup: &dyn NomenclatureLookup,
) -> (TableReport, Vec<RecordBatch>) {
    ingest_report_bytes(s, csv.as_bytes(), lookup)
}

#[test]
fn missing_values_booleans_and_delimiter() {
    let s = schema(
        r#"{"name": "T", "fields": [
            {"name": "a", "type": "integer", "constraints": {"required": true}},
            {"name": "b", "type": "boolean", "trueValues": ["O"], "falseValues": ["N"]},
            {"name": "c", "type": "boolean"},
            {"name": "d"}
        ], "missingValues": ["NA", "."]}"#,
    );
    let opts = IngestOptions {
        delimiter: b';',
        ..IngestOptions::default()
    };
    let (report, batches) = run_with(
        &s,
        b"a;b;c;d\n1;O;TRUE;\n2;N;False;.\n3;.;0;NA\nNA;1;yes;x\n",
        &opts,
    );
    assert_eq!(
        report.errors,
        vec![
            err(5, Some(1), Some("a"), "required value missing"),
            err(
                5,
                Some(2),
                Some("b"),
                r#"not a boolean (expected O or N): "1""#
            ),
            err(
                5,
                Some(3),
                Some("c"),
                r#"not a boolean (expected true/True/TRUE/1 or false/False/FALSE/0): "yes""#
            ),
        ]
    );
    assert_eq!(batches.len(), 0);
    let (report, batches) = run_with(&s, b"a;b;c;d\n1;O;TRUE;\n2;N;False;.\n3;.;0;NA\n", &opts);
    assert!(report.is_valid());
    let b = &batches[0];
    let bools = b.column(1).as_boolean();
    assert_eq!(
        (bools.value(0), bools.value(1), bools.is_null(2)),
        (true, false, true)
    );
    let d = b.column(3).as_string::<i32>();
    // "" is not a missing value here: only "NA" and "." are.
    assert_eq!((d.value(0), d.is_null(1), d.is_null(2)), ("", true, true));
}

#[test]
fn snds_date_formats() {
    let s = schema(
        r#"{"name": "T", "fields": [
            {"name": "ENT_DAT", "type": "date", "format": "%d%m%Y"},
            {"name": "SOR_MOI", "type": "date", "format": "%m"},
            {"name": "EXE_SOI_DTD", "type": "datetime", "format": "%d%b%Y:%H:%M:%S"},
            {"name": "AMD", "type": "yearmonth", "constraints": {"minimum": "2015-01"}}
        ]}"#,
    );
    let a = arrow_schema(&s);
    assert_eq!(a.field(0).data_type(), &DataType::Date32);
    assert_eq!(a.field(1).data_type(), &DataType::Utf8);
    assert_eq!(
        a.field(2).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    let (report, batches) = run(
        &s,
        "ENT_DAT,SOR_MOI,EXE_SOI_DTD,AMD\n15032020,03,01JAN2020:10:00:00,201501\n",
    );
    assert!(report.is_valid(), "{report:#?}");
    assert_eq!(
        report.warnings,
        vec![
            r#"field SOR_MOI: format "%m" does not determine a full date; values are checked against it and stored as text"#
        ]
    );
    let b = &batches[0];
    assert_eq!(b.column(0).as_primitive::<Date32Type>().value(0), 18336);
    assert_eq!(b.column(1).as_string::<i32>().value(0), "03");
    assert_eq!(
        b.column(2)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_577_872_800_000_000
    );
    let (report, _) = run(
        &s,
        "ENT_DAT,SOR_MOI,EXE_SOI_DTD,AMD\n2020-03-15,13,2020-01-01,201413\n15032020,12,01JAN2020:10:00:00,201412\n",
    );
    assert_eq!(
        report.errors,
        vec![
            err(
                2,
                Some(1),
                Some("ENT_DAT"),
                r#"not a date in format "%d%m%Y": "2020-03-15""#
            ),
            err(
                2,
                Some(2),
                Some("SOR_MOI"),
                r#"not a date in format "%m": "13""#
            ),
            err(
                2,
                Some(3),
                Some("EXE_SOI_DTD"),
                r#"not a datetime in format "%d%b%Y:%H:%M:%S": "2020-01-01""#
            ),
            err(
                2,
                Some(4),
                Some("AMD"),
                r#"not a year-month (YYYY-MM or YYYYMM): "201413""#
            ),
            err(
                3,
                Some(4),
                Some("AMD"),
                r#"value "201412" is less than minimum 2015-01"#
            ),
        ]
    );
}

#[test]
fn unusable_schema_or_options_are_errors() {
    let s = schema(
        r#"{"name": "T", "fields": [{"name": "a", "constraints": {"pattern": "(unclosed"}}]}"#,
    );
    let result = ingest_csv(
        &s,
        FILE,
        &b"a\nx\n"[..],
        &NoNomenclatures,
        &IngestOptions::default(),
        &mut |_| Ok(()),
    );
    match result {
        Err(IngestError::Schema { table, message }) => {
            assert_eq!(table, "T");
            assert!(
                message.starts_with(r#"field a: invalid pattern "(unclosed""#),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let s = schema(r#"{"name": "T", "fields": [{"name": "a", "type": "date", "format": "%Q"}]}"#);
    let result = ingest_csv(
        &s,
        FILE,
        &b"a\n"[..],
        &NoNomenclatures,
        &IngestOptions::default(),
        &mut |_| Ok(()),
    );
    assert!(
        matches!(result, Err(IngestError::Schema { .. })),
        "{result:?}"
    );
    for opts in [
        IngestOptions {
            batch_rows: 0,
            ..IngestOptions::default()
        },
        IngestOptions {
            delimiter: b'"',
            ..IngestOptions::default()
        },
    ] {
        let result = ingest_csv(
            &claims(),
            FILE,
            &b""[..],
            &NoNomenclatures,
            &opts,
            &mut |_| Ok(()),
        );
        assert!(matches!(result, Err(IngestError::Options(_))), "{result:?}");
    }
}

#[test]
fn pattern_matches_the_whole_value() {
    let s = schema(
        r#"{"name": "T", "fields": [{"name": "a", "constraints": {"pattern": "[A-Z]{2}|[0-9]"}}]}"#,
    );
    let (report, _) = run(&s, "a\nAB\n7\nABC\nx7\n");
    assert_eq!(
        report.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![4, 5]
    );
}

#[test]
fn row_error_display() {
    let e = err(3, Some(2), Some("SEX"), "boom");
    assert_eq!(e.to_string(), "t.csv:3:2 (SEX): boom");
    assert_eq!(err(1, None, None, "x").to_string(), "t.csv:1: x");
}

fn schema_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            schema_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Every SNDS schema can drive ingestion (patterns, formats): a header-only
/// file ingests cleanly.
#[test]
fn every_snds_schema_can_drive_ingestion() {
    let base = std::env::var_os("HDH_SNDS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/snds"));
    let root = base.join("schema-snds/schemas");
    if !root.is_dir() {
        eprintln!("skipping: {} does not exist", root.display());
        return;
    }
    let mut files = Vec::new();
    schema_files(&root, &mut files);
    assert!(!files.is_empty());
    for path in files {
        let s = TableSchema::from_json(&std::fs::read(&path).unwrap()).unwrap();
        let header = s
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let (report, batches) = ingest_report(&s, &format!("{header}\n"), &NoNomenclatures);
        assert!(report.is_valid(), "{}: {report:#?}", path.display());
        assert!(batches.is_empty());
        assert_eq!(arrow_schema(&s).fields().len(), s.fields.len());
    }
}

#[test]
fn line_numbers_survive_blank_lines_crlf_and_quotes() {
    let s = schema(r#"{"name": "T", "fields": [{"name": "a", "constraints": {"enum": ["ok"]}}]}"#);
    let cases: [(&str, &[u64]); 5] = [
        ("a\nbad\n\nbad\n\n\nbad\n", &[2, 4, 7]),
        ("a\r\nbad\r\n\r\nbad\r\n\r\n\r\nbad\r\n", &[2, 4, 7]),
        ("\n\na\r\nbad\r\n\"x\r\ny\"\r\nok\r\nbad", &[4, 5, 8]),
        ("a\nok\n\"\n\nbad\"\n\n\"ok\"\n\"b\nad\"\n", &[3, 8]),
        ("a\n\"\"\"bad\"\"\"\nok\r\n\r\n\"b\"\"\nad\"\r\n", &[2, 5]),
    ];
    for (csv, lines) in cases {
        let (report, _) = run(&s, csv);
        assert_eq!(
            report.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            lines,
            "{csv:?}"
        );
    }
    let (report, _) = run(&s, "\n\nb\n");
    assert_eq!(report.errors[0].line, 3);
}
