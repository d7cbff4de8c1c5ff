//! Service Hub: the catalog list (filtered by name, key or description, paged), creating a
//! service, its overview, editing its name, description and labels in place, deleting it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::paging::{PageParams, Pager};
use super::session::CsrfForm;
use super::{
    fmt_time, parse_uuid, redirect_after_post, save_error, CurrentUser, Page, PageResult, State,
};
use crate::domain::catalog::{CatalogService, NewCatalogService, ServiceVersion};
use crate::domain::FieldErrors;
use crate::store::StoreError;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/services", web::get().to(list_services))
        .route("/services", web::post().to(create_service))
        .route("/services/new", web::get().to(new_service))
        .route("/services/{sid}", web::get().to(show_service))
        .route("/services/{sid}/edit", web::get().to(edit_service))
        .route("/services/{sid}/edit", web::post().to(update_service))
        .route("/services/{sid}/delete", web::post().to(delete_service));
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(flatten)]
    paging: PageParams,
}

#[derive(Template)]
#[template(path = "services.html")]
struct ServicesPage<'a> {
    q: &'a str,
    services: Vec<(CatalogService, i64, CardStats)>,
    pager: Pager,
}

/// A catalog card's last 7 days.
pub struct CardStats {
    pub requests: i64,
    pub error_rate: String,
    pub p99: String,
}

async fn card_stats(s: &crate::store::Store, service: uuid::Uuid) -> Result<CardStats, StoreError> {
    let versions = s
        .list_versions(service)
        .await?
        .iter()
        .map(|v| v.id)
        .collect();
    let filter = crate::store::AnalyticsFilter {
        versions: Some(versions),
        ..crate::store::AnalyticsFilter::since(super::analytics::now_ms() - 7 * 86_400_000)
    };
    let t = s.analytics_totals(&filter).await?;
    let p = s.analytics_percentiles(&filter).await?;
    Ok(CardStats {
        requests: t.requests,
        error_rate: if t.requests == 0 {
            "–".into()
        } else {
            format!("{:.1} %", t.errors as f64 * 100.0 / t.requests as f64)
        },
        p99: super::analytics::ms(p.p99),
    })
}

async fn list_services(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    q: web::Query<ListQuery>,
) -> PageResult {
    let filter = q.q.trim().to_string();
    let mut pager = Pager::new(&q.paging, "/services", &[("q", &filter)]);
    let (f2, offset, size) = (filter.clone(), pager.offset(), pager.size);
    let (services, total) = state
        .store
        .run(move |s| async move {
            let (page, total) = s.list_catalog_services_page(&f2, offset, size).await?;
            let mut out = Vec::new();
            for (svc, n) in page {
                let stats = card_stats(&s, svc.id).await?;
                out.push((svc, n, stats));
            }
            Ok::<_, StoreError>((out, total))
        })
        .await
        .map_err(WebError::from)?;
    pager.total = total;
    Page {
        title: "Service Hub",
        nav: "services",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(
        &req,
        &ServicesPage {
            q: &filter,
            services,
            pager,
        },
    )
}

#[derive(Template)]
#[template(path = "service_new.html")]
struct NewServicePage<'a> {
    csrf: &'a str,
    display_name: &'a str,
    description: &'a str,
    errors: FieldErrors,
}

async fn new_service(req: HttpRequest, user: CurrentUser) -> PageResult {
    Page {
        title: "New service",
        nav: "services",
        user: Some(&user),
        csrf: &user.csrf,
    }
    .render(
        &req,
        &NewServicePage {
            csrf: &user.csrf,
            display_name: "",
            description: "",
            errors: FieldErrors::new(),
        },
    )
}

async fn create_service(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let display_name = form.get("display_name").to_string();
    let description = form.get("description").to_string();
    let result = match NewCatalogService::parse(&display_name, &description) {
        Ok(new) => state
            .store
            .run(move |s| async move { crate::service::catalog::create_service(&s, &new).await })
            .await
            .map_err(|e| {
                save_error(e, "display_name", || {
                    FieldErrors::single(
                        "display_name",
                        "A service with this name (or the same key) already exists",
                    )
                })
            }),
        Err(e) => Err(e),
    };
    match result {
        Ok(svc) => Ok(redirect_after_post(&req, &format!("/services/{}", svc.id))),
        Err(errors) => Page {
            title: "New service",
            nav: "services",
            user: Some(&user),
            csrf: &user.csrf,
        }
        .render_status(
            &req,
            &NewServicePage {
                csrf: &user.csrf,
                display_name: &display_name,
                description: &description,
                errors,
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

pub struct VersionRow {
    pub version: ServiceVersion,
    pub group_name: String,
}

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage<'a> {
    csrf: &'a str,
    service: CatalogService,
    versions: Vec<VersionRow>,
    modified: String,
    delete_error: &'a str,
    /// The header as a form (Edit), with what was typed and the errors beside the fields.
    edit: Option<EditForm>,
    tiles: super::analytics::Tiles,
    frame: &'a str,
    frame_label: &'a str,
    /// Requests and errors per version in the frame, busiest first.
    traffic: Vec<(String, i64, i64)>,
}

/// The in-place edit of a service's name, description and labels.
pub struct EditForm {
    pub display_name: String,
    pub description: String,
    pub labels: String,
    pub errors: FieldErrors,
}

impl ServicePage<'_> {
    fn frames(&self) -> &'static [(&'static str, &'static str, i64)] {
        super::charts::FRAMES
    }

    fn labels(&self) -> Vec<String> {
        self.service
            .labels
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect()
    }
}

/// What a service page shows besides the service: a refused delete or an open edit form.
struct Shown<'a> {
    frame: &'a str,
    delete_error: &'a str,
    edit: Option<EditForm>,
    status: StatusCode,
}

async fn render_service(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    sid: uuid::Uuid,
    shown: Shown<'_>,
) -> PageResult {
    let (service, versions) = load_service(state, sid).await?;
    let modified = fmt_time(service.updated_at);
    let (frame, frame_label, secs) = super::charts::frame(if shown.frame.is_empty() {
        "24h"
    } else {
        shown.frame
    });
    let (tiles, traffic) = service_traffic(state, &versions, secs).await?;
    Page {
        title: &service.display_name.clone(),
        nav: "services",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(
        req,
        &ServicePage {
            csrf: &user.csrf,
            service,
            versions,
            modified,
            delete_error: shown.delete_error,
            edit: shown.edit,
            tiles,
            frame,
            frame_label,
            traffic,
        },
        shown.status,
    )
}

/// The service page's tiles and traffic per version for a frame.
async fn service_traffic(
    state: &State,
    versions: &[VersionRow],
    secs: i64,
) -> Result<(super::analytics::Tiles, Vec<(String, i64, i64)>), WebError> {
    let ids: Vec<uuid::Uuid> = versions.iter().map(|v| v.version.id).collect();
    let names: Vec<(String, String)> = versions
        .iter()
        .map(|v| {
            (
                v.version.id.to_string(),
                format!("{} ({})", v.version.name, v.group_name),
            )
        })
        .collect();
    state
        .store
        .run(move |s| async move {
            let filter = crate::store::AnalyticsFilter {
                versions: Some(ids),
                ..crate::store::AnalyticsFilter::since(super::analytics::now_ms() - secs * 1000)
            };
            let tiles = super::analytics::tiles(&s, &filter, secs * 1000).await?;
            let per_version = s
                .analytics_top(&filter, "version_id", 100)
                .await?
                .into_iter()
                .map(|t| {
                    let name = names
                        .iter()
                        .find(|(id, _)| *id == t.id)
                        .map(|(_, n)| n.clone())
                        .unwrap_or_else(|| t.id.clone());
                    (name, t.requests, t.errors)
                })
                .collect();
            Ok::<_, StoreError>((tiles, per_version))
        })
        .await
        .map_err(WebError::from)
}

#[derive(Deserialize)]
struct FrameQuery {
    #[serde(default)]
    frame: String,
}

async fn load_service(
    state: &State,
    sid: uuid::Uuid,
) -> Result<(CatalogService, Vec<VersionRow>), WebError> {
    state
        .store
        .run(move |s| async move {
            let svc = s.get_catalog_service(sid).await?;
            let groups = s.list_runtime_groups().await?;
            let versions = s
                .list_versions(sid)
                .await?
                .into_iter()
                .map(|v| VersionRow {
                    group_name: groups
                        .iter()
                        .find(|g| g.id == v.runtime_group_id)
                        .map(|g| g.name.clone())
                        .unwrap_or_default(),
                    version: v,
                })
                .collect();
            Ok::<_, StoreError>((svc, versions))
        })
        .await
        .map_err(WebError::from)
}

async fn show_service(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    q: web::Query<FrameQuery>,
) -> PageResult {
    let sid = parse_uuid(&path)?;
    let shown = Shown {
        frame: &q.frame,
        delete_error: "",
        edit: None,
        status: StatusCode::OK,
    };
    render_service(&req, &state, &user, sid, shown).await
}

/// The service page with its header as a form: Konnect's in-place edit, without script.
async fn edit_service(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
) -> PageResult {
    let sid = parse_uuid(&path)?;
    let (service, _) = load_service(&state, sid).await?;
    let edit = EditForm {
        display_name: service.display_name.clone(),
        description: service.description.clone(),
        labels: crate::domain::labels::format_labels(&service.labels),
        errors: FieldErrors::new(),
    };
    let shown = Shown {
        frame: "",
        delete_error: "",
        edit: Some(edit),
        status: StatusCode::OK,
    };
    render_service(&req, &state, &user, sid, shown).await
}

/// Saves the name, description and labels together, or nothing: a refused form comes back
/// in place with what was typed and each message beside its field.
async fn update_service(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let sid = parse_uuid(&path)?;
    let mut edit = EditForm {
        display_name: form.get("display_name").to_string(),
        description: form.get("description").to_string(),
        labels: form.get("labels").to_string(),
        errors: FieldErrors::new(),
    };
    let parsed =
        NewCatalogService::parse_with_labels(&edit.display_name, &edit.description, &edit.labels);
    let saved = match parsed {
        Ok(input) => state
            .store
            .run(move |s| async move {
                crate::service::catalog::update_service(&s, sid, &input).await
            })
            .await
            .map_err(|e| match e {
                crate::service::ServiceError::NotFound => Err(WebError::NotFound),
                other => Ok(save_error(other, "display_name", || {
                    FieldErrors::single(
                        "display_name",
                        "Another service has this name (or one that differs only by spaces and dashes)",
                    )
                })),
            }),
        Err(errors) => Err(Ok(errors)),
    };
    match saved {
        Ok(_) => Ok(redirect_after_post(&req, &format!("/services/{sid}"))),
        Err(Err(e)) => Err(e.into()),
        Err(Ok(errors)) => {
            edit.errors = errors;
            let shown = Shown {
                frame: "",
                delete_error: "",
                edit: Some(edit),
                status: StatusCode::UNPROCESSABLE_ENTITY,
            };
            render_service(&req, &state, &user, sid, shown).await
        }
    }
}

async fn delete_service(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let sid = parse_uuid(&path)?;
    let (service, _) = load_service(&state, sid).await?;
    if form.get("confirm_name").trim() != service.display_name {
        let msg = format!("Type \"{}\" exactly to confirm", service.display_name);
        let shown = Shown {
            frame: "",
            delete_error: &msg,
            edit: None,
            status: StatusCode::UNPROCESSABLE_ENTITY,
        };
        return render_service(&req, &state, &user, sid, shown).await;
    }
    state
        .store
        .run(move |s| async move { crate::service::catalog::delete_service(&s, sid).await })
        .await
        .map_err(WebError::from)?;
    tracing::info!(service.id = %sid, user.email = ?user.email, "catalog service deleted");
    Ok(redirect_after_post(&req, "/services"))
}
