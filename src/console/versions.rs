//! Service versions: creating one, its overview page, the status codes panel, deleting it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::session::CsrfForm;
use super::{
    fmt_time, parse_uuid, redirect_after_post, ConsoleError, CurrentUser, Page, PageResult, State,
};
use crate::domain::catalog::{parse_version_name, CatalogService, RuntimeGroup, ServiceVersion};
use crate::domain::{FieldErrors, GatewayService, Route};
use crate::store::{StatusCount, StoreError};
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/services/{sid}/versions/new", web::get().to(new_version))
        .route("/services/{sid}/versions", web::post().to(create_version))
        .route(
            "/services/{sid}/versions/{vid}",
            web::get().to(show_version),
        )
        .route(
            "/services/{sid}/versions/{vid}/delete",
            web::post().to(delete_version),
        )
        .route(
            "/services/{sid}/versions/{vid}/status-codes",
            web::get().to(status_codes),
        )
        .route(
            "/services/{sid}/versions/{vid}/status-codes.csv",
            web::get().to(status_codes_csv),
        );
}

#[derive(Template)]
#[template(path = "version_new.html")]
struct NewVersionPage<'a> {
    csrf: &'a str,
    service: CatalogService,
    groups: Vec<RuntimeGroup>,
    name: &'a str,
    group_id: String,
    errors: FieldErrors,
}

async fn new_version(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
) -> PageResult {
    let sid = parse_uuid(&path)?;
    let (service, groups) = state
        .store
        .run(move |s| async move {
            Ok::<_, StoreError>((
                s.get_catalog_service(sid).await?,
                s.list_runtime_groups().await?,
            ))
        })
        .await
        .map_err(WebError::from)?;
    let group_id = groups.first().map(|g| g.id.to_string()).unwrap_or_default();
    Page {
        title: "New version",
        nav: "services",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(
        &req,
        &NewVersionPage {
            csrf: &user.csrf,
            service,
            groups,
            name: "",
            group_id,
            errors: FieldErrors::new(),
        },
    )
}

async fn create_version(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let sid = parse_uuid(&path)?;
    let name = form.get("name").to_string();
    let group_raw = form.get("runtime_group_id").to_string();
    let (service, groups) = state
        .store
        .run(move |s| async move {
            Ok::<_, StoreError>((
                s.get_catalog_service(sid).await?,
                s.list_runtime_groups().await?,
            ))
        })
        .await
        .map_err(WebError::from)?;
    let mut errors = FieldErrors::new();
    let group = groups
        .iter()
        .find(|g| g.id.to_string() == group_raw)
        .map(|g| g.id);
    if group.is_none() {
        errors.add("runtime_group_id", "Choose a runtime group");
    }
    let parsed = parse_version_name(&name);
    if let Err(e) = &parsed {
        for (k, v) in &e.0 {
            errors.add(k.clone(), v.clone());
        }
    }
    if let (Ok(vname), Some(gid)) = (parsed, group) {
        let created = state
            .store
            .run(move |s| async move {
                crate::service::catalog::create_version(&s, sid, &vname, gid).await
            })
            .await;
        match created {
            Ok(v) => {
                return Ok(redirect_after_post(
                    &req,
                    &format!("/services/{sid}/versions/{}", v.id),
                ))
            }
            Err(crate::service::ServiceError::Unique { .. }) => errors.add(
                "name",
                "This service already has a version with this name in that runtime group",
            ),
            Err(e) => return Err(WebError::from(e).into()),
        }
    }
    Page {
        title: "New version",
        nav: "services",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render_status(
        &req,
        &NewVersionPage {
            csrf: &user.csrf,
            service,
            groups,
            name: &name,
            group_id: group_raw.clone(),
            errors,
        },
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

/// Everything the version overview shows.
pub struct VersionView {
    pub service: CatalogService,
    pub version: ServiceVersion,
    pub group: RuntimeGroup,
    pub implementation: Option<GatewayService>,
    pub routes: Vec<Route>,
    /// Plugins on the implementation's gateway service or one of its routes.
    pub plugins: Vec<crate::domain::Plugin>,
}

impl VersionView {
    /// What a plugin of the version applies to, in words.
    pub fn plugin_scope(&self, p: &crate::domain::Plugin) -> String {
        match &p.route {
            Some(r) => {
                let name = self
                    .routes
                    .iter()
                    .find(|x| x.id == r.id)
                    .and_then(|x| x.name.clone())
                    .unwrap_or_else(|| r.id.to_string());
                format!("route {name}")
            }
            None => "gateway service".into(),
        }
    }
}

pub async fn load_version(state: &State, sid: Uuid, vid: Uuid) -> Result<VersionView, WebError> {
    state
        .store
        .run(move |s| async move {
            let service = s.get_catalog_service(sid).await?;
            let version = s.get_version(sid, vid).await?;
            let group = s.get_runtime_group(version.runtime_group_id).await?;
            let (implementation, routes) = match version.gateway_service_id {
                Some(gs) => {
                    let svc = s
                        .get_entity::<crate::domain::GatewayService>(
                            group.id,
                            &gs.to_string(),
                            None,
                        )
                        .await?;
                    let routes = s
                        .list_entities::<crate::domain::Route>(
                            group.id,
                            &crate::store::EntityFilter {
                                reference: Some(gs),
                                tags: None,
                                ..Default::default()
                            },
                            0,
                            1000,
                        )
                        .await?
                        .items;
                    (Some(svc), routes)
                }
                None => (None, Vec::new()),
            };
            let plugins = match &implementation {
                Some(svc) => s
                    .list_all_entities::<crate::domain::Plugin>(group.id, None)
                    .await?
                    .into_iter()
                    .filter(|p| {
                        p.service.as_ref().is_some_and(|x| x.id == svc.id)
                            || p.route
                                .as_ref()
                                .is_some_and(|x| routes.iter().any(|r| r.id == x.id))
                    })
                    .collect(),
                None => Vec::new(),
            };
            Ok::<_, StoreError>(VersionView {
                service,
                version,
                group,
                implementation,
                routes,
                plugins,
            })
        })
        .await
        .map_err(WebError::from)
}

#[derive(Template)]
#[template(path = "version.html")]
struct VersionPage<'a> {
    csrf: &'a str,
    v: VersionView,
    proxy_url: String,
    upstream_url: String,
    created: String,
    modified: String,
    panel: StatusPanel,
    delete_error: &'a str,
}

impl VersionPage<'_> {
    fn route_paths(r: &Route) -> String {
        r.paths.clone().unwrap_or_default().join(", ")
    }

    fn route_methods(r: &Route) -> String {
        r.methods
            .clone()
            .map(|m| m.join(", "))
            .unwrap_or_else(|| "any".into())
    }
}

fn proxy_url(base: &str, routes: &[Route]) -> String {
    let first = routes
        .iter()
        .flat_map(|r| r.paths.iter().flatten())
        .find(|p| !p.starts_with('~'));
    match first {
        Some(p) => format!("{base}{p}"),
        None => base.to_string(),
    }
}

async fn show_version(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    q: web::Query<PanelQuery>,
) -> PageResult {
    render_version(&req, &state, &user, (&path.0, &path.1), &q, "").await
}

async fn render_version(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    (sid, vid): (&str, &str),
    panel_query: &PanelQuery,
    delete_error: &str,
) -> PageResult {
    let (sid, vid) = (parse_uuid(sid)?, parse_uuid(vid)?);
    let v = load_version(state, sid, vid).await?;
    // The status panel's time frame, view and time zone come from the page's own query, so
    // the toggles work as plain links without JavaScript and the URL holds the state.
    let panel = load_panel(state, sid, vid, panel_query).await?;
    let title = format!("{} · {}", v.version.name, v.service.display_name);
    let page = VersionPage {
        csrf: &user.csrf,
        proxy_url: proxy_url(&state.proxy_url, &v.routes),
        upstream_url: v
            .implementation
            .as_ref()
            .map(GatewayService::url)
            .unwrap_or_default(),
        created: fmt_time(v.version.created_at),
        modified: fmt_time(v.version.updated_at),
        v,
        panel,
        delete_error,
    };
    let status = if delete_error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Page {
        title: &title,
        nav: "services",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, status)
}

async fn delete_version(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let (sid, vid) = (parse_uuid(&path.0)?, parse_uuid(&path.1)?);
    let v = load_version(&state, sid, vid).await?;
    if form.get("confirm_name").trim() != v.version.name {
        let msg = format!("Type \"{}\" exactly to confirm", v.version.name);
        let q = PanelQuery::default();
        return render_version(&req, &state, &user, (&path.0, &path.1), &q, &msg).await;
    }
    let version = v.version.clone();
    state
        .store
        .run(move |s| async move { crate::service::catalog::delete_version(&s, &version).await })
        .await
        .map_err(WebError::from)?;
    tracing::info!(version.id = %vid, user.email = ?user.email, "service version deleted");
    Ok(redirect_after_post(&req, &format!("/services/{sid}")))
}

// ---- status codes panel ----

use super::charts::{self, FRAMES};

pub struct ClassCount {
    pub class: &'static str,
    pub count: i64,
}

#[derive(Template)]
#[template(path = "_status_codes.html")]
pub struct StatusPanel {
    /// The panel alone (htmx refreshes and toggles).
    pub url: String,
    /// The version page the panel is on (the same toggles as plain links).
    pub page: String,
    pub frame: String,
    pub frame_label: String,
    pub total: i64,
    pub codes: Vec<StatusCount>,
    pub classes: Vec<ClassCount>,
    /// `chart` or `table`.
    pub view: String,
    /// `utc` or `local` (the browser converts the chart's time labels).
    pub tz: String,
    pub chart: String,
    pub step: String,
    pub series: Vec<(String, i64, i64, i64, i64)>,
}

impl StatusPanel {
    fn percent(&self, count: &i64) -> String {
        if self.total == 0 {
            return "0.00".into();
        }
        format!("{:.2}", *count as f64 * 100.0 / self.total as f64)
    }

    fn frames(&self) -> &'static [(&'static str, &'static str, i64)] {
        FRAMES
    }

    fn code_class(status: &u16) -> &'static str {
        match status {
            200..=299 => "c2xx",
            300..=399 => "c3xx",
            400..=499 => "c4xx",
            _ => "c5xx",
        }
    }
}

async fn load_panel(
    state: &State,
    sid: Uuid,
    vid: Uuid,
    q: &PanelQuery,
) -> Result<StatusPanel, WebError> {
    let (key, label, secs) = charts::frame(q.frame.as_deref().unwrap_or("5m"));
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let step = charts::step_for(secs);
    // Whole steps, ending with the current one.
    let since = (now_ms - secs * 1000).div_euclid(step * 1000) * step * 1000 + step * 1000;
    let filter = crate::store::AnalyticsFilter {
        version: Some(vid),
        ..crate::store::AnalyticsFilter::since(since)
    };
    let (codes, points) = state
        .store
        .run(move |s| async move {
            Ok::<_, crate::store::StoreError>((
                s.analytics_status_counts(&filter).await?,
                s.analytics_series(&filter, step, now_ms).await?,
            ))
        })
        .await?;
    let series = super::analytics::series_rows(&points, step);
    let chart = charts::stacked_bars(&points, step, "Requests per status class");
    let total = codes.iter().map(|c| c.count).sum();
    let classes = ["2xx", "3xx", "4xx", "5xx"]
        .iter()
        .enumerate()
        .map(|(i, class)| ClassCount {
            class,
            count: codes
                .iter()
                .filter(|c| c.status / 100 == (i as u16 + 2))
                .map(|c| c.count)
                .sum(),
        })
        .collect();
    Ok(StatusPanel {
        url: format!("/services/{sid}/versions/{vid}/status-codes"),
        page: format!("/services/{sid}/versions/{vid}"),
        frame: key.into(),
        frame_label: label.to_ascii_lowercase(),
        total,
        codes,
        classes,
        view: if q.view.as_deref() == Some("table") {
            "table"
        } else {
            "chart"
        }
        .into(),
        tz: if q.tz.as_deref() == Some("local") {
            "local"
        } else {
            "utc"
        }
        .into(),
        chart,
        step: charts::step_label(step),
        series,
    })
}

#[derive(Deserialize, Default)]
struct PanelQuery {
    frame: Option<String>,
    view: Option<String>,
    tz: Option<String>,
}

/// The panel a request names: the version in the path, the frame in the query (5 m default).
async fn requested_panel(
    state: &State,
    path: &web::Path<(String, String)>,
    q: &PanelQuery,
) -> Result<StatusPanel, ConsoleError> {
    let (sid, vid) = (parse_uuid(&path.0)?, parse_uuid(&path.1)?);
    Ok(load_panel(state, sid, vid, q).await?)
}

async fn status_codes(
    state: web::Data<State>,
    _user: CurrentUser,
    path: web::Path<(String, String)>,
    q: web::Query<PanelQuery>,
) -> PageResult {
    let panel = requested_panel(&state, &path, &q).await?;
    let html = panel
        .render()
        .map_err(|e| WebError::internal("rendering the status panel failed", e))?;
    Ok(actix_web::HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(html))
}

/// The panel's table as CSV, for the same time frame.
async fn status_codes_csv(
    state: web::Data<State>,
    _user: CurrentUser,
    path: web::Path<(String, String)>,
    q: web::Query<PanelQuery>,
) -> PageResult {
    let panel = requested_panel(&state, &path, &q).await?;
    let vid = &path.1;
    let mut csv = String::from("status_code,count,percent\n");
    for c in &panel.codes {
        csv.push_str(&format!(
            "{},{},{}\n",
            c.status,
            c.count,
            panel.percent(&c.count)
        ));
    }
    Ok(actix_web::HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"status-codes-{vid}-{}.csv\"",
                panel.frame
            ),
        ))
        .body(csv))
}
