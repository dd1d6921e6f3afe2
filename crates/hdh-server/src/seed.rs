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
