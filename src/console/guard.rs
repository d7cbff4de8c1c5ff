//! Requests the console refuses before any handler runs: a Host it does not answer to (a DNS
//! rebinding page pointing a browser at the loopback console), and a state-changing request
//! sent by another site's page (its `Origin`, or `Sec-Fetch-Site: cross-site`).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use super::State;

/// The host part of a Host header or of an Origin's authority (`[::1]:8002` → `[::1]`).
fn host_of(authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    if a.starts_with('[') {
        return a.split(']').next().map(|h| format!("{h}]")).unwrap_or(a);
    }
    a.rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map(|(h, _)| h.to_string())
        .unwrap_or(a)
}

fn refuse(req: ServiceRequest, status: StatusCode, message: &str) -> ServiceResponse<BoxBody> {
    tracing::warn!(path = ?req.path(), reason = ?message, "console request refused");
    let (req, _) = req.into_parts();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Request refused</title>\
         <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"narrow card\">\
         <h1>Request refused</h1><p>{message}</p></main></body></html>"
    );
    ServiceResponse::new(
        req,
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
    )
}

pub async fn host_and_origin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<State>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(host_of)
        .unwrap_or_default();
    if !state.hosts.iter().any(|h| h == "*" || *h == host) {
        return Ok(refuse(
            req,
            StatusCode::MISDIRECTED_REQUEST,
            "This console does not answer to that host name. Set GATEHOUSE_CONSOLE_URL (or GATEHOUSE_CONSOLE_ALLOWED_HOSTS) to the address you open it at.",
        ));
    }
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state {
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
        let foreign_origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|o| {
                let authority = o.split_once("://").map(|(_, a)| a).unwrap_or(o);
                o == "null" || host_of(authority) != host
            });
        if cross_site || foreign_origin {
            return Ok(refuse(
                req,
                StatusCode::FORBIDDEN,
                "This form was sent from another site. Open the console and try again there.",
            ));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts_lose_their_ports() {
        assert_eq!(host_of("localhost:8002"), "localhost");
        assert_eq!(host_of("Console.Example.com"), "console.example.com");
        assert_eq!(host_of("[::1]:8002"), "[::1]");
        assert_eq!(host_of("127.0.0.1"), "127.0.0.1");
    }
}
