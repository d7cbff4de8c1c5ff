//! The web console (askama + htmx): setup, login, Service Hub pages and the Create
//! Implementation dialog. Handlers are thin: extract, parse into domain types, call the store,
//! render. Every page's content comes from one template; htmx requests get just that content,
//! full loads get it inside the layout.

mod account;
mod analytics;
mod assets;
mod auth;
mod certificates;
mod charts;
mod confirm;
mod consumers;
mod declarative;
mod entities;
mod error;
mod forms;
mod guard;
mod history;
mod implementation;
mod paging;
mod plugins;
mod route_detail;
mod routes;
mod runtime;
mod services;
mod session;
mod throttle;
mod tokens;
mod upstreams;
mod version_status;
mod versions;

use std::net::TcpListener;
use std::sync::Arc;

use actix_session::config::CookieContentSecurity;
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::SameSite;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use askama::Template;

pub use error::ConsoleError;
pub use session::CurrentUser;

use crate::domain::FieldErrors;
use crate::proxy::Proxy;
use crate::store::Store;
use crate::web_error::WebError;

#[derive(Clone)]
pub struct State {
    pub store: Store,
    pub proxy: Arc<Proxy>,
    pub proxy_url: String,
    pub echo_url: String,
    pub session_key: actix_web::cookie::Key,
    pub throttle: Arc<throttle::Throttle>,
    pub cluster: Arc<crate::cluster::ClusterInfo>,
    pub session_limits: crate::service::identity::SessionLimits,
    /// The one-time code the first-run setup page asks for (printed in the log at start).
    pub setup_code: Arc<String>,
    /// Host names the console answers to; anything else is refused (DNS rebinding).
    pub hosts: Arc<Vec<String>>,
    /// The cookie only travels over TLS.
    pub secure_cookies: bool,
}

/// What the console is configured with, besides the store and the proxy it shows.
pub struct Options {
    pub proxy_url: String,
    pub echo_url: String,
    /// The cookie key, hex.
    pub session_key_hex: String,
    pub cluster: Arc<crate::cluster::ClusterInfo>,
    pub session_limits: crate::service::identity::SessionLimits,
    pub setup_code: String,
    pub hosts: Vec<String>,
    pub secure_cookies: bool,
}

impl State {
    pub fn new(store: Store, proxy: Arc<Proxy>, o: Options) -> anyhow::Result<State> {
        let bytes = hex::decode(&o.session_key_hex)?;
        let session_key = actix_web::cookie::Key::try_from(bytes.as_slice())?;
        Ok(State {
            store,
            proxy,
            proxy_url: o.proxy_url,
            echo_url: o.echo_url,
            session_key,
            throttle: Arc::default(),
            cluster: o.cluster,
            session_limits: o.session_limits,
            setup_code: Arc::new(o.setup_code),
            hosts: Arc::new(o.hosts),
            secure_cookies: o.secure_cookies,
        })
    }
}

pub type PageResult = Result<HttpResponse, ConsoleError>;

/// Every script, style and image comes from the console itself: no inline script, handler or
/// style attribute anywhere (behaviour lives in `static/app.js`), so injected markup cannot run.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// `HEAD` is answered as `GET` without the body, for every page and static file.
async fn head_as_get(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let head = req.method() == actix_web::http::Method::HEAD;
    if head {
        req.head_mut().method = actix_web::http::Method::GET;
    }
    let res = next.call(req).await?;
    Ok(if head {
        res.map_body(|_, _| actix_web::body::BoxBody::new(()))
    } else {
        res.map_into_boxed_body()
    })
}

pub fn server(listener: TcpListener, state: State) -> anyhow::Result<Server> {
    let key = state.session_key.clone();
    let secure = state.secure_cookies;
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
            .cookie_name("gatehouse_session".into())
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_secure(secure)
            .cookie_content_security(CookieContentSecurity::Private)
            .build();
        App::new()
            .app_data(data.clone())
            .app_data(web::FormConfig::default().limit(session::FORM_LIMIT))
            .app_data(web::PayloadConfig::new(session::FORM_LIMIT))
            .wrap(actix_web::middleware::from_fn(session::attribute_changes))
            .wrap(sessions)
            .wrap(actix_web::middleware::from_fn(head_as_get))
            .wrap(actix_web::middleware::from_fn(guard::host_and_origin))
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((header::X_FRAME_OPTIONS, "DENY"))
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::REFERRER_POLICY, "same-origin"))
                    .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)),
            )
            .configure(configure)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{file:.*}", web::get().to(assets::serve_asset))
        .route("/", web::get().to(|| async { see_other("/services") }))
        .configure(auth::configure)
        .configure(services::configure)
        .configure(versions::configure)
        .configure(version_status::configure)
        .configure(implementation::configure)
        .configure(routes::configure)
        .configure(runtime::configure)
        .configure(route_detail::configure)
        .configure(analytics::configure)
        .configure(tokens::configure)
        .configure(account::configure)
        // Registered last: a scope answers every path under its prefix, so the group pages
        // above must match first.
        .service(
            web::scope("/runtime-groups/{rg}")
                .wrap(actix_web::middleware::from_fn(entities::group_scope))
                .configure(upstreams::configure)
                .configure(certificates::configure)
                .configure(plugins::configure)
                .configure(consumers::configure)
                .configure(history::configure)
                .configure(declarative::configure)
                .default_service(web::to(confirm::confirm_or_not_found)),
        )
        .default_service(web::to(confirm::confirm_or_not_found));
}

#[derive(Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    title: &'a str,
    /// The confirmation of the post that led here, if any.
    flash: Option<&'static str>,
    user: Option<&'a CurrentUser>,
    csrf: &'a str,
    nav: &'a str,
    content: &'a str,
    css: &'a str,
    htmx: &'a str,
    app_js: &'a str,
}

/// A page: its content template rendered alone for htmx requests, inside the layout otherwise.
pub struct Page<'a> {
    pub title: &'a str,
    pub nav: &'a str,
    pub user: Option<&'a CurrentUser>,
    pub csrf: &'a str,
}

impl Page<'_> {
    pub fn render(&self, req: &HttpRequest, content: &impl Template) -> PageResult {
        self.render_status(req, content, actix_web::http::StatusCode::OK)
    }

    pub fn render_status(
        &self,
        req: &HttpRequest,
        content: &impl Template,
        status: actix_web::http::StatusCode,
    ) -> PageResult {
        let body = content
            .render()
            .map_err(|e| WebError::internal("rendering a page failed", e))?;
        let html = if is_htmx(req) && !req.headers().contains_key("hx-boosted") {
            body
        } else {
            Layout {
                title: self.title,
                flash: Notice::message_for(req.query_string()),
                user: self.user,
                csrf: self.csrf,
                nav: self.nav,
                content: &body,
                css: assets::css_url(),
                htmx: assets::htmx_url(),
                app_js: assets::app_js_url(),
            }
            .render()
            .map_err(|e| WebError::internal("rendering the layout failed", e))?
        };
        Ok(HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html))
    }
}

pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("hx-request")
}

/// After a successful post: a 303 for plain forms, `HX-Redirect` for htmx.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header(("HX-Redirect", location))
        .finish()
}

/// After a successful form post: to `location`, with a notice the next page shows (what kind
/// of change it was, from the form's path) so every create, update, delete and revoke is
/// confirmed, announced to screen readers.
pub fn redirect_after_post(req: &HttpRequest, location: &str) -> HttpResponse {
    let notice = Notice::of_post(req.path());
    let (path, fragment) = match location.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (location, None),
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut to = format!("{path}{sep}notice={}", notice.code());
    if let Some(f) = fragment {
        to.push('#');
        to.push_str(f);
    }
    if is_htmx(req) {
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", to))
            .finish()
    } else {
        see_other(&to)
    }
}

/// The confirmation a page shows after a post redirected to it; only these codes are read
/// back, so the query string cannot put text on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Saved,
    Deleted,
    Revoked,
}

impl Notice {
    fn of_post(path: &str) -> Notice {
        if path.ends_with("/delete") || path.ends_with("/remove") {
            Notice::Deleted
        } else if path.ends_with("/revoke") || path.contains("/revoke") {
            Notice::Revoked
        } else {
            Notice::Saved
        }
    }
    fn code(self) -> &'static str {
        match self {
            Notice::Saved => "saved",
            Notice::Deleted => "deleted",
            Notice::Revoked => "revoked",
        }
    }
    /// The message for a page's `notice` query parameter, if it names one.
    pub fn message_for(query: &str) -> Option<&'static str> {
        let code = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "notice")
            .map(|(_, v)| v)?;
        Some(match code.as_ref() {
            "saved" => "Saved.",
            "deleted" => "Deleted.",
            "revoked" => "Revoked.",
            _ => return None,
        })
    }
}

/// Formats a Unix timestamp as `2026-11-23 11:04 UTC`.
pub fn fmt_time(secs: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_default()
}

/// A failed save, shown beside `field`: a uniqueness conflict as `taken` says, anything else
/// logged with its cause and reported as worth retrying.
pub fn save_error(
    e: crate::service::ServiceError,
    field: &str,
    taken: impl FnOnce() -> FieldErrors,
) -> FieldErrors {
    match e {
        crate::service::ServiceError::Unique { .. } => taken(),
        other => {
            tracing::error!(error = %other, "saving from the console failed");
            FieldErrors::single(field, "The change could not be saved; please try again")
        }
    }
}

pub fn parse_uuid(s: &str) -> Result<uuid::Uuid, ConsoleError> {
    uuid::Uuid::parse_str(s).map_err(|_| ConsoleError(WebError::NotFound))
}
