use super::*;

fn identity() -> ProducerIdentity {
    ProducerIdentity::from_secrets("cpam-test", &[7u8; 32], &[9u8; 32]).unwrap()
}

fn manifest(id: &ProducerIdentity) -> Manifest {
    let data = b"PAR1 not really";
    let schema = br#"{"name": "T", "fields": [{"name": "a"}]}"#;
    Manifest {
        format: FORMAT.to_owned(),
        dataset_id: "snds-test".to_owned(),
        producer: id.name().to_owned(),
        producer_key: id.ed25519_public_hex(),
        level1_key_id: "l1-2026".to_owned(),
        created_at: DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        tables: vec![ManifestTable {
            name: "T".to_owned(),
            data: "T.parquet".to_owned(),
            schema: "T.schema.json".to_owned(),
            rows: 3,
        }],
        files: vec![
            ManifestFile {
                path: "T.parquet".to_owned(),
                bytes: data.len() as u64,
                sha256: sha256_hex(data),
            },
            ManifestFile {
                path: "T.schema.json".to_owned(),
                bytes: schema.len() as u64,
                sha256: sha256_hex(schema),
            },
        ],
        summary: Summary::default(),
    }
}

#[test]
fn round_trip_sign_and_verify() {
    let id = identity();
    let m = manifest(&id);
    let bytes = m.to_bytes();
    let back = Manifest::parse(&bytes).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.to_bytes(), bytes);
    let sig = sign(&bytes, id.signing_key());
    verify(&bytes, &sig, &id.verifying_key()).unwrap();
    verify(
        &bytes,
        &format!("{sig}\n"),
        &back.producer_verifying_key().unwrap(),
    )
    .unwrap();
    assert!(
        String::from_utf8(bytes)
            .unwrap()
            .contains(r#""created_at": "2026-11-22T10:00:00Z""#)
    );
}

#[test]
fn tampered_manifest_or_wrong_key_fails() {
    let id = identity();
    let bytes = manifest(&id).to_bytes();
    let sig = sign(&bytes, id.signing_key());
    // Every single byte changed breaks the signature.
    for i in [0, bytes.len() / 2, bytes.len() - 1] {
        let mut t = bytes.clone();
        t[i] ^= 1;
        assert!(matches!(
            verify(&t, &sig, &id.verifying_key()),
            Err(PackageError::BadSignature)
        ));
    }
    let other = ProducerIdentity::from_secrets("other", &[8u8; 32], &[9u8; 32]).unwrap();
    assert!(matches!(
        verify(&bytes, &sig, &other.verifying_key()),
        Err(PackageError::BadSignature)
    ));
    assert!(matches!(
        verify(&bytes, "not base64!", &id.verifying_key()),
        Err(PackageError::SignatureEncoding)
    ));
    assert!(matches!(
        verify(&bytes, "AAAA", &id.verifying_key()),
        Err(PackageError::SignatureEncoding)
    ));
}

#[test]
fn unsafe_paths_are_refused() {
    let id = identity();
    for bad in [
        "../T.parquet",
        "/etc/passwd",
        "a/b.parquet",
        "a\\b",
        ".hidden",
        ".upload-state.json",
        "..",
        "T..parquet",
        "",
        "é.parquet",
        "T.parquet\n",
        "-rf",
    ] {
        let mut m = manifest(&id);
        m.files[0].path = bad.to_owned();
        m.tables[0].data = bad.to_owned();
        let err = Manifest::parse(&m.to_bytes()).unwrap_err();
        assert!(matches!(err, PackageError::UnsafePath(_)), "{bad:?}: {err}");
    }
    assert!(is_safe_file_name("T.schema.json"));
    assert!(is_safe_file_name("ER_PRS_F.parquet"));
    assert!(!is_safe_file_name(&"a".repeat(MAX_PATH_LEN + 1)));
}

#[test]
fn incoherent_manifests_are_refused() {
    let id = identity();
    type Change = Box<dyn Fn(&mut Manifest)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|m| m.format = "hdh-package/2".into()), "format"),
        (Box::new(|m| m.dataset_id = "a b".into()), "dataset_id"),
        (Box::new(|m| m.producer = String::new()), "producer"),
        (
            Box::new(|m| m.level1_key_id = "../k".into()),
            "level1_key_id",
        ),
        (Box::new(|m| m.producer_key = "abcd".into()), "public key"),
        (
            Box::new(|m| m.files[1].path = "T.parquet".into()),
            "listed twice",
        ),
        (Box::new(|m| m.files[0].sha256 = "AB".repeat(32)), "sha256"),
        (
            Box::new(|m| m.files[0].path = MANIFEST_FILE.into()),
            "cannot list itself",
        ),
        (Box::new(|m| m.tables.clear()), "no table"),
        (
            Box::new(|m| m.tables[0].schema = "dataset.json".into()),
            "not listed in files",
        ),
        (
            Box::new(|m| m.tables[0].schema = "T.parquet".into()),
            "used twice",
        ),
        (
            Box::new(|m| {
                let t = m.tables[0].clone();
                m.tables.push(t);
            }),
            "listed twice",
        ),
        (
            Box::new(|m| m.tables[0].name = "T-1".into()),
            "safe identifier",
        ),
    ];
    for (change, needle) in cases {
        let mut m = manifest(&id);
        change(&mut m);
        let err = Manifest::parse(&m.to_bytes()).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} should contain {needle:?}");
    }
    let err = Manifest::parse(b"{\"format\": ").unwrap_err();
    assert!(matches!(err, PackageError::Json { line: 1, .. }), "{err}");
}

#[test]
fn check_file_compares_size_and_digest() {
    let entry = ManifestFile {
        path: "T.parquet".into(),
        bytes: 5,
        sha256: sha256_hex(b"hello"),
    };
    check_file(&entry, &b"hello"[..]).unwrap();
    for bad in [&b"hellO"[..], b"hell", b"hello!"] {
        assert!(
            matches!(check_file(&entry, bad), Err(PackageError::File { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn hashing_wrappers() {
    let mut w = HashingWriter::new(Vec::new());
    w.write_all(b"hel").unwrap();
    w.write_all(b"lo").unwrap();
    assert_eq!(w.byte_count(), 5);
    let (inner, n, digest) = w.finish();
    assert_eq!((inner.as_slice(), n), (&b"hello"[..], 5));
    assert_eq!(
        digest,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    let mut r = HashingReader::new(&b"hello"[..]);
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    assert_eq!(r.finish(), (5, digest));
}

#[test]
fn identity_files() {
    let id = ProducerIdentity::generate("cpam-75").unwrap();
    let text = id.to_file_text();
    let back = ProducerIdentity::from_file_text(&text).unwrap();
    assert_eq!(back.name(), "cpam-75");
    assert_eq!(back.ed25519_public_hex(), id.ed25519_public_hex());
    assert_eq!(back.x25519_public_hex(), id.x25519_public_hex());
    assert_eq!(back.x25519_secret(), id.x25519_secret());
    assert_eq!(id.ed25519_public_hex().len(), 64);
    // Debug shows no secret.
    let debug = format!("{id:?}");
    assert!(debug.contains("<redacted>"));
    let secret_hex = hex::encode(id.signing_key().to_bytes());
    assert!(!debug.contains(&secret_hex));
    assert!(!debug.contains(&hex::encode(id.x25519_secret())));
    // Two identities differ.
    let other = ProducerIdentity::generate("cpam-75").unwrap();
    assert_ne!(other.ed25519_public_hex(), id.ed25519_public_hex());
    // A damaged file is refused without quoting it.
    let damaged = text.replace(&secret_hex, &"0".repeat(64));
    let err = ProducerIdentity::from_file_text(&damaged)
        .unwrap_err()
        .to_string();
    assert!(err.contains("do not match"), "{err}");
    let err = ProducerIdentity::from_file_text(
        &text.replace("ed25519_secret\": \"", "ed25519_secret\": \"zz"),
    )
    .unwrap_err()
    .to_string();
    assert!(!err.contains(&secret_hex), "{err}");
    assert!(ProducerIdentity::generate("bad name").is_err());
    assert!(ProducerIdentity::from_file_text("{}").is_err());
}
