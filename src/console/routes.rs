//! A version's routes: "+ Add route", editing and deleting one.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::forms::RouteForm;
use super::implementation::{check_route, route_name_taken, version_for, Ids};
use super::session::CsrfForm;
use super::versions::load_version;
use super::{parse_uuid, redirect_after_post, save_error, CurrentUser, Page, PageResult, State};
use crate::domain::FieldErrors;
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
    let page = RoutePage {
        csrf: &user.csrf,
        heading: "Add route",
        action: format!("/services/{sid}/versions/{vid}/routes"),
        submit: "Create",
        back: format!("/services/{sid}/versions/{vid}"),
        version_name: &v.version.name,
        route: RouteForm::default(),
        errors: FieldErrors::new(),
    };
    Page {
        title: "Add route",
        nav: "services",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(&req, &page)
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
    let route_form = RouteForm::from_form(&form);
    let group = v.group.id;
    let result = match check_route(&route_form, svc.id) {
        Ok(route) => state
            .store
            .run(move |s| s.insert_route(group, &route))
            .await
            .map_err(|e| save_error(e, "name", || route_name_taken(&route_form.name))),
        Err(errors) => Err(errors),
    };
    match result {
        Ok(()) => Ok(redirect_after_post(
            &req,
            &format!("/services/{sid}/versions/{vid}"),
        )),
        Err(errors) => {
            let page = RoutePage {
                csrf: &user.csrf,
                heading: "Add route",
                action: format!("/services/{sid}/versions/{vid}/routes"),
                submit: "Create",
                back: format!("/services/{sid}/versions/{vid}"),
                version_name: &v.version.name,
                route: route_form,
                errors,
            };
            Page {
                title: "Add route",
                nav: "services",
                user: Some(&user),
                csrf: &user.csrf,
            }
            .render_status(&req, &page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

async fn delete_route(
    req: HttpRequest,
    state: web::Data<State>,
    _user: CurrentUser,
    path: web::Path<(String, String, String)>,
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
        .run(move |s| s.delete_route(group, rid))
        .await
        .map_err(WebError::from)?;
    Ok(redirect_after_post(
        &req,
        &format!("/services/{sid}/versions/{vid}"),
    ))
}

type RouteIds = web::Path<(String, String, String)>;

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
    let page = RoutePage {
        csrf: &user.csrf,
        heading: "Edit route",
        action: format!("/services/{sid}/versions/{vid}/routes/{rid}/edit"),
        submit: "Save",
        back: format!("/services/{sid}/versions/{vid}"),
        version_name: &v.version.name,
        route: RouteForm::from_route(route),
        errors: FieldErrors::new(),
    };
    Page {
        title: "Edit route",
        nav: "services",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(&req, &page)
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
        .cloned()
        .ok_or(WebError::NotFound)?;
    let route_form = RouteForm::from_form(&form);
    let group = v.group.id;
    let result = match check_route(
        &route_form,
        existing.service.as_ref().map(|s| s.id).unwrap_or_default(),
    ) {
        Ok(mut route) => {
            route.id = existing.id;
            route.created_at = existing.created_at;
            state
                .store
                .run(move |s| s.update_route(group, &route))
                .await
                .map_err(|e| save_error(e, "name", || route_name_taken(&route_form.name)))
        }
        Err(errors) => Err(errors),
    };
    match result {
        Ok(()) => Ok(redirect_after_post(
            &req,
            &format!("/services/{sid}/versions/{vid}"),
        )),
        Err(errors) => {
            let page = RoutePage {
                csrf: &user.csrf,
                heading: "Edit route",
                action: format!("/services/{sid}/versions/{vid}/routes/{rid}/edit"),
                submit: "Save",
                back: format!("/services/{sid}/versions/{vid}"),
                version_name: &v.version.name,
                route: RouteForm::from_form(&form),
                errors,
            };
            Page {
                title: "Edit route",
                nav: "services",
                user: Some(&user),
                csrf: &user.csrf,
            }
            .render_status(&req, &page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}
