//! The Consumers page of a runtime group: who calls the APIs, with their credentials. A
//! key-auth key is shown in full once, right after it is created (copyable), and masked after
//! that. Saves go through the service layer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::entities::{self, group_key, group_name, in_group};
use super::plugins::GroupRef;
use super::session::CsrfForm;
use super::{fmt_time, parse_uuid, redirect_after_post, CurrentUser, Page, PageResult, State};
use crate::domain::{Consumer, FieldErrors, KeyAuthCredential, Plugin};
use crate::service;
use crate::web_error::WebError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/consumers", web::get().to(list))
        .route("/consumers", web::post().to(create))
        .route("/consumers/{id}", web::get().to(show))
        .route("/consumers/{id}/delete", web::post().to(delete))
        .route("/consumers/{id}/key-auth", web::post().to(create_key))
        .route(
            "/consumers/{id}/key-auth/{key}/delete",
            web::post().to(delete_key),
        );
}

fn base() -> String {
    format!("/runtime-groups/{}/consumers", group_key())
}

fn group_base() -> String {
    format!("/runtime-groups/{}", group_key())
}

fn page<'a>(title: &'a str, user: &'a CurrentUser) -> Page<'a> {
    Page {
        title,
        nav: "runtime",
        user: Some(user),
        csrf: &user.csrf,
    }
}

pub struct Row {
    pub consumer: Consumer,
    pub keys: usize,
    pub created: String,
}

#[derive(Default)]
pub struct NewConsumer {
    pub username: String,
    pub custom_id: String,
    pub tags: String,
}

#[derive(Template)]
#[template(path = "consumers.html")]
struct ListPage<'a> {
    csrf: &'a str,
    group: GroupRef,
    base: String,
    tab: &'a str,
    consumers: String,
    rows: Vec<Row>,
    form: NewConsumer,
    errors: FieldErrors,
    unplaced: Vec<String>,
}

async fn render_list(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    form: NewConsumer,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let (consumers, keys) = in_group(state, move |s, g| async move {
        let c: Vec<Consumer> = s.list_all_entities(g, None).await?;
        let k: Vec<KeyAuthCredential> = s.list_all_entities(g, None).await?;
        Ok::<_, WebError>((c, k))
    })
    .await?;
    let rows = consumers
        .into_iter()
        .map(|c| Row {
            keys: keys.iter().filter(|k| k.consumer.id == c.id).count(),
            created: fmt_time(c.created_at),
            consumer: c,
        })
        .collect();
    let unplaced = entities::unplaced(&errors, &["username", "custom_id", "tags"]);
    let p = ListPage {
        csrf: &user.csrf,
        group: GroupRef { name: group_name() },
        base: group_base(),
        tab: "consumers",
        consumers: base(),
        rows,
        form,
        errors,
        unplaced,
    };
    page("Consumers", user).render_status(req, &p, status)
}

async fn list(req: HttpRequest, state: web::Data<State>, user: CurrentUser) -> PageResult {
    render_list(
        &req,
        &state,
        &user,
        NewConsumer::default(),
        FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

async fn create(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let form = NewConsumer {
        username: data.get("username").trim().to_string(),
        custom_id: data.get("custom_id").trim().to_string(),
        tags: data.get("tags").to_string(),
    };
    let mut input = Map::new();
    for (k, v) in [("username", &form.username), ("custom_id", &form.custom_id)] {
        if !v.is_empty() {
            input.insert(k.into(), json!(v));
        }
    }
    input.insert("tags".into(), json!(super::forms::split_list(&form.tags)));
    let created = entities::create::<Consumer>(&state, None, input, FieldErrors::new(), |v| {
        FieldErrors::single(
            "username",
            format!("A consumer '{v}' already exists in this runtime group"),
        )
    })
    .await?;
    match created {
        Ok(c) => {
            tracing::info!(consumer.id = %c.id, user.email = ?user.email, "consumer created");
            Ok(redirect_after_post(&req, &format!("{}/{}", base(), c.id)))
        }
        Err(errors) => {
            render_list(
                &req,
                &state,
                &user,
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub struct KeyRow {
    pub id: Uuid,
    /// The key's first characters only: the whole key is shown once, when it is created.
    pub masked: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "consumer.html")]
struct ConsumerPage<'a> {
    csrf: &'a str,
    group: GroupRef,
    base: String,
    tab: &'a str,
    consumers: String,
    path: String,
    consumer: Consumer,
    name: String,
    keys: Vec<KeyRow>,
    plugins: Vec<Plugin>,
    plugins_link: String,
    /// A key just created, shown this once.
    new_key: String,
    key_error: String,
}

async fn render_consumer(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    id: Uuid,
    new_key: String,
    key_error: String,
    status: StatusCode,
) -> PageResult {
    let (consumer, keys, plugins) = in_group(state, move |s, g| async move {
        let c: Consumer = s.get_entity(g, &id.to_string(), None).await?;
        let k: Vec<KeyAuthCredential> = s.list_all_entities(g, Some(c.id)).await?;
        let p: Vec<Plugin> = s.list_all_entities(g, None).await?;
        Ok::<_, WebError>((c, k, p))
    })
    .await?;
    let keys = keys
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            masked: format!("{}…", k.key.chars().take(4).collect::<String>()),
            created: fmt_time(k.created_at),
        })
        .collect();
    let plugins = plugins
        .into_iter()
        .filter(|p| p.consumer.as_ref().is_some_and(|c| c.id == consumer.id))
        .collect();
    let name = consumer
        .username
        .clone()
        .or(consumer.custom_id.clone())
        .unwrap_or_else(|| consumer.id.to_string());
    let p = ConsumerPage {
        csrf: &user.csrf,
        group: GroupRef { name: group_name() },
        base: group_base(),
        tab: "consumers",
        consumers: base(),
        path: format!("{}/{}", base(), consumer.id),
        plugins_link: format!(
            "/runtime-groups/{}/plugins?consumer={}",
            group_key(),
            consumer.id
        ),
        consumer,
        name,
        keys,
        plugins,
        new_key,
        key_error,
    };
    let title = p.name.clone();
    page(&title, user).render_status(req, &p, status)
}

async fn show(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    render_consumer(
        &req,
        &state,
        &user,
        id,
        String::new(),
        String::new(),
        StatusCode::OK,
    )
    .await
}

async fn create_key(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    let mut input = Map::new();
    let typed = data.get("key").trim().to_string();
    if !typed.is_empty() {
        input.insert("key".into(), Value::String(typed));
    }
    let saved = in_group(&state, move |s, g| async move {
        service::create_entity::<KeyAuthCredential>(&s, g, Some(id), &input).await
    })
    .await;
    match saved {
        // Rendered rather than redirected: the key is shown this once and never again.
        Ok(k) => {
            tracing::info!(consumer.id = %id, credential.id = %k.id, user.email = ?user.email, "key-auth key created");
            render_consumer(
                &req,
                &state,
                &user,
                id,
                k.key,
                String::new(),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => {
            let message = match e.0 {
                WebError::Unique { .. } => "That key is already in use".to_string(),
                WebError::Validation(f) => f.0.into_values().collect::<Vec<_>>().join("; "),
                other => return Err(super::ConsoleError(other)),
            };
            render_consumer(
                &req,
                &state,
                &user,
                id,
                String::new(),
                message,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

async fn delete_key(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String, String)>,
    _csrf: CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    let key = parse_uuid(&path.2)?;
    in_group(&state, move |s, g| async move {
        service::delete_entity::<KeyAuthCredential>(&s, g, &key.to_string(), Some(id)).await
    })
    .await?;
    tracing::info!(consumer.id = %id, credential.id = %key, user.email = ?user.email, "key-auth key deleted");
    Ok(redirect_after_post(&req, &format!("{}/{id}", base())))
}

async fn delete(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    _csrf: CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    in_group(&state, move |s, g| async move {
        service::delete_entity::<Consumer>(&s, g, &id.to_string(), None).await
    })
    .await?;
    tracing::info!(consumer.id = %id, user.email = ?user.email, "consumer deleted");
    Ok(redirect_after_post(&req, &base()))
}
