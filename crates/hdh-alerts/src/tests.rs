use super::*;

/// Builds entries with increasing sequence numbers.
struct Log {
    seq: i64,
    entries: Vec<Entry>,
}

impl Log {
    fn new() -> Log {
        Log {
            seq: 0,
            entries: Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        at: &str,
        actor: &str,
        action: &str,
        outcome: &str,
        addr: &str,
        details: serde_json::Value,
    ) -> &mut Self {
        self.seq += 1;
        self.entries.push(Entry {
            seq: self.seq,
            at: at.into(),
            actor_id: Some(format!("id-{actor}")),
            actor_name: Some(actor.into()),
            role: None,
            action: action.into(),
            object_type: "project".into(),
            object_id: Some("p-1".into()),
            project_id: Some("p-1".into()),
            outcome: outcome.into(),
            client_addr: Some(addr.into()),
            details: details.to_string(),
            prev_hash: String::new(),
            hash: String::new(),
        });
        self
    }

    fn query(&mut self, at: &str, actor: &str, sql: &str, rows: i64) -> &mut Self {
        self.add(
            at,
            actor,
            "workspace.query",
            "success",
            "10.0.0.1",
            serde_json::json!({ "sql": sql, "rows": rows }),
        )
    }
}

/// A Tuesday at 10:MM:SS UTC.
fn t(minute: u32, second: u32) -> String {
    format!("2026-11-24T10:{minute:02}:{second:02}Z")
}

fn fired(log: &Log) -> Vec<String> {
    let mut names: Vec<String> = Engine::replay(default_rules(), &log.entries)
        .into_iter()
        .map(|a| a.rule)
        .collect();
    names.dedup();
    names
}

/// A researcher's ordinary day: a sign-in, a few dozen varied queries with
/// large results, a release.
fn normal_use() -> Log {
    let mut log = Log::new();
    log.add(
        &t(0, 0),
        "researcher",
        "auth.sign_in",
        "success",
        "10.0.0.1",
        serde_json::json!({}),
    );
    for i in 0..40 {
        let sql = format!(
            "SELECT BEN_RES_DPT, count(*) FROM IR_BEN_R WHERE BEN_NAI_ANN > 19{:02} GROUP BY 1",
            i % 3
        );
        log.query(
            &t(1 + i / 2, (i % 2) * 30),
            "researcher",
            &sql,
            100 + i as i64,
        );
    }
    log.add(
        &t(30, 0),
        "researcher",
        "release.submit",
        "success",
        "10.0.0.1",
        serde_json::json!({}),
    );
    log
}

#[test]
fn normal_use_raises_nothing() {
    assert_eq!(fired(&normal_use()), Vec::<String>::new());
}

#[test]
fn every_default_rule_fires_on_its_pattern() {
    let mut log = normal_use();
    // Probing: 21 queries whose results have 1 to 9 rows.
    for i in 0..21 {
        log.query(
            &t(40, i),
            "prober",
            &format!("SELECT count(*) FROM IR_BEN_R WHERE BEN_RES_DPT = '{i:03}'"),
            3,
        );
    }
    // Differencing: the same query with the population shifted 8 times.
    for i in 0..8 {
        log.query(
            &t(41, i),
            "differ",
            &format!(
                "SELECT avg(PRS_PAI_MNT) FROM ER_PRS_F WHERE BEN_NAI_ANN >= {}",
                1950 + i
            ),
            500,
        );
    }
    // A query rate over 120 in 10 minutes.
    for i in 0..121 {
        log.query(
            &t(42 + i / 60, i % 60),
            "fast",
            &format!("SELECT {i}"),
            1000,
        );
    }
    // Bulk rows.
    log.query(&t(45, 0), "bulk", "SELECT * FROM ER_PRS_F", 250_000);
    // Refusals.
    for i in 0..6 {
        log.add(
            &t(46, i),
            "escaper",
            "workspace.query",
            "denied",
            "10.0.0.2",
            serde_json::json!({ "sql": "SELECT * FROM other" }),
        );
    }
    // Sign-in failures from one address.
    for i in 0..6 {
        log.add(
            &t(47, i),
            &format!("guess{i}"),
            "auth.sign_in",
            "denied",
            "203.0.113.9",
            serde_json::json!({}),
        );
    }
    // A new address for a known account.
    log.add(
        &t(48, 0),
        "researcher",
        "auth.sign_in",
        "success",
        "198.51.100.7",
        serde_json::json!({}),
    );
    // Off hours: Sunday night.
    log.add(
        "2026-11-29T23:30:00Z",
        "night",
        "workspace.query",
        "success",
        "10.0.0.1",
        serde_json::json!({ "sql": "SELECT 1", "rows": 1 }),
    );
    // Administration.
    log.add(
        &t(50, 0),
        "admin",
        "account.create",
        "success",
        "10.0.0.3",
        serde_json::json!({}),
    );
    let alerts = Engine::replay(default_rules(), &log.entries);
    let mut names: Vec<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
    names.sort();
    names.dedup();
    let all: Vec<String> = default_rules().into_iter().map(|r| r.name).collect();
    let mut all: Vec<&str> = all.iter().map(String::as_str).collect();
    all.sort();
    assert_eq!(names, all, "{alerts:#?}");
    // Evidence and subjects.
    let probe = alerts
        .iter()
        .find(|a| a.rule == "probing-small-results")
        .unwrap();
    assert_eq!(
        (probe.subject.as_deref(), probe.evidence.len()),
        (Some("prober"), 21)
    );
    // The prober's queries are one query with other literals too.
    let near: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.rule == "near-identical-queries")
        .collect();
    let subjects: Vec<&str> = near.iter().filter_map(|a| a.subject.as_deref()).collect();
    assert_eq!(
        subjects,
        vec!["prober", "differ", "fast"],
        "one alert per subject and window: {near:#?}"
    );
    let diff = near[1];
    assert!(
        diff.message
            .contains("select avg(prs_pai_mnt) from er_prs_f where ben_nai_ann >= ?"),
        "{}",
        diff.message
    );
    let guess = alerts
        .iter()
        .find(|a| a.rule == "sign-in-failures")
        .unwrap();
    assert_eq!(guess.subject.as_deref(), Some("address 203.0.113.9"));
    assert_eq!(guess.severity, Severity::High);
}

#[test]
fn rerunning_the_same_query_is_not_differencing() {
    let mut log = Log::new();
    for i in 0..20 {
        log.query(
            &t(1, i),
            "researcher",
            "SELECT avg(PRS_PAI_MNT) FROM ER_PRS_F WHERE BEN_NAI_ANN >= 1950",
            500,
        );
    }
    assert_eq!(fired(&log), Vec::<String>::new());
}

#[test]
fn windows_slide() {
    // 21 small results spread over three hours: never more than 20 in an hour.
    let mut log = Log::new();
    for i in 0..21 {
        log.query(
            &format!("2026-11-24T{:02}:{:02}:00Z", 8 + i / 7, (i % 7) * 8),
            "slow",
            "SELECT 1",
            2,
        );
    }
    assert_eq!(fired(&log), Vec::<String>::new());
}

#[test]
fn query_shapes() {
    assert_eq!(
        query_shape("SELECT  a FROM t WHERE x = 'it''s' AND y > 12.5"),
        "select a from t where x = ? and y > ?"
    );
    assert_eq!(query_shape("select col1 from t2"), "select col1 from t2");
}

#[test]
fn rules_from_a_file() {
    let rules = parse_rules(
        "[[rule]]\nname = \"night\"\nseverity = \"high\"\nkind = \"off_hours\"\nactions = [\"workspace.\"]\nstart_hour = 8\nend_hour = 18\n",
    )
    .unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].check,
        Check::OffHours {
            actions: vec!["workspace.".into()],
            start_hour: 8,
            end_hour: 18
        }
    );
    let e = parse_rules("[[rule]]\nname = \"x\"\nseverity = \"high\"\nkind = \"rate\"\nmax = 3\n")
        .unwrap_err();
    assert!(e.to_string().contains("action"), "{e}");
    let e = parse_rules("[[rule]]\nname = \"x\"\nseverity = \"high\"\nkind = \"bulk_rows\"\nabove = 1\n[[rule]]\nname = \"x\"\nseverity = \"low\"\nkind = \"new_address\"\n").unwrap_err();
    assert_eq!(e, RulesError::Duplicate("x".into()));
}

#[test]
fn responses_from_a_file_and_on_the_alert() {
    let rules = parse_rules(
        "[[rule]]\nname = \"probe\"\nseverity = \"high\"\nrespond = [\"suspend_tokens\", \"lock_workspace\"]\nkind = \"bulk_rows\"\nabove = 2\n",
    )
    .unwrap();
    assert_eq!(
        rules[0].respond,
        vec![Response::SuspendTokens, Response::LockWorkspace]
    );
    let e = parse_rules(
        "[[rule]]\nname = \"x\"\nseverity = \"high\"\nrespond = [\"delete_user\"]\nkind = \"bulk_rows\"\nabove = 2\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("delete_user"), "{e}");
    let mut log = Log::new();
    log.add(
        "2026-03-02T10:00:00Z",
        "eve",
        "workspace.query",
        "success",
        "10.0.0.1",
        serde_json::json!({ "rows": 5 }),
    );
    let alerts = Engine::replay(rules, &log.entries);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].project.as_deref(), Some("p-1"));
    assert_eq!(alerts[0].respond.len(), 2);
}
