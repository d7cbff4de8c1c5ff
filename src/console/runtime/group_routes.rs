//! A runtime group's Routes page: paged list with a filter by partial name, id or tag, create,
//! edit and delete, through the service layer as the Admin API.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde_json::{json, Value};
use uuid::Uuid;

use super::gateway::Filter;
use super::{group_of, group_path};
use crate::console::forms::RouteForm;
use crate::console::paging::{PageParams, Pager};
use crate::console::session::CsrfForm;
use crate::console::{parse_uuid, redirect_after_post, CurrentUser, Page, PageResult, State};
use crate::domain::runtime::RuntimeGroup;
use crate::domain::{FieldErrors, GatewayService, Route};
use crate::service;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let base = "/runtime-groups/{rg}";
    cfg.route(&format!("{base}/routes"), web::get().to(list_routes))
        .route(&format!("{base}/routes"), web::post().to(create_route))
        .route(&format!("{base}/routes/new"), web::get().to(new_route))
        .route(
            &format!("{base}/routes/{{id}}/edit"),
            web::get().to(edit_route),
        )
        .route(
            &format!("{base}/routes/{{id}}/edit"),
            web::post().to(update_route),
        )
        .route(
            &format!("{base}/routes/{{id}}/delete"),
            web::post().to(delete_route),
        );
}

pub struct RouteRow {
    pub route: Route,
    pub service: String,
    pub methods: String,
    pub paths: String,
    pub hosts: String,
    pub tags: String,
}

#[derive(Template)]
#[template(path = "rg_routes.html")]
struct RoutesPage<'a> {
    group: &'a RuntimeGroup,
    base: String,
    tab: &'a str,
    q: &'a str,
    rows: Vec<RouteRow>,
    total: u64,
    pager: Pager,
}

/// One page of the group's routes (Kong's page sizes), filtered in the database: a group of
/// thousands of routes reads and draws one page of them.
async fn list_routes(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    filter: web::Query<Filter>,
    paging: web::Query<PageParams>,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let base = group_path(&group);
    let mut pager = Pager::new(&paging, &format!("{base}/routes"), &[("q", &filter.q)]);
    let (g, q, offset, size) = (group.id, filter.q.clone(), pager.offset(), pager.size);
    let (found, services) = state
        .store
        .run(move |s| async move {
            let found = s.search_entities::<Route>(g, &q, offset, size).await?;
            let mut ids: Vec<Uuid> = found
                .items
                .iter()
                .filter_map(|r| r.service.as_ref().map(|s| s.id))
                .collect();
            ids.sort();
            ids.dedup();
            let services = s.get_entities::<GatewayService>(g, &ids).await?;
            Ok::<_, crate::store::StoreError>((found, services))
        })
        .await?;
    pager.total = found.matching;
    let join = |v: &Option<Vec<String>>| v.clone().unwrap_or_default().join(", ");
    let rows = found
        .items
        .into_iter()
        .map(|r| RouteRow {
            service: r
                .service
                .as_ref()
                .and_then(|s| services.iter().find(|x| x.id == s.id))
                .and_then(|s| s.name.clone())
                .unwrap_or_default(),
            methods: join(&r.methods),
            paths: join(&r.paths),
            hosts: join(&r.hosts),
            tags: join(&r.tags),
            route: r,
        })
        .collect();
    let page = RoutesPage {
        base,
        tab: "routes",
        group: &group,
        q: &filter.q,
        rows,
        total: found.total,
        pager,
    };
    Page {
        title: "Routes",
        nav: "runtime",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(&req, &page)
}

#[derive(Template)]
#[template(path = "rg_route_form.html")]
struct RouteFormPage<'a> {
    csrf: &'a str,
    group: &'a RuntimeGroup,
    base: String,
    heading: &'a str,
    action: String,
    route: RouteForm,
    services: Vec<(String, String)>,
    service_id: String,
    errors: FieldErrors,
    /// When editing: the route's plugins and its plugins page.
    plugins: Vec<crate::domain::Plugin>,
    plugins_link: Option<(String, String)>,
}

#[allow(clippy::too_many_arguments)]
async fn render_route_form(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    group: &RuntimeGroup,
    edit: Option<Uuid>,
    route: RouteForm,
    service_id: String,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let g = group.id;
    let cfg = state
        .store
        .run(move |s| async move { s.load_gateway_config(g).await })
        .await?;
    let services = cfg
        .services
        .iter()
        .map(|s| {
            (
                s.id.to_string(),
                s.name.clone().unwrap_or_else(|| s.id.to_string()),
            )
        })
        .collect();
    let base = group_path(group);
    let (heading, action) = match edit {
        None => ("New route", format!("{base}/routes")),
        Some(id) => ("Edit route", format!("{base}/routes/{id}/edit")),
    };
    let plugins = match edit {
        Some(id) => cfg
            .plugins
            .iter()
            .filter(|p| p.route.as_ref().is_some_and(|r| r.id == id))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let plugins_link = edit.map(|id| {
        (
            format!("{base}/plugins?route={id}"),
            format!("{base}/plugins/new?route={id}"),
        )
    });
    let page = RouteFormPage {
        csrf: &user.csrf,
        plugins,
        plugins_link,
        base,
        group,
        heading,
        action,
        route,
        services,
        service_id,
        errors,
    };
    Page {
        title: heading,
        nav: "runtime",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, status)
}

async fn new_route(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let fields = (RouteForm::default(), String::new(), FieldErrors::new());
    render_route_form(
        &req,
        &state,
        &user,
        &group,
        None,
        fields.0,
        fields.1,
        fields.2,
        StatusCode::OK,
    )
    .await
}

async fn save_route(
    state: &State,
    group: Uuid,
    form: &RouteForm,
    service_id: &str,
    existing: Option<Uuid>,
) -> Result<Result<Route, FieldErrors>, WebError> {
    let (mut input, mut errors) = form.to_input();
    let service = Uuid::parse_str(service_id.trim()).ok();
    match service {
        Some(id) => {
            input.insert("service".into(), json!({ "id": id }));
        }
        None => errors.add("service", "Choose the gateway service this route exposes"),
    }
    if let Err(WebError::Validation(e)) =
        service::build::<crate::domain::Route>(None, Uuid::nil(), service, &input)
            .map_err(crate::web_error::WebError::from)
    {
        errors.0.extend(e.0);
    }
    if !errors.is_empty() {
        return Ok(Err(RouteForm::place_errors(errors)));
    }
    if existing.is_some() {
        for k in ["methods", "paths", "hosts", "tags"] {
            input.entry(k).or_insert(Value::Null);
        }
    }
    let name = form.name.clone();
    let saved = state
        .store
        .run(move |s| async move {
            match existing {
                None => service::create_entity::<crate::domain::Route>(&s, group, None, &input)
                    .await
                    .map_err(crate::web_error::WebError::from),
                Some(id) => service::update_entity::<crate::domain::Route>(
                    &s,
                    group,
                    &id.to_string(),
                    None,
                    &input,
                )
                .await
                .map_err(crate::web_error::WebError::from),
            }
        })
        .await;
    match saved {
        Ok(r) => Ok(Ok(r)),
        Err(WebError::Unique { .. }) => Ok(Err(FieldErrors::single(
            "name",
            format!("A route named '{name}' already exists (names are unique across Gatehouse and case-sensitive)"),
        ))),
        Err(WebError::Validation(e)) => Ok(Err(RouteForm::place_errors(e))),
        Err(WebError::MissingService { .. }) | Err(WebError::MissingReference { .. }) => Ok(
            Err(FieldErrors::single("service", "That gateway service no longer exists")),
        ),
        Err(e) => Err(e),
    }
}

async fn create_route(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let mut route = RouteForm::from_form(&form);
    let service_id = form.get("service_id").to_string();
    if route.add_path_requested(&form) {
        let (ok, no_errors) = (StatusCode::OK, FieldErrors::new());
        return render_route_form(
            &req, &state, &user, &group, None, route, service_id, no_errors, ok,
        )
        .await;
    }
    match save_route(&state, group.id, &route, &service_id, None).await? {
        Ok(_) => Ok(redirect_after_post(
            &req,
            &format!("{}/routes", group_path(&group)),
        )),
        Err(errors) => {
            render_route_form(
                &req,
                &state,
                &user,
                &group,
                None,
                route,
                service_id,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

async fn edit_route(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
) -> PageResult {
    let (rg, id) = path.into_inner();
    let group = group_of(&state, &rg).await?;
    let g = group.id;
    let route = state
        .store
        .run(move |s| async move { s.get_entity::<crate::domain::Route>(g, &id, None).await })
        .await?;
    let service_id = route
        .service
        .as_ref()
        .map(|s| s.id.to_string())
        .unwrap_or_default();
    render_route_form(
        &req,
        &state,
        &user,
        &group,
        Some(route.id),
        RouteForm::from_route(&route),
        service_id,
        FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

async fn update_route(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let (rg, id) = path.into_inner();
    let group = group_of(&state, &rg).await?;
    let id = parse_uuid(&id)?;
    let g = group.id;
    state
        .store
        .run(move |s| async move {
            s.get_entity::<crate::domain::Route>(g, &id.to_string(), None)
                .await
        })
        .await?;
    let mut route = RouteForm::from_form(&form);
    let service_id = form.get("service_id").to_string();
    if route.add_path_requested(&form) {
        let (ok, no_errors) = (StatusCode::OK, FieldErrors::new());
        let existing = Some(id);
        return render_route_form(
            &req, &state, &user, &group, existing, route, service_id, no_errors, ok,
        )
        .await;
    }
    match save_route(&state, group.id, &route, &service_id, Some(id)).await? {
        Ok(_) => Ok(redirect_after_post(
            &req,
            &format!("{}/routes", group_path(&group)),
        )),
        Err(errors) => {
            render_route_form(
                &req,
                &state,
                &user,
                &group,
                Some(id),
                route,
                service_id,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

async fn delete_route(
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
    state
        .store
        .run(move |s| async move {
            service::delete_entity::<crate::domain::Route>(&s, g, &id.to_string(), None)
                .await
                .map_err(crate::web_error::WebError::from)
        })
        .await?;
    tracing::info!(route = %id, user.email = ?user.email, "route deleted");
    Ok(redirect_after_post(
        &req,
        &format!("{}/routes", group_path(&group)),
    ))
}
