use super::*;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

/// A chain of `n` entries, with a checkpoint every `every` entries.
fn chain(n: i64, every: i64) -> (Vec<Entry>, Vec<Checkpoint>) {
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    let mut prev = GENESIS.to_string();
    for seq in 1..=n {
        let e = Entry {
            seq,
            at: format!("2026-11-24T00:00:{:02}Z", seq % 60),
            actor_id: Some(format!("u{}", seq % 3)),
            actor_name: Some(["researcher", "checker", "security"][(seq % 3) as usize].into()),
            role: None,
            action: "workspace.query".into(),
            object_type: "project".into(),
            object_id: Some("p-1".into()),
            project_id: Some("p-1".into()),
            outcome: "success".into(),
            client_addr: Some("127.0.0.1".into()),
            details: format!("{{\"rows\":{seq}}}"),
            prev_hash: String::new(),
            hash: String::new(),
        }
        .seal(&prev);
        prev = e.hash.clone();
        if seq % every == 0 {
            checkpoints.push(Checkpoint::sign(&key(), seq, &e.hash, &e.at));
        }
        entries.push(e);
    }
    (entries, checkpoints)
}

fn check(entries: &[Entry], checkpoints: &[Checkpoint]) -> Report {
    verify(
        entries,
        checkpoints,
        &[],
        &key().verifying_key(),
        Some(GENESIS),
    )
}

#[test]
fn an_untouched_log_verifies() {
    let (e, c) = chain(23, 5);
    let r = check(&e, &c);
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(
        (r.entries, r.first, r.last, r.checkpoints),
        (23, Some(1), Some(23), 4)
    );
}

#[test]
fn a_changed_field_is_found() {
    let (mut e, c) = chain(23, 5);
    e[6].actor_name = Some("someone else".into());
    assert_eq!(check(&e, &c).problems, vec![Problem::Changed { seq: 7 }]);
    // Its hash recomputed too: the next entry no longer follows it.
    let (mut e, c) = chain(23, 5);
    e[6].details = "{}".into();
    e[6].hash = e[6].compute_hash();
    assert_eq!(check(&e, &c).problems, vec![Problem::Unlinked { seq: 8 }]);
    // The whole chain rewritten from there: the next signed checkpoint disagrees.
    let (mut e, c) = chain(23, 5);
    e[6].details = "{}".into();
    for i in 6..e.len() {
        let prev = if i == 0 {
            GENESIS.to_string()
        } else {
            e[i - 1].hash.clone()
        };
        e[i] = e[i].clone().seal(&prev);
    }
    let p = check(&e, &c).problems;
    assert!(
        p.contains(&Problem::CheckpointMismatch { seq: 10 }),
        "{p:?}"
    );
}

#[test]
fn a_deleted_entry_is_found() {
    let (mut e, c) = chain(23, 5);
    e.remove(11);
    let p = check(&e, &c).problems;
    assert!(
        p.contains(&Problem::Gap {
            after: 11,
            next: 13
        }),
        "{p:?}"
    );
    assert!(p.contains(&Problem::Unlinked { seq: 13 }), "{p:?}");
}

#[test]
fn an_inserted_entry_is_found() {
    let (mut e, c) = chain(23, 5);
    let mut forged = e[3].clone();
    forged.action = "audit.view".into();
    let forged = forged.seal(&e[3].hash);
    e.insert(4, forged);
    let p = check(&e, &c).problems;
    assert!(
        p.contains(&Problem::OutOfOrder { seq: 5, after: 4 })
            || p.contains(&Problem::Unlinked { seq: 5 }),
        "{p:?}"
    );
    assert!(!p.is_empty());
}

#[test]
fn swapped_entries_are_found() {
    let (mut e, c) = chain(23, 5);
    e.swap(8, 9);
    let p = check(&e, &c).problems;
    assert!(
        p.contains(&Problem::OutOfOrder { seq: 9, after: 10 }),
        "{p:?}"
    );
    assert!(
        p.iter().any(|x| matches!(x, Problem::Unlinked { .. })),
        "{p:?}"
    );
}

#[test]
fn a_truncated_tail_is_found_by_a_checkpoint_or_a_witness() {
    let (e, c) = chain(23, 5);
    // The tail cut with its checkpoint left in place.
    let p = check(&e[..17], &c).problems;
    assert!(
        p.contains(&Problem::Truncated { seq: 20, last: 17 }),
        "{p:?}"
    );
    // The tail cut with its checkpoints: a witness still holds the last one.
    let kept: Vec<Checkpoint> = c.iter().filter(|x| x.seq <= 17).cloned().collect();
    assert!(check(&e[..17], &kept).ok());
    let witness = [c[3].clone()];
    let r = verify(
        &e[..17],
        &kept,
        &witness,
        &key().verifying_key(),
        Some(GENESIS),
    );
    assert_eq!(r.problems, vec![Problem::Truncated { seq: 20, last: 17 }]);
}

#[test]
fn a_forged_checkpoint_is_refused() {
    let (e, mut c) = chain(23, 5);
    let other = SigningKey::from_bytes(&[0x43; 32]);
    c[1] = Checkpoint::sign(&other, c[1].seq, &c[1].hash, &c[1].at);
    assert_eq!(
        check(&e, &c).problems,
        vec![Problem::BadSignature { seq: 10 }]
    );
    let (e, mut c) = chain(23, 5);
    c[0].signature = "zz".into();
    assert_eq!(
        check(&e, &c).problems,
        vec![Problem::BadSignature { seq: 5 }]
    );
}

#[test]
fn a_segment_is_verified_from_its_predecessor() {
    let (e, c) = chain(23, 5);
    let prev = e[9].hash.clone();
    let r = verify(&e[10..], &c, &[], &key().verifying_key(), Some(&prev));
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(
        r.checkpoints, 2,
        "the checkpoints before the segment are not compared"
    );
    let r = verify(&e[10..], &c, &[], &key().verifying_key(), Some(GENESIS));
    assert_eq!(r.problems, vec![Problem::Unlinked { seq: 11 }]);
}

#[test]
fn exports_round_trip_and_name_the_bad_line() {
    let (e, c) = chain(12, 5);
    let text = write_export(GENESIS, &key().verifying_key(), &e, &c);
    let back = read_export(&text, true).unwrap();
    assert_eq!(back.entries, e);
    assert_eq!(back.checkpoints, c);
    assert_eq!(back.prev_hash.as_deref(), Some(GENESIS));
    assert_eq!(
        public_key(back.public_key.as_deref().unwrap()).unwrap(),
        key().verifying_key()
    );
    let mut lines: Vec<&str> = text.lines().collect();
    lines[3] = "{\"type\":\"entry\",\"seq\":\"three\"}";
    let err = read_export(&lines.join("\n"), true).unwrap_err();
    assert!(matches!(err, ExportError::Line { line: 4, .. }), "{err}");
    assert_eq!(
        read_export(&lines[1..3].join("\n"), true).unwrap_err(),
        ExportError::NoHeader
    );
    // A witness's file: checkpoints only.
    let witness: String = c
        .iter()
        .map(|x| serde_json::to_string(&Line::Checkpoint(x.clone())).unwrap() + "\n")
        .collect();
    assert_eq!(read_export(&witness, false).unwrap().checkpoints, c);
    assert!(public_key("12").is_err());
}

#[test]
fn messages_say_what_happened() {
    assert_eq!(
        Problem::Gap {
            after: 11,
            next: 13
        }
        .to_string(),
        "entries 12–12 are missing (deleted)"
    );
    assert!(
        Problem::Truncated { seq: 20, last: 17 }
            .to_string()
            .contains("truncated")
    );
}

#[test]
fn the_canonical_encoding_is_a_compact_json_array() {
    let (e, _) = chain(3, 5);
    let mut buf = Vec::new();
    e[2].canonical(&mut buf);
    let expected = serde_json::json!([
        FORMAT,
        e[2].seq,
        e[2].at,
        e[2].actor_id,
        e[2].actor_name,
        e[2].role,
        e[2].action,
        e[2].object_type,
        e[2].object_id,
        e[2].project_id,
        e[2].outcome,
        e[2].client_addr,
        e[2].details,
        e[2].prev_hash,
    ]);
    assert_eq!(String::from_utf8(buf).unwrap(), expected.to_string());
}

#[test]
fn a_witness_keeps_new_checkpoints_and_catches_a_rewrite_or_a_rollback() {
    let k = key();
    let c = |seq: i64, hash: &str| Checkpoint::sign(&k, seq, hash, "2026-11-24T00:00:00Z");
    let held = vec![c(10, "aa"), c(20, "bb")];
    // The hub published one more: kept.
    let new = witness(
        &held,
        &[c(10, "aa"), c(20, "bb"), c(30, "cc")],
        &k.verifying_key(),
    )
    .unwrap();
    assert_eq!(new, vec![c(30, "cc")]);
    // Rewritten at 20.
    let e = witness(
        &held,
        &[c(10, "aa"), c(20, "xx"), c(30, "cc")],
        &k.verifying_key(),
    )
    .unwrap_err();
    assert!(matches!(e[0], WitnessError::Fork { seq: 20, .. }), "{e:?}");
    // Rolled back before 20.
    let e = witness(&held, &[c(10, "aa")], &k.verifying_key()).unwrap_err();
    assert_eq!(e, vec![WitnessError::Missing { seq: 20, last: 10 }]);
    // Signed by another key.
    let other = SigningKey::from_bytes(&[0x43; 32]);
    let forged = Checkpoint::sign(&other, 30, "cc", "2026-11-24T00:00:00Z");
    let e = witness(
        &held,
        &[c(10, "aa"), c(20, "bb"), forged],
        &k.verifying_key(),
    )
    .unwrap_err();
    assert_eq!(e, vec![WitnessError::BadSignature { seq: 30 }]);
    // What it keeps reads back as checkpoints.
    let text = write_checkpoints(&new);
    assert_eq!(read_export(&text, false).unwrap().checkpoints, new);
}
