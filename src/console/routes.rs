//! A version's routes: "+ Add route", editing and deleting one.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use uuid::Uuid;

use super::forms::RouteForm;
use super::implementation::{check_route, route_name_taken, version_for, Ids};
use super::session::CsrfForm;
use super::versions::load_version;
use super::{parse_uuid, redirect_after_post, save_error, CurrentUser, Page, PageResult, State};
use crate::domain::{FieldErrors, Route};
use crate::service;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let base = "/services/{sid}/versions/{vid}";
    cfg.route(&format!("{base}/routes/new"), web::get().to(new_route))
        .route(&format!("{base}/routes"), web::post().to(create_route))
        .route(
            &format!("{base}/routes/{{rid}}/delete"),
            web::post().to(delete_route),
        )
        .route(
            &format!("{base}/routes/{{rid}}/edit"),
            web::get().to(edit_route),
        )
        .route(
            &format!("{base}/routes/{{rid}}/edit"),
            web::post().to(update_route),
        );
}

type RouteIds = web::Path<(String, String, String)>;

#[derive(Template)]
#[template(path = "route_new.html")]
struct RoutePage<'a> {
    csrf: &'a str,
    heading: &'a str,
    action: String,
    submit: &'a str,
    back: String,
    version_name: &'a str,
    route: RouteForm,
    errors: FieldErrors,
}

/// Which route form: adding one, or editing the route with this id.
#[derive(Clone, Copy)]
enum Mode {
    Add,
    Edit(Uuid),
}

/// The route form page for a version, in either mode, with `errors` beside the fields.
#[allow(clippy::too_many_arguments)]
fn render_form(
    req: &HttpRequest,
    user: &CurrentUser,
    (sid, vid): (Uuid, Uuid),
    version_name: &str,
    mode: Mode,
    route: RouteForm,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let back = format!("/services/{sid}/versions/{vid}");
    let (heading, action, submit) = match mode {
        Mode::Add => ("Add route", format!("{back}/routes"), "Create"),
        Mode::Edit(rid) => ("Edit route", format!("{back}/routes/{rid}/edit"), "Save"),
    };
    let page = RoutePage {
        csrf: &user.csrf,
        heading,
        action,
        submit,
        back,
        version_name,
        route,
        errors,
    };
    Page {
        title: heading,
        nav: "services",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, status)
}

async fn new_route(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: Ids,
) -> PageResult {
    let (sid, vid, v) = version_for(&state, &path).await?;
    if v.implementation.is_none() {
        return Err(WebError::NotFound.into());
    }
    render_form(
        &req,
        &user,
        (sid, vid),
        &v.version.name,
        Mode::Add,
        RouteForm::default(),
        FieldErrors::new(),
        StatusCode::OK,
    )
}

async fn edit_route(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: RouteIds,
) -> PageResult {
    let (sid, vid, rid) = (
        parse_uuid(&path.0)?,
        parse_uuid(&path.1)?,
        parse_uuid(&path.2)?,
    );
    let v = load_version(&state, sid, vid).await?;
    let route = v
        .routes
        .iter()
        .find(|r| r.id == rid)
        .ok_or(WebError::NotFound)?;
    let form = RouteForm::from_route(route);
    render_form(
        &req,
        &user,
        (sid, vid),
        &v.version.name,
        Mode::Edit(rid),
        form,
        FieldErrors::new(),
        StatusCode::OK,
    )
}

async fn create_route(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: Ids,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let (sid, vid, v) = version_for(&state, &path).await?;
    let Some(svc) = &v.implementation else {
        return Err(WebError::NotFound.into());
    };
    let mut route = RouteForm::from_form(&form);
    if route.add_path_requested(&form) {
        let (name, ok) = (&v.version.name, StatusCode::OK);
        let no_errors = FieldErrors::new();
        return render_form(
            &req,
            &user,
            (sid, vid),
            name,
            Mode::Add,
            route,
            no_errors,
            ok,
        );
    }
    save(
        &req,
        &state,
        &user,
        (sid, vid),
        &v.version.name,
        v.group.id,
        Mode::Add,
        svc.id,
        0,
        route,
    )
    .await
}

async fn update_route(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: RouteIds,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let (sid, vid, rid) = (
        parse_uuid(&path.0)?,
        parse_uuid(&path.1)?,
        parse_uuid(&path.2)?,
    );
    let v = load_version(&state, sid, vid).await?;
    let existing = v
        .routes
        .iter()
        .find(|r| r.id == rid)
        .ok_or(WebError::NotFound)?;
    let service = existing.service.as_ref().map(|s| s.id).unwrap_or_default();
    let mut route = RouteForm::from_form(&form);
    if route.add_path_requested(&form) {
        let (name, mode, ok) = (&v.version.name, Mode::Edit(rid), StatusCode::OK);
        let no_errors = FieldErrors::new();
        return render_form(&req, &user, (sid, vid), name, mode, route, no_errors, ok);
    }
    let form = route;
    save(
        &req,
        &state,
        &user,
        (sid, vid),
        &v.version.name,
        v.group.id,
        Mode::Edit(rid),
        service,
        existing.created_at,
        form,
    )
    .await
}

/// Validates and stores the form (insert or update), then redirects to the version page, or
/// re-renders the form with the input kept and the errors beside the fields.
#[allow(clippy::too_many_arguments)]
async fn save(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    ids: (Uuid, Uuid),
    version_name: &str,
    group: Uuid,
    mode: Mode,
    service: Uuid,
    created_at: i64,
    form: RouteForm,
) -> PageResult {
    let result = match check_route(&form, service) {
        Ok(mut route) => {
            let name = form.name.clone();
            state
                .store
                .run(move |s| async move {
                    match mode {
                        Mode::Add => service::save_built(&s, group, &route, true).await,
                        Mode::Edit(rid) => {
                            route.id = rid;
                            route.created_at = created_at;
                            service::save_built(&s, group, &route, false).await
                        }
                    }
                })
                .await
                .map_err(|e| save_error(e, "name", || route_name_taken(&name)))
        }
        Err(errors) => Err(errors),
    };
    match result {
        Ok(()) => Ok(redirect_after_post(
            req,
            &format!("/services/{}/versions/{}", ids.0, ids.1),
        )),
        Err(errors) => render_form(
            req,
            user,
            ids,
            version_name,
            mode,
            form,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

async fn delete_route(
    req: HttpRequest,
    state: web::Data<State>,
    _user: CurrentUser,
    path: RouteIds,
    _form: CsrfForm,
) -> PageResult {
    let (sid, vid, rid) = (
        parse_uuid(&path.0)?,
        parse_uuid(&path.1)?,
        parse_uuid(&path.2)?,
    );
    let v = load_version(&state, sid, vid).await?;
    if !v.routes.iter().any(|r| r.id == rid) {
        return Err(WebError::NotFound.into());
    }
    let group = v.group.id;
    state
        .store
        .run(move |s| async move {
            service::delete_entity::<Route>(&s, group, &rid.to_string(), None).await
        })
        .await
        .map_err(WebError::from)?;
    Ok(redirect_after_post(
        &req,
        &format!("/services/{sid}/versions/{vid}"),
    ))
}
