//! Process wiring: the control plane (`gatehouse`) and the data-plane node (`gatehouse
//! data-plane`), with the listeners and signal handling both share.

mod config_cli;
mod control_plane;
mod data_dir;
mod data_plane;

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;

pub use config_cli::run as config_command;
pub use control_plane::{start, RunningApp};
pub use data_plane::{node_options, start_node, RunningNode};

pub(crate) fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    let l = TcpListener::bind(addr)
        .with_context(|| format!("binding the {what} listener on {addr}"))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Blocks until Ctrl-C or SIGTERM.
pub(crate) fn wait_for_signal(runtime: &tokio::runtime::Runtime) {
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                        return;
                    }
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    });
}

/// The end of a graceful stop for request records: proxy workers flush their threads' buffers
/// as they exit, and only then is `task` (the writer, or a node's shipper) told to take the
/// last of them and finish.
fn drain_records(
    runtime: &tokio::runtime::Runtime,
    workers: Vec<std::thread::JoinHandle<()>>,
    drain: &tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    what: &str,
) {
    for worker in workers {
        let _ = worker.join();
    }
    let _ = drain.send(true);
    runtime.block_on(async {
        if tokio::time::timeout(std::time::Duration::from_secs(15), task)
            .await
            .is_err()
        {
            tracing::error!("{what} did not finish within 15 s");
        }
    });
}
