//! The Plugins pages of a runtime group: every plugin with its scope and an enabled toggle,
//! the catalogue grouped as Konnect groups it, and a configuration form generated from the
//! plugin's schema with errors beside the fields. Gateway service, route and consumer pages
//! link here with their scope preselected. Saves go through the service layer.

mod form;
mod scope;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use self::form::FormField;
pub use self::scope::{Scope, Targets};
use super::entities::{group_key, group_name, in_group};
use super::paging::{PageParams, Pager};
use super::session::{CsrfForm, FormData};
use super::{parse_uuid, redirect_after_post, ConsoleError, CurrentUser, Page, PageResult, State};
use crate::domain::plugin_schemas::{self, Group, Schema};
use crate::domain::{Consumer, FieldErrors, GatewayService, Plugin, Route};
use crate::service;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/plugins", web::get().to(list))
        .route("/plugins/new", web::get().to(catalogue))
        .route("/plugins/new/{name}", web::get().to(new_form))
        .route("/plugins/new/{name}", web::post().to(create))
        .route("/plugins/{id}", web::get().to(edit_form))
        .route("/plugins/{id}", web::post().to(update))
        .route("/plugins/{id}/toggle", web::post().to(toggle))
        .route("/plugins/{id}/delete", web::post().to(delete));
}

/// The runtime group's Plugins page.
pub fn base() -> String {
    format!("/runtime-groups/{}/plugins", group_key())
}

async fn targets(state: &State) -> Result<Targets, ConsoleError> {
    in_group(state, move |s, g| async move {
        let services: Vec<GatewayService> = s.list_all_entities(g, None).await?;
        let routes: Vec<Route> = s.list_all_entities(g, None).await?;
        let consumers: Vec<Consumer> = s.list_all_entities(g, None).await?;
        Ok::<_, WebError>(Targets {
            services: services
                .into_iter()
                .map(|x| (x.id.to_string(), x.name.unwrap_or_else(|| x.id.to_string())))
                .collect(),
            routes: routes
                .into_iter()
                .map(|x| (x.id.to_string(), x.name.unwrap_or_else(|| x.id.to_string())))
                .collect(),
            consumers: consumers
                .into_iter()
                .map(|x| {
                    let name = x
                        .username
                        .or(x.custom_id)
                        .unwrap_or_else(|| x.id.to_string());
                    (x.id.to_string(), name)
                })
                .collect(),
        })
    })
    .await
}

pub struct GroupRef {
    pub name: String,
}

pub struct Row {
    pub plugin: Plugin,
    pub scope: String,
    pub group: &'static str,
}

#[derive(Template)]
#[template(path = "plugins.html")]
struct ListPage<'a> {
    csrf: &'a str,
    group: GroupRef,
    base: String,
    tab: &'a str,
    plugins: String,
    rows: Vec<Row>,
    scope_label: String,
    new_link: String,
    notice: String,
    pager: Pager,
}

fn page<'a>(title: &'a str, user: &'a CurrentUser) -> Page<'a> {
    Page {
        title,
        nav: "runtime",
        user: Some(user),
        csrf: &user.csrf,
    }
}

fn group_base() -> String {
    format!("/runtime-groups/{}", group_key())
}

async fn list(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    scope: web::Query<Scope>,
    paging: web::Query<PageParams>,
) -> PageResult {
    let scope = scope.into_inner();
    let all: Vec<Plugin> = in_group(&state, move |s, g| async move {
        s.list_all_entities::<Plugin>(g, None).await
    })
    .await?;
    let t = targets(&state).await?;
    let rows = all
        .into_iter()
        .filter(|p| scope.matches(p))
        .map(|p| Row {
            scope: t.describe(&p),
            group: plugin_schemas::schema(&p.name).map_or("", |s| s.group.label()),
            plugin: p,
        })
        .collect();
    let keep = [
        ("service", scope.service.as_str()),
        ("route", scope.route.as_str()),
        ("consumer", scope.consumer.as_str()),
    ];
    let mut pager = Pager::new(&paging, &base(), &keep);
    let rows = pager.slice(rows);
    let scope_label = if scope.query().is_empty() {
        String::new()
    } else {
        let probe = Plugin {
            service: Uuid::parse_str(&scope.service)
                .ok()
                .map(|id| crate::domain::gateway_service::ForeignKey { id }),
            route: Uuid::parse_str(&scope.route)
                .ok()
                .map(|id| crate::domain::gateway_service::ForeignKey { id }),
            consumer: Uuid::parse_str(&scope.consumer)
                .ok()
                .map(|id| crate::domain::gateway_service::ForeignKey { id }),
            ..blank_plugin()
        };
        t.describe(&probe)
    };
    let p = ListPage {
        csrf: &user.csrf,
        group: GroupRef { name: group_name() },
        base: group_base(),
        tab: "plugins",
        plugins: base(),
        rows,
        scope_label,
        new_link: format!("{}/new{}", base(), scope.query()),
        notice: String::new(),
        pager,
    };
    page("Plugins", &user).render(&req, &p)
}

fn blank_plugin() -> Plugin {
    Plugin {
        id: Uuid::nil(),
        created_at: 0,
        updated_at: 0,
        name: String::new(),
        instance_name: None,
        config: Value::Null,
        enabled: true,
        protocols: Vec::new(),
        service: None,
        route: None,
        consumer: None,
        tags: None,
    }
}

pub struct CatalogueGroup {
    pub label: &'static str,
    pub plugins: Vec<&'static Schema>,
}

#[derive(Template)]
#[template(path = "plugin_catalogue.html")]
struct CataloguePage {
    group: GroupRef,
    base: String,
    tab: &'static str,
    plugins: String,
    query: String,
    groups: Vec<CatalogueGroup>,
}

async fn catalogue(req: HttpRequest, user: CurrentUser, scope: web::Query<Scope>) -> PageResult {
    let groups = Group::ALL
        .iter()
        .map(|g| CatalogueGroup {
            label: g.label(),
            plugins: plugin_schemas::ALL
                .iter()
                .copied()
                .filter(|s| s.group == *g)
                .collect(),
        })
        .filter(|g| !g.plugins.is_empty())
        .collect();
    let p = CataloguePage {
        group: GroupRef { name: group_name() },
        base: group_base(),
        tab: "plugins",
        plugins: base(),
        query: scope.query(),
        groups,
    };
    page("Add a plugin", &user).render(&req, &p)
}

#[derive(Template)]
#[template(path = "plugin_form.html")]
struct FormPage<'a> {
    csrf: &'a str,
    group: GroupRef,
    base: String,
    tab: &'a str,
    plugins: String,
    schema: &'static Schema,
    action: String,
    editing: bool,
    fields: Vec<FormField>,
    scope: Scope,
    targets: Targets,
    enabled: bool,
    tags: String,
    errors: FieldErrors,
    unplaced: Vec<String>,
}

struct FormState {
    fields: Vec<FormField>,
    scope: Scope,
    enabled: bool,
    tags: String,
    errors: FieldErrors,
}

#[allow(clippy::too_many_arguments)]
async fn render_form(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    schema: &'static Schema,
    action: String,
    editing: bool,
    mut f: FormState,
    status: StatusCode,
) -> PageResult {
    let unplaced = form::place(
        &mut f.fields,
        &f.errors,
        &["service", "route", "consumer", "tags"],
    );
    let p = FormPage {
        csrf: &user.csrf,
        group: GroupRef { name: group_name() },
        base: group_base(),
        tab: "plugins",
        plugins: base(),
        schema,
        action,
        editing,
        fields: f.fields,
        scope: f.scope,
        targets: targets(state).await?,
        enabled: f.enabled,
        tags: f.tags,
        errors: f.errors,
        unplaced,
    };
    page(schema.name, user).render_status(req, &p, status)
}

fn schema_named(name: &str) -> Result<&'static Schema, ConsoleError> {
    plugin_schemas::schema(name).ok_or(ConsoleError(WebError::NotFound))
}

async fn new_form(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    scope: web::Query<Scope>,
) -> PageResult {
    let schema = schema_named(&path.1)?;
    let defaults = schema.fill(&Map::new()).unwrap_or_default();
    let f = FormState {
        fields: form::fields(schema.fields, &defaults),
        scope: scope.into_inner(),
        enabled: true,
        tags: String::new(),
        errors: FieldErrors::new(),
    };
    let action = format!("{}/new/{}", base(), schema.name);
    render_form(
        &req,
        &state,
        &user,
        schema,
        action,
        false,
        f,
        StatusCode::OK,
    )
    .await
}

/// The posted form as Kong input for a plugin.
fn to_input(schema: &Schema, data: &FormData) -> (Map<String, Value>, Scope) {
    let scope = Scope {
        service: data.get("service").to_string(),
        route: data.get("route").to_string(),
        consumer: data.get("consumer").to_string(),
    };
    let foreign = |v: &str| {
        if v.is_empty() {
            Value::Null
        } else {
            json!({ "id": v })
        }
    };
    let mut input = Map::new();
    input.insert("name".into(), json!(schema.name));
    input.insert(
        "config".into(),
        Value::Object(form::to_config(schema.fields, data, "")),
    );
    input.insert("enabled".into(), json!(data.has("enabled")));
    input.insert("service".into(), foreign(&scope.service));
    input.insert("route".into(), foreign(&scope.route));
    input.insert("consumer".into(), foreign(&scope.consumer));
    let tags = super::forms::split_list(data.get("tags"));
    input.insert("tags".into(), json!(tags));
    (input, scope)
}

/// A service-layer refusal as messages for the form, or the page's failure.
fn refusal(e: ConsoleError) -> Result<FieldErrors, ConsoleError> {
    match e.0 {
        WebError::Validation(f) => Ok(f),
        WebError::Unique { .. } => Ok(FieldErrors::single(
            "@entity",
            "This plugin is already configured for this scope; edit that one instead",
        )),
        WebError::MissingReference { field, .. } => Ok(FieldErrors::single(
            field.clone(),
            format!("The chosen {field} no longer exists"),
        )),
        other => Err(ConsoleError(other)),
    }
}

async fn save(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    schema: &'static Schema,
    existing: Option<Uuid>,
    data: FormData,
) -> PageResult {
    let (input, scope) = to_input(schema, &data);
    let saved = in_group(state, move |s, g| async move {
        match existing {
            Some(id) => {
                service::upsert_entity::<Plugin>(&s, g, &id.to_string(), None, &input).await
            }
            None => service::create_entity::<Plugin>(&s, g, None, &input).await,
        }
    })
    .await;
    match saved {
        Ok(p) => {
            tracing::info!(plugin.id = %p.id, plugin.name = %p.name, user.email = ?user.email, "plugin saved");
            Ok(redirect_after_post(
                req,
                &format!("{}{}", base(), scope.query()),
            ))
        }
        Err(e) => {
            let errors = refusal(e)?;
            let f = FormState {
                fields: form::typed(schema.fields, &data),
                scope,
                enabled: data.has("enabled"),
                tags: data.get("tags").to_string(),
                errors,
            };
            let action = match existing {
                Some(id) => format!("{}/{id}", base()),
                None => format!("{}/new/{}", base(), schema.name),
            };
            render_form(
                req,
                state,
                user,
                schema,
                action,
                existing.is_some(),
                f,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

async fn create(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let schema = schema_named(&path.1)?;
    save(&req, &state, &user, schema, None, data).await
}

async fn load(state: &State, id: Uuid) -> Result<Plugin, ConsoleError> {
    in_group(state, move |s, g| async move {
        s.get_entity::<Plugin>(g, &id.to_string(), None).await
    })
    .await
}

async fn edit_form(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    let p = load(&state, id).await?;
    let schema = schema_named(&p.name)?;
    let config = p.config.as_object().cloned().unwrap_or_default();
    let f = FormState {
        fields: form::fields(schema.fields, &config),
        scope: Scope::of(&p),
        enabled: p.enabled,
        tags: p.tags.clone().unwrap_or_default().join(", "),
        errors: FieldErrors::new(),
    };
    let action = format!("{}/{id}", base());
    render_form(&req, &state, &user, schema, action, true, f, StatusCode::OK).await
}

async fn update(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    let p = load(&state, id).await?;
    let schema = schema_named(&p.name)?;
    save(&req, &state, &user, schema, Some(id), data).await
}

async fn toggle(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    let enabled = data.get("enabled") == "true";
    let mut input = Map::new();
    input.insert("enabled".into(), json!(enabled));
    let p = in_group(&state, move |s, g| async move {
        service::update_entity::<Plugin>(&s, g, &id.to_string(), None, &input).await
    })
    .await?;
    tracing::info!(plugin.id = %p.id, plugin.name = %p.name, enabled, user.email = ?user.email, "plugin toggled");
    Ok(redirect_after_post(&req, &back(&data)))
}

/// Where a list action returns: the list it was made from (its scope kept).
fn back(data: &FormData) -> String {
    let to = data.get("back");
    if to.starts_with(&base()) {
        to.to_string()
    } else {
        base()
    }
}

async fn delete(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    in_group(&state, move |s, g| async move {
        service::delete_entity::<Plugin>(&s, g, &id.to_string(), None).await
    })
    .await?;
    tracing::info!(plugin.id = %id, user.email = ?user.email, "plugin deleted");
    Ok(redirect_after_post(&req, &back(&data)))
}
