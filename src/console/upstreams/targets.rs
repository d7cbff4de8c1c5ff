//! An upstream's targets: adding one, deleting one, and marking one healthy or unhealthy on
//! this node's proxy (until its health checks say otherwise).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use uuid::Uuid;

use super::form::TargetForm;
use super::{render_upstream, upstream_path, Extras};
use crate::console::entities::{self, in_group};
use crate::console::session::CsrfForm;
use crate::console::{parse_uuid, redirect_after_post, CurrentUser, PageResult, State};
use crate::domain::{FieldErrors, Target, Upstream};
use crate::service;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/upstreams/{id}/targets", web::post().to(create_target))
        .route(
            "/upstreams/{id}/targets/{tid}/delete",
            web::post().to(delete_target),
        )
        .route(
            "/upstreams/{id}/targets/{tid}/{health:healthy|unhealthy}",
            web::post().to(set_target_health),
        );
}

async fn create_target(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    // The upstream must exist before its target form is judged.
    let upstream: Upstream = in_group(&state, move |s, g| async move {
        Ok::<_, crate::web_error::WebError>(s.get_entity(g, &id.to_string(), None).await?)
    })
    .await?;
    let form = TargetForm::from_form(&data);
    let (input, errors) = form.to_input();
    let created = entities::create::<Target>(&state, Some(id), input, errors, |t| {
        FieldErrors::single(
            "target",
            format!("This upstream already has the target '{t}'"),
        )
    })
    .await?;
    match created {
        Ok(t) => {
            tracing::info!(upstream.name = ?upstream.name, target = ?t.target, user.email = ?user.email, "target added");
            Ok(redirect_after_post(&req, &upstream_path(id)))
        }
        Err(errors) => {
            let extras = Extras {
                target: form,
                errors,
                ..Extras::default()
            };
            render_upstream(
                &req,
                &state,
                &user,
                id,
                extras,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// The target `tid` of upstream `id`; not found unless it belongs to that upstream.
async fn find_target(
    state: &State,
    id: Uuid,
    tid: Uuid,
) -> Result<Target, crate::console::ConsoleError> {
    in_group(state, move |s, g| async move {
        Ok::<_, crate::web_error::WebError>(
            s.get_entity::<Target>(g, &tid.to_string(), Some(id))
                .await?,
        )
    })
    .await
}

async fn delete_target(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String, String)>,
    _form: CsrfForm,
) -> PageResult {
    let (id, tid) = (parse_uuid(&path.1)?, parse_uuid(&path.2)?);
    let target = find_target(&state, id, tid).await?;
    in_group(&state, move |s, g| async move {
        service::delete_entity::<Target>(&s, g, &tid.to_string(), Some(id)).await
    })
    .await?;
    tracing::info!(upstream.id = %id, target = ?target.target, user.email = ?user.email, "target deleted");
    Ok(redirect_after_post(&req, &upstream_path(id)))
}

async fn set_target_health(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String, String, String)>,
    _form: CsrfForm,
) -> PageResult {
    let (id, tid) = (parse_uuid(&path.1)?, parse_uuid(&path.2)?);
    let healthy = path.3 == "healthy";
    let target = find_target(&state, id, tid).await?;
    if !state
        .proxy
        .current()
        .set_target_health(id, &target.target, healthy)
    {
        let extras = Extras {
            notice: format!(
                "The proxy has not loaded target {} yet; try again in a moment.",
                target.target
            ),
            ..Extras::default()
        };
        return render_upstream(&req, &state, &user, id, extras, StatusCode::CONFLICT).await;
    }
    tracing::info!(upstream.id = %id, target = ?target.target, healthy, user.email = ?user.email, "target health set by hand");
    Ok(redirect_after_post(&req, &upstream_path(id)))
}
