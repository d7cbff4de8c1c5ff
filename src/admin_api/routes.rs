//! `/routes`, `/routes/{id|name}`, and the nested `/services/{id|name}/routes`.

use actix_web::{web, HttpRequest, HttpResponse};

use super::body;
use super::keys::{GroupKey, Key, ServiceRoute};
use super::pagination::{list_body, PageQuery};
use super::{ApiResult, State};
use crate::domain::Route;
use crate::service;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/routes").get(list_routes).post(create_route))
        .service(
            web::resource("/routes/{route}")
                .get(get_route)
                .patch(update_route)
                .put(upsert_route)
                .delete(delete_route),
        )
        .service(web::resource("/routes/{route}/service").get(get_route_service))
        .service(
            web::resource("/services/{service}/routes/{route}")
                .get(get_nested_route)
                .patch(update_nested_route)
                .delete(delete_nested_route),
        )
        .service(
            web::resource("/services/{service}/routes")
                .get(list_service_routes)
                .post(create_service_route),
        );
}

async fn list_routes(
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
            s.list_entities::<crate::domain::Route>(
                g,
                &crate::store::EntityFilter {
                    reference: None,
                    tags: tags.as_ref(),
                    ..Default::default()
                },
                offset,
                size,
            )
            .await
        })
        .await?;
    Ok(HttpResponse::Ok().json(list_body(page, req.path(), &q, size, Route::to_json)))
}

async fn list_service_routes(
    state: web::Data<State>,
    rg: GroupKey,
    key: Key,
    req: HttpRequest,
    q: web::Query<PageQuery>,
) -> ApiResult {
    let (offset, size) = q.bounds()?;
    let tags = q.tag_filter()?;
    let key = key.into_inner();
    let path = req.path().to_string();
    let page = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            let svc = s
                .get_entity::<crate::domain::GatewayService>(g, &key, None)
                .await?;
            s.list_entities::<crate::domain::Route>(
                g,
                &crate::store::EntityFilter {
                    reference: Some(svc.id),
                    tags: tags.as_ref(),
                    ..Default::default()
                },
                offset,
                size,
            )
            .await
        })
        .await?;
    Ok(HttpResponse::Ok().json(list_body(page, &path, &q, size, Route::to_json)))
}

async fn create_route(
    state: web::Data<State>,
    rg: GroupKey,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let input = body::parse(&req, &bytes)?;
    let route = state
        .store
        .run(move |s| async move {
            service::create_entity::<crate::domain::Route>(&s, rg.id(&s).await?, None, &input).await
        })
        .await?;
    Ok(HttpResponse::Created().json(route.to_json()))
}

async fn create_service_route(
    state: web::Data<State>,
    rg: GroupKey,
    key: Key,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let input = body::parse(&req, &bytes)?;
    let key = key.into_inner();
    let route = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            let svc = s
                .get_entity::<crate::domain::GatewayService>(g, &key, None)
                .await?;
            service::create_entity::<crate::domain::Route>(&s, g, Some(svc.id), &input).await
        })
        .await?;
    Ok(HttpResponse::Created().json(route.to_json()))
}

async fn get_route(state: web::Data<State>, rg: GroupKey, key: Key) -> ApiResult {
    let key = key.into_inner();
    let route = state
        .store
        .run(move |s| async move {
            s.get_entity::<crate::domain::Route>(rg.id(&s).await?, &key, None)
                .await
        })
        .await?;
    Ok(HttpResponse::Ok().json(route.to_json()))
}

async fn get_route_service(state: web::Data<State>, rg: GroupKey, key: Key) -> ApiResult {
    let key = key.into_inner();
    let svc = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            let route = s.get_entity::<crate::domain::Route>(g, &key, None).await?;
            let id = route.service.ok_or(crate::store::StoreError::NotFound)?.id;
            s.get_entity::<crate::domain::GatewayService>(g, &id.to_string(), None)
                .await
        })
        .await?;
    Ok(HttpResponse::Ok().json(svc.to_json()))
}

async fn update_route(
    state: web::Data<State>,
    rg: GroupKey,
    key: Key,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let input = body::parse(&req, &bytes)?;
    let key = key.into_inner();
    let route = state
        .store
        .run(move |s| async move {
            service::update_entity::<crate::domain::Route>(&s, rg.id(&s).await?, &key, None, &input)
                .await
        })
        .await?;
    Ok(HttpResponse::Ok().json(route.to_json()))
}

async fn upsert_route(
    state: web::Data<State>,
    rg: GroupKey,
    key: Key,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let input = body::parse(&req, &bytes)?;
    let key = key.into_inner();
    let route = state
        .store
        .run(move |s| async move {
            service::upsert_entity::<crate::domain::Route>(&s, rg.id(&s).await?, &key, None, &input)
                .await
        })
        .await?;
    Ok(HttpResponse::Ok().json(route.to_json()))
}

async fn delete_route(state: web::Data<State>, rg: GroupKey, key: Key) -> ApiResult {
    let key = key.into_inner();
    state
        .store
        .run(move |s| async move {
            service::delete_entity::<crate::domain::Route>(&s, rg.id(&s).await?, &key, None).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The route `route` if it belongs to `service` (both by id or name), as Kong's nested paths do.
async fn route_of_service(
    s: &crate::store::Store,
    group: uuid::Uuid,
    service: &str,
    route: &str,
) -> Result<Route, crate::store::StoreError> {
    let svc = s
        .get_entity::<crate::domain::GatewayService>(group, service, None)
        .await?;
    let r = s
        .get_entity::<crate::domain::Route>(group, route, None)
        .await?;
    if r.service.as_ref().map(|f| f.id) != Some(svc.id) {
        return Err(crate::store::StoreError::NotFound);
    }
    Ok(r)
}

async fn get_nested_route(state: web::Data<State>, rg: GroupKey, path: ServiceRoute) -> ApiResult {
    let (service, route) = path.into_inner();
    let r = state
        .store
        .run(move |s| async move { route_of_service(&s, rg.id(&s).await?, &service, &route).await })
        .await?;
    Ok(HttpResponse::Ok().json(r.to_json()))
}

async fn update_nested_route(
    state: web::Data<State>,
    rg: GroupKey,
    path: ServiceRoute,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult {
    let input = body::parse(&req, &bytes)?;
    let (service, route) = path.into_inner();
    let r = state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            let existing = route_of_service(&s, g, &service, &route).await?;
            service::update_entity::<crate::domain::Route>(
                &s,
                g,
                &existing.id.to_string(),
                None,
                &input,
            )
            .await
        })
        .await?;
    Ok(HttpResponse::Ok().json(r.to_json()))
}

async fn delete_nested_route(
    state: web::Data<State>,
    rg: GroupKey,
    path: ServiceRoute,
) -> ApiResult {
    let (service, route) = path.into_inner();
    state
        .store
        .run(move |s| async move {
            let g = rg.id(&s).await?;
            match route_of_service(&s, g, &service, &route).await {
                Ok(r) => {
                    service::delete_entity::<crate::domain::Route>(&s, g, &r.id.to_string(), None)
                        .await
                }
                Err(crate::store::StoreError::NotFound) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
