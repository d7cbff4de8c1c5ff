//! A runtime group's History tab: its configuration versions (who, when, how, what changed),
//! filtered by entity, author and time; one version's diff against the version before it or
//! the current configuration; and Restore this version behind a typed confirmation. Reads go
//! to the store, the restore through the service layer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::entities::{group_key, group_name, in_group};
use super::plugins::GroupRef;
use super::session::CsrfForm;
use super::{fmt_time, redirect_after_post, ConsoleError, CurrentUser, Page, PageResult, State};
use crate::domain::config_diff::{kind_label, ConfigDiff};
use crate::domain::history::ConfigVersion;
use crate::domain::kinds::KINDS;
use crate::service::history::{self, Against, Compared};
use crate::store::VersionFilter;
use crate::web_error::WebError;

const PAGE_SIZE: u64 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/history", web::get().to(list))
        .route("/history/{n}", web::get().to(show))
        .route("/history/{n}/restore", web::post().to(restore));
}

fn group_base() -> String {
    format!("/runtime-groups/{}", group_key())
}

fn page<'a>(title: &'a str, user: &'a CurrentUser) -> Page<'a> {
    Page {
        title,
        nav: "runtime",
        user: Some(user),
        csrf: &user.csrf,
    }
}

/// One row of the versions table, everything already in words.
pub struct Row {
    pub version: u64,
    pub when: String,
    pub who: String,
    pub who_kind: &'static str,
    pub how: String,
    pub summary: String,
    pub hash: String,
}

fn row(v: &ConfigVersion) -> Row {
    Row {
        version: v.version,
        when: fmt_time(v.created_at),
        who: v.source.actor.name.clone(),
        who_kind: v.source.actor.kind.as_str(),
        how: v.source.how(),
        summary: v.summary_text(),
        hash: v.hash.chars().take(12).collect(),
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    entity: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    author: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    offset: u64,
    /// Set after a restore: the new version and the one it restored.
    restored: Option<u64>,
    from_version: Option<u64>,
    unchanged: Option<u64>,
    /// Set after a console import: the version it became, or that it changed nothing.
    imported: Option<u64>,
    imported_unchanged: Option<u8>,
}

/// Midnight UTC of a `YYYY-MM-DD` date, as Unix seconds.
fn day_start(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), fmt)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp())
}

impl ListQuery {
    fn query_without_offset(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("entity", &self.entity),
            ("kind", &self.kind),
            ("author", &self.author),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

#[derive(Template)]
#[template(path = "history.html")]
struct ListPage<'a> {
    group: GroupRef,
    base: String,
    tab: &'a str,
    history: String,
    rows: Vec<Row>,
    q: ListQuery,
    kinds: Vec<(&'static str, String)>,
    filtered: bool,
    notice: String,
    older: Option<String>,
    newer: Option<String>,
    date_error: String,
}

/// An entity filter as typed: an id, or the name of an entity the group has now.
fn entity_id(cfg: &crate::domain::GatewayConfig, typed: &str) -> String {
    if uuid::Uuid::parse_str(typed).is_ok() {
        return typed.to_string();
    }
    let json = serde_json::to_value(cfg).unwrap_or(Value::Null);
    let found = json
        .as_object()
        .into_iter()
        .flatten()
        .find_map(|(_, list)| {
            list.as_array()?.iter().find_map(|e| {
                let named = ["name", "username", "custom_id", "target"]
                    .iter()
                    .any(|f| e.get(*f).and_then(Value::as_str) == Some(typed));
                named.then(|| e.get("id").and_then(Value::as_str).map(str::to_string))?
            })
        });
    found.unwrap_or_else(|| typed.to_string())
}

async fn list(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    q: web::Query<ListQuery>,
) -> PageResult {
    let q = q.into_inner();
    let (from, to) = (day_start(&q.from), day_start(&q.to));
    let bad_date = (!q.from.is_empty() && from.is_none()) || (!q.to.is_empty() && to.is_none());
    let mut filter = VersionFilter {
        kind: Some(q.kind.clone()),
        actor: Some(q.author.trim().to_string()),
        since: from,
        until: to.map(|t| t + 86_400),
        ..VersionFilter::default()
    };
    let (entity, offset) = (q.entity.trim().to_string(), q.offset);
    let versions = in_group(&state, move |s, g| async move {
        if !entity.is_empty() {
            filter.entity_id = Some(entity_id(&s.load_gateway_config(g).await?, &entity));
        }
        s.list_config_versions(g, &filter, offset, PAGE_SIZE).await
    })
    .await?;
    let history = format!("{}/history", group_base());
    let query = q.query_without_offset();
    let link = |offset: u64| {
        let sep = if query.is_empty() { "" } else { "&" };
        format!("{history}?{query}{sep}offset={offset}")
    };
    let notice = match (q.restored, q.from_version, q.unchanged, q.imported) {
        (Some(n), Some(f), _, _) => {
            format!("Version {f} restored: the group now runs it as version {n}.")
        }
        (_, _, Some(f), _) => {
            format!("Version {f} is the configuration the group already runs: nothing changed.")
        }
        (_, _, _, Some(n)) => format!("Configuration imported: the group now runs version {n}."),
        _ if q.imported_unchanged.is_some() => {
            "The file describes the configuration the group already runs: nothing changed.".into()
        }
        _ => String::new(),
    };
    let p = ListPage {
        group: GroupRef { name: group_name() },
        base: group_base(),
        tab: "history",
        rows: versions.items.iter().map(row).collect(),
        filtered: !query.is_empty(),
        kinds: KINDS.iter().map(|k| (*k, kind_label(k, 2))).collect(),
        older: versions.next_offset.map(link),
        newer: (offset > 0).then(|| link(offset.saturating_sub(PAGE_SIZE))),
        notice,
        date_error: if bad_date {
            "Dates are written YYYY-MM-DD".into()
        } else {
            String::new()
        },
        history,
        q,
    };
    page("History", &user).render(&req, &p)
}

/// One changed field as the page shows it.
pub struct FieldView {
    pub path: String,
    pub old: String,
    pub new: String,
}

pub struct EntityView {
    pub id: String,
    pub name: String,
    pub detail: String,
    pub fields: Vec<FieldView>,
}

pub struct KindView {
    pub label: String,
    pub added: Vec<EntityView>,
    pub removed: Vec<EntityView>,
    pub changed: Vec<EntityView>,
}

/// Fields whose values are secrets (certificate keys, credentials): shown as changed, not shown.
fn secret(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    matches!(
        last,
        "key" | "key_alt" | "password" | "secret" | "private_key"
    )
}

fn hide_secrets(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let shown = if secret(k) && !v.is_null() {
                        Value::String("(hidden)".into())
                    } else {
                        hide_secrets(v)
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn shown(path: &str, v: &Option<Value>) -> String {
    match v {
        None => "(not set)".into(),
        Some(_) if secret(path) => "(hidden)".into(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 300 {
                format!("{}…", s.chars().take(300).collect::<String>())
            } else {
                s
            }
        }
    }
}

pub(super) fn kinds_view(d: &ConfigDiff) -> Vec<KindView> {
    let whole = |e: &crate::domain::config_diff::EntityRef| EntityView {
        id: e.id.clone(),
        name: e.name.clone().unwrap_or_default(),
        detail: serde_json::to_string_pretty(&hide_secrets(&e.value)).unwrap_or_default(),
        fields: Vec::new(),
    };
    d.kinds
        .iter()
        .map(|k| KindView {
            label: kind_label(&k.kind, 2),
            added: k.added.iter().map(whole).collect(),
            removed: k.removed.iter().map(whole).collect(),
            changed: k
                .changed
                .iter()
                .map(|c| EntityView {
                    id: c.id.clone(),
                    name: c.name.clone().unwrap_or_default(),
                    detail: String::new(),
                    fields: c
                        .fields
                        .iter()
                        .map(|f| FieldView {
                            path: f.path.clone(),
                            old: shown(&f.path, &f.old),
                            new: shown(&f.path, &f.new),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    against: String,
}

#[derive(Template)]
#[template(path = "history_version.html")]
struct VersionPage<'a> {
    csrf: &'a str,
    group: GroupRef,
    base: String,
    tab: &'a str,
    history: String,
    v: Row,
    against_current: bool,
    base_version: Option<u64>,
    is_current: bool,
    kinds: Vec<KindView>,
    confirm_error: String,
}

fn version_number(req: &HttpRequest) -> Result<u64, ConsoleError> {
    req.match_info()
        .get("n")
        .and_then(|n| n.parse().ok())
        .ok_or(ConsoleError(WebError::NotFound))
}

async fn render_version(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    n: u64,
    against: Against,
    confirm_error: String,
) -> PageResult {
    let (compared, current): (Compared, u64) = in_group(state, move |s, g| async move {
        let compared = history::compare(&s, g, n, against).await?;
        let current = s.latest_config_version(g).await?;
        Ok::<_, WebError>((compared, current))
    })
    .await?;
    let status = if confirm_error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let p = VersionPage {
        csrf: &user.csrf,
        group: GroupRef { name: group_name() },
        base: group_base(),
        tab: "history",
        history: format!("{}/history", group_base()),
        v: row(&compared.version),
        against_current: against == Against::Current,
        base_version: compared.base,
        is_current: current == n,
        kinds: kinds_view(&compared.diff),
        confirm_error,
    };
    page("Configuration version", user).render_status(req, &p, status)
}

async fn show(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    q: web::Query<ShowQuery>,
) -> PageResult {
    let n = version_number(&req)?;
    let against = if q.against == "current" {
        Against::Current
    } else {
        Against::Previous
    };
    render_version(&req, &state, &user, n, against, String::new()).await
}

async fn restore(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let n = version_number(&req)?;
    if form.get("confirm_version").trim() != n.to_string() {
        let msg = format!("Type {n} to restore this version");
        return render_version(&req, &state, &user, n, Against::Current, msg).await;
    }
    let restored = match in_group(&state, move |s, g| async move {
        history::restore(&s, g, n).await
    })
    .await
    {
        Ok(r) => r,
        // A refusal (a name the version uses is taken elsewhere now) belongs beside the form.
        Err(ConsoleError(WebError::BadRequest(msg))) => {
            return render_version(&req, &state, &user, n, Against::Current, msg).await
        }
        Err(e) => return Err(e),
    };
    tracing::info!(restored = n, version = ?restored.version, user.email = ?user.email, "configuration version restored from the console");
    let history = format!("{}/history", group_base());
    let to = match restored.version {
        Some(v) => format!("{history}?restored={v}&from_version={n}"),
        None => format!("{history}?unchanged={n}"),
    };
    Ok(redirect_after_post(&req, &to))
}
