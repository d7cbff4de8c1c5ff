//! Console forms that save Kong entities (upstreams, targets, certificates) through the shared
//! manage layer: the request's runtime group, the form's own rules merged with the domain's, and
//! the manage layer's errors turned into messages beside the form's fields. No SQL, no markup.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{ConsoleError, State};
use crate::domain::FieldErrors;
use crate::service::{self, Managed};
use crate::store::Store;
use crate::web_error::WebError;

/// A form post's outcome: the saved entity, or the errors to show beside the fields.
pub type Checked<T> = Result<T, FieldErrors>;

/// The runtime group a page under `/runtime-groups/{rg}/…` is about, set for the whole request
/// by [`group_scope`].
#[derive(Debug, Clone)]
pub struct GroupScope {
    pub id: Uuid,
    /// The `{rg}` path segment as written (an id or `default`), for building links.
    pub key: String,
    pub name: String,
}

tokio::task_local! {
    static GROUP: GroupScope;
}

/// The current request's group path segment (`default` outside a group scope).
pub fn group_key() -> String {
    GROUP
        .try_with(|g| g.key.clone())
        .unwrap_or_else(|_| "default".into())
}

pub fn group_name() -> String {
    GROUP
        .try_with(|g| g.name.clone())
        .unwrap_or_else(|_| "default".into())
}

/// Middleware for `/runtime-groups/{rg}` scopes: resolves the group once (404 when there is no
/// such group) and makes it the group of every entity the request reads or saves.
pub async fn group_scope(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let key = req.match_info().get("rg").unwrap_or("default").to_string();
    let Some(state) = req.app_data::<actix_web::web::Data<State>>().cloned() else {
        return Ok(req.error_response(ConsoleError(WebError::internal(
            "console state missing",
            "no app data",
        ))));
    };
    let k = key.clone();
    let group = match state
        .store
        .run(move |s| async move { s.find_runtime_group(&k).await })
        .await
    {
        Ok(g) => g,
        Err(e) => return Ok(req.error_response(ConsoleError(WebError::from(e)))),
    };
    let scope = GroupScope {
        id: group.id,
        key,
        name: group.name,
    };
    GROUP
        .scope(scope, async move {
            Ok(next.call(req).await?.map_into_boxed_body())
        })
        .await
}

/// Runs `f` on the store's runtime with the id of the request's runtime group (the default group
/// outside a group scope).
pub async fn in_group<R, E, F, Fut>(state: &State, f: F) -> Result<R, ConsoleError>
where
    R: Send + 'static,
    F: FnOnce(Store, Uuid) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<R, E>> + Send + 'static,
    E: Into<WebError> + Send + 'static,
{
    let scoped = GROUP.try_with(|g| g.id).ok();
    Ok(state
        .store
        .run(move |s| async move {
            let group = match scoped {
                Some(g) => g,
                None => s.get_default_group().await?.id,
            };
            f(s, group).await.map_err(Into::into)
        })
        .await?)
}

/// Creates a `T` (under `parent`) from a form's Kong input. `errors` are the form's own rules:
/// when there are any, the domain's are added beside them and nothing is saved. A uniqueness
/// conflict is reported as `taken` says, given the conflicting value.
pub async fn create<T: Managed>(
    state: &State,
    parent: Option<Uuid>,
    input: Map<String, Value>,
    mut errors: FieldErrors,
    taken: impl FnOnce(&str) -> FieldErrors,
) -> Result<Checked<T>, ConsoleError> {
    if !errors.is_empty() {
        if let Err(domain) = T::from_input(Uuid::nil(), 0, parent, None, &input) {
            merge(&mut errors, domain);
        }
        return Ok(Err(errors));
    }
    let saved = in_group(state, move |s, group| async move {
        service::create_entity::<T>(&s, group, parent, &input).await
    })
    .await;
    match saved {
        Ok(e) => Ok(Ok(e)),
        Err(ConsoleError(e)) => field_errors(e, taken).map(Err),
    }
}

/// The manage layer's refusals that belong beside a field; anything else fails the page.
fn field_errors(
    e: WebError,
    taken: impl FnOnce(&str) -> FieldErrors,
) -> Result<FieldErrors, ConsoleError> {
    match e {
        WebError::Validation(f) => Ok(f),
        WebError::Unique { field, value } if field != "id" => Ok(taken(&value)),
        WebError::MissingReference { field, entity, id } => Ok(FieldErrors::single(
            field,
            format!("There is no {} with id {id}", entity.trim_end_matches('s')),
        )),
        other => Err(ConsoleError(other)),
    }
}

/// Adds `from`'s messages to `into`, keeping messages already there.
pub fn merge(into: &mut FieldErrors, from: FieldErrors) {
    for (k, v) in from.0 {
        into.add(k, v);
    }
}

/// Errors on fields a form does not show (`@entity`, fields it never sends), as
/// `field: message` lines to list above the form so no message is lost.
pub fn unplaced(errors: &FieldErrors, shown: &[&str]) -> Vec<String> {
    errors
        .0
        .iter()
        .filter(|(k, _)| !shown.contains(&k.as_str()))
        .map(|(k, v)| {
            if k == "@entity" {
                v.clone()
            } else {
                format!("{k}: {v}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_beside_fields_and_the_rest_listed() {
        let taken = |v: &str| FieldErrors::single("name", format!("{v} is taken"));
        let e = WebError::Unique {
            field: "name".into(),
            value: "a".into(),
        };
        assert_eq!(
            field_errors(e, taken)
                .ok()
                .and_then(|f| f.get("name").map(str::to_string)),
            Some("a is taken".into())
        );
        assert!(field_errors(WebError::NotFound, taken).is_err());
        let mut errors = FieldErrors::single("name", "required");
        merge(&mut errors, FieldErrors::single("name", "other"));
        errors.add("@entity", "all or none");
        errors.add("hash_fallback", "bad");
        assert_eq!(errors.get("name"), Some("required"));
        assert_eq!(
            unplaced(&errors, &["name"]),
            vec!["all or none".to_string(), "hash_fallback: bad".to_string()]
        );
    }
}
