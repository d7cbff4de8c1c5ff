//! Kong's file-log: one JSON line (Kong's basic serializer) per request, appended to `path`.
//! The proxy worker only hands the line to the file's writer thread (one per path, kept
//! across snapshots), so a slow disk never stalls requests; lines are written in the order
//! requests finished and none is dropped while the process runs.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use serde_json::Value;

use super::{Handler, LogEntry, Runtime, Shared};
use crate::domain::Plugin;

/// A line for the writer, and whether to reopen the file first (`reopen`).
type Line = (Vec<u8>, bool);

/// The writer of one path.
pub struct Writer {
    tx: Sender<Line>,
}

impl Writer {
    fn start(path: String) -> Writer {
        let (tx, rx) = channel::<Line>();
        let spawned = std::thread::Builder::new()
            .name("file-log".into())
            .spawn(move || {
                let mut file: Option<File> = None;
                let mut failing = false;
                // Ends when every sender is gone (the proxy stopped), after the last line.
                for (line, reopen) in rx {
                    if reopen {
                        file = None;
                    }
                    if file.is_none() {
                        file = open(&path)
                            .map_err(|e| {
                                if !failing {
                                    tracing::error!(path = %path, error = %e, "file-log: cannot open the file");
                                }
                                failing = true;
                            })
                            .ok();
                    }
                    let Some(f) = file.as_mut() else { continue };
                    match f.write_all(&line) {
                        Ok(()) => failing = false,
                        Err(e) => {
                            tracing::error!(path = %path, error = %e, "file-log: write failed");
                            file = None;
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "file-log: cannot start the writer thread");
        }
        Writer { tx }
    }

    fn send(&self, line: Line) {
        if self.tx.send(line).is_err() {
            tracing::error!("file-log: the writer has stopped; a line is lost");
        }
    }
}

/// Created when missing with mode 0644, as Kong opens it.
fn open(path: &str) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o644);
    }
    o.open(path)
}

pub struct FileLog {
    writer: Arc<Writer>,
    reopen: bool,
}

pub fn build(p: &Plugin, _: &Shared, runtime: &Runtime) -> Result<Arc<dyn Handler>, String> {
    let path = p
        .config
        .get("path")
        .and_then(Value::as_str)
        .ok_or("file-log needs a path")?
        .to_string();
    let writer = runtime.get(&format!("file-log:{path}"), || Writer::start(path.clone()));
    Ok(Arc::new(FileLog {
        writer,
        reopen: p.config.get("reopen").and_then(Value::as_bool) == Some(true),
    }))
}

impl Handler for FileLog {
    fn name(&self) -> &'static str {
        "file-log"
    }
    fn priority(&self) -> i32 {
        9
    }
    fn wants_log(&self) -> bool {
        true
    }
    fn log(&self, entry: &LogEntry) {
        let mut line = entry.to_json().to_string().into_bytes();
        line.push(b'\n');
        self.writer.send((line, self.reopen));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_and_reopened_files_recreated() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("log.json");
        let p = path.to_string_lossy().to_string();
        std::fs::write(&path, "old\n").expect("seed");
        let w = Writer::start(p.clone());
        w.send((b"a\n".to_vec(), false));
        w.send((b"b\n".to_vec(), false));
        let moved = dir.path().join("moved.json");
        let wait = |path: &std::path::Path, want: &str| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                if std::fs::read_to_string(path).unwrap_or_default() == want {
                    return;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{want:?} never written"
                );
                std::thread::yield_now();
            }
        };
        wait(&path, "old\na\nb\n");
        std::fs::rename(&path, &moved).expect("rotate");
        w.send((b"c\n".to_vec(), true));
        wait(&path, "c\n");
        wait(&moved, "old\na\nb\n");
    }
}
