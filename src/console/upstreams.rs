//! Kong Upstreams of the default runtime group: the list with its new-upstream form, one
//! upstream's page (settings, targets with the health the proxy sees) and deleting it. Saves go
//! through the shared manage layer; this module never touches SQL.

mod form;
mod targets;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use uuid::Uuid;

use self::form::{CheckField, TargetForm, UpstreamForm};
use super::entities::{self, group_name, in_group};
use super::session::CsrfForm;
use super::{fmt_time, parse_uuid, redirect_after_post, CurrentUser, Page, PageResult, State};
use crate::domain::{FieldErrors, Target, Upstream};
use crate::proxy::{HealthState, TargetHealthView};
use crate::service;

/// Routes relative to a `/runtime-groups/{rg}` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/upstreams", web::get().to(list_upstreams))
        .route("/upstreams", web::post().to(create_upstream))
        .route("/upstreams/{id}", web::get().to(show_upstream))
        .route("/upstreams/{id}/delete", web::post().to(delete_upstream))
        .configure(targets::configure);
}

/// The Upstreams page of the request's runtime group.
pub fn base() -> String {
    format!("/runtime-groups/{}/upstreams", entities::group_key())
}

fn upstream_path(id: Uuid) -> String {
    format!("{}/{id}", base())
}

/// A target's health as the proxy sees it, or `PENDING` before the proxy has loaded it.
fn health_of(views: &[TargetHealthView], target: &str) -> &'static str {
    views
        .iter()
        .find(|v| v.target == target)
        .map(|v| v.state.as_str())
        .unwrap_or("PENDING")
}

pub struct UpstreamRow {
    pub upstream: Upstream,
    pub targets: usize,
    /// Targets the proxy would send traffic to (healthy, or health checks off).
    pub healthy: usize,
}

#[derive(Template)]
#[template(path = "upstreams.html")]
struct UpstreamsPage<'a> {
    csrf: &'a str,
    base: String,
    group: String,
    rows: Vec<UpstreamRow>,
    form: UpstreamForm,
    errors: FieldErrors,
    unplaced: Vec<String>,
}

async fn render_list(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    form: UpstreamForm,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let listed = in_group(state, move |s, g| async move {
        let mut out = Vec::new();
        for u in s.list_all_entities::<Upstream>(g, None).await? {
            let targets: Vec<Target> = s.list_all_entities(g, Some(u.id)).await?;
            out.push((u, targets));
        }
        Ok::<_, crate::web_error::WebError>(out)
    })
    .await?;
    let proxy = state.proxy.current();
    let rows = listed
        .into_iter()
        .map(|(upstream, targets)| {
            let views = proxy.upstream_health(upstream.id);
            let healthy = targets
                .iter()
                .filter(|t| {
                    views.iter().any(|v| {
                        v.target == t.target
                            && matches!(v.state, HealthState::Healthy | HealthState::ChecksOff)
                    })
                })
                .count();
            UpstreamRow {
                targets: targets.len(),
                healthy,
                upstream,
            }
        })
        .collect();
    let unplaced = form.unplaced(&errors);
    let page = UpstreamsPage {
        csrf: &user.csrf,
        base: base(),
        group: group_name(),
        rows,
        form,
        errors,
        unplaced,
    };
    Page {
        title: "Upstreams",
        nav: "upstreams",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, status)
}

async fn list_upstreams(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
) -> PageResult {
    render_list(
        &req,
        &state,
        &user,
        UpstreamForm::default(),
        FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

async fn create_upstream(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let form = UpstreamForm::from_form(&data);
    let (input, errors) = form.to_input();
    let created = entities::create::<Upstream>(&state, None, input, errors, |name| {
        FieldErrors::single(
            "name",
            format!("An upstream named '{name}' already exists in this runtime group"),
        )
    })
    .await?;
    match created {
        Ok(u) => {
            tracing::info!(upstream.id = %u.id, upstream.name = ?u.name, user.email = ?user.email, "upstream created");
            Ok(redirect_after_post(&req, &upstream_path(u.id)))
        }
        Err(errors) => {
            render_list(
                &req,
                &state,
                &user,
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub struct TargetRow {
    pub target: Target,
    /// Kong's wording: HEALTHY, UNHEALTHY, HEALTHCHECKS_OFF; PENDING until the proxy loads it.
    pub health: &'static str,
    pub created: String,
}

impl TargetRow {
    pub fn badge_class(&self) -> &'static str {
        match self.health {
            "HEALTHY" => "health-ok",
            "UNHEALTHY" => "health-bad",
            _ => "health-off",
        }
    }
}

/// What the upstream page shows besides the stored data: the add-target form as typed with
/// its errors, and the messages of a refused delete or health change.
#[derive(Default)]
pub struct Extras {
    pub target: TargetForm,
    pub errors: FieldErrors,
    pub delete_error: String,
    pub notice: String,
}

#[derive(Template)]
#[template(path = "upstream.html")]
struct UpstreamPage<'a> {
    csrf: &'a str,
    base: String,
    group: String,
    path: String,
    upstream: Upstream,
    created: String,
    hashing: String,
    active_checks: bool,
    checks: Vec<CheckField>,
    targets: Vec<TargetRow>,
    extras: Extras,
    unplaced: Vec<String>,
}

/// How requests are hashed to targets, in words.
fn hashing(u: &Upstream) -> String {
    let on = |kind: &str, header: &Option<String>, query: &Option<String>| match kind {
        "header" => format!("header {}", header.as_deref().unwrap_or("")),
        "query_arg" => format!("query argument {}", query.as_deref().unwrap_or("")),
        "cookie" => format!(
            "cookie {} (path {})",
            u.hash_on_cookie.as_deref().unwrap_or(""),
            u.hash_on_cookie_path
        ),
        other => other.to_string(),
    };
    let first = on(&u.hash_on, &u.hash_on_header, &u.hash_on_query_arg);
    if u.hash_fallback == "none" {
        first
    } else {
        let fallback = on(
            &u.hash_fallback,
            &u.hash_fallback_header,
            &u.hash_fallback_query_arg,
        );
        format!("{first}, falling back to {fallback}")
    }
}

pub async fn render_upstream(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    id: Uuid,
    extras: Extras,
    status: StatusCode,
) -> PageResult {
    let (upstream, targets) = in_group(state, move |s, g| async move {
        let u: Upstream = s.get_entity(g, &id.to_string(), None).await?;
        let targets: Vec<Target> = s.list_all_entities(g, Some(u.id)).await?;
        Ok::<_, crate::web_error::WebError>((u, targets))
    })
    .await?;
    let views = state.proxy.current().upstream_health(upstream.id);
    let targets = targets
        .into_iter()
        .map(|t| TargetRow {
            health: health_of(&views, &t.target),
            created: fmt_time(t.created_at),
            target: t,
        })
        .collect();
    let unplaced = extras.target.unplaced(&extras.errors);
    let page = UpstreamPage {
        csrf: &user.csrf,
        base: base(),
        group: group_name(),
        path: upstream_path(upstream.id),
        created: fmt_time(upstream.created_at),
        hashing: hashing(&upstream),
        active_checks: upstream.healthchecks.active.enabled(),
        checks: UpstreamForm::checks_of(&upstream),
        targets,
        extras,
        unplaced,
        upstream,
    };
    Page {
        title: &page.upstream.name.clone(),
        nav: "upstreams",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, status)
}

async fn show_upstream(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    render_upstream(&req, &state, &user, id, Extras::default(), StatusCode::OK).await
}

async fn delete_upstream(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    let upstream: Upstream = in_group(&state, move |s, g| async move {
        Ok::<_, crate::web_error::WebError>(s.get_entity(g, &id.to_string(), None).await?)
    })
    .await?;
    if form.get("confirm_name").trim() != upstream.name {
        let extras = Extras {
            delete_error: format!("Type \"{}\" exactly to confirm", upstream.name),
            ..Extras::default()
        };
        return render_upstream(
            &req,
            &state,
            &user,
            id,
            extras,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    in_group(&state, move |s, g| async move {
        service::delete_entity::<Upstream>(&s, g, &id.to_string(), None).await
    })
    .await?;
    tracing::info!(upstream.id = %id, upstream.name = ?upstream.name, user.email = ?user.email, "upstream deleted");
    Ok(redirect_after_post(&req, &base()))
}
