//! Analytics in the console: the Analytics page (traffic split, errors by code, latency
//! percentiles, top routes, filters), and the tiles other pages embed (service page, catalog
//! cards). Everything reads rollups and latency histograms, never raw records.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::charts::{self, FRAMES};
use super::{CurrentUser, Page, PageResult, State};
use crate::store::{AnalyticsFilter, Percentiles, StatusCount, Store, StoreError, Totals};
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/analytics", web::get().to(analytics_page))
        .route("/analytics.csv", web::get().to(analytics_csv));
}

pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() * 1000
}

/// Traffic / errors / latency for a window, with the trend against the window before it.
#[derive(Debug, Clone, Default)]
pub struct Tiles {
    pub requests: i64,
    pub success: i64,
    pub failure: i64,
    pub error_rate: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub requests_trend: String,
    pub errors_trend: String,
    pub p99_trend: String,
}

/// A latency for people: records are whole milliseconds, so 0 means "under one".
pub fn ms(v: Option<i64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v < 1 => "< 1 ms".into(),
        Some(v) => format!("{v} ms"),
    }
}

fn rate(t: &Totals) -> f64 {
    if t.requests == 0 {
        0.0
    } else {
        t.errors as f64 * 100.0 / t.requests as f64
    }
}

/// Computes tiles for `filter` over the `window_ms` ending now (the filter's start is set here).
pub async fn tiles(
    s: &Store,
    filter: &AnalyticsFilter,
    window_ms: i64,
) -> Result<Tiles, StoreError> {
    let now = now_ms();
    let current = AnalyticsFilter {
        since_ms: now - window_ms,
        until_ms: None,
        ..filter.clone()
    };
    let previous = AnalyticsFilter {
        since_ms: now - 2 * window_ms,
        until_ms: Some(now - window_ms),
        ..filter.clone()
    };
    let (t, tp) = (
        s.analytics_totals(&current).await?,
        s.analytics_totals(&previous).await?,
    );
    let (p, pp): (Percentiles, Percentiles) = (
        s.analytics_percentiles(&current).await?,
        s.analytics_percentiles(&previous).await?,
    );
    Ok(Tiles {
        requests: t.requests,
        success: t.requests - t.errors,
        failure: t.errors,
        error_rate: if t.requests == 0 {
            "–".into()
        } else {
            format!("{:.1} %", rate(&t))
        },
        p50: ms(p.p50),
        p95: ms(p.p95),
        p99: ms(p.p99),
        requests_trend: charts::trend(t.requests as f64, tp.requests as f64),
        errors_trend: charts::trend(rate(&t), rate(&tp)),
        p99_trend: charts::trend(p.p99.unwrap_or(0) as f64, pp.p99.unwrap_or(0) as f64),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct AnalyticsQuery {
    #[serde(default)]
    frame: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    consumer: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    view: String,
}

fn uuid_or_none(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s.trim()).ok()
}

pub struct Choice {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

pub struct TopRoute {
    pub name: String,
    pub requests: i64,
    pub errors: i64,
}

#[derive(Template)]
#[template(path = "analytics.html")]
struct AnalyticsPage<'a> {
    frame: &'a str,
    frame_label: &'a str,
    view: &'a str,
    class: &'a str,
    groups: Vec<Choice>,
    services: Vec<Choice>,
    versions: Vec<Choice>,
    routes: Vec<Choice>,
    consumers: Vec<Choice>,
    tiles: Tiles,
    chart: String,
    step: String,
    series: Vec<(String, i64, i64, i64, i64)>,
    errors: Vec<StatusCount>,
    top: Vec<TopRoute>,
    top_consumers: Vec<TopRoute>,
    csv: String,
}

impl AnalyticsPage<'_> {
    fn frames(&self) -> &'static [(&'static str, &'static str, i64)] {
        FRAMES
    }
}

/// The filter a query names, and what the selects offer.
struct Resolved {
    filter: AnalyticsFilter,
    groups: Vec<Choice>,
    services: Vec<Choice>,
    versions: Vec<Choice>,
    routes: Vec<Choice>,
    route_names: HashMap<String, String>,
    consumers: Vec<Choice>,
    consumer_names: HashMap<String, String>,
}

async fn resolve(s: &Store, q: &AnalyticsQuery, since_ms: i64) -> Result<Resolved, StoreError> {
    let group = uuid_or_none(&q.group);
    let service = uuid_or_none(&q.service);
    let version = uuid_or_none(&q.version);
    let route = uuid_or_none(&q.route);
    let all_groups = s.list_runtime_groups().await?;
    let groups = all_groups
        .iter()
        .map(|g| Choice {
            id: g.id.to_string(),
            name: g.name.clone(),
            selected: Some(g.id) == group,
        })
        .collect();
    let services = s
        .list_catalog_services("")
        .await?
        .into_iter()
        .map(|(c, _)| Choice {
            id: c.id.to_string(),
            selected: Some(c.id) == service,
            name: c.display_name,
        })
        .collect();
    let service_versions = match service {
        Some(sid) => s.list_versions(sid).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let versions = service_versions
        .iter()
        .map(|v| Choice {
            id: v.id.to_string(),
            name: v.name.clone(),
            selected: Some(v.id) == version,
        })
        .collect();
    let consumer = uuid_or_none(&q.consumer);
    let mut route_names = HashMap::new();
    let mut routes = Vec::new();
    let mut consumer_names = HashMap::new();
    let mut consumers = Vec::new();
    for g in all_groups
        .iter()
        .filter(|g| group.is_none_or(|id| id == g.id))
    {
        let cfg = s.load_gateway_config(g.id).await?;
        for c in &cfg.consumers {
            let name = c
                .username
                .clone()
                .or(c.custom_id.clone())
                .unwrap_or_else(|| c.id.to_string());
            let label = if group.is_some() {
                name
            } else {
                format!("{name} ({})", g.name)
            };
            consumer_names.insert(c.id.to_string(), label.clone());
            consumers.push(Choice {
                id: c.id.to_string(),
                name: label,
                selected: Some(c.id) == consumer,
            });
        }
        for r in cfg.routes {
            let name = r.name.clone().unwrap_or_else(|| r.id.to_string());
            let label = if group.is_some() {
                name.clone()
            } else {
                format!("{name} ({})", g.name)
            };
            route_names.insert(r.id.to_string(), label.clone());
            routes.push(Choice {
                id: r.id.to_string(),
                name: label,
                selected: Some(r.id) == route,
            });
        }
    }
    let class = q.class.trim_end_matches("xx").parse::<u16>().ok();
    let filter = AnalyticsFilter {
        group,
        // A version narrows more than its service.
        versions: match (version, service) {
            (Some(_), _) => None,
            (None, Some(_)) => Some(service_versions.iter().map(|v| v.id).collect()),
            (None, None) => None,
        },
        version,
        route,
        consumer,
        status_class: class.filter(|c| (1..=5).contains(c)),
        ..AnalyticsFilter::since(since_ms)
    };
    Ok(Resolved {
        filter,
        groups,
        services,
        versions,
        routes,
        route_names,
        consumers,
        consumer_names,
    })
}

async fn analytics_page(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    q: web::Query<AnalyticsQuery>,
) -> PageResult {
    let (key, label, secs) = charts::frame(if q.frame.is_empty() { "24h" } else { &q.frame });
    let step = charts::step_for(secs);
    let now = now_ms();
    let since = (now - secs * 1000).div_euclid(step * 1000) * step * 1000 + step * 1000;
    let query = q.into_inner();
    let view = if query.view == "table" {
        "table"
    } else {
        "chart"
    };
    let class = query.class.clone();
    let (resolved, tiles, points, codes, top, top_consumers) = state
        .store
        .run(move |s| async move {
            let r = resolve(&s, &query, since).await?;
            let tiles = tiles(&s, &r.filter, secs * 1000).await?;
            let points = s.analytics_series(&r.filter, step, now).await?;
            let codes = s.analytics_status_counts(&r.filter).await?;
            let top = s.analytics_top(&r.filter, "route_id", 10).await?;
            let top_consumers = s.analytics_top(&r.filter, "consumer_id", 10).await?;
            Ok::<_, StoreError>((r, tiles, points, codes, top, top_consumers))
        })
        .await
        .map_err(WebError::from)?;
    let csv = format!(
        "/analytics.csv?frame={key}&group={}&service={}&version={}&route={}&consumer={}&class={}",
        resolved
            .filter
            .group
            .map(|u| u.to_string())
            .unwrap_or_default(),
        resolved
            .services
            .iter()
            .find(|c| c.selected)
            .map(|c| c.id.clone())
            .unwrap_or_default(),
        resolved
            .filter
            .version
            .map(|u| u.to_string())
            .unwrap_or_default(),
        resolved
            .filter
            .route
            .map(|u| u.to_string())
            .unwrap_or_default(),
        resolved
            .filter
            .consumer
            .map(|u| u.to_string())
            .unwrap_or_default(),
        class
    );
    let page = AnalyticsPage {
        frame: key,
        frame_label: label,
        view,
        class: &class,
        chart: charts::stacked_bars(&points, step, "Requests per status class"),
        step: charts::step_label(step),
        series: series_rows(&points, step),
        errors: codes.into_iter().filter(|c| c.status >= 400).collect(),
        top: top
            .into_iter()
            .map(|t| TopRoute {
                name: resolved
                    .route_names
                    .get(&t.id)
                    .cloned()
                    .unwrap_or_else(|| format!("deleted route {}", &t.id[..8.min(t.id.len())])),
                requests: t.requests,
                errors: t.errors,
            })
            .collect(),
        top_consumers: top_consumers
            .into_iter()
            .filter(|t| !t.id.is_empty())
            .map(|t| TopRoute {
                name: resolved
                    .consumer_names
                    .get(&t.id)
                    .cloned()
                    .unwrap_or_else(|| format!("deleted consumer {}", &t.id[..8.min(t.id.len())])),
                requests: t.requests,
                errors: t.errors,
            })
            .collect(),
        groups: resolved.groups,
        services: resolved.services,
        versions: resolved.versions,
        routes: resolved.routes,
        consumers: resolved.consumers,
        tiles,
        csv,
    };
    Page {
        title: "Analytics",
        nav: "analytics",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(&req, &page)
}

pub fn series_rows(
    points: &[crate::store::SeriesPoint],
    step: i64,
) -> Vec<(String, i64, i64, i64, i64)> {
    points
        .iter()
        .map(|p| {
            (
                charts::fmt_step(p.start_ms, step),
                p.classes[0] + p.classes[1],
                p.classes[2],
                p.classes[3],
                p.classes[4],
            )
        })
        .collect()
}

/// The traffic series of the Analytics page's filters as CSV.
async fn analytics_csv(
    state: web::Data<State>,
    _user: CurrentUser,
    q: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, super::ConsoleError> {
    let (key, _, secs) = charts::frame(if q.frame.is_empty() { "24h" } else { &q.frame });
    let step = charts::step_for(secs);
    let now = now_ms();
    let since = (now - secs * 1000).div_euclid(step * 1000) * step * 1000 + step * 1000;
    let query = q.into_inner();
    let points = state
        .store
        .run(move |s| async move {
            let r = resolve(&s, &query, since).await?;
            s.analytics_series(&r.filter, step, now).await
        })
        .await
        .map_err(WebError::from)?;
    let mut csv = String::from("start_utc,1xx,2xx,3xx,4xx,5xx,total\n");
    for p in &points {
        let start = time::OffsetDateTime::from_unix_timestamp(p.start_ms / 1000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let c = p.classes;
        csv.push_str(&format!(
            "{start},{},{},{},{},{},{}\n",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            p.total()
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"traffic-{key}.csv\""),
        ))
        .body(csv))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sub_millisecond_latency_reads_as_such() {
        assert_eq!(super::ms(Some(0)), "< 1 ms");
        assert_eq!(super::ms(Some(12)), "12 ms");
        assert_eq!(super::ms(None), "–");
    }
}
