//! A runtime group's configuration history in the Admin API: the versions (paged as Kong pages,
//! filtered by entity, kind, actor and time), one version with its diff against the version
//! before it or the current configuration, and restoring a version as a new one.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::keys::GroupKey;
use super::pagination::PageQuery;
use super::{ApiResult, State};
use crate::domain::history::ConfigVersion;
use crate::service::history::{self, Against};
use crate::store::VersionFilter;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/runtime-groups/{rg}/config-versions").get(list_versions))
        .service(web::resource("/runtime-groups/{rg}/config-versions/{n}").get(get_version))
        .service(
            web::resource("/runtime-groups/{rg}/config-versions/{n}/restore").post(restore_version),
        );
}

/// A version's metadata as the Admin API shows it.
pub fn version_json(v: &ConfigVersion) -> Value {
    json!({
        "version": v.version,
        "created_at": v.created_at,
        "hash": v.hash,
        "actor": {
            "type": v.source.actor.kind,
            "id": v.source.actor.id,
            "name": v.source.actor.name,
        },
        "how": { "channel": v.source.channel, "detail": v.source.detail },
        "summary": v.summary,
        "summary_text": v.summary_text(),
    })
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    size: Option<String>,
    offset: Option<String>,
    entity_id: Option<String>,
    kind: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

fn seconds(name: &str, v: &Option<String>) -> Result<Option<i64>, WebError> {
    match v.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            WebError::BadRequest(format!("{name} must be a Unix timestamp in seconds"))
        }),
    }
}

impl HistoryQuery {
    fn filter(&self) -> Result<VersionFilter, WebError> {
        Ok(VersionFilter {
            entity_id: self.entity_id.clone(),
            kind: self.kind.clone(),
            actor: self.actor.clone(),
            since: seconds("since", &self.since)?,
            until: seconds("until", &self.until)?,
        })
    }

    /// The filters again, for the `next` link.
    fn carried(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("entity_id", &self.entity_id),
            ("kind", &self.kind),
            ("actor", &self.actor),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if let Some(v) = v.as_deref().filter(|s| !s.is_empty()) {
                q.append_pair(k, v);
            }
        }
        let q = q.finish();
        if q.is_empty() {
            q
        } else {
            format!("&{q}")
        }
    }
}

fn version_number(req: &HttpRequest) -> Result<u64, WebError> {
    req.match_info()
        .get("n")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or(WebError::NotFound)
}

async fn list_versions(
    state: web::Data<State>,
    rg: GroupKey,
    req: HttpRequest,
    q: web::Query<HistoryQuery>,
) -> ApiResult {
    let q = q.into_inner();
    let (offset, size) = PageQuery {
        size: q.size.clone(),
        offset: q.offset.clone(),
        tags: None,
    }
    .bounds()?;
    let filter = q.filter()?;
    let page = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            s.list_config_versions(g, &filter, offset, size).await
        })
        .await?;
    let data: Vec<Value> = page.items.iter().map(version_json).collect();
    Ok(HttpResponse::Ok().json(match page.next_offset {
        Some(next) => json!({
            "data": data,
            "offset": next.to_string(),
            "next": format!("{}?offset={next}&size={size}{}", req.path(), q.carried()),
        }),
        None => json!({ "data": data, "next": null }),
    }))
}

#[derive(Debug, Deserialize)]
struct AgainstQuery {
    against: Option<String>,
}

async fn get_version(
    state: web::Data<State>,
    rg: GroupKey,
    req: HttpRequest,
    q: web::Query<AgainstQuery>,
) -> ApiResult {
    let n = version_number(&req)?;
    let against = match q.against.as_deref() {
        None | Some("") | Some("previous") => Against::Previous,
        Some("current") => Against::Current,
        Some(other) => {
            return Err(WebError::BadRequest(format!(
                "against must be 'previous' or 'current', not '{other}'"
            ))
            .into())
        }
    };
    let compared = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            history::compare(&s, g, n, against)
                .await
                .map_err(WebError::from)
        })
        .await?;
    let mut body = version_json(&compared.version);
    body["against"] = json!(match against {
        Against::Previous => "previous",
        Against::Current => "current",
    });
    body["base_version"] = json!(compared.base);
    body["diff"] = serde_json::to_value(&compared.diff)
        .map_err(|e| WebError::internal("encoding a diff failed", e))?;
    Ok(HttpResponse::Ok().json(body))
}

async fn restore_version(state: web::Data<State>, rg: GroupKey, req: HttpRequest) -> ApiResult {
    let n = version_number(&req)?;
    let (restored, meta) = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            let restored = history::restore(&s, g, n).await.map_err(WebError::from)?;
            let shown = restored
                .version
                .unwrap_or(s.latest_config_version(g).await?);
            let (meta, _) = s.get_config_version(g, shown).await?;
            Ok::<_, WebError>((restored, meta))
        })
        .await?;
    let mut body = version_json(&meta);
    body["restored_from"] = json!(restored.from);
    body["changed"] = json!(restored.version.is_some());
    Ok(if restored.version.is_some() {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}
