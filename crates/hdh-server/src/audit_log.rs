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
    let dir = data_dir.join("secrets");
    let path = dir.join("audit-signing.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| AppError::internal(format!("cannot read {}: {e}", path.display())))?;
        let bytes = hex::decode(text.trim())
            .map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| AppError::internal(format!("{}: 32 bytes expected", path.display())))?;
        return Ok(SigningKey::from_bytes(&arr));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| AppError::internal(format!("cannot create {}: {e}", dir.display())))?;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let tmp = dir.join("audit-signing.key.tmp");
    std::fs::write(&tmp, hex::encode(bytes))
        .map_err(|e| AppError::internal(format!("cannot write {}: {e}", tmp.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, &path)
        .map_err(|e| AppError::internal(format!("cannot write {}: {e}", path.display())))?;
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

/// Signs a checkpoint every `every` while the hub runs, when the log grew.
pub fn spawn_checkpoints(state: AppState, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut last = -1i64;
        loop {
            tick.tick().await;
            match state.store.audit_head().await {
                Ok((seq, _)) if seq > last => match checkpoint(&state).await {
                    Ok(_) => last = seq,
                    Err(e) => tracing::error!("audit checkpoint: {}", e.message),
                },
                Ok(_) => {}
                Err(e) => tracing::error!("audit checkpoint: {e}"),
            }
        }
    });
}

/// The signed checkpoints and the public key, for witnesses (public).
pub async fn checkpoints_json(State(st): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let (seq, _) = st.store.audit_head().await?;
    let all = st.store.audit_checkpoints(0, seq).await?;
    Ok(Json(serde_json::json!({
        "format": hdh_audit::FORMAT,
        "public_key": hex::encode(st.audit_key.verifying_key().to_bytes()),
        "checkpoints": all,
    })))
}
