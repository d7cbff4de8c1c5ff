//! `gatehouse config validate|export|import`: declarative configuration from the command line,
//! against the same data dir or `GATEHOUSE_DATABASE_URL` as the server. An import writes
//! through the service layer like the Admin API does; a running server on the same database
//! notices the new configuration revision and follows within seconds.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::domain::declarative::{self, DeclarativeError, Existing, Format, Loaded, MAX_BYTES};
use crate::domain::now_secs;
use crate::service::{self, ServiceError};
use crate::settings::{ConfigCommand, Settings};
use crate::store::Store;

/// Runs one `config` command; the process's exit code comes back (1 when the file has
/// problems, each printed on a line of its own on stderr).
pub fn run(settings: &Settings, command: &ConfigCommand) -> anyhow::Result<i32> {
    match command {
        ConfigCommand::Validate { file } => {
            let text = read(file)?;
            match declarative::load_text(&text, format_of(file), now_secs(), &Existing::new()) {
                Ok(loaded) => {
                    warn(&loaded);
                    println!("{}: valid ({})", file.display(), summary(&loaded));
                    Ok(0)
                }
                Err(e) => Ok(problems(file, &e)),
            }
        }
        ConfigCommand::Export {
            runtime_group,
            output,
        } => with_store(settings, |store| async move {
            let group = group_id(&store, runtime_group.as_deref()).await?;
            let yaml = service::declarative::export(&store, group).await?;
            match output {
                Some(path) => std::fs::write(path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(yaml.as_bytes())?,
            }
            Ok(0)
        }),
        ConfigCommand::Import {
            file,
            runtime_group,
        } => {
            let text = read(file)?;
            with_store(settings, |store| async move {
                let group = group_id(&store, runtime_group.as_deref()).await?;
                match service::declarative::import(&store, group, &text, format_of(file)).await {
                    Ok(loaded) => {
                        warn(&loaded);
                        println!("{}: imported ({})", file.display(), summary(&loaded));
                        Ok(0)
                    }
                    Err(ServiceError::Declarative(e)) => Ok(problems(file, &e)),
                    Err(e) => Err(anyhow::Error::new(e).context("importing the configuration")),
                }
            })
        }
    }
}

fn format_of(file: &Path) -> Format {
    Format::guess(&file.to_string_lossy())
}

/// Reads a file, refusing one over the size limit before reading it.
fn read(file: &Path) -> anyhow::Result<String> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    if size > MAX_BYTES as u64 {
        anyhow::bail!(
            "{}: {}",
            file.display(),
            DeclarativeError::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit: MAX_BYTES,
            }
        );
    }
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

/// Reads and validates a file on its own (a DB-less node's configuration): every problem,
/// one per line, in the error.
pub(super) fn load_file(file: &Path) -> anyhow::Result<Loaded> {
    let text = read(file)?;
    declarative::load_text(&text, format_of(file), now_secs(), &Existing::new()).map_err(|e| {
        let lines: Vec<String> = e
            .lines()
            .iter()
            .map(|l| format!("{}: {l}", file.display()))
            .collect();
        anyhow::anyhow!(lines.join("\n"))
    })
}

fn problems(file: &Path, e: &DeclarativeError) -> i32 {
    for line in e.lines() {
        eprintln!("{}: {line}", file.display());
    }
    1
}

fn warn(loaded: &Loaded) {
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
}

fn summary(loaded: &Loaded) -> String {
    let parts: Vec<String> = loaded
        .config
        .counts()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    if parts.is_empty() {
        "no entities".into()
    } else {
        parts.join(", ")
    }
}

async fn group_id(store: &Store, name: Option<&str>) -> anyhow::Result<uuid::Uuid> {
    Ok(match name {
        None => store.get_default_group().await?.id,
        Some(n) => {
            store
                .find_runtime_group(n)
                .await
                .with_context(|| format!("no runtime group '{n}'"))?
                .id
        }
    })
}

/// Opens the store on a runtime of its own, runs `f`, and closes it.
fn with_store<'a, F, Fut>(settings: &Settings, f: F) -> anyhow::Result<i32>
where
    F: FnOnce(Store) -> Fut + 'a,
    Fut: std::future::Future<Output = anyhow::Result<i32>> + 'a,
{
    super::data_dir::prepare(&settings.data_dir, settings.allow_shared_data_dir)?;
    let location = settings.database_location()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")?;
    runtime.block_on(async {
        let store = Store::open(&location)
            .await
            .with_context(|| format!("opening the database {}", location.redacted()))?;
        let out = f(store.clone()).await;
        store.close().await;
        out
    })
}
