//! Confirmation pages for destructive actions, for browsers without JavaScript. Every delete,
//! revoke and forget button sits in a form that htmx posts after its own `hx-confirm` prompt;
//! without JavaScript the same form is a GET to the action's URL, which answers here with a
//! page asking first and a POST form to that URL. This module owns the wording only: it never
//! deletes anything (the POST goes to the resource's own handler).

use actix_web::{FromRequest, HttpRequest};
use askama::Template;

use super::{ConsoleError, CurrentUser, Page, PageResult};
use crate::web_error::WebError;

/// What a confirmation page says about one kind of action.
#[derive(Debug, PartialEq, Eq)]
pub struct Confirm {
    pub title: &'static str,
    pub message: &'static str,
    pub button: &'static str,
    /// Where Cancel leads when the browser sent no same-origin `Referer`.
    pub back: String,
}

fn confirm(
    title: &'static str,
    message: &'static str,
    button: &'static str,
    back: String,
) -> Confirm {
    Confirm {
        title,
        message,
        button,
        back,
    }
}

/// The confirmation for a destructive action's path, if the path names one. Deletes that
/// already ask for the name to be typed (service, version, upstream, runtime group) are not
/// here: their form is on their own page and works without JavaScript.
pub fn describe(path: &str) -> Option<Confirm> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let c = match segs.as_slice() {
        ["services", s, "versions", v, "routes", _, "delete"] => confirm(
            "Delete route?",
            "Clients calling its paths get a 404 from the gateway once it is deleted.",
            "Delete route",
            format!("/services/{s}/versions/{v}"),
        ),
        ["services", s, "versions", v, "implementation", "delete"] => confirm(
            "Delete implementation?",
            "Its gateway service and routes are deleted. The version stays.",
            "Delete implementation",
            format!("/services/{s}/versions/{v}"),
        ),
        ["runtime-groups", g, "routes", _, "delete"] => confirm(
            "Delete route?",
            "Clients calling its paths get a 404 from the gateway once it is deleted.",
            "Delete route",
            format!("/runtime-groups/{g}/routes"),
        ),
        ["runtime-groups", g, "services", _, "delete"] => confirm(
            "Delete gateway service?",
            "The gateway service is deleted from this runtime group.",
            "Delete gateway service",
            format!("/runtime-groups/{g}/services"),
        ),
        ["runtime-groups", g, "certificates", _, "delete"] => confirm(
            "Delete certificate?",
            "The certificate and its SNIs are deleted; clients asking for them get no certificate.",
            "Delete certificate",
            format!("/runtime-groups/{g}/certificates"),
        ),
        ["runtime-groups", g, "ca-certificates", _, "delete"] => confirm(
            "Delete CA certificate?",
            "Services verifying upstreams with it stop trusting them.",
            "Delete CA certificate",
            format!("/runtime-groups/{g}/certificates"),
        ),
        ["runtime-groups", g, "consumers", c, "key-auth", _, "delete"] => confirm(
            "Revoke key?",
            "Requests carrying this key are refused from now on.",
            "Revoke key",
            format!("/runtime-groups/{g}/consumers/{c}"),
        ),
        ["runtime-groups", g, "consumers", c, "credentials", "acls", _, "delete"] => confirm(
            "Remove ACL group?",
            "The consumer leaves this group; routes allowing only the group refuse it.",
            "Remove group",
            format!("/runtime-groups/{g}/consumers/{c}"),
        ),
        ["runtime-groups", g, "consumers", c, "credentials", _, _, "delete"] => confirm(
            "Delete credential?",
            "Requests authenticating with this credential are refused from now on.",
            "Delete credential",
            format!("/runtime-groups/{g}/consumers/{c}"),
        ),
        ["runtime-groups", g, "consumers", _, "delete"] => confirm(
            "Delete consumer?",
            "The consumer and all its credentials are deleted.",
            "Delete consumer",
            format!("/runtime-groups/{g}/consumers"),
        ),
        ["runtime-groups", g, "plugins", _, "delete"] => confirm(
            "Remove plugin?",
            "The plugin stops applying to the requests it covers.",
            "Remove plugin",
            format!("/runtime-groups/{g}/plugins"),
        ),
        ["runtime-groups", g, "upstreams", u, "targets", _, "delete"] => confirm(
            "Delete target?",
            "The upstream stops sending requests to this target.",
            "Delete target",
            format!("/runtime-groups/{g}/upstreams/{u}"),
        ),
        ["runtime-groups", g, "dp-certificates", _, "revoke"] => confirm(
            "Revoke node credential?",
            "Nodes using it are refused from now on; they keep serving their last configuration.",
            "Revoke credential",
            format!("/runtime-groups/{g}/dp-certificates"),
        ),
        ["runtime-groups", g, "dp-certificates", _, "delete"] => confirm(
            "Delete node credential?",
            "The credential is removed from the list.",
            "Delete credential",
            format!("/runtime-groups/{g}/dp-certificates"),
        ),
        ["runtime-groups", g, "instances", _, "forget"] => confirm(
            "Forget node?",
            "The node is removed from the list. It reappears if it connects again.",
            "Forget node",
            format!("/runtime-groups/{g}/instances"),
        ),
        ["tokens", _, "delete"] => confirm(
            "Revoke token?",
            "Scripts using this Admin API token stop working.",
            "Revoke token",
            "/tokens".into(),
        ),
        _ => return None,
    };
    Some(c)
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    csrf: &'a str,
    action: &'a str,
    back: &'a str,
    c: &'a Confirm,
}

/// Where Cancel leads: the page the button was on, when the browser says so and it is ours.
fn back_from_referer(req: &HttpRequest) -> Option<String> {
    let referer = req.headers().get("referer")?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    let host = req.connection_info().host().to_string();
    let same = url.host_str().map(|h| match url.port() {
        Some(p) => format!("{h}:{p}"),
        None => h.to_string(),
    }) == Some(host);
    if !same || url.path() == req.path() {
        return None;
    }
    Some(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    })
}

/// The console's fallback for paths no handler took: a GET on a destructive action's URL
/// gets its confirmation page (login required, as for the action), anything else a 404.
pub async fn confirm_or_not_found(req: HttpRequest) -> PageResult {
    let Some(c) = (req.method() == actix_web::http::Method::GET)
        .then(|| describe(req.path()))
        .flatten()
    else {
        return Err(ConsoleError(WebError::NotFound));
    };
    let user = CurrentUser::extract(&req).await?;
    let back = back_from_referer(&req).unwrap_or_else(|| c.back.clone());
    Page {
        title: c.title,
        nav: "",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(
        &req,
        &ConfirmPage {
            csrf: &user.csrf,
            action: req.path(),
            back: &back,
            c: &c,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_paths_are_described_and_others_not() {
        let route = describe("/services/a/versions/b/routes/c/delete").expect("a route");
        assert_eq!(route.title, "Delete route?");
        assert_eq!(route.back, "/services/a/versions/b");
        let acl = describe("/runtime-groups/g/consumers/c/credentials/acls/x/delete");
        assert_eq!(acl.map(|c| c.title), Some("Remove ACL group?"));
        let jwt = describe("/runtime-groups/g/consumers/c/credentials/jwt/x/delete");
        assert_eq!(jwt.map(|c| c.title), Some("Delete credential?"));
        for other in [
            "/services/a/delete",
            "/services/a/versions/b/delete",
            "/runtime-groups/g/delete",
            "/runtime-groups/g/upstreams/u/delete",
            "/services/a/versions/b/routes/c",
            "/nothing/delete",
        ] {
            assert_eq!(describe(other), None, "{other}");
        }
    }
}
