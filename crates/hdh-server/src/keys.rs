//! The hub's level-2 keys: files under `<data-dir>/secrets/level2/<id>.key`
//! (mode 0600), one per key, listed by id in the store. The active key (the
//! newest not retired) encrypts new deliveries; every published version
//! records the key its identifiers are encrypted with. Key material never
//! enters the database, the logs or an error message.
//!
//! [`rotate`] re-keys every version under a fresh key and retires the old
//! ones in a single store transaction: until it commits, readers see the old
//! files and keys; after, the new ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use hdh_pseudo::level2::Level2Key;

use crate::{AppError, AppState};

/// The directory of level-2 key files.
#[derive(Debug, Clone)]
pub struct Keyring {
    dir: PathBuf,
}

fn key_error(what: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("level-2 keys: {what}"))
}

impl Keyring {
    pub fn new(data_dir: &Path) -> Keyring {
        Keyring {
            dir: data_dir.join("secrets").join("level2"),
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.key"))
    }

    /// Reads one key; the file's name and the id inside must agree.
    pub fn load(&self, id: &str) -> Result<Level2Key, AppError> {
        let path = self.path(id);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| key_error(format!("cannot read {}: {e}", path.display())))?;
        let key = Level2Key::from_key_file(&text)
            .map_err(|e| key_error(format!("{}: {e}", path.display())))?;
        if key.id() != id {
            return Err(key_error(format!(
                "{} holds key {}, not {id}",
                path.display(),
                key.id()
            )));
        }
        Ok(key)
    }

    /// Loads the given keys by id.
    pub fn load_all<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, Level2Key>, AppError> {
        let mut out = HashMap::new();
        for id in ids {
            if !id.is_empty() && !out.contains_key(id) {
                out.insert(id.to_string(), self.load(id)?);
            }
        }
        Ok(out)
    }

    /// Creates a fresh key file (written whole, then renamed into place).
    pub fn create(&self) -> Result<Level2Key, AppError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| key_error(format!("cannot create {}: {e}", self.dir.display())))?;
        restrict(&self.dir, 0o700);
        let id = format!(
            "l2-{}-{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let key = Level2Key::generate(&id);
        let tmp = self.dir.join(format!(".{id}.tmp"));
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| key_error(format!("cannot write {}: {e}", tmp.display())))?;
            restrict(&tmp, 0o600);
            let mut text = key.to_key_file();
            let written = f.write_all(text.as_bytes()).and_then(|_| f.sync_all());
            zeroize::Zeroize::zeroize(&mut text);
            written.map_err(|e| key_error(format!("cannot write {}: {e}", tmp.display())))?;
        }
        std::fs::rename(&tmp, self.path(&id))
            .map_err(|e| key_error(format!("cannot install key {id}: {e}")))?;
        Ok(key)
    }

    /// Removes a key file (after its versions were re-keyed).
    pub fn remove(&self, id: &str) {
        let _ = std::fs::remove_file(self.path(id));
    }

    /// Ids of the key files present.
    pub fn ids_on_disk(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".key"))
                    .filter(|n| !n.starts_with('.'))
                    .map(str::to_string)
            })
            .collect();
        ids.sort();
        ids
    }
}

fn restrict(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

fn system_event(action: &str, object_type: &str) -> hdh_model::AuditEvent {
    let mut e = hdh_model::AuditEvent::new(action, object_type);
    e.actor_id = Some("system".to_string());
    e.actor_name = Some("system".into());
    e.role = Some("hub".into());
    e
}

/// The active level-2 key, created (file first, then its record) on the
/// hub's first start.
pub async fn active_key(state: &AppState) -> Result<Level2Key, AppError> {
    if let Some(id) = state.store.active_level2_key().await? {
        return state.keys.load(&id);
    }
    let key = state.keys.create()?;
    let mut tx = state.store.begin().await?;
    tx.insert_level2_key(key.id()).await?;
    tx.audit(&system_event("keys.create", "level2_key").object(key.id()))
        .await?;
    tx.commit().await?;
    Ok(key)
}

/// Removes key files that no record names (left by a rotation that did not
/// commit). Their versions' files were never referenced either.
pub async fn remove_orphan_keys(state: &AppState) -> Result<(), AppError> {
    let known: Vec<String> = state
        .store
        .level2_keys()
        .await?
        .into_iter()
        .filter(|k| k.retired_at.is_none())
        .map(|k| k.id)
        .collect();
    for id in state.keys.ids_on_disk() {
        if !known.contains(&id) {
            state.keys.remove(&id);
        }
    }
    Ok(())
}

/// A version re-keyed but not yet switched: the version, its new manifest
/// path, its tables' new object paths, its old directory.
type Rekeyed = (
    hdh_store::DatasetVersion,
    String,
    Vec<(String, String)>,
    String,
);

/// What a rotation did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    pub new_key: String,
    pub retired: Vec<String>,
    pub versions: usize,
    pub tables: usize,
    pub rows: u64,
    /// Entries of the opposition register re-keyed.
    pub oppositions: usize,
}

/// Re-keys every dataset version under a new level-2 key: each table with
/// person identifiers is rewritten (decrypted with its key, encrypted with
/// the new one) to `datasets/<id>/v<n>-<key>/`, then one transaction points
/// every version at its new files and retires the old keys; old files and
/// key files are removed after the commit. Project pseudonyms do not change
/// (they derive from level 1). `progress(version label, rows)`.
pub async fn rotate(
    state: &AppState,
    actor: hdh_model::AuditEvent,
    progress: &(dyn Fn(&str, u64) + Send + Sync),
) -> Result<Rotation, AppError> {
    remove_orphan_keys(state).await?;
    let old_ids: Vec<String> = state
        .store
        .level2_keys()
        .await?
        .into_iter()
        .filter(|k| k.retired_at.is_none())
        .map(|k| k.id)
        .collect();
    let versions = state.store.all_versions().await?;
    let old_keys = state
        .keys
        .load_all(versions.iter().map(|v| v.key_id.as_str()))?;
    let new_key = state.keys.create()?;
    let mut published: Vec<Rekeyed> = Vec::new();
    let mut tables_done = 0usize;
    let mut rows_done = 0u64;
    let outcome: Result<(), AppError> = async {
        for v in &versions {
            let Some(from) = old_keys.get(&v.key_id) else {
                // Delivered before the chain: nothing encrypted to re-key.
                continue;
            };
            let tables = state.store.tables(&v.dataset_id, v.version).await?;
            let mut staging = state.lake.begin_staging();
            let label = format!("{}/v{}", v.dataset_id, v.version);
            let written: Result<(), AppError> = async {
                for t in &tables {
                    let person: Vec<String> = t
                        .schema
                        .person_fields()
                        .iter()
                        .map(|f| f.name.clone())
                        .collect();
                    let batches = read_parquet(state, &t.object_path).await?;
                    let schema = std::sync::Arc::new(hdh_ingest::arrow_schema(&t.schema));
                    let mut writer =
                        state
                            .lake
                            .table_writer(&staging, &t.table_name, schema.clone())?;
                    futures::pin_mut!(batches);
                    while let Some(b) = batches.next().await {
                        let b = b?;
                        let b = if person.is_empty() {
                            b
                        } else {
                            hdh_workspace::pseudonyms::rekey(&b, &person, from, &new_key).map_err(
                                |e| AppError::internal(format!("{label} {}: {e}", t.table_name)),
                            )?
                        };
                        let b = datafusion::arrow::record_batch::RecordBatch::try_new(
                            schema.clone(),
                            b.columns().to_vec(),
                        )
                        .map_err(|e| {
                            AppError::internal(format!("{label} {}: {e}", t.table_name))
                        })?;
                        rows_done += b.num_rows() as u64;
                        writer.write(&b).await?;
                        progress(&label, rows_done);
                    }
                    state.lake.finish_table(&mut staging, writer).await?;
                    tables_done += 1;
                }
                Ok(())
            }
            .await;
            if let Err(e) = written {
                state.lake.abort(staging).await?;
                return Err(e);
            }
            let dest = format!("datasets/{}/v{}-{}", v.dataset_id, v.version, new_key.id());
            let old_manifest_dir = v
                .manifest_path
                .strip_suffix("/manifest.json")
                .unwrap_or(&v.manifest_path)
                .to_string();
            let mut manifest = state
                .lake
                .manifest(&old_manifest_dir)
                .await?
                .ok_or_else(|| AppError::internal(format!("{label}: manifest missing")))?;
            manifest.created_at = hdh_store::now();
            let manifest = state.lake.publish(staging, &dest, manifest).await?;
            let paths = manifest
                .files
                .iter()
                .map(|f| (f.table.clone(), f.path.clone()))
                .collect();
            published.push((
                v.clone(),
                format!("{dest}/manifest.json"),
                paths,
                old_manifest_dir,
            ));
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        // Nothing points at the new files or key: remove them.
        for (_, manifest, _, _) in &published {
            let dir = manifest.strip_suffix("/manifest.json").unwrap_or(manifest);
            let _ = state.lake.delete_prefix(dir).await;
        }
        state.keys.remove(new_key.id());
        return Err(e);
    }
    let mut tx = state.store.begin().await?;
    tx.insert_level2_key(new_key.id()).await?;
    for id in &old_ids {
        tx.retire_level2_key(id).await?;
    }
    for (v, manifest, paths, _) in &published {
        tx.rekey_version(&v.dataset_id, v.version, new_key.id(), manifest, paths)
            .await?;
    }
    // The opposition register follows the key (level-2 pseudonyms only).
    let register_keys = state.keys.load_all(old_ids.iter().map(String::as_str))?;
    let register_rekeyed =
        crate::provisioning::rekey_register(&mut tx, &register_keys, &new_key).await?;
    let rotation = Rotation {
        new_key: new_key.id().to_string(),
        retired: old_ids.clone(),
        versions: published.len(),
        tables: tables_done,
        rows: rows_done,
        oppositions: register_rekeyed,
    };
    tx.audit(
        &actor
            .object(new_key.id())
            .details(serde_json::to_value(&rotation).unwrap_or_default()),
    )
    .await?;
    tx.commit().await?;
    for (_, _, _, old_dir) in &published {
        let _ = state.lake.delete_prefix(old_dir).await;
    }
    for id in &old_ids {
        state.keys.remove(id);
    }
    Ok(rotation)
}

/// Streams the record batches of one lake Parquet file.
pub(crate) async fn read_parquet(
    state: &AppState,
    object_path: &str,
) -> Result<
    impl futures::Stream<Item = Result<datafusion::arrow::record_batch::RecordBatch, AppError>>,
    AppError,
> {
    let stream = hdh_workspace::read_table(&state.lake, object_path)
        .await
        .map_err(|e| AppError::internal(format!("{object_path}: {e}")))?;
    Ok(stream.map(|b| b.map_err(|e| AppError::internal(e.to_string()))))
}
