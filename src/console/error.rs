//! The console's rendering of [`WebError`]: an HTML page, or a redirect to the login page when
//! the session is missing.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use crate::web_error::WebError;

#[derive(Debug)]
pub struct ConsoleError(pub WebError);

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<WebError>> From<E> for ConsoleError {
    fn from(e: E) -> Self {
        ConsoleError(e.into())
    }
}

impl ConsoleError {
    /// A page asked for without a session: back to it after logging in, when it was a page
    /// (GET); a form post starts over from the Service Hub.
    pub fn login_required(req: &HttpRequest) -> ConsoleError {
        if req.method() == actix_web::http::Method::GET {
            let here = match req.query_string() {
                "" => req.path().to_string(),
                q => format!("{}?{q}", req.path()),
            };
            ConsoleError(WebError::LoginRequired(here))
        } else {
            ConsoleError(WebError::Unauthorized)
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        let login = match &self.0 {
            WebError::Unauthorized => Some("/login".to_string()),
            WebError::LoginRequired(next) if safe_return(next) && next != "/services" => {
                let q: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", next)
                    .finish();
                Some(format!("/login?{q}"))
            }
            WebError::LoginRequired(_) => Some("/login".to_string()),
            _ => None,
        };
        if let Some(to) = login {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to.clone()))
                .insert_header(("HX-Redirect", to))
                .finish();
        }
        let status = self.0.status();
        let (title, message) = match &self.0 {
            WebError::NotFound => (
                "Not found",
                "The page you asked for does not exist, or was deleted.".to_string(),
            ),
            WebError::Internal(_) => (
                "Something went wrong",
                "An unexpected error occurred. It has been logged; please try again.".to_string(),
            ),
            WebError::PayloadTooLarge(_) => ("Too large", self.0.to_string()),
            other => ("Request refused", other.to_string()),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message,
        };
        match page.render() {
            Ok(html) => HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(html),
            Err(_) => HttpResponse::build(status).body(title),
        }
    }
}

/// Whether `next` is a path on this console (never another origin: `//host`, `/\\host`, a
/// scheme), so logging in cannot be used to bounce a user elsewhere.
pub fn safe_return(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n'])
        && next.len() < 2048
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_returned_to() {
        assert!(super::safe_return("/services/1?frame=1h"));
        for bad in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/a\nb",
        ] {
            assert!(!super::safe_return(bad), "{bad}");
        }
    }
}
