//! A route's own page (Konnect's route page): its fields as Kong names them, its gateway
//! service, the plugins that apply to it, and Edit / Delete. Reached from a version's Routes
//! table and from a runtime group's Routes page; the same page in both places, with links back
//! to where it was reached from.

use actix_web::{web, HttpRequest};
use askama::Template;
use uuid::Uuid;

use super::versions::load_version;
use super::{fmt_time, parse_uuid, CurrentUser, Page, PageResult, State};
use crate::domain::{GatewayService, Plugin, Route};
use crate::store::StoreError;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/services/{sid}/versions/{vid}/routes/{rid}",
        web::get().to(version_route),
    )
    .route(
        "/runtime-groups/{rg}/routes/{id}",
        web::get().to(group_route),
    );
}

#[derive(Template)]
#[template(path = "route.html")]
struct RoutePage {
    /// Breadcrumb links before the route's own name.
    crumbs: Vec<(String, String)>,
    title: String,
    route: Route,
    fields: Vec<(&'static str, String)>,
    service: Option<GatewayService>,
    service_link: String,
    /// Plugins that apply to the route, with what they are applied to.
    plugins: Vec<(Plugin, &'static str)>,
    group: Uuid,
    /// Where Edit and Delete go, and where Delete comes back to.
    base: String,
    updated: String,
}

/// Kong's route fields, in the order its Admin API documents them, as the page shows them.
fn route_fields(r: &Route) -> Vec<(&'static str, String)> {
    let list = |v: &Option<Vec<String>>| match v {
        Some(items) if !items.is_empty() => items.join(", "),
        _ => "–".to_string(),
    };
    let json = |v: &Option<serde_json::Value>| match v {
        Some(v) if !v.is_null() => v.to_string(),
        _ => "–".to_string(),
    };
    let headers = match &r.headers {
        Some(h) if !h.is_empty() => h
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
        _ => "–".to_string(),
    };
    vec![
        ("id", r.id.to_string()),
        ("name", r.name.clone().unwrap_or_else(|| "–".into())),
        ("protocols", r.protocols.join(", ")),
        ("methods", list(&r.methods)),
        ("hosts", list(&r.hosts)),
        ("paths", list(&r.paths)),
        ("headers", headers),
        ("snis", list(&r.snis)),
        ("sources", json(&r.sources)),
        ("destinations", json(&r.destinations)),
        ("strip_path", r.strip_path.to_string()),
        ("preserve_host", r.preserve_host.to_string()),
        ("regex_priority", r.regex_priority.to_string()),
        ("path_handling", r.path_handling.clone()),
        (
            "https_redirect_status_code",
            r.https_redirect_status_code.to_string(),
        ),
        ("request_buffering", r.request_buffering.to_string()),
        ("response_buffering", r.response_buffering.to_string()),
        ("tags", list(&r.tags)),
        ("created_at", fmt_time(r.created_at)),
        ("updated_at", fmt_time(r.updated_at)),
    ]
}

/// The plugins on the route itself, then those on its gateway service.
fn applying(plugins: &[Plugin], route: &Route) -> Vec<(Plugin, &'static str)> {
    let on_route = plugins
        .iter()
        .filter(|p| p.route.as_ref().is_some_and(|r| r.id == route.id))
        .map(|p| (p.clone(), "route"));
    let service = route.service.as_ref().map(|s| s.id);
    let on_service = plugins
        .iter()
        .filter(|p| p.route.is_none() && p.service.as_ref().map(|s| s.id) == service)
        .filter(|_| service.is_some())
        .map(|p| (p.clone(), "gateway service"));
    on_route.chain(on_service).collect()
}

struct Parts {
    crumbs: Vec<(String, String)>,
    base: String,
    service_link: String,
    group: Uuid,
}

fn render(
    req: &HttpRequest,
    user: &CurrentUser,
    route: Route,
    service: Option<GatewayService>,
    plugins: &[Plugin],
    parts: Parts,
) -> PageResult {
    let title = route.name.clone().unwrap_or_else(|| route.id.to_string());
    let page = RoutePage {
        crumbs: parts.crumbs,
        fields: route_fields(&route),
        plugins: applying(plugins, &route),
        updated: fmt_time(route.updated_at),
        title: title.clone(),
        route,
        service,
        service_link: parts.service_link,
        group: parts.group,
        base: parts.base,
    };
    Page {
        title: &title,
        nav: "services",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render(req, &page)
}

async fn version_route(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String, String)>,
) -> PageResult {
    let (sid, vid, rid) = (
        parse_uuid(&path.0)?,
        parse_uuid(&path.1)?,
        parse_uuid(&path.2)?,
    );
    let v = load_version(&state, sid, vid).await?;
    let route = v
        .routes
        .iter()
        .find(|r| r.id == rid)
        .cloned()
        .ok_or(WebError::NotFound)?;
    let version_path = format!("/services/{sid}/versions/{vid}");
    let parts = Parts {
        crumbs: vec![
            ("/services".into(), "Service Hub".into()),
            (format!("/services/{sid}"), v.service.display_name.clone()),
            (version_path.clone(), v.version.name.clone()),
        ],
        base: version_path.clone(),
        service_link: format!("{version_path}#implementation"),
        group: v.group.id,
    };
    render(&req, &user, route, v.implementation, &v.plugins, parts)
}

async fn group_route(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
) -> PageResult {
    let (rg, id) = path.into_inner();
    let group = super::runtime::group_of(&state, &rg).await?;
    let g = group.id;
    let (route, service, plugins) = state
        .store
        .run(move |s| async move {
            let route = s.get_entity::<Route>(g, &id, None).await?;
            let service = match &route.service {
                Some(fk) => Some(
                    s.get_entity::<GatewayService>(g, &fk.id.to_string(), None)
                        .await?,
                ),
                None => None,
            };
            let plugins = s.list_all_entities::<Plugin>(g, None).await?;
            Ok::<_, StoreError>((route, service, plugins))
        })
        .await
        .map_err(WebError::from)?;
    let base = super::runtime::group_path(&group);
    let service_link = service
        .as_ref()
        .map(|s| format!("{base}/services/{}/edit", s.id))
        .unwrap_or_default();
    let parts = Parts {
        crumbs: vec![
            ("/runtime-groups".into(), "Runtime Manager".into()),
            (base.clone(), group.name.clone()),
            (format!("{base}/routes"), "Routes".into()),
        ],
        base,
        service_link,
        group: g,
    };
    render(&req, &user, route, service, &plugins, parts)
}
