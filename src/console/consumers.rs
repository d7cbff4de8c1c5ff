//! The Consumers page of a runtime group: who calls the APIs, with their credentials. A
//! key-auth key is shown in full once, right after it is created (copyable), and masked after
//! that. Saves go through the service layer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::entities::{self, group_key, group_name, in_group};
use super::paging::{PageParams, Pager};
use super::plugins::GroupRef;
use super::session::CsrfForm;
use super::{fmt_time, parse_uuid, redirect_after_post, CurrentUser, Page, PageResult, State};
use crate::domain::{
    Acl, BasicAuthCredential, Consumer, FieldErrors, JwtSecret, KeyAuthCredential, Plugin,
};
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
        )
        .route(
            "/consumers/{id}/credentials/{kind}",
            web::post().to(create_credential),
        )
        .route(
            "/consumers/{id}/credentials/{kind}/{cid}/delete",
            web::post().to(delete_credential),
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
    pager: Pager,
}

async fn render_list(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    (form, errors): (NewConsumer, FieldErrors),
    paging: &PageParams,
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
    let mut pager = Pager::new(paging, &base(), &[]);
    let rows = pager.slice(rows);
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
        pager,
    };
    page("Consumers", user).render_status(req, &p, status)
}

async fn list(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    paging: web::Query<PageParams>,
) -> PageResult {
    let blank = (NewConsumer::default(), FieldErrors::new());
    render_list(&req, &state, &user, blank, &paging, StatusCode::OK).await
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
            let refused = (form, errors);
            let paging = PageParams::default();
            render_list(
                &req,
                &state,
                &user,
                refused,
                &paging,
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
    basic: Vec<BasicAuthCredential>,
    acls: Vec<Acl>,
    jwts: Vec<JwtSecret>,
    /// A credential section's outcome: what was just created (a JWT secret is shown once) or
    /// why it was refused, by section.
    notice: CredentialNotice,
}

/// What the credential sections show after a post.
#[derive(Default)]
pub struct CredentialNotice {
    pub section: String,
    pub error: String,
    pub jwt_key: String,
    pub jwt_secret: String,
}

impl ConsumerPage<'_> {
    fn error_for(&self, section: &str) -> &str {
        if self.notice.section == section {
            &self.notice.error
        } else {
            ""
        }
    }
}

/// What the consumer page shows besides the stored data.
#[derive(Default)]
struct Shown {
    new_key: String,
    key_error: String,
    notice: CredentialNotice,
}

async fn render_consumer(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    id: Uuid,
    shown: Shown,
    status: StatusCode,
) -> PageResult {
    let (consumer, keys, plugins, creds) = in_group(state, move |s, g| async move {
        let c: Consumer = s.get_entity(g, &id.to_string(), None).await?;
        let k: Vec<KeyAuthCredential> = s.list_all_entities(g, Some(c.id)).await?;
        let p: Vec<Plugin> = s.list_all_entities(g, None).await?;
        let b: Vec<BasicAuthCredential> = s.list_all_entities(g, Some(c.id)).await?;
        let a: Vec<Acl> = s.list_all_entities(g, Some(c.id)).await?;
        let j: Vec<JwtSecret> = s.list_all_entities(g, Some(c.id)).await?;
        Ok::<_, WebError>((c, k, p, (b, a, j)))
    })
    .await?;
    let (basic, acls, jwts) = creds;
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
        new_key: shown.new_key,
        key_error: shown.key_error,
        basic,
        acls,
        jwts,
        notice: shown.notice,
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
    render_consumer(&req, &state, &user, id, Shown::default(), StatusCode::OK).await
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
                Shown {
                    new_key: k.key,
                    ..Shown::default()
                },
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
                Shown {
                    key_error: message,
                    ..Shown::default()
                },
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

/// The service layer's refusal of a credential, as one line for its section.
fn refusal(e: super::ConsoleError) -> Result<String, super::ConsoleError> {
    match e.0 {
        WebError::Unique { field, value } => Ok(format!("{field} '{value}' is already in use")),
        WebError::Validation(f) => Ok(f
            .0
            .iter()
            .map(|(k, v)| {
                if k == "@entity" {
                    v.clone()
                } else {
                    format!("{k}: {v}")
                }
            })
            .collect::<Vec<_>>()
            .join("; ")),
        other => Err(super::ConsoleError(other)),
    }
}

/// Creates a basic-auth credential, an ACL group or a JWT credential for the consumer.
async fn create_credential(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String, String)>,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    let kind = path.2.clone();
    let mut input = Map::new();
    let fields: &[&str] = match kind.as_str() {
        "basic-auth" => &["username", "password"],
        "acls" => &["group"],
        "jwt" => &["key", "algorithm", "secret", "rsa_public_key"],
        _ => return Err(super::ConsoleError(WebError::NotFound)),
    };
    for f in fields {
        let v = data.get(f).trim();
        if !v.is_empty() {
            input.insert((*f).into(), Value::String(v.to_string()));
        }
    }
    let saved: Result<Option<JwtSecret>, super::ConsoleError> =
        in_group(&state, move |s, g| async move {
            let parent = Some(id);
            match kind.as_str() {
                "basic-auth" => {
                    service::create_entity::<BasicAuthCredential>(&s, g, parent, &input)
                        .await
                        .map(|_| None)
                }
                "acls" => service::create_entity::<Acl>(&s, g, parent, &input)
                    .await
                    .map(|_| None),
                _ => service::create_entity::<JwtSecret>(&s, g, parent, &input)
                    .await
                    .map(Some),
            }
        })
        .await;
    let section = path.2.clone();
    match saved {
        Ok(jwt) => {
            tracing::info!(consumer.id = %id, credential.kind = %section, user.email = ?user.email, "consumer credential created");
            match jwt {
                // Rendered rather than redirected: the secret is shown this once.
                Some(j) => {
                    let shown = Shown {
                        notice: CredentialNotice {
                            section,
                            jwt_key: j.key,
                            jwt_secret: j.secret,
                            ..CredentialNotice::default()
                        },
                        ..Shown::default()
                    };
                    render_consumer(&req, &state, &user, id, shown, StatusCode::OK).await
                }
                None => Ok(redirect_after_post(&req, &format!("{}/{id}", base()))),
            }
        }
        Err(e) => {
            let shown = Shown {
                notice: CredentialNotice {
                    section,
                    error: refusal(e)?,
                    ..CredentialNotice::default()
                },
                ..Shown::default()
            };
            render_consumer(
                &req,
                &state,
                &user,
                id,
                shown,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

async fn delete_credential(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String, String, String)>,
    _csrf: CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    let cid = parse_uuid(&path.3)?.to_string();
    let kind = path.2.clone();
    in_group(&state, move |s, g| async move {
        let parent = Some(id);
        match kind.as_str() {
            "basic-auth" => {
                service::delete_entity::<BasicAuthCredential>(&s, g, &cid, parent).await
            }
            "acls" => service::delete_entity::<Acl>(&s, g, &cid, parent).await,
            "jwt" => service::delete_entity::<JwtSecret>(&s, g, &cid, parent).await,
            _ => Err(crate::service::ServiceError::NotFound),
        }
    })
    .await?;
    tracing::info!(consumer.id = %id, credential.kind = %path.2, user.email = ?user.email, "consumer credential deleted");
    Ok(redirect_after_post(&req, &format!("{}/{id}", base())))
}
