//! Certificates (with their SNIs) and CA certificates of the default runtime group: one page
//! listing both, forms to add them and actions to delete them. Saves go through the shared
//! manage layer; this module never touches SQL or parses certificates itself.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde_json::{json, Map, Value};

use super::entities::{self, in_group, merge};
use super::forms::split_list;
use super::session::{CsrfForm, FormData};
use super::{fmt_time, parse_uuid, redirect_after_post, CurrentUser, Page, PageResult, State};
use crate::domain::certificate::sni_names;
use crate::domain::{CaCertificate, Certificate, FieldErrors, Sni};
use crate::service;

fn base() -> String {
    format!("/runtime-groups/{}/certificates", entities::group_key())
}

fn ca_base() -> String {
    format!("/runtime-groups/{}/ca-certificates", entities::group_key())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Relative to a `/runtime-groups/{rg}` scope.
    cfg.route("/certificates", web::get().to(list_certificates))
        .route("/certificates", web::post().to(create_certificate))
        .route(
            "/certificates/{id}/delete",
            web::post().to(delete_certificate),
        )
        .route("/ca-certificates", web::post().to(create_ca_certificate))
        .route(
            "/ca-certificates/{id}/delete",
            web::post().to(delete_ca_certificate),
        );
}

/// A PEM block as typed; browsers send textarea line breaks as CRLF.
fn pem(f: &FormData, key: &str) -> String {
    f.get(key).replace("\r\n", "\n").trim().to_string()
}

fn put_tags(m: &mut Map<String, Value>, tags: &str) {
    let tags = split_list(tags);
    if !tags.is_empty() {
        m.insert("tags".into(), json!(tags));
    }
}

/// The new-certificate form, kept as typed (the key too: it is the user's own session).
#[derive(Debug, Clone, Default)]
pub struct CertForm {
    pub cert: String,
    pub key: String,
    pub snis: String,
    pub tags: String,
}

impl CertForm {
    fn from_form(f: &FormData) -> CertForm {
        CertForm {
            cert: pem(f, "cert"),
            key: pem(f, "key"),
            snis: f.get("snis").to_string(),
            tags: f.get("tags").to_string(),
        }
    }

    /// The Kong input, with the console's rules (both PEM blocks given, SNIs well-formed).
    fn to_input(&self) -> (Map<String, Value>, FieldErrors) {
        let mut errors = FieldErrors::new();
        let mut m = Map::new();
        for (field, value, what) in [
            ("cert", &self.cert, "the certificate"),
            ("key", &self.key, "the private key"),
        ] {
            if value.is_empty() {
                errors.add(field, format!("Paste {what} in PEM format"));
            } else {
                m.insert(field.into(), json!(value));
            }
        }
        let snis = split_list(&self.snis);
        if !snis.is_empty() {
            m.insert("snis".into(), json!(snis));
        }
        put_tags(&mut m, &self.tags);
        if let Err(e) = sni_names(&m) {
            merge(&mut errors, e);
        }
        (m, errors)
    }
}

/// The add-CA-certificate form.
#[derive(Debug, Clone, Default)]
pub struct CaForm {
    pub cert: String,
    pub tags: String,
}

impl CaForm {
    fn from_form(f: &FormData) -> CaForm {
        CaForm {
            cert: pem(f, "cert"),
            tags: f.get("tags").to_string(),
        }
    }

    fn to_input(&self) -> (Map<String, Value>, FieldErrors) {
        let mut errors = FieldErrors::new();
        let mut m = Map::new();
        if self.cert.is_empty() {
            errors.add("cert", "Paste the CA certificate in PEM format");
        } else {
            m.insert("cert".into(), json!(self.cert));
        }
        put_tags(&mut m, &self.tags);
        (m, errors)
    }
}

pub struct CertRow {
    pub cert: Certificate,
    pub snis: Vec<String>,
    pub created: String,
}

pub struct CaRow {
    pub ca: CaCertificate,
    pub created: String,
}

/// The first block of a UUID, enough to tell certificates apart on a page.
fn short_id(id: &uuid::Uuid) -> String {
    id.to_string().chars().take(8).collect()
}

#[derive(Template)]
#[template(path = "certificates.html")]
struct CertificatesPage<'a> {
    csrf: &'a str,
    base: String,
    ca_base: String,
    group: String,
    certs: Vec<CertRow>,
    cas: Vec<CaRow>,
    cert_form: CertForm,
    cert_errors: FieldErrors,
    cert_unplaced: Vec<String>,
    ca_form: CaForm,
    ca_errors: FieldErrors,
    ca_unplaced: Vec<String>,
}

impl CertificatesPage<'_> {
    fn short(id: &uuid::Uuid) -> String {
        short_id(id)
    }
}

/// What the page shows besides the stored data: either form as typed, with its errors.
#[derive(Default)]
struct Forms {
    cert: CertForm,
    cert_errors: FieldErrors,
    ca: CaForm,
    ca_errors: FieldErrors,
}

async fn render(
    req: &HttpRequest,
    state: &State,
    user: &CurrentUser,
    forms: Forms,
    status: StatusCode,
) -> PageResult {
    let (certs, cas) = in_group(state, move |s, g| async move {
        let mut certs = Vec::new();
        for cert in s.list_all_entities::<Certificate>(g, None).await? {
            let snis: Vec<Sni> = s.list_all_entities(g, Some(cert.id)).await?;
            certs.push(CertRow {
                snis: snis.into_iter().map(|s| s.name).collect(),
                created: fmt_time(cert.created_at),
                cert,
            });
        }
        let cas = s
            .list_all_entities::<CaCertificate>(g, None)
            .await?
            .into_iter()
            .map(|ca| CaRow {
                created: fmt_time(ca.created_at),
                ca,
            })
            .collect::<Vec<_>>();
        Ok::<_, crate::web_error::WebError>((certs, cas))
    })
    .await?;
    let cert_unplaced = entities::unplaced(&forms.cert_errors, &["cert", "key", "snis", "tags"]);
    let ca_unplaced = entities::unplaced(&forms.ca_errors, &["cert", "tags"]);
    let page = CertificatesPage {
        csrf: &user.csrf,
        base: base(),
        ca_base: ca_base(),
        group: entities::group_name(),
        certs,
        cas,
        cert_form: forms.cert,
        cert_errors: forms.cert_errors,
        cert_unplaced,
        ca_form: forms.ca,
        ca_errors: forms.ca_errors,
        ca_unplaced,
    };
    Page {
        title: "Certificates",
        nav: "certificates",
        user: Some(user),
        csrf: &user.csrf,
    }
    .render_status(req, &page, status)
}

async fn list_certificates(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
) -> PageResult {
    render(&req, &state, &user, Forms::default(), StatusCode::OK).await
}

async fn create_certificate(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let form = CertForm::from_form(&data);
    let (input, errors) = form.to_input();
    let created = entities::create::<Certificate>(&state, None, input, errors, |names| {
        FieldErrors::single(
            "snis",
            format!("An SNI is already used by another certificate ({names})"),
        )
    })
    .await?;
    match created {
        Ok(c) => {
            tracing::info!(certificate.id = %c.id, user.email = ?user.email, "certificate created");
            Ok(redirect_after_post(&req, &base()))
        }
        Err(cert_errors) => {
            let forms = Forms {
                cert: form,
                cert_errors,
                ..Forms::default()
            };
            render(&req, &state, &user, forms, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

async fn create_ca_certificate(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    CsrfForm(data): CsrfForm,
) -> PageResult {
    let form = CaForm::from_form(&data);
    let (input, errors) = form.to_input();
    let created = entities::create::<CaCertificate>(&state, None, input, errors, |_| {
        FieldErrors::single("cert", "This CA certificate is already stored")
    })
    .await?;
    match created {
        Ok(ca) => {
            tracing::info!(ca_certificate.id = %ca.id, user.email = ?user.email, "CA certificate added");
            Ok(redirect_after_post(
                &req,
                &format!("{}#ca-certificates", base()),
            ))
        }
        Err(ca_errors) => {
            let forms = Forms {
                ca: form,
                ca_errors,
                ..Forms::default()
            };
            render(&req, &state, &user, forms, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

async fn delete_certificate(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    _form: CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    in_group(&state, move |s, g| async move {
        s.get_entity::<Certificate>(g, &id.to_string(), None)
            .await?;
        service::delete_entity::<Certificate>(&s, g, &id.to_string(), None).await
    })
    .await?;
    tracing::info!(certificate.id = %id, user.email = ?user.email, "certificate deleted");
    Ok(redirect_after_post(&req, &base()))
}

async fn delete_ca_certificate(
    req: HttpRequest,
    state: web::Data<State>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    _form: CsrfForm,
) -> PageResult {
    let id = parse_uuid(&path.1)?;
    in_group(&state, move |s, g| async move {
        s.get_entity::<CaCertificate>(g, &id.to_string(), None)
            .await?;
        service::delete_entity::<CaCertificate>(&s, g, &id.to_string(), None).await
    })
    .await?;
    tracing::info!(ca_certificate.id = %id, user.email = ?user.email, "CA certificate deleted");
    Ok(redirect_after_post(
        &req,
        &format!("{}#ca-certificates", base()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_turn_into_kong_input_with_console_rules() {
        let body = "cert=&key=k&snis=a.example%2C+bad+name&tags=x";
        let f = CertForm::from_form(&FormData::parse(body.as_bytes()));
        let (input, errors) = f.to_input();
        assert!(errors.get("cert").is_some());
        assert!(errors.get("snis").is_some(), "SNIs are checked up front");
        assert_eq!(input["snis"], json!(["a.example", "bad name"]));
        assert_eq!(input["tags"], json!(["x"]));
        let ca = CaForm::from_form(&FormData::parse(b"cert=A%0D%0AB"));
        assert_eq!(ca.cert, "A\nB", "CRLF from a textarea becomes LF");
        assert_eq!(short_id(&uuid::Uuid::nil()), "00000000");
    }
}
