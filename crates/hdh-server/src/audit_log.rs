//! The audit log's signing side: the hub's Ed25519 checkpoint key (a file
//! outside the database), checkpoints signed at an interval, and their
//! public page for witnesses (`/audit/checkpoints.json`, no sign-in).

use crate::{AppError, AppState};
use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use ed25519_dalek::SigningKey;
use hdh_audit::Checkpoint;
use std::path::Path;

/// Reads the checkpoint signing key from `<data-dir>/secrets/audit-signing.key`
/// (hex), creating it (mode 0600) on first start. Never in the database.
pub fn load_or_create_key(data_dir: &Path) -> Result<SigningKey, AppError> {
    let path = data_dir.join("secrets").join("audit-signing.key");
    if path.exists() {
        let text = crate::secret_file::read(&path)?;
        let bytes = hex::decode(text.trim())
            .map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| AppError::internal(format!("{}: 32 bytes expected", path.display())))?;
        return Ok(SigningKey::from_bytes(&arr));
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    crate::secret_file::create(&path, &hex::encode(bytes))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Signs the chain's head now and records it, unless it is signed already.
pub async fn checkpoint(state: &AppState) -> Result<Option<Checkpoint>, AppError> {
    let (seq, hash) = state.store.audit_head().await?;
    if seq == 0 {
        return Ok(None);
    }
    let c = Checkpoint::sign(&state.audit_key, seq, &hash, &hdh_store::now());
    state.store.add_checkpoint(&c).await?;
    Ok(Some(c))
}

/// Signs a checkpoint while the hub runs: every `audit_checkpoint_every`
/// when the log grew, and as soon as it grew by `audit_checkpoint_events`.
pub fn spawn_checkpoints(state: AppState) {
    let every = state.config.audit_checkpoint_every;
    let by_events = state.config.audit_checkpoint_events;
    tokio::spawn(async move {
        // Events are counted each second; time is counted from the last one.
        let poll = std::time::Duration::from_secs(1).min(every);
        let mut last_seq = match state.store.audit_checkpoints(0, i64::MAX).await {
            Ok(all) => all.last().map_or(0, |c| c.seq),
            Err(_) => 0,
        };
        let mut last_at = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(poll).await;
            let seq = match state.store.audit_head().await {
                Ok((seq, _)) => seq,
                Err(e) => {
                    tracing::error!("audit checkpoint: {e}");
                    continue;
                }
            };
            let grown = seq - last_seq;
            let due = grown > 0
                && (last_at.elapsed() >= every
                    || by_events.is_some_and(|n| grown >= i64::try_from(n).unwrap_or(i64::MAX)));
            if !due {
                continue;
            }
            match checkpoint(&state).await {
                Ok(c) => {
                    last_seq = c.map_or(seq, |c| c.seq);
                    last_at = tokio::time::Instant::now();
                }
                Err(e) => tracing::error!("audit checkpoint: {}", e.message),
            }
        }
    });
}

/// The signed checkpoints and the public key, for witnesses (public).
pub async fn checkpoints_json(State(st): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let (seq, _) = st.store.audit_head().await?;
    let all = st.store.audit_checkpoints(0, seq).await?;
    // Archived segments: which entries left the database, into which file
    // (by its SHA-256), so that a witness can ask for them.
    let archives = st.store.audit_archives().await?;
    Ok(Json(serde_json::json!({
        "format": hdh_audit::FORMAT,
        "public_key": hex::encode(st.audit_key.verifying_key().to_bytes()),
        "checkpoints": all,
        "archives": archives,
    })))
}
