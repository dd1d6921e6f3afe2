//! `bench/audit`: durable appends to the audit chain and verification speed.
//!
//! ```text
//! audit_bench [sqlite|postgres://…] [EVENTS] [WRITERS]
//! ```
//!
//! Appends EVENTS standalone audit events from WRITERS concurrent tasks
//! through the store's group commit (each call returns once its event is
//! committed), three times (the median is quoted), then a tenth as many one transaction per event (what the
//! store did before group commit, and what a plain audit table does), then
//! verifies the whole chain in memory and from its JSON Lines export.
//! Prints one `RESULT audit …` line.

use hdh_model::AuditEvent;
use hdh_store::Store;
use std::time::Instant;

fn event(i: usize) -> AuditEvent {
    let mut e = AuditEvent::new("workspace.query", "project")
        .object("p-bench")
        .project("p-bench")
        .details(serde_json::json!({ "rows": i, "sql": "SELECT count(*) FROM ER_PRS_F" }));
    e.actor_id = Some(format!("u{}", i % 50));
    e.actor_name = Some(format!("researcher{}", i % 50));
    e.client_addr = Some("127.0.0.1".into());
    e
}

/// `writers` tasks append `per` events each; events per second.
async fn burst(
    store: &Store,
    writers: usize,
    per: usize,
    grouped: bool,
) -> Result<f64, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let e = event(w * per + i);
                if grouped {
                    store.audit(&e).await?;
                } else {
                    store.audit_alone(&e).await?;
                }
            }
            Ok::<_, hdh_store::StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = (per * writers) as f64 / secs;
    eprintln!(
        "{}: {} events in {secs:.2} s ({rate:.0}/s)",
        if grouped {
            "group commit"
        } else {
            "one transaction per event"
        },
        per * writers
    );
    Ok(rate)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let target = args.get(1).cloned().unwrap_or_else(|| "sqlite".into());
    let events: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let writers: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(256);
    let dir = std::env::temp_dir().join(format!("hdh-audit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = if target == "sqlite" {
        Store::open_sqlite(&dir.join("hdh.db")).await?
    } else {
        Store::connect(&target).await?
    };
    let backend = if target == "sqlite" {
        "sqlite"
    } else {
        "postgres"
    };

    // Group commit: WRITERS tasks, each waiting for its own events.
    // Three bursts (the log grows between them), the median quoted: the
    // fsyncs of this kind of machine vary from run to run.
    let per = events.div_ceil(writers);
    let mut rates = Vec::new();
    for _ in 0..3 {
        rates.push(burst(&store, writers, per, true).await?);
    }
    rates.sort_by(f64::total_cmp);
    let grouped = rates[1];
    // One transaction per event, the same number of writers.
    let per_alone = (events / 10).max(writers).div_ceil(writers);
    let alone = burst(&store, writers, per_alone, false).await?;

    // Verification: in memory, and from the export's text.
    let (head, _) = store.audit_head().await?;
    let entries = store.audit_entries(1, head).await?;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let last = entries.last().ok_or("no entries")?;
    let checkpoint = hdh_audit::Checkpoint::sign(&key, last.seq, &last.hash, "now");
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let r = hdh_audit::verify(
            &entries,
            std::slice::from_ref(&checkpoint),
            &[],
            &key.verifying_key(),
            Some(hdh_audit::GENESIS),
        );
        assert!(r.ok(), "{:?}", r.problems);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let verify = entries.len() as f64 / best;
    let text = hdh_audit::write_export(
        hdh_audit::GENESIS,
        &key.verifying_key(),
        &entries,
        &[checkpoint],
    );
    let mut best_text = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let ex = hdh_audit::read_export(&text, true)?;
        let r = hdh_audit::verify(
            &ex.entries,
            &ex.checkpoints,
            &[],
            &key.verifying_key(),
            ex.prev_hash.as_deref(),
        );
        assert!(r.ok());
        best_text = best_text.min(t.elapsed().as_secs_f64());
    }
    let verify_text = entries.len() as f64 / best_text;
    eprintln!(
        "verify: {} entries, {verify:.0}/s in memory, {verify_text:.0}/s from the export ({} MB)",
        entries.len(),
        text.len() >> 20
    );
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "RESULT audit backend={backend} append_per_s={grouped:.0} one_tx_per_event_per_s={alone:.0} x_one_tx={:.1} verify_per_s={verify:.0} export_verify_per_s={verify_text:.0} events={} writers={writers}",
        grouped / alone,
        entries.len()
    );
    Ok(())
}
