//! A version's implementation: the two-step Create Implementation dialog (gateway service, then
//! route, saved together), editing it and deleting it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use uuid::Uuid;

use super::forms::{RouteForm, ServiceForm};
use super::session::{CsrfForm, FormData};
use super::versions::{load_version, VersionView};
use super::{
    is_htmx, parse_uuid, redirect_after_post, save_error, ConsoleError, CurrentUser, Page,
    PageResult, State,
};
use crate::domain::catalog::konnect_service_tag;
use crate::domain::{FieldErrors, GatewayService, Route};
use crate::service;
use crate::store::StoreError;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let base = "/services/{sid}/versions/{vid}";
    cfg.route(
        &format!("{base}/implementation/new"),
        web::get().to(show_dialog),
    )
    .route(
        &format!("{base}/implementation/step1"),
        web::post().to(submit_step1),
    )
    .route(
        &format!("{base}/implementation/back"),
        web::post().to(back_to_step1),
    )
    .route(
        &format!("{base}/implementation"),
        web::post().to(create_implementation),
    )
    .route(
        &format!("{base}/implementation/edit"),
        web::get().to(edit_implementation),
    )
    .route(
        &format!("{base}/implementation/edit"),
        web::post().to(update_implementation),
    )
    .route(
        &format!("{base}/implementation/delete"),
        web::post().to(delete_implementation),
    );
}

pub(super) type Ids = web::Path<(String, String)>;

#[derive(Template)]
#[template(path = "_impl_dialog.html")]
struct ImplDialog<'a> {
    csrf: &'a str,
    base: String,
    version_name: &'a str,
    step: u8,
    svc: ServiceForm,
    route: RouteForm,
    errors: FieldErrors,
    echo_url: &'a str,
    as_page: bool,
}

impl ImplDialog<'_> {
    /// Where Cancel leads on the page version of the dialog (without JavaScript).
    fn version_page(&self) -> &str {
        self.base
            .strip_suffix("/implementation")
            .unwrap_or(&self.base)
    }
}

fn suggested_name(v: &VersionView) -> String {
    format!("{}-{}", v.service.name, v.version.name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | ':') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

pub(super) async fn version_for(
    state: &State,
    path: &Ids,
) -> Result<(Uuid, Uuid, VersionView), ConsoleError> {
    let (sid, vid) = (parse_uuid(&path.0)?, parse_uuid(&path.1)?);
    Ok((sid, vid, load_version(state, sid, vid).await?))
}

#[allow(clippy::too_many_arguments)]
fn render_dialog(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    v: &VersionView,
    step: u8,
    svc: ServiceForm,
    route: RouteForm,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let dialog = ImplDialog {
        csrf: &user.csrf,
        base: format!(
            "/services/{}/versions/{}/implementation",
            v.service.id, v.version.id
        ),
        version_name: &v.version.name,
        step,
        svc,
        route,
        errors,
        echo_url: &state.echo_url,
        as_page: !is_htmx(req),
    };
    Page {
        title: "Create Implementation",
        nav: "services",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &dialog, status)
}

async fn show_dialog(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: Ids,
) -> PageResult {
    let (sid, vid, v) = version_for(&state, &path).await?;
    if v.implementation.is_some() {
        return Ok(redirect_after_post(
            &req,
            &format!("/services/{sid}/versions/{vid}"),
        ));
    }
    let svc = ServiceForm::new(suggested_name(&v));
    render_dialog(
        &req,
        &state,
        &user,
        &v,
        1,
        svc,
        RouteForm::default(),
        FieldErrors::new(),
        StatusCode::OK,
    )
}

/// Validates step 1 without saving: Kong's rules plus the name being free in the group.
async fn check_step1(
    state: &State,
    v: &VersionView,
    svc: &ServiceForm,
) -> Result<GatewayService, FieldErrors> {
    let (input, mut errors) = svc.to_input();
    let built = service::build::<crate::domain::GatewayService>(None, Uuid::new_v4(), None, &input)
        .map_err(crate::web_error::WebError::from);
    if let Err(WebError::Validation(e)) = &built {
        for (k, m) in &e.0 {
            errors.add(k.clone(), m.clone());
        }
    }
    if errors.is_empty() {
        let (group, name, gname) = (v.group.id, svc.name.clone(), v.group.name.clone());
        let taken = state
            .store
            .run(move |s| async move {
                Ok::<_, StoreError>(
                    s.get_entity::<crate::domain::GatewayService>(group, &name, None)
                        .await
                        .is_ok(),
                )
            })
            .await
            .unwrap_or(false);
        if taken {
            errors.add(
                "name",
                format!(
                    "A gateway service with this name already exists in runtime group '{gname}'"
                ),
            );
        }
    }
    match (built, errors.is_empty()) {
        (Ok(s), true) => Ok(s),
        _ => Err(svc.place_errors(errors)),
    }
}

async fn submit_step1(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: Ids,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let (_, _, v) = version_for(&state, &path).await?;
    let mut svc = ServiceForm::from_form(&form);
    let route = route_form_or_default(&form);
    if svc.use_echo_requested(&form, &state.echo_url) {
        let ok = StatusCode::OK;
        return render_dialog(
            &req,
            &state,
            &user,
            &v,
            1,
            svc,
            route,
            FieldErrors::new(),
            ok,
        );
    }
    match check_step1(&state, &v, &svc).await {
        Ok(_) => render_dialog(
            &req,
            &state,
            &user,
            &v,
            2,
            svc,
            route,
            FieldErrors::new(),
            StatusCode::OK,
        ),
        Err(errors) => render_dialog(
            &req,
            &state,
            &user,
            &v,
            1,
            svc,
            route,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

fn route_form_or_default(form: &FormData) -> RouteForm {
    if form.has("route_name") {
        RouteForm::from_form(form)
    } else {
        RouteForm::default()
    }
}

async fn back_to_step1(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: Ids,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let (_, _, v) = version_for(&state, &path).await?;
    render_dialog(
        &req,
        &state,
        &user,
        &v,
        1,
        ServiceForm::from_form(&form),
        RouteForm::from_form(&form),
        FieldErrors::new(),
        StatusCode::OK,
    )
}

pub(super) fn check_route(route: &RouteForm, service: Uuid) -> Result<Route, FieldErrors> {
    let (input, mut errors) = route.to_input();
    let built = service::build::<crate::domain::Route>(None, Uuid::new_v4(), Some(service), &input)
        .map_err(crate::web_error::WebError::from);
    if let Err(WebError::Validation(e)) = &built {
        for (k, m) in &e.0 {
            errors.add(k.clone(), m.clone());
        }
    }
    match (built, errors.is_empty()) {
        (Ok(r), true) => Ok(r),
        _ => Err(RouteForm::place_errors(errors)),
    }
}

pub(super) fn route_name_taken(name: &str) -> FieldErrors {
    FieldErrors::single("name", format!("A route named '{name}' already exists (names are unique across Gatehouse and case-sensitive)"))
}

async fn create_implementation(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: Ids,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let (sid, vid, v) = version_for(&state, &path).await?;
    let svc_form = ServiceForm::from_form(&form);
    let mut route_form = RouteForm::from_form(&form);
    if route_form.add_path_requested(&form) {
        let ok = StatusCode::OK;
        return render_dialog(
            &req,
            &state,
            &user,
            &v,
            2,
            svc_form,
            route_form,
            FieldErrors::new(),
            ok,
        );
    }
    if v.implementation.is_some() {
        return Ok(redirect_after_post(
            &req,
            &format!("/services/{sid}/versions/{vid}"),
        ));
    }
    let mut svc = match check_step1(&state, &v, &svc_form).await {
        Ok(s) => s,
        Err(errors) => {
            return render_dialog(
                &req,
                &state,
                &user,
                &v,
                1,
                svc_form,
                route_form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    };
    svc.tags
        .get_or_insert_with(Vec::new)
        .push(konnect_service_tag(&v.service.name));
    let route = match check_route(&route_form, svc.id) {
        Ok(r) => r,
        Err(errors) => {
            return render_dialog(
                &req,
                &state,
                &user,
                &v,
                2,
                svc_form,
                route_form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    };
    let version = v.version.clone();
    let (svc2, route2) = (svc.clone(), route.clone());
    match state
        .store
        .run(move |s| async move {
            crate::service::catalog::create_implementation(&s, &version, &svc2, &route2).await
        })
        .await
    {
        Ok(()) => {
            tracing::info!(version.id = %vid, service.id = %svc.id, route.id = %route.id, "implementation created");
            Ok(redirect_after_post(
                &req,
                &format!("/services/{sid}/versions/{vid}"),
            ))
        }
        Err(StoreError::Unique { table, .. }) if table == "routes" => render_dialog(
            &req,
            &state,
            &user,
            &v,
            2,
            svc_form,
            route_form.clone(),
            route_name_taken(&route_form.name),
            StatusCode::CONFLICT,
        ),
        Err(StoreError::Unique { table, .. }) if table == "gateway_services" => {
            let errors = FieldErrors::single(
                "name",
                "A gateway service with this name already exists in this runtime group",
            );
            render_dialog(
                &req,
                &state,
                &user,
                &v,
                1,
                svc_form,
                route_form,
                errors,
                StatusCode::CONFLICT,
            )
        }
        Err(e) => Err(WebError::from(e).into()),
    }
}

#[derive(Template)]
#[template(path = "impl_edit.html")]
struct EditPage<'a> {
    csrf: &'a str,
    back: String,
    version_name: &'a str,
    svc: ServiceForm,
    errors: FieldErrors,
    echo_url: &'a str,
}

async fn edit_implementation(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: Ids,
) -> PageResult {
    let (sid, vid, v) = version_for(&state, &path).await?;
    let Some(svc) = &v.implementation else {
        return Err(WebError::NotFound.into());
    };
    let page = EditPage {
        csrf: &user.csrf,
        back: format!("/services/{sid}/versions/{vid}"),
        version_name: &v.version.name,
        svc: ServiceForm::from_service(svc),
        errors: FieldErrors::new(),
        echo_url: &state.echo_url,
    };
    Page {
        title: "Edit implementation",
        nav: "services",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(&req, &page)
}

async fn update_implementation(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: Ids,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let (sid, vid, v) = version_for(&state, &path).await?;
    let Some(existing) = v.implementation.clone() else {
        return Err(WebError::NotFound.into());
    };
    let mut form_svc = ServiceForm::from_form(&form);
    let use_echo = form_svc.use_echo_requested(&form, &state.echo_url);
    let (mut input, mut errors) = form_svc.to_input();
    // Fields the form leaves empty are cleared, not kept from before.
    for k in [
        "path",
        "tags",
        "ca_certificates",
        "client_certificate",
        "tls_verify",
    ] {
        input.entry(k).or_insert(serde_json::Value::Null);
    }
    if form_svc.mode == "url" && input.contains_key("url") {
        input.remove("path");
    }
    let group = v.group.id;
    let result = if use_echo {
        Err(FieldErrors::new())
    } else {
        match service::build::<crate::domain::GatewayService>(
            Some(&existing),
            existing.id,
            None,
            &input,
        )
        .map_err(crate::web_error::WebError::from)
        {
            Ok(svc) if errors.is_empty() => state
                .store
                .run(move |s| async move { service::save_built(&s, group, &svc, false).await })
                .await
                .map_err(|e| {
                    save_error(e, "name", || {
                        FieldErrors::single(
                            "name",
                            "A gateway service with this name already exists in this runtime group",
                        )
                    })
                }),
            Ok(_) => Err(errors.clone()),
            Err(WebError::Validation(e)) => {
                for (k, m) in e.0 {
                    errors.add(k, m);
                }
                Err(errors.clone())
            }
            Err(other) => return Err(other.into()),
        }
    };
    match result {
        Ok(()) => Ok(redirect_after_post(
            &req,
            &format!("/services/{sid}/versions/{vid}"),
        )),
        Err(errors) => {
            let page = EditPage {
                csrf: &user.csrf,
                back: format!("/services/{sid}/versions/{vid}"),
                version_name: &v.version.name,
                errors: form_svc.place_errors(errors),
                svc: form_svc,
                echo_url: &state.echo_url,
            };
            Page {
                title: "Edit implementation",
                nav: "services",
                user: Some(&user),
                csrf: &user.csrf,
            }
            .render_status(&req, &page, form_status(&page.errors))
        }
    }
}

/// A form shown again: 200 when only asked for (a no-JavaScript helper button), else 422.
fn form_status(errors: &FieldErrors) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

async fn delete_implementation(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: Ids,
    _form: CsrfForm,
) -> PageResult {
    let (sid, vid, v) = version_for(&state, &path).await?;
    let version = v.version.clone();
    state
        .store
        .run(move |s| async move { crate::service::catalog::delete_implementation(&s, &version).await })
        .await
        .map_err(WebError::from)?;
    tracing::info!(version.id = %vid, user.email = ?user.email, "implementation deleted");
    Ok(redirect_after_post(
        &req,
        &format!("/services/{sid}/versions/{vid}"),
    ))
}
