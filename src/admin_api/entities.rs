//! Kong's endpoints for upstreams, targets, certificates, SNIs and CA certificates: one set of
//! generic handlers, mounted per kind, top-level (`/upstreams/{key}`) and nested under a parent
//! (`/upstreams/{parent}/targets/{key}`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use super::body;
use super::keys::GroupKey;
use super::pagination::{list_body, PageQuery};
use super::{ApiError, ApiResult, State};
use crate::domain::{
    Acl, BasicAuthCredential, CaCertificate, Certificate, Consumer, Entity, JwtSecret,
    KeyAuthCredential, Plugin, Sni, Target, Upstream,
};
use crate::service::{self, Managed};
use crate::store::{Page, Store};
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    top::<Upstream>(cfg);
    top::<Certificate>(cfg);
    top::<Sni>(cfg);
    top::<CaCertificate>(cfg);
    top::<Consumer>(cfg);
    top::<KeyAuthCredential>(cfg);
    top::<BasicAuthCredential>(cfg);
    top::<Acl>(cfg);
    top::<JwtSecret>(cfg);
    top::<Plugin>(cfg);
    cfg.service(web::resource("/upstreams/{parent}/health").get(upstream_health))
        .service(web::resource("/upstreams/{parent}/targets/all").get(list::<Upstream, Target>))
        .service(
            web::resource("/upstreams/{parent}/targets/{key}/{health}").post(set_target_health),
        );
    nested::<Upstream, Target>(cfg);
    nested::<Certificate, Sni>(cfg);
    nested::<Consumer, KeyAuthCredential>(cfg);
    nested::<Consumer, BasicAuthCredential>(cfg);
    nested::<Consumer, Acl>(cfg);
    nested::<Consumer, JwtSecret>(cfg);
}

fn top<T: Managed>(cfg: &mut web::ServiceConfig) {
    let base = format!("/{}", T::PATH);
    cfg.service(
        web::resource(base.clone())
            .get(list::<NoParent, T>)
            .post(create::<NoParent, T>),
    )
    .service(
        web::resource(format!("{base}/{{key}}"))
            .get(get::<NoParent, T>)
            .patch(update::<NoParent, T>)
            .put(upsert::<NoParent, T>)
            .delete(delete::<NoParent, T>),
    );
}

fn nested<P: Managed, T: Managed>(cfg: &mut web::ServiceConfig) {
    let base = format!("/{}/{{parent}}/{}", P::PATH, T::NESTED_PATH);
    cfg.service(
        web::resource(base.clone())
            .get(list::<P, T>)
            .post(create::<P, T>),
    )
    .service(
        web::resource(format!("{base}/{{key}}"))
            .get(get::<P, T>)
            .patch(update::<P, T>)
            .put(upsert::<P, T>)
            .delete(delete::<P, T>),
    );
}

/// How a handler finds the parent named in its path (nothing, for top-level kinds).
trait Parent: 'static {
    fn resolve(
        store: &Store,
        group: Uuid,
        key: Option<&str>,
    ) -> impl std::future::Future<Output = Result<Option<Uuid>, WebError>> + Send;
}

struct NoParent;

impl Parent for NoParent {
    async fn resolve(_: &Store, _: Uuid, _: Option<&str>) -> Result<Option<Uuid>, WebError> {
        Ok(None)
    }
}

impl<P: Managed> Parent for P {
    async fn resolve(
        store: &Store,
        group: Uuid,
        key: Option<&str>,
    ) -> Result<Option<Uuid>, WebError> {
        let key = key.ok_or(WebError::NotFound)?;
        Ok(Some(store.get_entity::<P>(group, key, None).await?.id()))
    }
}

/// The request's path parameters: parent key (nested routes) and entity key.
struct Keys {
    parent: Option<String>,
    key: String,
}

fn keys(req: &HttpRequest) -> Keys {
    Keys {
        parent: req.match_info().get("parent").map(str::to_string),
        key: req.match_info().get("key").unwrap_or("").to_string(),
    }
}

fn parent_of(req: &HttpRequest) -> (GroupKey, Option<String>) {
    (GroupKey::of(req), keys(req).parent)
}

/// Runs `f` on the store's runtime with the request's runtime group and the resolved parent.
async fn with_parent<P: Parent, R: Send + 'static, E, Fut>(
    state: &State,
    (rg, parent): (GroupKey, Option<String>),
    f: impl FnOnce(Store, Uuid, Option<Uuid>) -> Fut + Send + 'static,
) -> Result<R, ApiError>
where
    Fut: std::future::Future<Output = Result<R, E>> + Send + 'static,
    E: Into<WebError> + Send + 'static,
{
    Ok(state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            let p = P::resolve(&s, g, parent.as_deref()).await?;
            f(s, g, p).await.map_err(Into::into)
        })
        .await?)
}

async fn list<P: Parent, T: Managed>(
    state: web::Data<State>,
    req: HttpRequest,
    q: web::Query<PageQuery>,
) -> ApiResult {
    let (offset, size) = q.bounds()?;
    let tags = q.tag_filter()?;
    let (data, next) =
        with_parent::<P, _, _, _>(&state, parent_of(&req), move |s, g, p| async move {
            let filter = crate::store::EntityFilter {
                parent: p,
                tags: tags.as_ref(),
                ..Default::default()
            };
            let page: Page<T> = s.list_entities(g, &filter, offset, size).await?;
            Ok::<_, crate::web_error::WebError>((
                T::present(&s, g, page.items).await?,
                page.next_offset,
            ))
        })
        .await?;
    let page = Page {
        items: data,
        next_offset: next,
    };
    Ok(HttpResponse::Ok().json(list_body(page, req.path(), &q, size, Value::clone)))
}

async fn create<P: Parent, T: Managed>(
    state: web::Data<State>,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let input = body::parse(&req, &bytes)?;
    let v = with_parent::<P, _, _, _>(&state, parent_of(&req), move |s, g, p| async move {
        let e: T = service::create_entity(&s, g, p, &input).await?;
        service::present_one(&s, g, e).await
    })
    .await?;
    Ok(HttpResponse::Created().json(v))
}

async fn get<P: Parent, T: Managed>(state: web::Data<State>, req: HttpRequest) -> ApiResult {
    let k = keys(&req);
    let v = with_parent::<P, _, _, _>(
        &state,
        (GroupKey::of(&req), k.parent),
        move |s, g, p| async move {
            let e: T = s.get_entity(g, &k.key, p).await?;
            service::present_one(&s, g, e).await
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Which write a PATCH or PUT makes.
#[derive(Clone, Copy)]
enum WriteOp {
    Update,
    Upsert,
}

/// PATCH and PUT: parse the body, apply `op` to the keyed entity, present the result.
async fn write<P: Parent, T: Managed>(
    state: &State,
    req: &HttpRequest,
    bytes: &[u8],
    op: WriteOp,
) -> ApiResult {
    let input = body::parse(req, bytes)?;
    let k = keys(req);
    let v = with_parent::<P, _, _, _>(
        state,
        (GroupKey::of(req), k.parent),
        move |s, g, p| async move {
            let e: T = match op {
                WriteOp::Update => service::update_entity(&s, g, &k.key, p, &input).await?,
                WriteOp::Upsert => service::upsert_entity(&s, g, &k.key, p, &input).await?,
            };
            service::present_one(&s, g, e).await
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

async fn update<P: Parent, T: Managed>(
    state: web::Data<State>,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    write::<P, T>(&state, &req, &bytes, WriteOp::Update).await
}

async fn upsert<P: Parent, T: Managed>(
    state: web::Data<State>,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    write::<P, T>(&state, &req, &bytes, WriteOp::Upsert).await
}

async fn delete<P: Parent, T: Managed>(state: web::Data<State>, req: HttpRequest) -> ApiResult {
    let k = keys(&req);
    with_parent::<P, _, _, _>(
        &state,
        (GroupKey::of(&req), k.parent),
        move |s, g, p| async move { service::delete_entity::<T>(&s, g, &k.key, p).await },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /upstreams/{u}/health`: every target with the health the proxy currently sees.
async fn upstream_health(state: web::Data<State>, req: HttpRequest) -> ApiResult {
    let (upstream, targets) =
        with_parent::<Upstream, _, _, _>(&state, parent_of(&req), move |s, g, p| async move {
            let id = p.ok_or(WebError::NotFound)?;
            Ok::<_, crate::web_error::WebError>((
                id,
                s.list_all_entities::<Target>(g, Some(id)).await?,
            ))
        })
        .await?;
    let health = state.proxy.current().upstream_health(upstream);
    let data: Vec<Value> = targets
        .iter()
        .map(|t| {
            let h = health
                .iter()
                .find(|h| h.target == t.target)
                .map(|h| h.state.as_str())
                .unwrap_or("HEALTHCHECKS_OFF");
            let mut v = t.to_json();
            if let Value::Object(m) = &mut v {
                m.insert("health".into(), json!(h));
                m.insert(
                    "data".into(),
                    json!({ "addresses": [{ "health": h, "weight": t.weight }] }),
                );
            }
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": data,
        "total": data.len(),
        "next": null,
        "node_id": null,
    })))
}

/// `POST /upstreams/{u}/targets/{t}/healthy|unhealthy`: overrides a target's health on this
/// node until the health checks say otherwise.
async fn set_target_health(state: web::Data<State>, req: HttpRequest) -> ApiResult {
    let k = keys(&req);
    let healthy = match req.match_info().get("health") {
        Some("healthy") => true,
        Some("unhealthy") => false,
        _ => return Err(WebError::NotFound.into()),
    };
    let (upstream, target) = with_parent::<Upstream, _, _, _>(
        &state,
        (GroupKey::of(&req), k.parent),
        move |s, g, p| async move {
            let t: Target = s.get_entity(g, &k.key, p).await?;
            Ok::<_, crate::web_error::WebError>((t.upstream.id, t.target))
        },
    )
    .await?;
    if !state
        .proxy
        .current()
        .set_target_health(upstream, &target, healthy)
    {
        return Err(WebError::BadRequest(
            "the target is not in the configuration the proxy serves yet; try again".into(),
        )
        .into());
    }
    Ok(HttpResponse::NoContent().finish())
}
