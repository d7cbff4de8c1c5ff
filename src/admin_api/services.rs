//! `/services` and `/services/{id|name}`.

use actix_web::{web, HttpRequest, HttpResponse};

use super::body;
use super::keys::{GroupKey, Key};
use super::pagination::{list_body, PageQuery};
use super::{ApiResult, State};
use crate::domain::GatewayService;
use crate::service;

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
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            s.list_entities::<crate::domain::GatewayService>(
                g,
                &crate::store::EntityFilter {
                    tags: tags.as_ref(),
                    ..Default::default()
                },
                offset,
                size,
            )
            .await
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
        .run(move |s| async move {
            service::create_entity::<crate::domain::GatewayService>(
                &s,
                rg.id(&s).await?,
                None,
                &input,
            )
            .await
        })
        .await?;
    Ok(HttpResponse::Created().json(svc.to_json()))
}

async fn get_service(state: web::Data<State>, rg: GroupKey, key: Key) -> ApiResult {
    let key = key.into_inner();
    let svc = state
        .store
        .run(move |s| async move {
            s.get_entity::<crate::domain::GatewayService>(rg.id(&s).await?, &key, None)
                .await
        })
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
        .run(move |s| async move {
            service::update_entity::<crate::domain::GatewayService>(
                &s,
                rg.id(&s).await?,
                &key,
                None,
                &input,
            )
            .await
        })
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
        .run(move |s| async move {
            service::upsert_entity::<crate::domain::GatewayService>(
                &s,
                rg.id(&s).await?,
                &key,
                None,
                &input,
            )
            .await
        })
        .await?;
    Ok(HttpResponse::Ok().json(svc.to_json()))
}

async fn delete_service(state: web::Data<State>, rg: GroupKey, key: Key) -> ApiResult {
    let key = key.into_inner();
    state
        .store
        .run(move |s| async move {
            service::delete_entity::<crate::domain::GatewayService>(
                &s,
                rg.id(&s).await?,
                &key,
                None,
            )
            .await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
