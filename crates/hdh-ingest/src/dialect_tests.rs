//! Tests of the CSV dialect options: encoding, header, quoting, record size
//! limit, uniqueness checks, line numbers handed to the sink.

use std::io::Read;

use arrow::array::{Array, AsArray};

use super::*;

const FILE: &str = "d.csv";

fn schema(json: &str) -> TableSchema {
    TableSchema::from_json(json.as_bytes()).unwrap()
}

/// NOM (direct identifier), VILLE, N (integer), primary key N.
fn people() -> TableSchema {
    schema(
        r#"{"name": "P", "fields": [
            {"name": "NOM", "hdh:pseudonymisation": {"role": "direct", "normalise": "name"},
             "constraints": {"pattern": "[A-Z]+"}},
            {"name": "VILLE"},
            {"name": "N", "type": "integer"}
        ], "primaryKey": "N"}"#,
    )
}

fn run(
    schema: &TableSchema,
    input: impl Read,
    opts: &IngestOptions,
) -> (TableReport, Vec<RecordBatch>, Vec<u64>) {
    let mut batches = Vec::new();
    let mut lines = Vec::new();
    let report = ingest_csv_with_lines(schema, FILE, input, &NoNomenclatures, opts, &mut |b, l| {
        batches.push(b);
        lines.extend_from_slice(l);
        Ok(())
    })
    .unwrap();
    (report, batches, lines)
}

fn reasons(report: &TableReport) -> Vec<String> {
    report.errors.iter().map(ToString::to_string).collect()
}

fn strings(batches: &[RecordBatch], column: usize) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column(column).as_string::<i32>();
            (0..a.len())
                .map(|i| a.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn latin1_is_decoded() {
    // "é" is 0xE9 in Latin-1; "ÿ" 0xFF; "Ü" 0xDC.
    let mut csv = b"NOM;VILLE;N\nHELENE;B\xE9ziers;1\nZOE;Ha\xFF\xDC;2\n".to_vec();
    let opts = IngestOptions {
        delimiter: b';',
        encoding: Encoding::Latin1,
        ..IngestOptions::default()
    };
    let (report, batches, lines) = run(&people(), &csv[..], &opts);
    assert_eq!(reasons(&report), Vec::<String>::new());
    assert_eq!(strings(&batches, 1), ["Béziers", "HaÿÜ"]);
    assert_eq!(lines, [2, 3]);

    // The same bytes read as UTF-8: an error naming line and column.
    let opts = IngestOptions {
        encoding: Encoding::Utf8,
        ..opts
    };
    let (report, batches, _) = run(&people(), &csv[..], &opts);
    assert!(batches.is_empty());
    assert_eq!(
        reasons(&report),
        [
            "d.csv:2:2 (VILLE): not valid UTF-8: byte 0xE9 at byte 2 of the value",
            "d.csv:3:2 (VILLE): not valid UTF-8: byte 0xFF at byte 3 of the value"
        ]
    );

    // A direct identifier's value is withheld even in a UTF-8 error.
    csv = b"NOM;VILLE;N\nH\xC9L;x;1\n".to_vec();
    let (report, _, _) = run(&people(), &csv[..], &opts);
    assert_eq!(
        reasons(&report),
        ["d.csv:2:1 (NOM): not valid UTF-8 at byte 2 of the value"]
    );

    // "é" (C3 A9) cut by a separator: the record's bytes without separators
    // are valid UTF-8, but neither cell is.
    csv = b"NOM;VILLE;N\nZOE;B\xC3;\xA91\n".to_vec();
    let (report, batches, _) = run(&people(), &csv[..], &opts);
    assert!(batches.is_empty());
    assert_eq!(
        reasons(&report),
        [
            "d.csv:2:2 (VILLE): not valid UTF-8: byte 0xC3 at byte 2 of the value",
            "d.csv:2:3 (N): not valid UTF-8: byte 0xA9 at byte 1 of the value"
        ]
    );
}

/// Reads at most `chunk` bytes at a time.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(buf.len()).min(self.1);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn latin1_reader_with_any_buffer_size() {
    let latin1: Vec<u8> = (0u8..=255).cycle().take(1000).collect();
    let expected: String = latin1.iter().map(|&b| char::from(b)).collect();
    for (chunk, buf_len) in [(1, 1), (7, 1), (3, 2), (5, 3), (1000, 7), (1000, 4096)] {
        let mut r = Latin1Reader {
            inner: Trickle(&latin1, chunk),
            pending: None,
        };
        let mut out = Vec::new();
        let mut buf = vec![0u8; buf_len];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            expected,
            "{chunk} {buf_len}"
        );
    }
}

#[test]
fn without_header_columns_are_the_schema_fields() {
    let opts = IngestOptions {
        has_header: false,
        ..IngestOptions::default()
    };
    let (report, batches, lines) = run(&people(), &b"\xEF\xBB\xBFA,x,1\nB,y,2\n"[..], &opts);
    assert_eq!(reasons(&report), Vec::<String>::new());
    assert_eq!(strings(&batches, 0), ["A", "B"]);
    assert_eq!(lines, [1, 2]);
    // The first line is data: an error there is at line 1.
    let (report, _, _) = run(&people(), &b"NOM,VILLE,N\nB,y,2\n"[..], &opts);
    assert_eq!(reasons(&report), ["d.csv:1:3 (N): not an integer: \"N\""]);
    // An empty file has no rows (and no missing header).
    let (report, batches, _) = run(&people(), &b""[..], &opts);
    assert!(report.is_valid() && batches.is_empty() && report.rows == 0);
}

#[test]
fn without_quoting_quotes_are_data() {
    let opts = IngestOptions {
        quote: None,
        delimiter: b'|',
        ..IngestOptions::default()
    };
    let csv = "NOM|VILLE|N\nA|\"Paris|1\nB|5\" écran\"|2\n";
    let (report, batches, _) = run(&people(), csv.as_bytes(), &opts);
    assert_eq!(reasons(&report), Vec::<String>::new());
    assert_eq!(strings(&batches, 1), ["\"Paris", "5\" écran\""]);
    // With the default quoting, the first row's quote runs to the end.
    let opts = IngestOptions {
        delimiter: b'|',
        ..IngestOptions::default()
    };
    let csv = "NOM|VILLE|N\nA|\"Paris|1\nB|5 écran|2\n";
    let (report, batches, _) = run(&people(), csv.as_bytes(), &opts);
    assert!(batches.is_empty());
    assert_eq!(
        reasons(&report),
        [
            "d.csv:2: expected 3 fields, found 2",
            "d.csv:2: unclosed quote: the quoted field opened here runs to the end of the file"
        ]
    );
    // Another quote character.
    let opts = IngestOptions {
        quote: Some(b'\''),
        ..IngestOptions::default()
    };
    let (report, batches, _) = run(&people(), &b"NOM,VILLE,N\nA,'x,y',1\n"[..], &opts);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(strings(&batches, 1), ["x,y"]);
}

#[test]
fn unclosed_quote_at_the_end_is_an_error() {
    // The last field opens a quote and never closes it: the CSV reader
    // alone would take "x\nB,y,2\n" as the value.
    let csv = "NOM,VILLE,N\nA,ok,1\nB,\"x\nC,y,2\n";
    let (report, batches, _) = run(&people(), csv.as_bytes(), &IngestOptions::default());
    assert!(batches.is_empty());
    assert!(!report.is_valid());
    assert_eq!(
        reasons(&report).last().map(String::as_str),
        Some("d.csv:3: unclosed quote: the quoted field opened here runs to the end of the file")
    );
    // A quoted last field that fits the row: still refused.
    let csv = "NOM,VILLE,N\nA,ok,\"1";
    let (report, batches, _) = run(&people(), csv.as_bytes(), &IngestOptions::default());
    assert!(batches.is_empty());
    assert_eq!(
        reasons(&report),
        ["d.csv:2: unclosed quote: the quoted field opened here runs to the end of the file"]
    );
    // Escaped quotes, quotes inside unquoted fields and a quote closing at
    // the very end are fine.
    for csv in [
        "NOM,VILLE,N\nA,\"a \"\"b\"\" c\",1\n",
        "NOM,VILLE,N\nA,a\"b,1\n",
        "NOM,VILLE,N\nA,\"x\"\"\",\"1\"",
        "NOM,VILLE,N\r\nA,\"\r\n\",1\r\n",
    ] {
        let (report, _, _) = run(&people(), csv.as_bytes(), &IngestOptions::default());
        assert!(report.is_valid(), "{csv:?}: {report:?}");
    }
}

#[test]
fn ragged_rows() {
    let opts = IngestOptions {
        delimiter: b';',
        has_header: false,
        ..IngestOptions::default()
    };
    let (report, batches, _) = run(&people(), &b"A;x;1\nB;y\nC;z;3;extra\nD;w;4\n"[..], &opts);
    assert!(batches.is_empty());
    assert_eq!(
        reasons(&report),
        [
            "d.csv:2: expected 3 fields, found 2",
            "d.csv:3: expected 3 fields, found 4"
        ]
    );
    assert_eq!(report.rows, 4);
}

/// A header, one good row, then `len` bytes without a line break (or an
/// open quote followed by `len` bytes of lines), produced on the fly.
struct Endless {
    head: Vec<u8>,
    pos: usize,
    len: u64,
    served: u64,
    line: bool,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.head.len() {
            let n = (self.head.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        let left = self.len - self.served;
        let n = (buf.len() as u64).min(left) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = if self.line && (self.served + i as u64) % 20 == 19 {
                b'\n'
            } else {
                b'x'
            };
        }
        self.served += n as u64;
        Ok(n)
    }
}

#[test]
fn a_50_mb_line_is_refused_early_with_bounded_memory() {
    let opts = IngestOptions {
        max_record_bytes: 1 << 20,
        ..IngestOptions::default()
    };
    let mut input = Endless {
        head: b"NOM,VILLE,N\nA,x,1\nB,".to_vec(),
        pos: 0,
        len: 50 << 20,
        served: 0,
        line: false,
    };
    let mut batches = 0;
    let report = ingest_csv(
        &people(),
        FILE,
        &mut input,
        &NoNomenclatures,
        &opts,
        &mut |_| {
            batches += 1;
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(
        reasons(&report),
        ["d.csv:3: record longer than 1048576 bytes (max_record_bytes)"]
    );
    assert_eq!(batches, 0);
    // Only about the limit was read (the reader's buffer beyond it), never
    // the whole line.
    assert!(input.served < (1 << 20) + (1 << 17), "{}", input.served);

    // An unclosed quote in a long file: the error names the quote's line.
    let mut input = Endless {
        head: b"NOM,VILLE,N\nA,x,1\n\nB,\"x".to_vec(),
        pos: 0,
        len: 50 << 20,
        served: 0,
        line: true,
    };
    let report = ingest_csv(
        &people(),
        FILE,
        &mut input,
        &NoNomenclatures,
        &opts,
        &mut |_| Ok(()),
    )
    .unwrap();
    assert_eq!(
        reasons(&report),
        [
            "d.csv:4: record longer than 1048576 bytes: the quote opened at line 4 is still open (unclosed quote?)"
        ]
    );
    assert!(input.served < (1 << 20) + (1 << 17), "{}", input.served);

    // A long header too.
    let mut input = Endless {
        head: Vec::new(),
        pos: 0,
        len: 3 << 20,
        served: 0,
        line: false,
    };
    let report = ingest_csv(
        &people(),
        FILE,
        &mut input,
        &NoNomenclatures,
        &opts,
        &mut |_| Ok(()),
    )
    .unwrap();
    assert_eq!(report.errors[0].line, 1);

    // A record just under the limit passes.
    let opts = IngestOptions {
        max_record_bytes: 64,
        ..IngestOptions::default()
    };
    let long = "y".repeat(50);
    let (report, _, _) = run(
        &people(),
        format!("NOM,VILLE,N\nA,{long},1\nB,{long}{long},2\n").as_bytes(),
        &opts,
    );
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert_eq!(report.errors[0].line, 3);
}

#[test]
fn check_unique_off_skips_key_checks() {
    let csv = "NOM,VILLE,N\nA,x,1\nB,y,1\n";
    let (report, _, _) = run(&people(), csv.as_bytes(), &IngestOptions::default());
    assert_eq!(report.error_count, 1);
    let opts = IngestOptions {
        check_unique: false,
        ..IngestOptions::default()
    };
    let (report, batches, lines) = run(&people(), csv.as_bytes(), &opts);
    assert!(report.is_valid());
    assert_eq!(batches[0].num_rows(), 2);
    assert_eq!(lines, [2, 3]);
}

#[test]
fn direct_identifier_values_are_withheld() {
    let (report, _, _) = run(
        &people(),
        &b"NOM,VILLE,N\ndupont,x,1\n"[..],
        &IngestOptions::default(),
    );
    assert_eq!(
        reasons(&report),
        [r#"d.csv:2:1 (NOM): value <identifier withheld> does not match pattern "[A-Z]+""#]
    );
}

#[test]
fn lines_follow_batches() {
    let opts = IngestOptions {
        batch_rows: 2,
        ..IngestOptions::default()
    };
    let csv = "NOM,VILLE,N\nA,x,1\n\nB,\"y\nz\",2\nC,x,3\r\nD,x,4\n";
    let mut seen = Vec::new();
    ingest_csv_with_lines(
        &people(),
        FILE,
        csv.as_bytes(),
        &NoNomenclatures,
        &opts,
        &mut |b, l| {
            assert_eq!(b.num_rows(), l.len());
            seen.push(l.to_vec());
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(seen, [vec![2, 4], vec![6, 7]]);
}

#[test]
fn unusable_dialects() {
    for opts in [
        IngestOptions {
            quote: Some(b','),
            ..IngestOptions::default()
        },
        IngestOptions {
            quote: Some(b'\n'),
            ..IngestOptions::default()
        },
        IngestOptions {
            max_record_bytes: 0,
            ..IngestOptions::default()
        },
    ] {
        let result = ingest_csv(
            &people(),
            FILE,
            &b""[..],
            &NoNomenclatures,
            &opts,
            &mut |_| Ok(()),
        );
        assert!(matches!(result, Err(IngestError::Options(_))), "{opts:?}");
    }
    // Without quoting, '"' may delimit.
    let opts = IngestOptions {
        quote: None,
        delimiter: b'"',
        ..IngestOptions::default()
    };
    let (report, _, _) = run(&people(), &b"NOM\"VILLE\"N\nA\"x\"1\n"[..], &opts);
    assert!(report.is_valid(), "{report:?}");
}

/// The fixed-width date reader gives what chrono gives, or leaves the value
/// to chrono.
#[test]
fn fixed_date_formats_agree_with_chrono() {
    use chrono::NaiveDate;
    use chrono::format::{Parsed, StrftimeItems};

    assert_eq!(plan::FixedDate::compile("%d%m%Y").map(|_| ()), Some(()));
    assert_eq!(plan::FixedDate::compile("%d/%m/%Y").map(|_| ()), Some(()));
    for unusable in [
        "%d%m%y", "%d %m %Y", "%d%m", "%d%d%m%Y", "%e%m%Y", "%d1%m%Y", "%d%m%Y%",
    ] {
        if let Some(f) = plan::FixedDate::compile(unusable) {
            panic!("{unusable}: {f:?}");
        }
    }
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"0123456789 /-+";
    for fmt in [
        "%d%m%Y",
        "%Y%m%d",
        "%d/%m/%Y",
        "%Y-%m-%d",
        "%m-%d-%Y",
        "%Y-%m-%dT",
    ] {
        let fixed = plan::FixedDate::compile(fmt).unwrap();
        let items = StrftimeItems::new(fmt).parse_to_owned().unwrap();
        let mut hits = 0;
        for i in 0..100_000 {
            // Mostly real dates written in the format, some mangled.
            let d = NaiveDate::from_ymd_opt(1900 + (next() % 200) as i32, 1, 1).unwrap()
                + chrono::Duration::days((next() % 400) as i64);
            let mut text = d.format(fmt).to_string().into_bytes();
            if i % 2 == 0 {
                let at = (next() as usize) % text.len();
                text[at] = alphabet[(next() as usize) % alphabet.len()];
            }
            let text = String::from_utf8(text).unwrap();
            let slow = {
                let mut p = Parsed::new();
                chrono::format::parse(&mut p, &text, items.iter())
                    .ok()
                    .and_then(|()| p.to_naive_date().ok())
            };
            if let Some(fast) = fixed.parse(&text) {
                hits += 1;
                assert_eq!(Some(fast), slow, "{fmt} {text:?}");
            }
        }
        assert!(hits > 40_000, "{fmt}: {hits}");
    }
}
