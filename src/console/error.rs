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
    pub fn login_required(_req: &HttpRequest) -> ConsoleError {
        ConsoleError(WebError::Unauthorized)
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
        if matches!(self.0, WebError::Unauthorized) {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .insert_header(("HX-Redirect", "/login"))
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
