//! The signed-in user's account: change the password (which ends every other session) and
//! sign out everywhere.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::session::{end_session, sign_in, CsrfForm};
use super::{see_other, CurrentUser, Page, PageResult, State};
use crate::domain::FieldErrors;
use crate::security;
use crate::service::identity;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(show_account))
        .route("/account/password", web::post().to(change_password))
        .route(
            "/account/sessions/revoke",
            web::post().to(sign_out_everywhere),
        );
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf: &'a str,
    email: &'a str,
    errors: FieldErrors,
    notice: &'a str,
}

fn render(
    req: &HttpRequest,
    user: &CurrentUser,
    errors: FieldErrors,
    notice: &str,
    status: StatusCode,
) -> PageResult {
    Page {
        title: "Account",
        nav: "account",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(
        req,
        &AccountPage {
            csrf: &user.csrf,
            email: &user.email,
            errors,
            notice,
        },
        status,
    )
}

#[derive(serde::Deserialize)]
struct Notice {
    #[serde(default)]
    changed: Option<String>,
}

async fn show_account(req: HttpRequest, user: CurrentUser, q: web::Query<Notice>) -> PageResult {
    let notice = if q.changed.is_some() {
        "Password changed. Every other session was signed out."
    } else {
        ""
    };
    render(&req, &user, FieldErrors::new(), notice, StatusCode::OK)
}

async fn change_password(
    req: HttpRequest,
    state: web::Data<State>,
    session: Session,
    user: CurrentUser,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let current = form.get("current_password").to_string();
    let new = form.get("password").to_string();
    let mut errors = FieldErrors::new();
    if let Err(m) = security::check_password_strength(&new) {
        errors.add("password", m);
    } else if new != form.get("password_confirm") {
        errors.add("password_confirm", "Passwords do not match");
    }
    let uid = user.id;
    let stored = state
        .store
        .run(move |s| async move { s.get_user(uid).await })
        .await
        .map_err(WebError::from)?
        .ok_or(WebError::Unauthorized)?;
    let new_pw = new.clone();
    let (matches, hash) = web::block(move || {
        let ok = security::verify_password(&current, &stored.password_hash);
        let hash = security::hash_password(&new_pw).map_err(|e| e.to_string());
        (ok, hash)
    })
    .await
    .map_err(|e| WebError::internal("verifying a password failed", e))?;
    if !matches {
        errors.add("current_password", "Incorrect password");
    }
    if !errors.is_empty() {
        return render(&req, &user, errors, "", StatusCode::UNPROCESSABLE_ENTITY);
    }
    let hash = hash.map_err(|e| WebError::internal("hashing a password failed", e))?;
    state
        .store
        .run(move |s| async move { identity::change_password(&s, uid, &hash).await })
        .await
        .map_err(WebError::from)?;
    tracing::info!(user.email = ?user.email, "password changed; every session ended");
    // This browser carries on with a fresh session; every other one must sign in again.
    sign_in(&session, &state, user.id).await?;
    Ok(see_other("/account?changed=1"))
}

async fn sign_out_everywhere(
    state: web::Data<State>,
    session: Session,
    user: CurrentUser,
    _form: CsrfForm,
) -> Result<HttpResponse, super::error::ConsoleError> {
    let uid = user.id;
    let ended = state
        .store
        .run(move |s| async move { identity::end_all_sessions(&s, uid).await })
        .await
        .map_err(WebError::from)?;
    tracing::info!(user.email = ?user.email, sessions = ended, "signed out everywhere");
    end_session(&session, &state).await;
    Ok(see_other("/login"))
}
