//! The hub's own secret files (`<data-dir>/secrets/`: the hub secret, the
//! audit log's signing key): created readable by the hub's user only (a
//! 0700 directory, 0600 files written whole under a temporary name, then
//! renamed), and refused at start when others may read them.

use crate::AppError;
use std::io::Write;
use std::path::Path;

/// Reads a secret file as text, refusing one that the group or others may
/// read or write.
pub fn read(path: &Path) -> Result<String, AppError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| AppError::internal(format!("cannot read {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(AppError::internal(format!(
                "{}: mode {mode:o} lets others read this secret; run `chmod 600 {}` (and 700 on its directory)",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    std::fs::read_to_string(path)
        .map_err(|e| AppError::internal(format!("cannot read {}: {e}", path.display())))
}

/// Writes a new secret file (its directory created 0700 if missing; the
/// file 0600 from its creation).
pub fn create(path: &Path, text: &str) -> Result<(), AppError> {
    let dir = path
        .parent()
        .ok_or_else(|| AppError::internal(format!("{}: no directory", path.display())))?;
    let fail = |what: &str, p: &Path, e: std::io::Error| {
        AppError::internal(format!("cannot {what} {}: {e}", p.display()))
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| fail("create", dir, e))?;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp).map_err(|e| fail("write", &tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| fail("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| fail("write", path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn secret_files_are_private_and_refused_when_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets").join("k.key");
        super::create(&path, "abc").unwrap();
        assert_eq!(super::read(&path).unwrap(), "abc");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = super::read(&path).unwrap_err();
            assert!(
                e.message.contains("mode 644") && e.message.contains("chmod 600"),
                "{e}"
            );
        }
    }
}
