//! Konnect's "Edit version status": a version is published, deprecated or unpublished. A page
//! of its own (reached from the version's actions menu) so it works without script.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::session::CsrfForm;
use super::versions::{load_version, VersionView};
use super::{parse_uuid, redirect_after_post, CurrentUser, Page, PageResult, State};
use crate::domain::catalog::VersionStatus;
use crate::domain::FieldErrors;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let path = "/services/{sid}/versions/{vid}/status";
    cfg.route(path, web::get().to(edit_status))
        .route(path, web::post().to(update_status));
}

#[derive(Template)]
#[template(path = "version_status.html")]
struct StatusPage<'a> {
    csrf: &'a str,
    v: VersionView,
    chosen: String,
    errors: FieldErrors,
}

impl StatusPage<'_> {
    fn statuses(&self) -> [(&'static str, &'static str, &'static str); 3] {
        VersionStatus::ALL.map(|s| {
            let effect = match s {
                VersionStatus::Published => {
                    "Shown on the Dev Portal; developers can request access. Proxied."
                }
                VersionStatus::Deprecated => "Still shown, with a deprecation notice. Proxied.",
                VersionStatus::Unpublished => {
                    "Hidden from the Dev Portal; applications that have access keep it. Proxied."
                }
            };
            (s.as_str(), s.label(), effect)
        })
    }
}

fn render(
    req: &HttpRequest,
    user: &CurrentUser,
    page: &StatusPage<'_>,
    status: StatusCode,
) -> PageResult {
    Page {
        title: "Edit version status",
        nav: "services",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, page, status)
}

async fn edit_status(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
) -> PageResult {
    let v = load_version(&state, parse_uuid(&path.0)?, parse_uuid(&path.1)?).await?;
    let page = StatusPage {
        csrf: &user.csrf,
        chosen: v.version.status.clone(),
        v,
        errors: FieldErrors::new(),
    };
    render(&req, &user, &page, StatusCode::OK)
}

async fn update_status(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let (sid, vid) = (parse_uuid(&path.0)?, parse_uuid(&path.1)?);
    let v = load_version(&state, sid, vid).await?;
    let chosen = form.get("status").to_string();
    match VersionStatus::parse(&chosen) {
        Ok(status) => {
            let version = v.version.clone();
            state
                .store
                .run(move |s| async move {
                    crate::service::catalog::set_version_status(&s, &version, status).await
                })
                .await
                .map_err(WebError::from)?;
            tracing::info!(version.id = %vid, status = status.as_str(), user.email = ?user.email, "version status changed");
            Ok(redirect_after_post(
                &req,
                &format!("/services/{sid}/versions/{vid}"),
            ))
        }
        Err(errors) => {
            let page = StatusPage {
                csrf: &user.csrf,
                v,
                chosen,
                errors,
            };
            render(&req, &user, &page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}
