//! A runtime group's declarative configuration in the console: **Import** (upload or paste a
//! kong.yml) shows what it would add, change field by field and remove before anything is
//! applied, then applies exactly that in one transaction; **Export** downloads the group's
//! kong.yml. Parsing, validation and the write live in the service layer.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::entities::{group_key, group_name, in_group};
use super::history::{kinds_view, KindView};
use super::plugins::GroupRef;
use super::session::{CsrfForm, FormData, FormLimit};
use super::{redirect_after_post, ConsoleError, CurrentUser, Page, PageResult, State};
use crate::domain::config_diff::summary_text;
use crate::domain::declarative::{self, DeclarativeError, Format, MAX_BYTES};
use crate::service::declarative as import;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/config/import")
            .app_data(web::PayloadConfig::new(MAX_BYTES))
            .app_data(FormLimit(MAX_BYTES))
            .route(web::get().to(show_form))
            .route(web::post().to(preview_import)),
    )
    .service(
        web::resource("/config/import/apply")
            .app_data(web::PayloadConfig::new(MAX_BYTES))
            .app_data(FormLimit(MAX_BYTES))
            .route(web::post().to(apply_import)),
    )
    .route("/config/export", web::get().to(export));
}

fn group_base() -> String {
    format!("/runtime-groups/{}", group_key())
}

/// What the page shows once a document validated.
pub struct PreviewView {
    pub base_version: u64,
    pub unchanged: bool,
    pub summary: String,
    pub warnings: Vec<String>,
}

#[derive(Template)]
#[template(path = "config_import.html")]
struct ImportPage<'a> {
    csrf: &'a str,
    group: GroupRef,
    base: String,
    tab: &'a str,
    history: String,
    /// The document as given, so a refused one comes back to be fixed and a previewed one is
    /// applied exactly.
    text: String,
    errors: Vec<String>,
    notice: String,
    preview: Option<PreviewView>,
    kinds: Vec<KindView>,
}

impl<'a> ImportPage<'a> {
    fn new(user: &'a CurrentUser, text: String) -> ImportPage<'a> {
        ImportPage {
            csrf: &user.csrf,
            group: GroupRef { name: group_name() },
            base: group_base(),
            tab: "history",
            history: format!("{}/history", group_base()),
            text,
            errors: Vec::new(),
            notice: String::new(),
            preview: None,
            kinds: Vec::new(),
        }
    }

    fn render(&self, req: &HttpRequest, user: &CurrentUser, status: StatusCode) -> PageResult {
        Page {
            title: "Import configuration",
            nav: "runtime",
            user: Some(user),
            csrf: &user.csrf,
        }
        .render_status(req, self, status)
    }
}

async fn show_form(req: HttpRequest, user: CurrentUser) -> PageResult {
    ImportPage::new(&user, String::new()).render(&req, &user, StatusCode::OK)
}

/// The document a form carries: an uploaded file wins over the text box.
fn document_text(form: &FormData) -> String {
    let file = form.get("config_file");
    if file.trim().is_empty() {
        form.get("config").to_string()
    } else {
        file.to_string()
    }
}

fn parse(text: &str) -> Result<serde_json::Value, DeclarativeError> {
    declarative::parse(text, Format::sniff(text))
}

/// The import form again, with the document and why it was refused beside it.
fn refused(req: &HttpRequest, user: &CurrentUser, text: String, errors: Vec<String>) -> PageResult {
    let mut p = ImportPage::new(user, text);
    p.errors = errors;
    p.render(req, user, StatusCode::UNPROCESSABLE_ENTITY)
}

/// Errors that belong beside the document; anything else is the console's error page.
fn document_errors(e: ConsoleError) -> Result<Vec<String>, ConsoleError> {
    match e.0 {
        WebError::Declarative { error, .. } => Ok(error.lines()),
        WebError::Unique { field, value } => Ok(vec![format!(
            "{field} '{value}' is already used by another runtime group's entity"
        )]),
        WebError::BadRequest(msg) | WebError::Conflict(msg) => Ok(vec![msg]),
        other => Err(ConsoleError(other)),
    }
}

/// Validates the document and shows what importing it would change.
async fn render_preview(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    text: String,
    notice: String,
) -> PageResult {
    let doc = match parse(&text) {
        Ok(doc) => doc,
        Err(e) => return refused(req, user, text, e.lines()),
    };
    let previewed = in_group(state, move |s, g| async move {
        import::preview(&s, g, doc).await
    })
    .await;
    let preview = match previewed {
        Ok(p) => p,
        Err(e) => return refused(req, user, text, document_errors(e)?),
    };
    let mut p = ImportPage::new(user, text);
    p.notice = notice;
    p.kinds = kinds_view(&preview.diff);
    p.preview = Some(PreviewView {
        base_version: preview.base_version,
        unchanged: preview.diff.kinds.is_empty(),
        summary: summary_text(&preview.diff.counts()),
        warnings: preview.loaded.warnings.clone(),
    });
    p.render(req, user, StatusCode::OK)
}

async fn preview_import(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let text = document_text(&form);
    if form.get("action") == "edit" {
        return ImportPage::new(&user, text).render(&req, &user, StatusCode::OK);
    }
    if text.trim().is_empty() {
        let msg = "Choose a kong.yml file or paste its content".to_string();
        return refused(&req, &user, text, vec![msg]);
    }
    render_preview(&req, &state, &user, text, String::new()).await
}

async fn apply_import(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm,
) -> PageResult {
    let text = form.get("config").to_string();
    let Ok(base) = form.get("base_version").trim().parse::<u64>() else {
        return Err(ConsoleError(WebError::BadRequest(
            "The preview this form came from is missing its version".into(),
        )));
    };
    let doc = match parse(&text) {
        Ok(doc) => doc,
        Err(e) => return refused(&req, &user, text, e.lines()),
    };
    let applied = in_group(&state, move |s, g| async move {
        import::import_at(&s, g, doc, Some(base)).await
    })
    .await;
    let imported = match applied {
        Ok(i) => i,
        // Someone changed the group after the preview: show what the file changes now.
        Err(ConsoleError(WebError::Conflict(_))) => {
            let notice = format!("The configuration changed after version {base} while you were reviewing; nothing was applied. These are the changes the file makes now.");
            return render_preview(&req, &state, &user, text, notice).await;
        }
        Err(e) => return refused(&req, &user, text, document_errors(e)?),
    };
    for w in &imported.loaded.warnings {
        tracing::warn!(warning = %w, "declarative import skipped part of the document");
    }
    tracing::info!(version = ?imported.version, user.email = ?user.email, "declarative configuration imported from the console");
    let history = format!("{}/history", group_base());
    let to = match imported.version {
        Some(v) => format!("{history}?imported={v}"),
        None => format!("{history}?imported_unchanged=1"),
    };
    Ok(redirect_after_post(&req, &to))
}

/// The group's configuration as a kong.yml download.
async fn export(state: web::Data<State>, _user: CurrentUser) -> PageResult {
    let yaml = in_group(&state, move |s, g| async move {
        import::export(&s, g).await.map_err(WebError::from)
    })
    .await?;
    let name: String = group_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"kong-{name}.yml\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(yaml))
}
