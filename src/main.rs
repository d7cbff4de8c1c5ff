//! CLI entry: parses settings, starts every part of Gatehouse, waits for Ctrl-C or SIGTERM.

use clap::Parser;
use gatehouse::settings::Settings;

fn main() {
    if let Err(e) = run() {
        // One line, the whole chain of causes: what failed and why, never a backtrace.
        eprintln!("gatehouse: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let settings = Settings::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| "info,actix_server=warn".into());
    // `config export` writes kong.yml to stdout: a config command logs to stderr instead.
    let to_stderr = matches!(
        settings.command,
        Some(gatehouse::settings::Command::Config { .. })
    );
    // Values people type (emails, names) are logged escaped either way; JSON lines suit a log
    // collector, and nothing in a value can start a line of its own.
    match std::env::var("GATEHOUSE_LOG_FORMAT").as_deref() {
        _ if to_stderr => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        Ok("json") => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .init(),
        Ok("text") | Err(_) => tracing_subscriber::fmt().with_env_filter(filter).init(),
        Ok(other) => anyhow::bail!("GATEHOUSE_LOG_FORMAT must be text or json, not {other:?}"),
    }
    if let Some(gatehouse::settings::Command::Config { action }) = &settings.command {
        let code = gatehouse::app::config_command(&settings, action)?;
        std::process::exit(code);
    }
    if settings.is_data_plane() {
        let node = gatehouse::app::start_node(settings)?;
        tracing::info!(proxy = %node.proxy_addr, node = %node.node_id, "gatehouse data plane is running");
        node.wait_for_signal();
        tracing::info!("shutting down: finishing in-flight requests");
        node.shutdown();
        return Ok(());
    }
    let app = gatehouse::app::start(settings)?;
    tracing::info!(
        cluster = %app.cluster.url, ca_fingerprint = %app.cluster.ca_fingerprint,
        "data-plane nodes can follow this control plane (Runtime Manager > New Runtime Instance)"
    );
    tracing::info!(
        proxy = %app.proxy_addr, admin = %app.admin_addr, console = %app.console_addr, echo = %app.echo_addr,
        "gatehouse is running; open the console at http://{}", app.console_addr
    );
    app.wait_for_signal();
    tracing::info!("shutting down: finishing in-flight requests");
    app.shutdown();
    Ok(())
}
