//! `/services` and `/services/{id|name}`.

use actix_web::{web, HttpRequest, HttpResponse};

use super::body;
use super::group::{GroupKey, Key};
use super::pagination::{list_body, PageQuery};
use super::{ApiResult, State};
use crate::domain::GatewayService;
use crate::manage;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/services")
            .get(list_services)
            .post(create_service),
    )
    .service(
        web::resource("/services/{service}")
            .get(get_service)
            .patch(update_service)
            .put(upsert_service)
            .delete(delete_service),
    );
}

async fn list_services(
    state: web::Data<State>,
    rg: GroupKey,
    req: HttpRequest,
    q: web::Query<PageQuery>,
) -> ApiResult {
    let (offset, size) = q.bounds()?;
    let tags = q.tag_filter()?;
    let page = state
        .store
        .run(move |s| {
            let g = rg.id(s)?;
            s.list_gateway_services(g, tags.as_ref(), offset, size)
        })
        .await?;
    Ok(HttpResponse::Ok().json(list_body(
        page,
        req.path(),
        &q,
        size,
        GatewayService::to_json,
    )))
}

async fn create_service(
    state: web::Data<State>,
    rg: GroupKey,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let input = body::parse(&req, &bytes)?;
    let svc = state
        .store
        .run(move |s| manage::create_service(s, rg.id(s)?, &input))
        .await?;
    Ok(HttpResponse::Created().json(svc.to_json()))
}

async fn get_service(state: web::Data<State>, rg: GroupKey, key: Key) -> ApiResult {
    let key = key.into_inner();
    let svc = state
        .store
        .run(move |s| s.get_gateway_service(rg.id(s)?, &key))
        .await?;
    Ok(HttpResponse::Ok().json(svc.to_json()))
}

async fn update_service(
    state: web::Data<State>,
    rg: GroupKey,
    key: Key,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let input = body::parse(&req, &bytes)?;
    let key = key.into_inner();
    let svc = state
        .store
        .run(move |s| manage::update_service(s, rg.id(s)?, &key, &input))
        .await?;
    Ok(HttpResponse::Ok().json(svc.to_json()))
}

async fn upsert_service(
    state: web::Data<State>,
    rg: GroupKey,
    key: Key,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let input = body::parse(&req, &bytes)?;
    let key = key.into_inner();
    let svc = state
        .store
        .run(move |s| manage::upsert_service(s, rg.id(s)?, &key, &input))
        .await?;
    Ok(HttpResponse::Ok().json(svc.to_json()))
}

async fn delete_service(state: web::Data<State>, rg: GroupKey, key: Key) -> ApiResult {
    let key = key.into_inner();
    state
        .store
        .run(move |s| manage::delete_service(s, rg.id(s)?, &key))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
