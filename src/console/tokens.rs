//! Personal Admin API tokens: created here, shown once, stored only as a hash.

use actix_web::{web, HttpRequest};
use askama::Template;

use super::session::CsrfForm;
use super::{fmt_time, parse_uuid, redirect_after_post, CurrentUser, Page, PageResult, State};
use crate::security;
use crate::store::AdminToken;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/tokens", web::get().to(list_tokens))
        .route("/tokens", web::post().to(create_token))
        .route("/tokens/{id}/delete", web::post().to(delete_token));
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage<'a> {
    csrf: &'a str,
    tokens: Vec<AdminToken>,
    new_token: Option<String>,
    name: &'a str,
    name_error: &'a str,
}

impl TokensPage<'_> {
    fn when(t: &i64) -> String {
        fmt_time(*t)
    }
}

async fn render(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    new_token: Option<String>,
    name: &str,
    name_error: &str,
) -> PageResult {
    let tokens = state
        .store
        .run(move |s| async move { s.list_admin_tokens().await })
        .await
        .map_err(WebError::from)?;
    let page = TokensPage {
        csrf: &user.csrf,
        tokens,
        new_token,
        name,
        name_error,
    };
    Page {
        title: "Admin API tokens",
        nav: "tokens",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render(req, &page)
}

async fn list_tokens(req: HttpRequest, state: web::Data<State>, user: CurrentUser) -> PageResult {
    render(&req, &state, &user, None, "", "").await
}

async fn create_token(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let name = form.get("name").trim().to_string();
    if name.is_empty() || name.len() > 100 {
        return render(
            &req,
            &state,
            &user,
            None,
            &name,
            "Give the token a name of 1 to 100 characters",
        )
        .await;
    }
    let token = security::new_token();
    let hash = security::hash_token(&token);
    let (n2, uid) = (name.clone(), user.id);
    state
        .store
        .run(move |s| async move {
            crate::service::identity::create_token(&s, &n2, &hash, Some(uid)).await
        })
        .await
        .map_err(WebError::from)?;
    tracing::info!(token.name = ?name, user.email = ?user.email, "Admin API token created");
    render(&req, &state, &user, Some(token), "", "").await
}

async fn delete_token(
    req: HttpRequest,
    state: web::Data<State>,
    _user: CurrentUser,
    path: web::Path<String>,
    _form: CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path)?;
    state
        .store
        .run(move |s| async move { crate::service::identity::delete_token(&s, id).await })
        .await
        .map_err(WebError::from)?;
    Ok(redirect_after_post(&req, "/tokens"))
}
