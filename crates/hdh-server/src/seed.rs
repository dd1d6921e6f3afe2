//! Demo accounts and the demo dataset, for `hdh serve --demo`.

use crate::auth::Caller;
use crate::service::{self, DeliveryFile};
use crate::{AppError, AppState};
use hdh_model::{AuditEvent, Role};
use hdh_store::NewUser;

/// Password of every demo account (printed at start; demo only).
pub const DEMO_PASSWORD: &str = "demo-password";

pub const DEMO_ACCOUNTS: &[(&str, &str, &str, &[Role])] = &[
    (
        "producer",
        "Assurance Maladie (démo)",
        "CNAM",
        &[Role::Producer],
    ),
    (
        "researcher",
        "Dr Alice Martin",
        "CHU de Bordeaux",
        &[Role::Researcher],
    ),
    (
        "researcher2",
        "Dr Bruno Petit",
        "Inserm",
        &[Role::Researcher],
    ),
    (
        "secretariat",
        "Secrétariat du guichet",
        "HDH",
        &[Role::Secretariat],
    ),
    (
        "committee",
        "Comité éthique (CESREES)",
        "CESREES",
        &[Role::Committee],
    ),
    ("authority", "Autorité (CNIL)", "CNIL", &[Role::Authority]),
    ("checker", "Contrôleur des sorties", "HDH", &[Role::Checker]),
    (
        "checker2",
        "Contrôleuse des sorties (second regard)",
        "HDH",
        &[Role::Checker],
    ),
    (
        "security",
        "Responsable sécurité",
        "HDH",
        &[Role::SecurityOfficer],
    ),
    ("admin", "Administrateur", "HDH", &[Role::Admin]),
];

/// Creates an account, audited.
pub async fn add_user(
    state: &AppState,
    u: &NewUser,
    by: Option<&str>,
) -> Result<hdh_store::User, AppError> {
    let mut tx = state.store.begin().await?;
    let user = tx.insert_user(u).await?;
    let mut ev = AuditEvent::new("account.create", "user")
        .object(&user.id)
        .details(serde_json::json!({ "username": user.username, "roles": hdh_model::role::format_roles(&user.roles) }));
    ev.actor_name = by.map(str::to_string);
    tx.audit(&ev).await?;
    tx.commit().await?;
    Ok(user)
}

/// Seeds demo accounts and delivers the demo dataset, unless the hub already
/// has accounts. Returns whether it seeded.
pub async fn seed_demo(
    state: &AppState,
    persons: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<bool, AppError> {
    if !state.store.users().await?.is_empty() {
        return Ok(false);
    }
    let mut producer = None;
    for (username, name, org, roles) in DEMO_ACCOUNTS {
        let u = add_user(
            state,
            &NewUser {
                username: username.to_string(),
                display_name: name.to_string(),
                organisation: org.to_string(),
                roles: roles.to_vec(),
                password: DEMO_PASSWORD.to_string(),
            },
            Some("hdh-demo"),
        )
        .await?;
        set_email(state, &u, &format!("{username}@demo.hdh.invalid")).await?;
        if roles.contains(&Role::Producer) {
            producer = Some(u);
        }
    }
    let producer = producer.ok_or_else(|| AppError::internal("no demo producer"))?;
    // Generated straight into an upload directory, removed once delivered.
    let mut upload = service::Upload::new(state)?;
    let opts = hdh_demo::DemoOptions {
        persons,
        ..Default::default()
    };
    let mut last = 0;
    hdh_demo::generate(&opts, &upload.dir, &mut |p: hdh_demo::Progress| {
        if p.persons_done >= last + 1000 || p.persons_done == p.persons_total {
            last = p.persons_done;
            progress(p.persons_done, p.persons_total);
        }
    })
    .map_err(|e| AppError::internal(format!("demo generation: {e}")))?;
    for entry in std::fs::read_dir(&upload.dir).map_err(|e| AppError::internal(e.to_string()))? {
        let entry = entry.map_err(|e| AppError::internal(e.to_string()))?;
        let name = entry.file_name().to_string_lossy().to_string();
        upload.files.push(DeliveryFile {
            name,
            path: entry.path(),
        });
    }
    let caller = Caller {
        user: producer,
        csrf: String::new(),
        token_hash: String::new(),
        via_cookie: false,
        client: None,
        unread: 0,
    };
    let rep = service::deliver(state, &caller, "snds-demo", &upload.files).await?;
    drop(upload);
    if !rep.accepted {
        return Err(AppError::internal(format!(
            "the demo delivery was rejected: {}",
            serde_json::to_string(&rep).unwrap_or_default()
        )));
    }
    Ok(true)
}

/// Participants of the demo cohort for `persons` demo persons (one in
/// twenty, at least 20).
pub fn demo_cohort_size(persons: u64) -> u64 {
    (persons / 20).max(20).min(persons)
}

/// Delivers the demo cohort (`cohort-demo`, `participants` of the demo's
/// `persons`, to link with `snds-demo` on the linkage page), as the demo
/// producer. Returns the participants delivered.
pub async fn seed_demo_cohort(
    state: &AppState,
    persons: u64,
    participants: u64,
) -> Result<u64, AppError> {
    let producer = caller_of(state, "producer").await?;
    let mut upload = service::Upload::new(state)?;
    let opts = hdh_demo::DemoOptions {
        persons,
        ..Default::default()
    };
    let n = participants;
    hdh_demo::generate_cohort(&opts, n, &upload.dir)
        .map_err(|e| AppError::internal(format!("demo cohort: {e}")))?;
    for entry in std::fs::read_dir(&upload.dir).map_err(|e| AppError::internal(e.to_string()))? {
        let entry = entry.map_err(|e| AppError::internal(e.to_string()))?;
        upload.files.push(DeliveryFile {
            name: entry.file_name().to_string_lossy().to_string(),
            path: entry.path(),
        });
    }
    let rep = service::deliver(state, &producer, "cohort-demo", &upload.files).await?;
    drop(upload);
    if !rep.accepted {
        return Err(AppError::internal(format!(
            "the demo cohort's delivery was rejected: {}",
            serde_json::to_string(&rep).unwrap_or_default()
        )));
    }
    Ok(n)
}

/// Sets the address an account's notifications are e-mailed to, audited.
pub async fn set_email(state: &AppState, u: &hdh_store::User, email: &str) -> Result<(), AppError> {
    let mut tx = state.store.begin().await?;
    tx.set_user_email(&u.id, email).await?;
    tx.audit(&AuditEvent::new("account.email", "user").object(&u.id))
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn caller_of(state: &AppState, username: &str) -> Result<Caller, AppError> {
    let user = state
        .store
        .user_by_name(username)
        .await?
        .ok_or_else(|| AppError::internal(format!("no demo account {username}")))?;
    Ok(Caller {
        user,
        csrf: String::new(),
        token_hash: String::new(),
        via_cookie: false,
        client: None,
        unread: 0,
    })
}

/// A complete demo request on the demo dataset.
fn demo_input(title: &str, summary: &str, columns: &[&str], route: &str) -> service::RequestInput {
    use hdh_model::request::TeamMember;
    service::RequestInput {
        title: title.into(),
        purpose: summary.into(),
        public_interest: "Better knowledge of care pathways for public health policy.".into(),
        scope: vec![hdh_store::ScopeItem {
            dataset_id: "snds-demo".into(),
            table: "IR_BEN_R".into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            version: None,
        }],
        period_start: "2021-01-01".into(),
        period_end: "2023-12-31".into(),
        duration_months: 24,
        details: hdh_model::RequestDetails {
            summary_public: summary.into(),
            organisation: "CHU de Bordeaux".into(),
            team: vec![
                TeamMember {
                    name: "Dr Alice Martin".into(),
                    role: "principal investigator".into(),
                    organisation: "CHU de Bordeaux".into(),
                    username: Some("researcher".into()),
                },
                TeamMember {
                    name: "Claire Dubois".into(),
                    role: "biostatistician".into(),
                    organisation: "CHU de Bordeaux".into(),
                    username: None,
                },
            ],
            population:
                "Beneficiaries with at least one dispensation of ATC A10 between 2021 and 2023."
                    .into(),
            linkage: String::new(),
            methodology:
                "Retrospective cohort; descriptive statistics by département and age group.".into(),
            expected_results: "A report on treatment pathways; one peer-reviewed article.".into(),
            funding: "Public grant (PREPS)".into(),
            conflicts_of_interest: "none".into(),
            changes: String::new(),
            results: String::new(),
            criteria: vec![],
        },
        route: Some(route.into()),
    }
}

/// Seeds access requests in several states (draft, under review, sent back,
/// active, closed with results, refused) so that the registry, the queues and
/// the delay charts show something. For `hdh serve --demo` only.
pub async fn seed_demo_requests(state: &AppState) -> Result<(), AppError> {
    use hdh_model::RequestAction as A;
    use hdh_model::request::Opinion;
    let researcher = caller_of(state, "researcher").await?;
    let researcher2 = caller_of(state, "researcher2").await?;
    let secretariat = caller_of(state, "secretariat").await?;
    let committee = caller_of(state, "committee").await?;
    let authority = caller_of(state, "authority").await?;
    let producer = caller_of(state, "producer").await?;
    let cols = ["BEN_NIR_PSA", "BEN_SEX_COD", "BEN_NAI_ANN", "BEN_RES_DPT"];
    let act = |c: &Caller, id: String, a: A| {
        let c = c.clone();
        async move { service::act_on_request(state, &c, &id, a).await }
    };
    let opinion = || A::Opinion {
        opinion: Opinion::FavourableWithReservations,
        motivation: "Sound design; the duration should be justified in the final report.".into(),
    };
    // Submitted, complete, with its reviewer assigned and cleared.
    async fn to_committee(
        state: &AppState,
        id: &str,
        researcher: &Caller,
        secretariat: &Caller,
        committee: &Caller,
    ) -> Result<(), AppError> {
        service::act_on_request(state, researcher, id, A::Submit).await?;
        service::act_on_request(state, secretariat, id, A::Approve).await?;
        crate::desk::assign_reviewer(state, secretariat, id, &committee.user.username).await?;
        crate::desk::declare_interests(state, committee, id, false, None).await?;
        Ok(())
    }

    // A draft (private: not in the registry).
    service::create_request(
        state,
        &researcher,
        demo_input(
            "Statin use after a first stroke (draft)",
            "Describe statin use in the year after a first stroke.",
            &cols,
            "standard",
        ),
    )
    .await?;
    // Submitted: awaiting the completeness check.
    let r = service::create_request(
        state,
        &researcher2,
        demo_input(
            "Antibiotic prescriptions in children",
            "How often are antibiotics dispensed to children under 6, by département?",
            &cols,
            "standard",
        ),
    )
    .await?;
    act(&researcher2, r.id.clone(), A::Submit).await?;
    let submitted = r.id.clone();
    // Under ethics review, with its reviewer cleared.
    let r = service::create_request(
        state,
        &researcher,
        demo_input(
            "Hospital stays after a diabetes diagnosis",
            "Do hospital stays follow changes in antidiabetic treatment?",
            &cols,
            "standard",
        ),
    )
    .await?;
    to_committee(state, &r.id, &researcher, &secretariat, &committee).await?;
    act(&researcher, r.id.clone(), A::Withdraw).await?;
    let withdrawn = r.id.clone();
    let r = service::create_request(
        state,
        &researcher,
        demo_input(
            "Vaccination coverage of older adults",
            "Influenza vaccination coverage of people over 65 by département.",
            &cols,
            "standard",
        ),
    )
    .await?;
    to_committee(state, &r.id, &researcher, &secretariat, &committee).await?;
    let in_review = r.id.clone();
    // Sent back by the committee with its reasons.
    let r = service::create_request(
        state,
        &researcher2,
        demo_input(
            "Sleep medication in nursing homes",
            "Use of hypnotics among nursing home residents.",
            &cols,
            "standard",
        ),
    )
    .await?;
    to_committee(state, &r.id, &researcher2, &secretariat, &committee).await?;
    act(
        &committee,
        r.id.clone(),
        A::SendBack {
            reason: "Justify each requested variable; the birth year is enough, not the full date."
                .into(),
        },
    )
    .await?;
    let sent_back = r.id.clone();
    let mut done = Vec::new();
    // Active, then closed with results.
    for (n, (title, summary, close)) in [
        (
            "Antidiabetic drugs by département",
            "Dispensations of antidiabetic drugs by département and age group.",
            false,
        ),
        (
            "Cardiovascular events after COVID-19",
            "Incidence of cardiovascular events in the year after a COVID-19 hospital stay.",
            true,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let r = service::create_request(
            state,
            &researcher,
            demo_input(title, summary, &cols, "standard"),
        )
        .await?;
        to_committee(state, &r.id, &researcher, &secretariat, &committee).await?;
        act(&committee, r.id.clone(), opinion()).await?;
        act(
            &authority,
            r.id.clone(),
            A::Authorise {
                reference: format!("DR-2026-{:03}", 41 + n),
            },
        )
        .await?;
        act(
            &producer,
            r.id.clone(),
            A::Agree {
                dataset: "snds-demo".into(),
            },
        )
        .await?;
        // The workspace is built in the background; the project goes on
        // once it is active.
        crate::provisioning::wait_for(state, &r.id, std::time::Duration::from_secs(600)).await?;
        done.push(r.id.clone());
        if close {
            act(
                &researcher,
                r.id.clone(),
                A::Close {
                    results: "Report: https://example.org/reports/cv-covid-2026 ; article doi:10.1000/demo.2026.1".into(),
                },
            )
            .await?;
        }
    }
    // A reference methodology (no committee), refused by the authority.
    let r = service::create_request(
        state,
        &researcher2,
        demo_input(
            "Nationwide prescriber ranking",
            "Rank individual prescribers by volume.",
            &cols,
            "reference_methodology",
        ),
    )
    .await?;
    act(&researcher2, r.id.clone(), A::Submit).await?;
    act(&secretariat, r.id.clone(), A::Approve).await?;
    act(
        &authority,
        r.id.clone(),
        A::Refuse {
            reason:
                "Ranking identifiable health professionals is outside the public interest purposes."
                    .into(),
            reference: Some("DR-2026-099".into()),
        },
    )
    .await?;
    // Realistic delays, so that the clocks and the delay charts mean
    // something: each event `days` before today (history order).
    let plan: [(&str, &[i64]); 7] = [
        (&submitted, &[3]),
        (&withdrawn, &[60, 55, 20]),
        (&in_review, &[40, 33]),
        (&sent_back, &[75, 68, 41]),
        (&done[0], &[330, 322, 290, 240, 232, 232]),
        (&done[1], &[420, 409, 371, 305, 299, 299, 35]),
        (&r.id, &[150, 146, 98]),
    ];
    let today = chrono::Utc::now();
    let mut tx = state.store.begin().await?;
    for (id, days) in plan {
        let events = state.store.request_events(id).await?;
        // Events beyond the plan (none expected) keep their time.
        let at: Vec<String> = days
            .iter()
            .take(events.len())
            .enumerate()
            .map(|(i, d)| {
                (today - chrono::Duration::days(*d) + chrono::Duration::minutes(i as i64))
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            })
            .collect();
        tx.retime_request(id, &at).await?;
    }
    tx.audit(&AuditEvent::new("demo.requests", "access_request"))
        .await?;
    tx.commit().await?;
    Ok(())
}
