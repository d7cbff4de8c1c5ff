//! First-run setup, login (throttled by account and by address: see `throttle.rs`) and logout.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::session::{csrf_token, end_session, sign_in, CsrfForm};
use super::{see_other, ConsoleError, Page, PageResult, State};
use crate::domain::FieldErrors;
use crate::security;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/setup", web::get().to(show_setup))
        .route("/setup", web::post().to(create_admin))
        .route("/login", web::get().to(show_login))
        .route("/login", web::post().to(log_in))
        .route("/logout", web::post().to(log_out));
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    csrf: &'a str,
    email: &'a str,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: &'a str,
    /// Where to go after logging in (a local path), carried through the form.
    next: &'a str,
}

/// The `next` a login form carries: a local path only.
fn next_of(v: &str) -> &str {
    if super::error::safe_return(v) {
        v
    } else {
        ""
    }
}

async fn no_users(state: &State) -> Result<bool, ConsoleError> {
    Ok(state
        .store
        .run(move |s| async move { s.count_users().await })
        .await?
        == 0)
}

async fn show_setup(req: HttpRequest, state: web::Data<State>, session: Session) -> PageResult {
    if !no_users(&state).await? {
        return Ok(see_other("/login"));
    }
    let csrf = csrf_token(&session);
    Page {
        title: "Set up Gatehouse",
        nav: "",
        user: None,
        csrf: &csrf,
    }
    .render(
        &req,
        &SetupPage {
            csrf: &csrf,
            email: "",
            errors: FieldErrors::new(),
        },
    )
}

async fn create_admin(
    req: HttpRequest,
    state: web::Data<State>,
    session: Session,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    if !no_users(&state).await? {
        return Ok(see_other("/login"));
    }
    let email = form.get("email").trim().to_string();
    let password = form.get("password").to_string();
    let mut errors = FieldErrors::new();
    let code = form.get("setup_code").trim().to_ascii_uppercase();
    if !security::constant_time_eq(code.as_bytes(), state.setup_code.as_bytes()) {
        errors.add(
            "setup_code",
            "Enter the setup code from Gatehouse's log (the \"first-run setup\" line)",
        );
    }
    if !is_email(&email) {
        errors.add("email", "Enter a valid email address");
    }
    if let Err(m) = security::check_password_strength(&password) {
        errors.add("password", m);
    } else if password != form.get("password_confirm") {
        errors.add("password_confirm", "Passwords do not match");
    }
    if errors.is_empty() {
        let pw = password.clone();
        let hash = web::block(move || security::hash_password(&pw))
            .await
            .map_err(|e| WebError::internal("hashing a password failed", e))?
            .map_err(|e| WebError::internal("hashing a password failed", e))?;
        let e2 = email.clone();
        let user = state
            .store
            .run(move |s| async move {
                // One transaction that checks there is no user yet: two first visitors must
                // not both become the admin.
                crate::service::identity::create_first_admin(&s, &e2, &hash).await
            })
            .await;
        match user {
            Ok(Some(user)) => {
                sign_in(&session, &state, user.id).await?;
                tracing::info!(user.email = ?user.email, "organization admin created");
                return Ok(see_other("/services"));
            }
            Ok(None) => return Ok(see_other("/login")),
            Err(e) => return Err(WebError::from(e).into()),
        }
    }
    let csrf = csrf_token(&session);
    Page {
        title: "Set up Gatehouse",
        nav: "",
        user: None,
        csrf: &csrf,
    }
    .render_status(
        &req,
        &SetupPage {
            csrf: &csrf,
            email: &email,
            errors,
        },
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

async fn show_login(req: HttpRequest, state: web::Data<State>, session: Session) -> PageResult {
    let next: String = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if no_users(&state).await? {
        return Ok(see_other("/setup"));
    }
    let csrf = csrf_token(&session);
    Page {
        title: "Log in",
        nav: "",
        user: None,
        csrf: &csrf,
    }
    .render(
        &req,
        &LoginPage {
            csrf: &csrf,
            email: "",
            error: "",
            next: next_of(&next),
        },
    )
}

async fn log_in(
    req: HttpRequest,
    state: web::Data<State>,
    session: Session,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let email = form.get("email").trim().to_string();
    let password = form.get("password").to_string();
    let next = next_of(form.get("next")).to_string();
    let key = email.to_ascii_lowercase();
    let csrf = csrf_token(&session);
    let page = Page {
        title: "Log in",
        nav: "",
        user: None,
        csrf: &csrf,
    };

    let addr = req.peer_addr().map(|a| a.ip());
    if let Some(wait) = state.throttle.wait(&key, addr) {
        let msg = format!(
            "Too many failed attempts. Try again in {} seconds.",
            wait.as_secs().max(1)
        );
        return page.render_status(
            &req,
            &LoginPage {
                csrf: &csrf,
                email: &email,
                error: &msg,
                next: &next,
            },
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let e2 = email.clone();
    let user = state
        .store
        .run(move |s| async move { s.get_user_by_email(&e2).await })
        .await?;
    let pw = password.clone();
    let ok_user = web::block(move || match user {
        Some(u) if security::verify_password(&pw, &u.password_hash) => Some(u),
        Some(_) => None,
        None => {
            security::dummy_verify(&pw);
            None
        }
    })
    .await
    .map_err(|e| WebError::internal("verifying a password failed", e))?;

    match ok_user {
        Some(u) => {
            state.throttle.succeeded(&key);
            sign_in(&session, &state, u.id).await?;
            Ok(see_other(if next.is_empty() { "/services" } else { &next }))
        }
        None => {
            state.throttle.failed(&key, addr);
            tracing::warn!(user.email = ?email, "failed console login");
            page.render_status(
                &req,
                &LoginPage {
                    csrf: &csrf,
                    email: &email,
                    error: "Incorrect email or password.",
                    next: &next,
                },
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

async fn log_out(state: web::Data<State>, session: Session, _form: CsrfForm) -> HttpResponse {
    end_session(&session, &state).await;
    see_other("/login")
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && s.len() <= 254
}
