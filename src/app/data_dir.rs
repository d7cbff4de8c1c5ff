//! The data directory holds secrets (the session key and cluster CA key in the database, TLS
//! private keys, the node's credential-bearing cache): it is created private (0700), files in it
//! are made 0600, and an existing directory that others can read is refused unless the operator
//! says otherwise.

use std::path::Path;

use anyhow::Context;

#[cfg(unix)]
pub fn prepare(dir: &Path, allow_shared: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating data dir {}", dir.display()))?;
        return Ok(());
    }
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("reading data dir {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 && !allow_shared {
        anyhow::bail!(
            "the data dir {} is open to other users (mode {:o}) but holds secrets: run `chmod 700 {}`, or set GATEHOUSE_ALLOW_SHARED_DATA_DIR=true to start anyway",
            dir.display(),
            mode & 0o777,
            dir.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn prepare(dir: &Path, _allow_shared: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))
}

/// Makes every file directly in `dir` (and in its subdirectories) readable by the owner only.
#[cfg(unix)]
pub fn restrict_files(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let mut p = meta.permissions();
            if p.mode() & 0o077 != 0 {
                p.set_mode(0o700);
                std::fs::set_permissions(&path, p)?;
            }
            restrict_files(&path)?;
        } else if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            let mut p = meta.permissions();
            p.set_mode(0o600);
            std::fs::set_permissions(&path, p)
                .with_context(|| format!("restricting {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn restrict_files(_dir: &Path) -> anyhow::Result<()> {
    Ok(())
}
