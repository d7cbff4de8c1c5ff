//! A runtime group's Gateway Services page: list with a filter by partial name or tag, create,
//! edit and delete, through the same service layer as the Admin API. Entities a Service Hub
//! version implements show up here too (tagged `_KonnectService:NAME`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{group_of, group_path};
use crate::console::forms::ServiceForm;
use crate::console::paging::{PageParams, Pager};
use crate::console::session::CsrfForm;
use crate::console::{parse_uuid, redirect_after_post, CurrentUser, Page, PageResult, State};
use crate::domain::runtime::RuntimeGroup;
use crate::domain::{FieldErrors, GatewayService};
use crate::service;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let base = "/runtime-groups/{rg}";
    cfg.route(&format!("{base}/services"), web::get().to(list_services))
        .route(&format!("{base}/services"), web::post().to(create_service))
        .route(&format!("{base}/services/new"), web::get().to(new_service))
        .route(
            &format!("{base}/services/{{id}}/edit"),
            web::get().to(edit_service),
        )
        .route(
            &format!("{base}/services/{{id}}/edit"),
            web::post().to(update_service),
        )
        .route(
            &format!("{base}/services/{{id}}/delete"),
            web::post().to(delete_service),
        );
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Filter {
    #[serde(default)]
    pub(super) q: String,
}

pub struct ServiceRow {
    pub svc: GatewayService,
    pub routes: usize,
    pub tags: String,
}

#[derive(Template)]
#[template(path = "rg_services.html")]
struct ServicesPage<'a> {
    group: &'a RuntimeGroup,
    base: String,
    tab: &'a str,
    q: &'a str,
    rows: Vec<ServiceRow>,
    total: u64,
    notice: &'a str,
    pager: Pager,
}

/// What the list shows: a filter, a page of it, and a refusal to show above it.
struct Listing<'a> {
    q: &'a str,
    paging: &'a PageParams,
    notice: &'a str,
    status: StatusCode,
}

async fn render_services(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    group: &RuntimeGroup,
    l: Listing<'_>,
) -> PageResult {
    let base = group_path(group);
    let mut pager = Pager::new(l.paging, &format!("{base}/services"), &[("q", l.q)]);
    let (g, q, offset, size) = (group.id, l.q.to_string(), pager.offset(), pager.size);
    let (found, routes) = state
        .store
        .run(move |s| async move {
            let found = s
                .search_entities::<GatewayService>(g, &q, offset, size)
                .await?;
            let routes = s.count_references(g, "routes").await?;
            Ok::<_, crate::store::StoreError>((found, routes))
        })
        .await?;
    pager.total = found.matching;
    let rows = found
        .items
        .into_iter()
        .map(|s| ServiceRow {
            routes: routes.get(&s.id).copied().unwrap_or(0) as usize,
            tags: s.tags.clone().unwrap_or_default().join(", "),
            svc: s,
        })
        .collect();
    let page = ServicesPage {
        base,
        tab: "services",
        group,
        q: l.q,
        rows,
        total: found.total,
        notice: l.notice,
        pager,
    };
    Page {
        title: "Gateway Services",
        nav: "runtime",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, l.status)
}

async fn list_services(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    filter: web::Query<Filter>,
    paging: web::Query<PageParams>,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let listing = Listing {
        q: &filter.q,
        paging: &paging,
        notice: "",
        status: StatusCode::OK,
    };
    render_services(&req, &state, &user, &group, listing).await
}

#[derive(Template)]
#[template(path = "rg_service_form.html")]
struct ServiceFormPage<'a> {
    csrf: &'a str,
    group: &'a RuntimeGroup,
    base: String,
    heading: &'a str,
    action: String,
    svc: ServiceForm,
    errors: FieldErrors,
    echo_url: &'a str,
    /// The service's plugins page, when editing one.
    plugins_link: Option<(String, String)>,
}

/// The gateway service form of `group`: a new service, or editing the one with id `edit`.
#[allow(clippy::too_many_arguments)]
fn render_service_form(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    group: &RuntimeGroup,
    edit: Option<Uuid>,
    svc: ServiceForm,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let base = group_path(group);
    let (heading, action) = match edit {
        None => ("New gateway service", format!("{base}/services")),
        Some(id) => ("Edit gateway service", format!("{base}/services/{id}/edit")),
    };
    let plugins_link = edit.map(|id| {
        (
            format!("{base}/plugins?service={id}"),
            format!("{base}/plugins/new?service={id}"),
        )
    });
    let page = ServiceFormPage {
        csrf: &user.csrf,
        group,
        base,
        heading,
        action,
        svc,
        errors,
        echo_url: &state.echo_url,
        plugins_link,
    };
    Page {
        title: heading,
        nav: "runtime",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, status)
}

async fn new_service(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    render_service_form(
        &req,
        &state,
        &user,
        &group,
        None,
        ServiceForm::new(String::new()),
        FieldErrors::new(),
        StatusCode::OK,
    )
}

/// Saves a service from the form (creating, or updating `existing`); `Err` holds the form's
/// errors, placed beside its fields.
async fn save_service(
    state: &State,
    group: Uuid,
    form: &ServiceForm,
    existing: Option<Uuid>,
) -> Result<Result<GatewayService, FieldErrors>, WebError> {
    let (mut input, errors) = form.to_input();
    if existing.is_some() {
        // Fields the form leaves empty are cleared, not kept from before.
        for k in [
            "path",
            "tags",
            "ca_certificates",
            "client_certificate",
            "tls_verify",
        ] {
            input.entry(k).or_insert(Value::Null);
        }
        if form.mode == "url" && input.contains_key("url") {
            input.remove("path");
        }
    }
    let checked = service::build::<crate::domain::GatewayService>(None, Uuid::nil(), None, &input)
        .map_err(crate::web_error::WebError::from);
    let mut errors = errors;
    if let Err(WebError::Validation(e)) = &checked {
        errors.0.extend(e.0.clone());
    }
    if !errors.is_empty() {
        return Ok(Err(form.place_errors(errors)));
    }
    let saved = state
        .store
        .run(move |s| async move {
            match existing {
                None => {
                    service::create_entity::<crate::domain::GatewayService>(&s, group, None, &input)
                        .await
                        .map_err(crate::web_error::WebError::from)
                }
                Some(id) => service::update_entity::<crate::domain::GatewayService>(
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
        Ok(svc) => Ok(Ok(svc)),
        Err(WebError::Unique { .. }) => Ok(Err(FieldErrors::single(
            "name",
            "A gateway service with this name already exists in this runtime group",
        ))),
        Err(WebError::Validation(e)) => Ok(Err(form.place_errors(e))),
        Err(WebError::MissingReference { field, id, .. }) => Ok(Err(FieldErrors::single(
            field,
            format!("No such certificate: {id}"),
        ))),
        Err(e) => Err(e),
    }
}

async fn create_service(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let mut svc = ServiceForm::from_form(&form);
    if svc.use_echo_requested(&form, &state.echo_url) {
        let (ok, no_errors) = (StatusCode::OK, FieldErrors::new());
        return render_service_form(&req, &state, &user, &group, None, svc, no_errors, ok);
    }
    match save_service(&state, group.id, &svc, None).await? {
        Ok(_) => Ok(redirect_after_post(
            &req,
            &format!("{}/services", group_path(&group)),
        )),
        Err(errors) => render_service_form(
            &req,
            &state,
            &user,
            &group,
            None,
            svc,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

async fn edit_service(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
) -> PageResult {
    let (rg, id) = path.into_inner();
    let group = group_of(&state, &rg).await?;
    let g = group.id;
    let svc = state
        .store
        .run(move |s| async move {
            s.get_entity::<crate::domain::GatewayService>(g, &id, None)
                .await
        })
        .await?;
    render_service_form(
        &req,
        &state,
        &user,
        &group,
        Some(svc.id),
        ServiceForm::from_service(&svc),
        FieldErrors::new(),
        StatusCode::OK,
    )
}

async fn update_service(
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
    // 404 before anything else when the service is not in this group.
    state
        .store
        .run(move |s| async move {
            s.get_entity::<crate::domain::GatewayService>(g, &id.to_string(), None)
                .await
        })
        .await?;
    let mut svc = ServiceForm::from_form(&form);
    if svc.use_echo_requested(&form, &state.echo_url) {
        let (ok, no_errors) = (StatusCode::OK, FieldErrors::new());
        return render_service_form(&req, &state, &user, &group, Some(id), svc, no_errors, ok);
    }
    match save_service(&state, group.id, &svc, Some(id)).await? {
        Ok(_) => Ok(redirect_after_post(
            &req,
            &format!("{}/services", group_path(&group)),
        )),
        Err(errors) => render_service_form(
            &req,
            &state,
            &user,
            &group,
            Some(id),
            svc,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

async fn delete_service(
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
    match state
        .store
        .run(move |s| async move {
            service::delete_entity::<crate::domain::GatewayService>(&s, g, &id.to_string(), None)
                .await
                .map_err(crate::web_error::WebError::from)
        })
        .await
    {
        Ok(()) => {
            tracing::info!(service = %id, user.email = ?user.email, "gateway service deleted");
            Ok(redirect_after_post(
                &req,
                &format!("{}/services", group_path(&group)),
            ))
        }
        Err(WebError::StillReferenced(_)) => {
            let listing = Listing {
                q: "",
                paging: &PageParams::default(),
                notice: "This gateway service still has routes: delete them first.",
                status: StatusCode::CONFLICT,
            };
            render_services(&req, &state, &user, &group, listing).await
        }
        Err(e) => Err(e.into()),
    }
}
