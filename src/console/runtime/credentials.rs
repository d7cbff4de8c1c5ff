//! A group's node credentials ("Data plane certificates"): list, issue, renew, revoke, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::instances::{issue, issued, Issued};
use super::{group_of, group_path};
use crate::console::session::CsrfForm;
use crate::console::{
    fmt_time, parse_uuid, redirect_after_post, CurrentUser, Page, PageResult, State,
};
use crate::domain::runtime::{parse_credential_days, RuntimeGroup, CREDENTIAL_DAYS_DEFAULT};
use crate::domain::{now_secs, FieldErrors};
use crate::service::runtime as groups;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let base = "/runtime-groups/{rg}";
    cfg.route(
        &format!("{base}/dp-certificates"),
        web::get().to(list_credentials),
    )
    .route(
        &format!("{base}/dp-certificates"),
        web::post().to(issue_credential),
    )
    .route(
        &format!("{base}/dp-certificates/{{id}}/renew"),
        web::post().to(renew_credential),
    )
    .route(
        &format!("{base}/dp-certificates/{{id}}/revoke"),
        web::post().to(revoke_credential),
    )
    .route(
        &format!("{base}/dp-certificates/{{id}}/delete"),
        web::post().to(delete_credential),
    );
}

pub struct CredentialRow {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created: String,
    pub updated: String,
    pub expires: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "dp_certificates.html")]
struct CredentialsPage<'a> {
    csrf: &'a str,
    group: &'a RuntimeGroup,
    base: String,
    tab: &'a str,
    rows: Vec<CredentialRow>,
    name: String,
    days: String,
    errors: FieldErrors,
    issued: Option<Issued>,
    max: usize,
}

async fn render_credentials(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    group: &RuntimeGroup,
    fields: (String, String, FieldErrors),
    issued: Option<Issued>,
    status: StatusCode,
) -> PageResult {
    let g = group.id;
    let creds = state
        .store
        .run(move |s| async move { s.list_dp_credentials(g).await })
        .await?;
    let now = now_secs();
    let rows = creds
        .iter()
        .map(|c| CredentialRow {
            id: c.id.to_string(),
            name: c.name.clone(),
            status: c.status(now),
            created: fmt_time(c.created_at),
            updated: fmt_time(c.updated_at),
            expires: fmt_time(c.expires_at),
            revoked: c.revoked_at.is_some(),
        })
        .collect();
    let (name, days, errors) = fields;
    let page = CredentialsPage {
        csrf: &user.csrf,
        base: group_path(group),
        tab: "certificates",
        group,
        rows,
        name,
        days,
        errors,
        issued,
        max: groups::MAX_CREDENTIALS_PER_GROUP,
    };
    Page {
        title: "Data plane certificates",
        nav: "runtime",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, status)
}

async fn list_credentials(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let fields = (
        String::new(),
        CREDENTIAL_DAYS_DEFAULT.to_string(),
        FieldErrors::new(),
    );
    render_credentials(&req, &state, &user, &group, fields, None, StatusCode::OK).await
}

async fn issue_credential(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let group = group_of(&state, &path).await?;
    let (name, days) = (form.get("name").to_string(), form.get("days").to_string());
    let (fields, shown, status) = match issue(&state, &user, &group, &name, &days).await? {
        Ok((_, token)) => (
            (
                String::new(),
                CREDENTIAL_DAYS_DEFAULT.to_string(),
                FieldErrors::new(),
            ),
            Some(issued(&state, token)),
            StatusCode::OK,
        ),
        Err(errors) => ((name, days, errors), None, StatusCode::UNPROCESSABLE_ENTITY),
    };
    render_credentials(&req, &state, &user, &group, fields, shown, status).await
}

async fn change_credential(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    form: CsrfForm,
    action: &'static str,
) -> PageResult {
    let (rg, id) = path.into_inner();
    let group = group_of(&state, &rg).await?;
    let id = parse_uuid(&id)?;
    let g = group.id;
    let days = form.0.get("days").to_string();
    let done = match action {
        "renew" => match parse_credential_days(&days) {
            Ok(d) => {
                state
                    .store
                    .run(move |s| async move {
                        groups::renew_credential(&s, g, id, d)
                            .await
                            .map_err(crate::web_error::WebError::from)
                            .map(|_| ())
                    })
                    .await
            }
            Err(errors) => {
                let fields = (String::new(), CREDENTIAL_DAYS_DEFAULT.to_string(), errors);
                return render_credentials(
                    &req,
                    &state,
                    &user,
                    &group,
                    fields,
                    None,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        },
        "revoke" => {
            state
                .store
                .run(move |s| async move {
                    groups::revoke_credential(&s, g, id)
                        .await
                        .map_err(crate::web_error::WebError::from)
                        .map(|_| ())
                })
                .await
        }
        _ => {
            state
                .store
                .run(move |s| async move {
                    groups::delete_credential(&s, g, id)
                        .await
                        .map_err(WebError::from)
                })
                .await
        }
    };
    done?;
    tracing::info!(credential = %id, action, user.email = ?user.email, "node credential changed");
    Ok(redirect_after_post(
        &req,
        &format!("{}/dp-certificates", group_path(&group)),
    ))
}

async fn renew_credential(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    form: CsrfForm,
) -> PageResult {
    change_credential(req, state, user, path, form, "renew").await
}

async fn revoke_credential(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    form: CsrfForm,
) -> PageResult {
    change_credential(req, state, user, path, form, "revoke").await
}

async fn delete_credential(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    form: CsrfForm,
) -> PageResult {
    change_credential(req, state, user, path, form, "delete").await
}
