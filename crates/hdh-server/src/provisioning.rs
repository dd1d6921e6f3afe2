//! Provisioning jobs and the opposition register.
//!
//! An authorised request (or an amendment, or a refresh after a new
//! opposition) queues an extraction build; a background task builds it with
//! `hdh_workspace::provision` (approved columns, period, population
//! criteria, oppositions, project pseudonyms) into lake staging, publishes
//! it under a prefix of its own, and then one transaction points the project
//! at it (and, the first time, creates the project and moves the request to
//! `active`). A failure or a crash leaves the previous state untouched: the
//! job is marked failed (audited), staging is removed at start-up, and the
//! authority, an administrator or a member can retry.

use std::collections::{HashMap, HashSet};

use hdh_model::{AccessRequestState, AuditEvent, Outcome, RequestAction, Role};
use hdh_store::{
    AccessRequest, ExtractionBuild, ExtractionTable, Opposition, Project, RequestEvent, now,
};
use hdh_workspace::{
    ExtractionSpec, Oppositions, RegisterState, SourceForeignKey, SourceTable, TableSpec,
};

use crate::auth::Caller;
use crate::{AppError, AppState};

fn hub_event(action: &str, object_type: &str) -> AuditEvent {
    let mut e = AuditEvent::new(action, object_type);
    e.role = Some("hub".into());
    e
}

/// The build a request's workspace is waiting for or got (newest).
pub async fn latest_build(
    state: &AppState,
    request_id: &str,
) -> Result<Option<ExtractionBuild>, AppError> {
    Ok(state
        .store
        .builds_of_request(request_id)
        .await?
        .into_iter()
        .next())
}

/// Waits until the provisioning of an authorised request ends (the demo's
/// seeding, which goes on with the project); returns its final state.
pub async fn wait_for(
    state: &AppState,
    request_id: &str,
    timeout: std::time::Duration,
) -> Result<AccessRequestState, AppError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let r = crate::service::request_or_404(state, request_id).await?;
        let failed = latest_build(state, request_id)
            .await?
            .is_some_and(|b| b.state == "failed");
        if r.state != AccessRequestState::Authorised || failed {
            return Ok(r.state);
        }
        if std::time::Instant::now() > deadline {
            return Err(AppError::internal(format!(
                "the provisioning of {request_id} did not end within {} s",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Queues a build and starts it in the background. `reason`: `authorised`,
/// `amendment` or `refresh`.
pub async fn queue(
    state: &AppState,
    r: &AccessRequest,
    reason: &str,
    by: Option<&Caller>,
) -> Result<ExtractionBuild, AppError> {
    let project_id = match (&r.amends, reason) {
        (Some(parent), _) => {
            state
                .store
                .project_for_request(parent)
                .await?
                .ok_or_else(|| {
                    AppError::internal(format!("the amended request {parent} has no project"))
                })?
                .id
        }
        _ => match state.store.project_for_request(&r.id).await? {
            Some(p) => p.id,
            None => format!("p-{}", &uuid::Uuid::now_v7().simple().to_string()[..16]),
        },
    };
    if let Some(b) = state
        .store
        .builds_of_project(&project_id)
        .await?
        .into_iter()
        .find(|b| b.state == "queued" || b.state == "running")
    {
        return Err(AppError::conflict(format!(
            "project {project_id} is already being provisioned (job {})",
            b.id
        )));
    }
    let build = ExtractionBuild {
        id: format!("x-{}", uuid::Uuid::now_v7().simple()),
        project_id: project_id.clone(),
        request_id: r.id.clone(),
        reason: reason.to_string(),
        state: "queued".into(),
        progress: serde_json::json!({}),
        spec: serde_json::json!({}),
        report: serde_json::json!({}),
        prefix: String::new(),
        register_seq: 0,
        error: None,
        requested_by: by.map(|c| c.user.id.clone()),
        created_at: now(),
        finished_at: None,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_build(&build).await?;
    let ev = match by {
        Some(c) => c.event("workspace.provision.queue", "project"),
        None => hub_event("workspace.provision.queue", "project"),
    };
    tx.audit(
        &ev.object(&project_id)
            .project(&project_id)
            .details(serde_json::json!({ "build": build.id, "request": r.id, "reason": reason })),
    )
    .await?;
    tx.commit().await?;
    spawn(state, build.id.clone());
    Ok(build)
}

fn spawn(state: &AppState, build_id: String) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = run(&state, &build_id).await {
            tracing::warn!("provisioning {build_id} failed: {}", e.message);
            let failed = fail(&state, &build_id, &e.message).await;
            if let Err(f) = failed {
                tracing::error!("recording the failure of {build_id}: {}", f.message);
            }
        }
    });
}

async fn fail(state: &AppState, build_id: &str, why: &str) -> Result<(), AppError> {
    let Some(mut b) = state.store.build(build_id).await? else {
        return Ok(());
    };
    b.state = "failed".into();
    b.error = Some(why.to_string());
    b.finished_at = Some(now());
    let mut tx = state.store.begin().await?;
    tx.finish_build(&b).await?;
    tx.audit(
        &hub_event("workspace.provision", "project")
            .object(&b.project_id)
            .project(&b.project_id)
            .outcome(Outcome::Failed)
            .details(serde_json::json!({ "build": b.id, "request": b.request_id, "error": why })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// After a restart: builds that were queued or running did not finish.
/// Their staging was removed with the lake's; they are marked failed.
pub async fn recover(state: &AppState) -> Result<(), AppError> {
    for b in state.store.unfinished_builds().await? {
        if b.created_at >= state.started_at {
            continue;
        }
        fail(
            state,
            &b.id,
            "the hub stopped while this extraction was being built: nothing of it was kept; retry",
        )
        .await?;
    }
    Ok(())
}

/// The register's entries as linking values, and its state.
pub async fn register(
    state: &AppState,
) -> Result<(Oppositions, RegisterState, Vec<Opposition>), AppError> {
    let entries = state.store.oppositions().await?;
    let mut opp = Oppositions::default();
    let ids: Vec<String> = entries.iter().map(|o| o.key_id.clone()).collect();
    let keys = state.keys.load_all(ids.iter().map(String::as_str))?;
    let active = crate::keys::active_key(state).await?;
    let linker = hdh_workspace::Linker {
        level2: &keys,
        active: Some(&active),
        bridge: None,
    };
    for o in &entries {
        let Some(p) = linker.link(&o.key_id, &o.pseudonym) else {
            continue;
        };
        if o.scope == "all" {
            opp.all.insert(p);
        } else {
            opp.by_dataset.entry(o.scope.clone()).or_default().insert(p);
        }
    }
    let reg = RegisterState {
        seq: entries.iter().map(|o| o.seq).max().unwrap_or(0),
        entries: entries.len(),
    };
    Ok((opp, reg, entries))
}

/// What an extraction of request `r` for `project_id` is built from.
pub async fn spec_for(
    state: &AppState,
    r: &AccessRequest,
    project_id: &str,
) -> Result<ExtractionSpec, AppError> {
    let parse = |s: &str| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|e| AppError::internal(format!("request period {s:?}: {e}")))
    };
    let mut spec = ExtractionSpec {
        project_id: project_id.to_string(),
        period_start: parse(&r.period_start)?,
        period_end: parse(&r.period_end)?,
        tables: vec![],
        sources: vec![],
        criteria: r.details.criteria.clone(),
        register: RegisterState::default(),
        link_tables: vec![],
    };
    let mut versions_done: HashSet<(String, i64)> = HashSet::new();
    for item in &r.scope {
        let version = match item.version {
            Some(n) => n,
            None => {
                state
                    .store
                    .latest_version(&item.dataset_id)
                    .await?
                    .ok_or_else(|| {
                        AppError::internal(format!("dataset {} has no version", item.dataset_id))
                    })?
                    .version
            }
        };
        let v = state
            .store
            .versions(&item.dataset_id)
            .await?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                AppError::internal(format!("{} v{version} vanished", item.dataset_id))
            })?;
        let tables = state.store.tables(&item.dataset_id, version).await?;
        if versions_done.insert((item.dataset_id.clone(), version)) {
            let dir = v
                .manifest_path
                .strip_suffix("/manifest.json")
                .unwrap_or(&v.manifest_path);
            let manifest = state.lake.manifest(dir).await?;
            for t in &tables {
                let sha256 = manifest
                    .as_ref()
                    .and_then(|m| m.files.iter().find(|f| f.path == t.object_path))
                    .map(|f| f.sha256.clone())
                    .unwrap_or_default();
                spec.sources.push(SourceTable {
                    dataset_id: item.dataset_id.clone(),
                    dataset_version: version,
                    name: t.table_name.clone(),
                    path: t.object_path.clone(),
                    sha256,
                    key_id: v.key_id.clone(),
                    person_columns: t
                        .schema
                        .person_fields()
                        .iter()
                        .map(|f| f.name.clone())
                        .collect(),
                    period_column: t.schema.period_field.clone(),
                    foreign_keys: t
                        .schema
                        .foreign_keys
                        .iter()
                        .map(|fk| SourceForeignKey {
                            fields: fk.fields.clone(),
                            table: if fk.reference.resource.is_empty() {
                                t.table_name.clone()
                            } else {
                                fk.reference.resource.clone()
                            },
                            reference: fk.reference.fields.clone(),
                        })
                        .collect(),
                    columns: t.schema.fields.iter().map(|f| f.name.clone()).collect(),
                });
            }
        }
        let t = tables
            .iter()
            .find(|t| t.table_name == item.table)
            .ok_or_else(|| AppError::internal(format!("table {} vanished", item.table)))?;
        let columns: Vec<String> = t
            .schema
            .fields
            .iter()
            .filter(|f| item.columns.contains(&f.name))
            .map(|f| f.name.clone())
            .collect();
        spec.tables.push(TableSpec {
            name: item.table.clone(),
            dataset_id: item.dataset_id.clone(),
            dataset_version: version,
            source_path: t.object_path.clone(),
            person_columns: t
                .schema
                .fields
                .iter()
                .filter(|f| f.is_person_identifier() && columns.contains(&f.name))
                .map(|f| f.name.clone())
                .collect(),
            period_column: t.schema.period_field.clone(),
            key_id: v.key_id.clone(),
            columns,
        });
    }
    Ok(spec)
}

/// The published link tables between two of the extraction's datasets
/// (the newest version of each name): each left person bridged to their
/// most probable right person. Deduplications are not bridges.
async fn bridges(
    state: &AppState,
    spec: &ExtractionSpec,
) -> Result<
    (
        hdh_workspace::Bridge,
        Vec<hdh_workspace::LinkTableRef>,
        HashSet<String>,
    ),
    AppError,
> {
    use datafusion::arrow::array::{Array, Float64Array, StringArray};
    use futures::StreamExt;
    let mut datasets: Vec<String> = spec.sources.iter().map(|s| s.dataset_id.clone()).collect();
    datasets.sort();
    datasets.dedup();
    let mut bridge = hdh_workspace::Bridge::default();
    let mut used = Vec::new();
    let mut keys = HashSet::new();
    for j in state.store.published_link_tables(&datasets).await? {
        if j.left_dataset == j.right_dataset {
            continue;
        }
        let key_of = |side: &str| {
            j.spec[side]["key_id"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| AppError::internal(format!("link table {} has no {side} key", j.id)))
        };
        let (left_key, right_key) = (key_of("left")?, key_of("right")?);
        let mut best: HashMap<String, (f64, String)> = HashMap::new();
        let mut stream = crate::keys::read_parquet(state, &j.links_path).await?;
        while let Some(b) = stream.next().await {
            let b = b?;
            let col = |name: &str| {
                b.column_by_name(name).ok_or_else(|| {
                    AppError::internal(format!("{}: no column {name}", j.links_path))
                })
            };
            let (l, r, p) = (col("left_id")?, col("right_id")?, col("probability")?);
            let (Some(l), Some(r), Some(p)) = (
                l.as_any().downcast_ref::<StringArray>(),
                r.as_any().downcast_ref::<StringArray>(),
                p.as_any().downcast_ref::<Float64Array>(),
            ) else {
                return Err(AppError::internal(format!(
                    "{}: unexpected types",
                    j.links_path
                )));
            };
            for i in 0..b.num_rows() {
                let (lv, rv, pv) = (l.value(i), r.value(i), p.value(i));
                // The most probable link; ties go to the smaller pseudonym,
                // so that the choice does not depend on the file's order.
                let better = best
                    .get(lv)
                    .is_none_or(|(bp, brv)| pv > *bp || (pv == *bp && rv < brv.as_str()));
                if better {
                    best.insert(lv.to_string(), (pv, rv.to_string()));
                }
            }
        }
        for (lv, (_, rv)) in &best {
            bridge.insert(&left_key, lv, &right_key, rv);
        }
        keys.extend([left_key, right_key].into_iter().filter(|k| !k.is_empty()));
        used.push(hdh_workspace::LinkTableRef {
            name: j.name.clone(),
            version: j.version,
            left_dataset: j.left_dataset.clone(),
            right_dataset: j.right_dataset.clone(),
            path: j.links_path.clone(),
            sha256: j.links_sha256.clone(),
            persons: best.len() as u64,
        });
    }
    Ok((bridge, used, keys))
}

async fn run(state: &AppState, build_id: &str) -> Result<(), AppError> {
    let build = state
        .store
        .build(build_id)
        .await?
        .ok_or_else(|| AppError::internal(format!("build {build_id} vanished")))?;
    state.store.set_build_state(build_id, "running").await?;
    let r = state
        .store
        .request(&build.request_id)
        .await?
        .ok_or_else(|| AppError::internal(format!("request {} vanished", build.request_id)))?;
    let mut spec = spec_for(state, &r, &build.project_id).await?;
    let (oppositions, register, _) = register(state).await?;
    spec.register = register.clone();
    let key = state.secret.project_key(&build.project_id);
    let active = crate::keys::active_key(state).await?;
    let (bridge, link_tables, bridge_keys) = bridges(state, &spec).await?;
    spec.link_tables = link_tables;
    let level2 = state.keys.load_all(
        spec.sources
            .iter()
            .map(|t| t.key_id.as_str())
            .chain(spec.tables.iter().map(|t| t.key_id.as_str()))
            .chain(bridge_keys.iter().map(String::as_str)),
    )?;
    let pseudonymiser = hdh_workspace::pseudonyms::ProjectPseudonymiser {
        project: &key,
        level2: &level2,
        bridge: Some(&bridge),
    };
    let linker = hdh_workspace::Linker {
        level2: &level2,
        active: Some(&active),
        bridge: Some(&bridge),
    };
    // Progress goes to the store at most every half second.
    let (tx_progress, mut rx_progress) =
        tokio::sync::watch::channel(hdh_workspace::extract::Progress::default());
    let writer = {
        let state = state.clone();
        let id = build_id.to_string();
        tokio::spawn(async move {
            while rx_progress.changed().await.is_ok() {
                let p = rx_progress.borrow_and_update().clone();
                let v = serde_json::to_value(&p).unwrap_or_default();
                let _ = state.store.set_build_progress(&id, &v).await;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        })
    };
    let built = hdh_workspace::provision(
        &state.lake,
        &spec,
        build_id,
        &pseudonymiser,
        &linker,
        &oppositions,
        &|p| {
            let _ = tx_progress.send(p.clone());
        },
    )
    .await;
    drop(tx_progress);
    let _ = writer.await;
    let extraction = built?;
    let done = finish(state, &build, &r, &spec, &extraction).await;
    if let Err(e) = done {
        // Nothing points at the new files: remove them.
        let _ = state.lake.delete_prefix(&extraction.prefix).await;
        return Err(e);
    }
    Ok(())
}

/// Records a built extraction in one transaction.
async fn finish(
    state: &AppState,
    build: &ExtractionBuild,
    r: &AccessRequest,
    spec: &ExtractionSpec,
    extraction: &hdh_workspace::Extraction,
) -> Result<(), AppError> {
    let project_id = &build.project_id;
    let tables: Vec<ExtractionTable> = spec
        .tables
        .iter()
        .map(|t| {
            let f = extraction.manifest.files.iter().find(|f| f.table == t.name);
            ExtractionTable {
                project_id: project_id.clone(),
                table_name: t.name.clone(),
                dataset_id: t.dataset_id.clone(),
                dataset_version: t.dataset_version,
                columns: t.columns.clone(),
                object_path: f.map(|f| f.path.clone()).unwrap_or_default(),
                row_count: f.map(|f| f.rows as i64).unwrap_or(0),
            }
        })
        .collect();
    let previous = state.store.project(project_id).await?;
    let old_prefix = match previous.as_ref().and_then(|p| p.build_id.clone()) {
        Some(id) => state.store.build(&id).await?.map(|b| b.prefix),
        None => None,
    };
    // The applicant and every team member with a hub account.
    let mut members = vec![r.applicant_id.clone()];
    for m in &r.details.team {
        if let Some(name) = &m.username
            && let Some(u) = state.store.user_by_name(name).await?
            && !members.contains(&u.id)
        {
            members.push(u.id);
        }
    }
    let mut b = build.clone();
    b.state = "done".into();
    b.finished_at = Some(now());
    b.spec = serde_json::to_value(spec).unwrap_or_default();
    b.report = serde_json::to_value(&extraction.report).unwrap_or_default();
    b.prefix = extraction.prefix.clone();
    b.register_seq = spec.register.seq;
    let mut tx = state.store.begin().await?;
    let mut mail = Vec::new();
    if build.reason == "refresh" {
        tx.replace_extraction(project_id, &[], &tables).await?;
    } else {
        let route = crate::desk::route_of(state, r);
        let mut ctx = hdh_model::request::Context::new(Role::Admin, false, &route);
        ctx.is_amendment = r.amends.is_some();
        let mut req = tx.request_for_update(&r.id).await?;
        let from = req.state;
        req.state = from.apply(&RequestAction::Provisioned, &ctx)?;
        req.updated_at = now();
        match (&previous, &r.amends) {
            (Some(_), Some(parent_id)) => {
                tx.replace_extraction(project_id, &members, &tables).await?;
                amend_parent(&mut tx, r, parent_id).await?;
            }
            (Some(_), None) => tx.replace_extraction(project_id, &members, &tables).await?,
            (None, _) => {
                let project = Project {
                    id: project_id.clone(),
                    request_id: r.id.clone(),
                    title: r.title.clone(),
                    created_at: now(),
                    build_id: None,
                    stale_since: None,
                    stale_reason: None,
                };
                tx.insert_project(&project, &members, &tables).await?;
            }
        }
        tx.save_request(&req).await?;
        let done = RequestEvent {
            seq: 0,
            action: "provisioned".into(),
            from_state: from.as_str().into(),
            to_state: req.state.as_str().into(),
            actor_id: None,
            role: "hub".into(),
            reason: None,
            at: now(),
            reference: None,
            details: Some(serde_json::json!({ "build": build.id })),
        };
        tx.add_request_event(&r.id, &done).await?;
        mail = crate::notify::on_transition(state, &mut tx, &req, &done, None).await?;
    }
    tx.set_project_build(project_id, &build.id).await?;
    tx.finish_build(&b).await?;
    tx.audit(
        &hub_event("workspace.provision", "project")
            .object(project_id)
            .project(project_id)
            .details(serde_json::json!({
                "build": build.id,
                "reason": build.reason,
                "request": r.id,
                "tables": extraction.report.tables.iter().map(|t| serde_json::json!({
                    "table": t.table, "dataset": t.dataset, "rows": t.rows,
                    "opposed_rows": t.opposed_rows, "sha256": t.sha256,
                })).collect::<Vec<_>>(),
                "persons": extraction.report.persons,
                "register_seq": spec.register.seq,
                "period": [r.period_start, r.period_end],
            })),
    )
    .await?;
    tx.commit().await?;
    crate::notify::send(state, mail);
    if let Some(old) = old_prefix
        && !old.is_empty()
        && old != extraction.prefix
    {
        let _ = state.lake.delete_prefix(&old).await;
    }
    Ok(())
}

async fn amend_parent(
    tx: &mut hdh_store::Tx,
    r: &AccessRequest,
    parent_id: &str,
) -> Result<(), AppError> {
    let mut parent = tx.request_for_update(parent_id).await?;
    parent.scope = r.scope.clone();
    parent.period_start = r.period_start.clone();
    parent.period_end = r.period_end.clone();
    parent.duration_months = r.duration_months;
    parent.details.team = r.details.team.clone();
    parent.details.criteria = r.details.criteria.clone();
    parent.updated_at = now();
    tx.save_request(&parent).await?;
    tx.add_request_event(
        parent_id,
        &RequestEvent {
            seq: 0,
            action: "amended".into(),
            from_state: parent.state.as_str().into(),
            to_state: parent.state.as_str().into(),
            actor_id: None,
            role: "hub".into(),
            reason: Some(r.details.changes.clone()),
            at: now(),
            reference: None,
            details: Some(serde_json::json!({ "amendment": r.id })),
        },
    )
    .await?;
    Ok(())
}

/// Rebuilds a project's extraction from its request's current terms and the
/// register as it is now (a member, the authority or an administrator).
pub async fn refresh(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
) -> Result<ExtractionBuild, AppError> {
    let Some(p) = state.store.project(project_id).await? else {
        return Err(AppError::not_found(format!("no project {project_id}")));
    };
    let member = state.store.is_member(project_id, &caller.user.id).await?;
    if !(member || caller.has(Role::Authority) || caller.has(Role::Admin)) {
        return Err(crate::service::deny(
            state,
            caller,
            "workspace.refresh",
            "project",
            Some(project_id),
            "only the project's members, the authority or an administrator refresh its extraction"
                .into(),
        )
        .await);
    }
    let r = state
        .store
        .request(&p.request_id)
        .await?
        .ok_or_else(|| AppError::internal(format!("project {project_id} has no request")))?;
    if r.state != AccessRequestState::Active {
        return Err(AppError::conflict(format!(
            "project {project_id} is {}: only an active project's extraction is refreshed",
            r.state
        )));
    }
    queue(state, &r, "refresh", Some(caller)).await
}

// ---------------------------------------------------------------- register

/// How an opposition names its person.
pub enum PersonRef {
    /// A level-1 pseudonym (as the trusted third party computes it): turned
    /// into level 2 at once and never stored.
    Level1(String),
    /// A level-2 pseudonym under the active key.
    Level2(String),
}

/// Adds an entry to the opposition register and flags every extraction it
/// concerns for refresh, in one transaction.
pub async fn add_opposition(
    state: &AppState,
    actor: AuditEvent,
    person: PersonRef,
    scope: &str,
    objected_on: Option<&str>,
    source: &str,
) -> Result<(Opposition, Vec<String>), AppError> {
    let scope = scope.trim();
    let scope = if scope.is_empty() { "all" } else { scope };
    if scope != "all" && state.store.dataset(scope).await?.is_none() {
        return Err(AppError::unprocessable(format!(
            "scope: {scope:?} is neither \"all\" nor a dataset of the catalogue"
        )));
    }
    let objected_on = match objected_on.map(str::trim).filter(|s| !s.is_empty()) {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| {
                AppError::unprocessable(format!("objected_on: {d:?} is not a date (YYYY-MM-DD)"))
            })?
            .to_string(),
        None => chrono::Utc::now().date_naive().to_string(),
    };
    let active = crate::keys::active_key(state).await?;
    let pseudonym = match person {
        PersonRef::Level1(v) => active.encrypt_hex(v.trim()).map_err(|_| {
            AppError::unprocessable(
                "level1: not a level-1 pseudonym (32 lowercase hexadecimal characters)",
            )
        })?,
        PersonRef::Level2(v) => hdh_pseudo::level2::Level2Pseudonym::from_hex(v.trim())
            .map_err(|_| {
                AppError::unprocessable(
                    "level2: not a level-2 pseudonym (32 lowercase hexadecimal characters)",
                )
            })?
            .to_hex(),
    };
    let mut o = Opposition {
        seq: 0,
        id: format!("o-{}", uuid::Uuid::now_v7().simple()),
        pseudonym,
        key_id: active.id().to_string(),
        scope: scope.to_string(),
        objected_on,
        registered_at: now(),
        source: source.to_string(),
    };
    let mut tx = state.store.begin().await?;
    let Some(seq) = tx.insert_opposition(&o).await? else {
        tx.rollback().await?;
        return Err(AppError::conflict(
            "this person's opposition with this scope is already in the register",
        ));
    };
    o.seq = seq;
    // Every active project whose extraction reads a dataset in scope and
    // was built before this entry.
    let mut flagged = Vec::new();
    let reason = format!("opposition {} registered", o.id);
    for r in state.store.requests().await? {
        if r.state != AccessRequestState::Active {
            continue;
        }
        let Some(p) = state.store.project_for_request(&r.id).await? else {
            continue;
        };
        let concerned = scope == "all" || r.scope.iter().any(|s| s.dataset_id == scope);
        if concerned && tx.flag_stale(&p.id, &o.registered_at, &reason).await? {
            flagged.push(p.id.clone());
        }
    }
    tx.audit(&actor.object(&o.id).details(serde_json::json!({
        "seq": seq,
        "scope": o.scope,
        "objected_on": o.objected_on,
        "source": source,
        "flagged_projects": flagged,
    })))
    .await?;
    for p in &flagged {
        tx.audit(
            &hub_event("workspace.flag_refresh", "project")
                .object(p)
                .project(p)
                .details(serde_json::json!({ "opposition": o.id })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok((o, flagged))
}

/// Re-keys the register under a new level-2 key, inside a rotation's
/// transaction.
pub async fn rekey_register(
    tx: &mut hdh_store::Tx,
    keys: &HashMap<String, hdh_pseudo::level2::Level2Key>,
    to: &hdh_pseudo::level2::Level2Key,
) -> Result<usize, AppError> {
    let mut n = 0;
    for o in tx.oppositions_for_update().await? {
        if o.key_id == to.id() {
            continue;
        }
        let from = keys.get(&o.key_id).ok_or_else(|| {
            AppError::internal(format!(
                "level-2 key {} of the register is missing",
                o.key_id
            ))
        })?;
        let p = from
            .rekey_hex(to, &o.pseudonym)
            .map_err(|e| AppError::internal(format!("opposition {}: {e}", o.id)))?;
        tx.rekey_opposition(o.seq, &p, to.id()).await?;
        n += 1;
    }
    Ok(n)
}
