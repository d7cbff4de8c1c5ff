//! Runtime Manager: runtime groups (list, create, edit, delete with a typed confirmation), a
//! group's overview, its Runtime Instances, the New Runtime Instance flow that issues a node
//! credential and shows the command to start a node, and the credentials themselves.

mod credentials;
mod gateway;
mod group_routes;
mod instances;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::session::{CsrfForm, FormData};
use super::{fmt_time, redirect_after_post, CurrentUser, Page, PageResult, State};
use crate::domain::runtime::{format_labels, RuntimeGroup, RuntimeGroupInput};
use crate::domain::{now_secs, FieldErrors};
use crate::service::runtime as groups;
use crate::store::TrafficSummary;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/runtime-groups", web::get().to(list_groups))
        .route("/runtime-groups", web::post().to(create_group))
        .route("/runtime-groups/{rg}", web::get().to(overview))
        .route("/runtime-groups/{rg}/edit", web::get().to(edit_group))
        .route("/runtime-groups/{rg}/edit", web::post().to(update_group))
        .route("/runtime-groups/{rg}/delete", web::post().to(delete_group))
        .configure(instances::configure)
        .configure(credentials::configure)
        .configure(gateway::configure)
        .configure(group_routes::configure);
}

/// The group named in the path (`{rg}`: id, name, or `default`).
pub async fn group_of(state: &State, key: &str) -> Result<RuntimeGroup, WebError> {
    let key = key.to_string();
    Ok(state
        .store
        .run(move |s| async move { s.find_runtime_group(&key).await })
        .await?)
}

pub fn group_path(g: &RuntimeGroup) -> String {
    format!("/runtime-groups/{}", g.id)
}

/// The text fields of the group form, kept as typed so a refused form comes back unchanged.
#[derive(Debug, Clone, Default)]
pub struct GroupForm {
    pub name: String,
    pub description: String,
    pub labels: String,
}

impl GroupForm {
    fn from_form(f: &FormData) -> GroupForm {
        GroupForm {
            name: f.get("name").to_string(),
            description: f.get("description").to_string(),
            labels: f.get("labels").to_string(),
        }
    }

    fn from_group(g: &RuntimeGroup) -> GroupForm {
        GroupForm {
            name: g.name.clone(),
            description: g.description.clone(),
            labels: format_labels(&g.labels),
        }
    }

    fn parse(&self) -> Result<RuntimeGroupInput, FieldErrors> {
        RuntimeGroupInput::parse(&self.name, &self.description, &self.labels)
    }
}

fn name_taken(e: WebError) -> Result<FieldErrors, WebError> {
    match e {
        WebError::Unique { .. } => Ok(FieldErrors::single(
            "name",
            "A runtime group with this name already exists",
        )),
        WebError::Validation(f) => Ok(f),
        other => Err(other),
    }
}

pub struct GroupRow {
    pub group: RuntimeGroup,
    pub labels: String,
    pub nodes: usize,
    pub connected: usize,
}

#[derive(Template)]
#[template(path = "runtime_groups.html")]
struct GroupsPage<'a> {
    csrf: &'a str,
    rows: Vec<GroupRow>,
    form: GroupForm,
    errors: FieldErrors,
}

async fn render_list(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    form: GroupForm,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let now = now_secs();
    let listed = state
        .store
        .run(move |s| async move {
            let mut out = Vec::new();
            for g in s.list_runtime_groups().await? {
                let nodes = s.list_instances(g.id).await?;
                out.push((g, nodes));
            }
            Ok::<_, WebError>(out)
        })
        .await?;
    let rows = listed
        .into_iter()
        .map(|(group, nodes)| GroupRow {
            labels: format_labels(&group.labels),
            connected: nodes.iter().filter(|n| n.is_connected(now)).count(),
            nodes: nodes.len(),
            group,
        })
        .collect();
    let page = GroupsPage {
        csrf: &user.csrf,
        rows,
        form,
        errors,
    };
    Page {
        title: "Runtime Manager",
        nav: "runtime",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, status)
}

async fn list_groups(req: HttpRequest, state: web::Data<State>, user: CurrentUser) -> PageResult {
    render_list(
        &req,
        &state,
        &user,
        GroupForm::default(),
        FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

async fn create_group(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let form = GroupForm::from_form(&form);
    let errors = match form.parse() {
        Ok(input) => match state
            .store
            .run(move |s| async move {
                groups::create_group(&s, &input)
                    .await
                    .map_err(crate::web_error::WebError::from)
            })
            .await
        {
            Ok(g) => {
                tracing::info!(runtime_group = ?g.name, user.email = ?user.email, "runtime group created");
                return Ok(redirect_after_post(&req, &group_path(&g)));
            }
            Err(e) => name_taken(e)?,
        },
        Err(e) => e,
    };
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

#[derive(Template)]
#[template(path = "runtime_group.html")]
struct OverviewPage<'a> {
    group: &'a RuntimeGroup,
    base: String,
    tab: &'a str,
    labels: String,
    created: String,
    modified: String,
    summary: TrafficSummary,
    error_rate: String,
    nodes: usize,
    connected: usize,
    services: usize,
    routes: usize,
}

async fn overview(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let g = group.id;
    let since = (now_secs() - 86_400) * 1000;
    let now = now_secs();
    let (summary, nodes, services, routes) = state
        .store
        .run(move |s| async move {
            let cfg = s.load_gateway_config(g).await?;
            Ok::<_, WebError>((
                s.group_summary(g, since).await?,
                s.list_instances(g).await?,
                cfg.services.len(),
                cfg.routes.len(),
            ))
        })
        .await?;
    let error_rate = if summary.requests == 0 {
        "–".to_string()
    } else {
        format!(
            "{:.1} %",
            summary.errors as f64 * 100.0 / summary.requests as f64
        )
    };
    let page = OverviewPage {
        base: group_path(&group),
        tab: "overview",
        labels: format_labels(&group.labels),
        created: fmt_time(group.created_at),
        modified: fmt_time(group.updated_at),
        summary,
        error_rate,
        connected: nodes.iter().filter(|n| n.is_connected(now)).count(),
        nodes: nodes.len(),
        services,
        routes,
        group: &group,
    };
    Page {
        title: &group.name,
        nav: "runtime",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(&req, &page)
}

#[derive(Template)]
#[template(path = "runtime_group_edit.html")]
struct EditPage<'a> {
    csrf: &'a str,
    group: &'a RuntimeGroup,
    base: String,
    form: GroupForm,
    errors: FieldErrors,
    confirm: String,
    confirm_error: &'a str,
}

fn render_edit(
    req: &HttpRequest,
    user: &CurrentUser,
    page: &EditPage<'_>,
    status: StatusCode,
) -> PageResult {
    Page {
        title: "Edit runtime group",
        nav: "runtime",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, page, status)
}

async fn edit_group(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let page = EditPage {
        csrf: &user.csrf,
        base: group_path(&group),
        form: GroupForm::from_group(&group),
        errors: FieldErrors::new(),
        confirm: String::new(),
        confirm_error: "",
        group: &group,
    };
    render_edit(&req, &user, &page, StatusCode::OK)
}

async fn update_group(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let form = GroupForm::from_form(&form);
    let id = group.id;
    let errors = match form.parse() {
        Ok(input) => match state
            .store
            .run(move |s| async move {
                groups::update_group(&s, id, &input)
                    .await
                    .map_err(crate::web_error::WebError::from)
            })
            .await
        {
            Ok(g) => return Ok(redirect_after_post(&req, &group_path(&g))),
            Err(e) => name_taken(e)?,
        },
        Err(e) => e,
    };
    let page = EditPage {
        csrf: &user.csrf,
        base: group_path(&group),
        form,
        errors,
        confirm: String::new(),
        confirm_error: "",
        group: &group,
    };
    render_edit(&req, &user, &page, StatusCode::UNPROCESSABLE_ENTITY)
}

async fn delete_group(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let confirm = form.get("confirm_name").to_string();
    let refusal = if group.is_default {
        Some("The default runtime group cannot be deleted")
    } else if confirm.trim() != group.name {
        Some("Type the group's name exactly to confirm")
    } else {
        None
    };
    if let Some(msg) = refusal {
        let page = EditPage {
            csrf: &user.csrf,
            base: group_path(&group),
            form: GroupForm::from_group(&group),
            errors: FieldErrors::new(),
            confirm,
            confirm_error: msg,
            group: &group,
        };
        return render_edit(&req, &user, &page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let id = group.id;
    state
        .store
        .run(move |s| async move {
            groups::delete_group(&s, id)
                .await
                .map_err(crate::web_error::WebError::from)
        })
        .await?;
    tracing::info!(runtime_group = ?group.name, user.email = ?user.email, "runtime group deleted; its nodes are orphaned");
    Ok(redirect_after_post(&req, "/runtime-groups"))
}
