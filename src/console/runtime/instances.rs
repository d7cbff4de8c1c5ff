//! A group's Runtime Instances (nodes), the New Runtime Instance flow, and its node credentials
//! ("Data plane certificates"): issue, renew, revoke, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::{group_of, group_path};
use crate::console::session::CsrfForm;
use crate::console::{
    fmt_time, parse_uuid, redirect_after_post, CurrentUser, Page, PageResult, State,
};
use crate::domain::runtime::{
    parse_credential_days, parse_credential_name, DpCredential, RuntimeGroup, RuntimeInstance,
    CREDENTIAL_DAYS_DEFAULT,
};
use crate::domain::{now_secs, FieldErrors};
use crate::service::runtime as groups;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let base = "/runtime-groups/{rg}";
    cfg.route(&format!("{base}/instances"), web::get().to(list_instances))
        .route(
            &format!("{base}/instances/new"),
            web::get().to(new_instance),
        )
        .route(
            &format!("{base}/instances/new"),
            web::post().to(issue_for_instance),
        )
        .route(
            &format!("{base}/instances/{{id}}/forget"),
            web::post().to(forget_instance),
        );
}

/// One row of the instances table, everything already in words.
pub struct InstanceRow {
    pub id: String,
    pub hostname: String,
    pub ip: String,
    pub version: String,
    pub connected: bool,
    pub first_seen: String,
    pub last_seen: String,
    pub last_seen_ago: String,
    pub config_hash: String,
    /// The history version the node's configuration hash is (empty when it is none kept).
    pub config_version: String,
    pub sync: &'static str,
    pub sync_class: &'static str,
    pub reason: String,
    pub embedded: bool,
    /// Requests the node served in the last 24 hours (from its shipped records).
    pub requests: i64,
    last_seen_secs: i64,
    first_seen_secs: i64,
}

fn ago(now: i64, then: i64) -> String {
    let d = (now - then).max(0);
    match d {
        0..=9 => "just now".into(),
        10..=59 => format!("{d} s ago"),
        60..=3599 => format!("{} min ago", d / 60),
        3600..=86_399 => format!("{} h ago", d / 3600),
        _ => format!("{} days ago", d / 86_400),
    }
}

fn row(n: &RuntimeInstance, now: i64, latest: &str, requests: i64) -> InstanceRow {
    let sync = n.sync_status(now, env!("CARGO_PKG_VERSION"), latest);
    InstanceRow {
        id: n.id.to_string(),
        hostname: n.hostname.clone(),
        ip: n.ip.clone(),
        version: n.version.clone(),
        connected: n.is_connected(now),
        first_seen: fmt_time(n.first_seen),
        last_seen: fmt_time(n.last_seen),
        last_seen_ago: ago(now, n.last_seen),
        config_hash: n.config_hash.chars().take(12).collect(),
        config_version: String::new(),
        sync_class: match sync.label() {
            "In sync" => "ok",
            "Out of sync" => "warn",
            _ => "bad",
        },
        sync: sync.label(),
        reason: sync.reason().to_string(),
        embedded: n.embedded,
        requests,
        last_seen_secs: n.last_seen,
        first_seen_secs: n.first_seen,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct InstanceQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    connected: String,
    #[serde(default)]
    sort: String,
}

#[derive(Template)]
#[template(path = "runtime_instances.html")]
struct InstancesPage<'a> {
    group: &'a RuntimeGroup,
    base: String,
    tab: &'a str,
    rows: Vec<InstanceRow>,
    total: usize,
    latest_hash: String,
    latest_version: u64,
    q: &'a str,
    connected: &'a str,
    sort: &'a str,
}

async fn list_instances(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    query: web::Query<InstanceQuery>,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let g = group.id;
    let since = (now_secs() - 86_400) * 1000;
    let (nodes, traffic, versions) = state
        .store
        .run(move |s| async move {
            let nodes = s.list_instances(g).await?;
            // Nodes mostly run one or two configurations: one lookup per distinct hash.
            let mut versions = std::collections::HashMap::new();
            for n in &nodes {
                if !n.config_hash.is_empty() && !versions.contains_key(&n.config_hash) {
                    let v = s.config_version_with_hash(g, &n.config_hash).await?;
                    versions.insert(n.config_hash.clone(), v);
                }
            }
            Ok::<_, WebError>((nodes, s.node_traffic_since(since).await?, versions))
        })
        .await?;
    let latest = crate::service::config::load(&state.store, g)
        .await
        .map_err(|e| WebError::internal("building the group snapshot failed", e))?;
    let now = now_secs();
    let total = nodes.len();
    let q = query.q.trim().to_lowercase();
    let mut rows: Vec<InstanceRow> = nodes
        .iter()
        .map(|n| {
            let served = traffic.get(&n.id).map(|t| t.requests).unwrap_or(0);
            let mut r = row(n, now, &latest.hash, served);
            if let Some(Some(v)) = versions.get(&n.config_hash) {
                r.config_version = format!("v{v}");
            }
            r
        })
        .filter(|r| q.is_empty() || r.hostname.to_lowercase().contains(&q) || r.ip.contains(&q))
        .filter(|r| match query.connected.as_str() {
            "connected" => r.connected,
            "disconnected" => !r.connected,
            _ => true,
        })
        .collect();
    match query.sort.as_str() {
        "last_seen" => rows.sort_by_key(|r| std::cmp::Reverse(r.last_seen_secs)),
        "first_seen" => rows.sort_by_key(|r| r.first_seen_secs),
        "sync" => rows.sort_by(|a, b| a.sync.cmp(b.sync).then(a.hostname.cmp(&b.hostname))),
        _ => rows.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.id.cmp(&b.id))),
    }
    let page = InstancesPage {
        base: group_path(&group),
        tab: "instances",
        rows,
        total,
        latest_hash: latest.hash.chars().take(12).collect(),
        latest_version: latest.version,
        q: &query.q,
        connected: &query.connected,
        sort: &query.sort,
        group: &group,
    };
    Page {
        title: "Runtime Instances",
        nav: "runtime",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(&req, &page)
}

async fn forget_instance(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    _form: CsrfForm,
) -> PageResult {
    let (rg, id) = path.into_inner();
    let group = group_of(&state, &rg).await?;
    let id = parse_uuid(&id)?;
    let g = group.id;
    let forgotten = state
        .store
        .run(move |s| async move { groups::forget_instance(&s, g, id).await })
        .await?;
    if !forgotten {
        return Err(WebError::NotFound.into());
    }
    tracing::info!(node = %id, user.email = ?user.email, "runtime instance forgotten");
    Ok(redirect_after_post(
        &req,
        &format!("{}/instances", group_path(&group)),
    ))
}

/// The credential just issued and the commands that use it; shown once.
pub(super) struct Issued {
    pub token: String,
    pub linux: String,
    pub docker: String,
    pub docker_note: &'static str,
}

pub(super) fn issued(state: &State, token: String) -> Issued {
    let c = &state.cluster;
    let linux = format!(
        "gatehouse data-plane \\\n  --control-plane {} \\\n  --ca-fingerprint {} \\\n  --token {} \\\n  --data-dir /var/lib/gatehouse",
        c.url, c.ca_fingerprint, token
    );
    let local = url::Url::parse(&c.url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h == "localhost" || h == "127.0.0.1"))
        .unwrap_or(false);
    let network = if local { "  --network host \\\n" } else { "" };
    let docker = format!(
        "docker build -t gatehouse .   # once, in the Gatehouse source tree\ndocker run -d --name gatehouse-node \\\n{network}  -e GATEHOUSE_ROLE=data_plane \\\n  -e GATEHOUSE_CLUSTER_CONTROL_PLANE={} \\\n  -e GATEHOUSE_CLUSTER_CA_FINGERPRINT={} \\\n  -e GATEHOUSE_CLUSTER_TOKEN={} \\\n  -v gatehouse-node:/data \\\n  -p 8000:8000 -p 8443:8443 \\\n  gatehouse",
        c.url, c.ca_fingerprint, token
    );
    Issued {
        token,
        linux,
        docker,
        docker_note: if local {
            "The control plane URL is local to this machine, so the container shares the host's network."
        } else {
            ""
        },
    }
}

#[derive(Template)]
#[template(path = "runtime_instance_new.html")]
struct NewInstancePage<'a> {
    csrf: &'a str,
    group: &'a RuntimeGroup,
    base: String,
    name: String,
    days: String,
    errors: FieldErrors,
    issued: Option<Issued>,
    ca_fingerprint: &'a str,
    ca_pem: &'a str,
    cluster_url: &'a str,
}

async fn render_new(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    group: &RuntimeGroup,
    fields: (String, String, FieldErrors),
    issued: Option<Issued>,
    status: StatusCode,
) -> PageResult {
    let (name, days, errors) = fields;
    let page = NewInstancePage {
        csrf: &user.csrf,
        base: group_path(group),
        group,
        name,
        days,
        errors,
        issued,
        ca_fingerprint: &state.cluster.ca_fingerprint,
        ca_pem: &state.cluster.ca_pem,
        cluster_url: &state.cluster.url,
    };
    Page {
        title: "New Runtime Instance",
        nav: "runtime",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, status)
}

async fn new_instance(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let fields = (
        String::new(),
        CREDENTIAL_DAYS_DEFAULT.to_string(),
        FieldErrors::new(),
    );
    render_new(&req, &state, &user, &group, fields, None, StatusCode::OK).await
}

/// Issues a credential from the form's name and validity; `Err` holds the form's errors.
pub(super) async fn issue(
    state: &State,
    user: &CurrentUser,
    group: &RuntimeGroup,
    name: &str,
    days: &str,
) -> Result<Result<(DpCredential, String), FieldErrors>, WebError> {
    let mut errors = FieldErrors::new();
    let name = parse_credential_name(name).map_err(|e| errors.0.extend(e.0));
    let days = parse_credential_days(days).map_err(|e| errors.0.extend(e.0));
    let (Ok(name), Ok(days)) = (name, days) else {
        return Ok(Err(errors));
    };
    let g = group.id;
    match state
        .store
        .run(move |s| async move {
            groups::issue_credential(&s, g, &name, days)
                .await
                .map_err(crate::web_error::WebError::from)
        })
        .await
    {
        Ok(issued) => {
            tracing::info!(runtime_group = ?group.name, credential = %issued.0.id, user.email = ?user.email, "node credential issued");
            Ok(Ok(issued))
        }
        Err(WebError::BadRequest(msg)) => Ok(Err(FieldErrors::single("name", msg))),
        Err(e) => Err(e),
    }
}

async fn issue_for_instance(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let (name, days) = (form.get("name").to_string(), form.get("days").to_string());
    match issue(&state, &user, &group, &name, &days).await? {
        Ok((_, token)) => {
            let shown = issued(&state, token);
            let fields = (name, days, FieldErrors::new());
            render_new(
                &req,
                &state,
                &user,
                &group,
                fields,
                Some(shown),
                StatusCode::OK,
            )
            .await
        }
        Err(errors) => {
            let fields = (name, days, errors);
            render_new(
                &req,
                &state,
                &user,
                &group,
                fields,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
