//! Who is asking and whether a form post is genuine: the signed-in user from a server-side
//! session (the cookie carries only its random id; logout, a password change or "sign out
//! everywhere" end it for every copy of the cookie), and form bodies checked against the
//! session's CSRF token before any handler sees them.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use super::error::ConsoleError;
use super::State;
use crate::domain::history::{Actor, ChangeSource, Channel};
use crate::security;
use crate::service::{history, identity};
use crate::web_error::WebError;

const SID_KEY: &str = "sid";
/// The largest form body the console reads.
pub const FORM_LIMIT: usize = 256 * 1024;

/// A larger body limit for one resource (a configuration upload), set beside its
/// `PayloadConfig` so an oversized post names the limit that applied.
#[derive(Debug, Clone, Copy)]
pub struct FormLimit(pub usize);
const CSRF_KEY: &str = "csrf";

/// The CSRF token of this session, created on first use.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(t)) = session.get::<String>(CSRF_KEY) {
        return t;
    }
    let t = security::random_hex(32);
    let _ = session.insert(CSRF_KEY, &t);
    t
}

/// Starts a server-side session for `user` in this browser: a new session id (never the one
/// the browser had before signing in) and a new CSRF token.
pub async fn sign_in(session: &Session, state: &State, user: Uuid) -> Result<(), ConsoleError> {
    let sid = state
        .store
        .run(move |s| async move { identity::start_session(&s, user).await })
        .await
        .map_err(WebError::from)?;
    session.renew();
    session
        .insert(SID_KEY, sid)
        .map_err(|e| WebError::internal("writing the session failed", e))?;
    session
        .insert(CSRF_KEY, security::random_hex(32))
        .map_err(|e| WebError::internal("writing the session failed", e))?;
    Ok(())
}

/// Ends this browser's session on the server and forgets the cookie.
pub async fn end_session(session: &Session, state: &State) {
    if let Ok(Some(sid)) = session.get::<String>(SID_KEY) {
        let ended = state
            .store
            .run(move |s| async move { identity::end_session(&s, &sid).await })
            .await;
        if let Err(e) = ended {
            tracing::warn!(error = %e, "ending a console session failed");
        }
    }
    session.purge();
}

/// Middleware: configuration changes a console request commits are recorded as made on this
/// page (method and path), by the signed-in user once [`CurrentUser`] has named them.
pub async fn attribute_changes(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let source = ChangeSource {
        actor: Actor::system(),
        channel: Channel::Console,
        detail: format!("{} {}", req.method(), req.path()),
    };
    history::attributed(source, async move {
        Ok(next.call(req).await?.map_into_boxed_body())
    })
    .await
}

/// The signed-in user; handlers that take it are reachable only with a session.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: Uuid,
    pub email: String,
    pub csrf: String,
}

impl FromRequest for CurrentUser {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = req.get_session();
            let sid = session.get::<String>(SID_KEY).ok().flatten();
            let state = req.app_data::<web::Data<State>>().cloned();
            let (Some(sid), Some(state)) = (sid, state) else {
                return Err(ConsoleError::login_required(&req));
            };
            let limits = state.session_limits;
            let user = state
                .store
                .run(move |s| async move { identity::check_session(&s, &sid, limits).await })
                .await
                .map_err(WebError::from)?;
            match user {
                Some(u) => {
                    history::identify(Actor::user(u.id, &u.email));
                    Ok(CurrentUser {
                        id: u.id,
                        email: u.email,
                        csrf: csrf_token(&session),
                    })
                }
                None => {
                    session.purge();
                    Err(ConsoleError::login_required(&req))
                }
            }
        })
    }
}

/// A urlencoded form body, in order, with repeated keys kept (`paths` may appear many times).
#[derive(Debug, Clone, Default)]
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn parse(bytes: &[u8]) -> FormData {
        FormData(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A urlencoded or `multipart/form-data` body (a file upload), as the request says.
    fn from_body(req: &HttpRequest, bytes: &[u8]) -> Result<FormData, ConsoleError> {
        let ct = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.to_ascii_lowercase().starts_with("multipart/form-data") {
            return Ok(FormData::parse(bytes));
        }
        crate::multipart::text_parts(ct, bytes)
            .map(FormData)
            .ok_or_else(|| {
                ConsoleError(WebError::BadRequest(
                    "The upload could not be read: files must be UTF-8 text.".into(),
                ))
            })
    }

    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

/// A form post whose CSRF token matched the session's. Anything else is refused with 403.
pub struct CsrfForm(pub FormData);

impl FromRequest for CsrfForm {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|e| {
                // The console's own page for an oversized form, not actix's plain text.
                if e.as_response_error().status_code() == 413 {
                    let limit = req.app_data::<FormLimit>().map_or(FORM_LIMIT, |l| l.0);
                    actix_web::Error::from(ConsoleError(WebError::PayloadTooLarge(limit)))
                } else {
                    e
                }
            })?;
            let form = FormData::from_body(&req, &bytes)?;
            let expected = req.get_session().get::<String>(CSRF_KEY).ok().flatten();
            let header = req
                .headers()
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let given = if form.has("csrf_token") {
                form.get("csrf_token")
            } else {
                header
            };
            match expected {
                Some(e) if !given.is_empty() && security::constant_time_eq(e.as_bytes(), given.as_bytes()) => Ok(CsrfForm(form)),
                _ => Err(ConsoleError(WebError::Forbidden(
                    "This form has expired or did not come from Gatehouse. Reload the page and try again.".into(),
                ))
                .into()),
            }
        })
    }
}
