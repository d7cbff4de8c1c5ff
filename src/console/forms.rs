//! The console's gateway-service and route forms: what the user typed (kept verbatim so an
//! invalid form re-renders unchanged) and its conversion to the Kong input the domain checks.

use serde_json::{json, Map, Value};

use super::session::FormData;
use crate::domain::{FieldErrors, GatewayService, Route};

/// A comma-separated field as its trimmed, non-empty items.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn put_num(m: &mut Map<String, Value>, key: &str, v: &str) {
    if !v.trim().is_empty() {
        m.insert(key.into(), Value::String(v.trim().to_string()));
    }
}

#[derive(Debug, Clone)]
pub struct ServiceForm {
    pub name: String,
    /// "url" or "parts"
    pub mode: String,
    pub url: String,
    pub protocol: String,
    pub host: String,
    pub port: String,
    pub path: String,
    pub retries: String,
    pub connect_timeout: String,
    pub write_timeout: String,
    pub read_timeout: String,
    pub client_certificate: String,
    pub ca_certificates: String,
    /// "default", "on" or "off"
    pub tls_verify: String,
    pub tags: String,
}

impl ServiceForm {
    /// "Use it" without JavaScript posts the form with `op=use-echo`: the form comes back
    /// with the echo upstream's URL filled in, nothing saved. True when that was asked.
    pub fn use_echo_requested(&mut self, f: &FormData, echo_url: &str) -> bool {
        if f.get("op") != "use-echo" {
            return false;
        }
        self.mode = "url".into();
        self.url = echo_url.to_string();
        true
    }

    pub fn new(name: String) -> ServiceForm {
        ServiceForm {
            name,
            mode: "url".into(),
            url: String::new(),
            protocol: "http".into(),
            host: String::new(),
            port: String::new(),
            path: String::new(),
            retries: "5".into(),
            connect_timeout: "60000".into(),
            write_timeout: "60000".into(),
            read_timeout: "60000".into(),
            client_certificate: String::new(),
            ca_certificates: String::new(),
            tls_verify: "default".into(),
            tags: String::new(),
        }
    }

    pub fn from_form(f: &FormData) -> ServiceForm {
        let mode = if f.get("svc_mode") == "parts" {
            "parts"
        } else {
            "url"
        };
        ServiceForm {
            name: f.get("svc_name").trim().to_string(),
            mode: mode.into(),
            url: f.get("svc_url").trim().to_string(),
            protocol: f.get("svc_protocol").to_string(),
            host: f.get("svc_host").trim().to_string(),
            port: f.get("svc_port").trim().to_string(),
            path: f.get("svc_path").trim().to_string(),
            retries: f.get("svc_retries").to_string(),
            connect_timeout: f.get("svc_connect_timeout").to_string(),
            write_timeout: f.get("svc_write_timeout").to_string(),
            read_timeout: f.get("svc_read_timeout").to_string(),
            client_certificate: f.get("svc_client_certificate").trim().to_string(),
            ca_certificates: f.get("svc_ca_certificates").to_string(),
            tls_verify: match f.get("svc_tls_verify") {
                "on" => "on".into(),
                "off" => "off".into(),
                _ => "default".into(),
            },
            tags: f.get("svc_tags").to_string(),
        }
    }

    pub fn from_service(s: &GatewayService) -> ServiceForm {
        ServiceForm {
            name: s.name.clone().unwrap_or_default(),
            mode: "url".into(),
            url: s.url(),
            protocol: s.protocol.clone(),
            host: s.host.clone(),
            port: s.port.to_string(),
            path: s.path.clone().unwrap_or_default(),
            retries: s.retries.to_string(),
            connect_timeout: s.connect_timeout.to_string(),
            write_timeout: s.write_timeout.to_string(),
            read_timeout: s.read_timeout.to_string(),
            client_certificate: s
                .client_certificate
                .as_ref()
                .map(|c| c.id.to_string())
                .unwrap_or_default(),
            ca_certificates: s.ca_certificates.clone().unwrap_or_default().join(", "),
            tls_verify: match s.tls_verify {
                Some(true) => "on".into(),
                Some(false) => "off".into(),
                None => "default".into(),
            },
            tags: s.tags.clone().unwrap_or_default().join(", "),
        }
    }

    /// The Kong input for this form. Console-only rules (a name is required) come back as
    /// errors beside the domain's.
    pub fn to_input(&self) -> (Map<String, Value>, FieldErrors) {
        let mut errors = FieldErrors::new();
        let mut m = Map::new();
        if self.name.is_empty() {
            errors.add("name", "Name is required");
        } else {
            m.insert("name".into(), json!(self.name));
        }
        if self.mode == "url" {
            if self.url.is_empty() {
                errors.add("url", "URL is required, for example http://127.0.0.1:8009");
            } else {
                m.insert("url".into(), json!(self.url));
            }
        } else {
            m.insert("protocol".into(), json!(self.protocol));
            if self.host.is_empty() {
                errors.add("host", "Host is required");
            } else {
                m.insert("host".into(), json!(self.host));
            }
            put_num(&mut m, "port", &self.port);
            if !self.path.is_empty() {
                m.insert("path".into(), json!(self.path));
            }
        }
        put_num(&mut m, "retries", &self.retries);
        put_num(&mut m, "connect_timeout", &self.connect_timeout);
        put_num(&mut m, "write_timeout", &self.write_timeout);
        put_num(&mut m, "read_timeout", &self.read_timeout);
        if !self.client_certificate.is_empty() {
            m.insert("client_certificate".into(), json!(self.client_certificate));
        }
        let cas = split_list(&self.ca_certificates);
        if !cas.is_empty() {
            m.insert("ca_certificates".into(), json!(cas));
        }
        match self.tls_verify.as_str() {
            "on" => {
                m.insert("tls_verify".into(), json!(true));
            }
            "off" => {
                m.insert("tls_verify".into(), json!(false));
            }
            _ => {}
        }
        let tags = split_list(&self.tags);
        if !tags.is_empty() {
            m.insert("tags".into(), json!(tags));
        }
        (m, errors)
    }

    /// Every protocol Kong's Service accepts, for the Protocol select.
    pub fn protocols(&self) -> &'static [&'static str] {
        crate::domain::gateway_service::PROTOCOLS
    }

    pub fn is_protocol(&self, p: &str) -> bool {
        self.protocol == p
    }

    /// Moves errors on fields the URL mode hides onto the URL field, so every message is shown.
    pub fn place_errors(&self, errors: FieldErrors) -> FieldErrors {
        if self.mode != "url" {
            return errors;
        }
        let mut out = FieldErrors::new();
        if let Some(url_error) = errors.get("url") {
            out.add("url", url_error);
        }
        for (k, v) in errors.0 {
            match k.as_str() {
                "protocol" | "host" | "port" | "path" => out.add("url", format!("{k}: {v}")),
                _ => out.add(k, v),
            }
        }
        out
    }

    pub fn hidden_fields(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("svc_name", &self.name),
            ("svc_mode", &self.mode),
            ("svc_url", &self.url),
            ("svc_protocol", &self.protocol),
            ("svc_host", &self.host),
            ("svc_port", &self.port),
            ("svc_path", &self.path),
            ("svc_retries", &self.retries),
            ("svc_connect_timeout", &self.connect_timeout),
            ("svc_write_timeout", &self.write_timeout),
            ("svc_read_timeout", &self.read_timeout),
            ("svc_client_certificate", &self.client_certificate),
            ("svc_ca_certificates", &self.ca_certificates),
            ("svc_tls_verify", &self.tls_verify),
            ("svc_tags", &self.tags),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct RouteForm {
    pub name: String,
    pub methods: String,
    pub paths: Vec<String>,
    pub hosts: String,
    pub protocols: String,
    pub strip_path: bool,
    pub preserve_host: bool,
    pub regex_priority: String,
    pub https_redirect_status_code: String,
    pub path_handling: String,
    pub request_buffering: bool,
    pub response_buffering: bool,
    pub tags: String,
}

impl Default for RouteForm {
    fn default() -> Self {
        RouteForm {
            name: String::new(),
            methods: String::new(),
            paths: vec![String::new()],
            hosts: String::new(),
            protocols: "http, https".into(),
            strip_path: true,
            preserve_host: false,
            regex_priority: "0".into(),
            https_redirect_status_code: "426".into(),
            path_handling: "v0".into(),
            request_buffering: true,
            response_buffering: true,
            tags: String::new(),
        }
    }
}

impl RouteForm {
    /// "+ Add Path" without JavaScript posts the form with `op=add-path`: the form comes back
    /// with one more (empty) path input, nothing saved. True when that was asked.
    pub fn add_path_requested(&mut self, f: &FormData) -> bool {
        if f.get("op") != "add-path" {
            return false;
        }
        self.paths.push(String::new());
        true
    }

    pub fn from_form(f: &FormData) -> RouteForm {
        let mut paths: Vec<String> = f
            .all("route_paths")
            .into_iter()
            .map(|p| p.trim().to_string())
            .collect();
        if paths.is_empty() {
            paths.push(String::new());
        }
        RouteForm {
            name: f.get("route_name").trim().to_string(),
            methods: f.get("route_methods").to_string(),
            paths,
            hosts: f.get("route_hosts").to_string(),
            protocols: f.get("route_protocols").to_string(),
            strip_path: f.get("route_strip_path") != "false",
            preserve_host: f.get("route_preserve_host") == "true",
            regex_priority: f.get("route_regex_priority").to_string(),
            https_redirect_status_code: f.get("route_https_redirect_status_code").to_string(),
            path_handling: f.get("route_path_handling").to_string(),
            request_buffering: f.get("route_request_buffering") != "false",
            response_buffering: f.get("route_response_buffering") != "false",
            tags: f.get("route_tags").to_string(),
        }
    }

    pub fn from_route(r: &Route) -> RouteForm {
        RouteForm {
            name: r.name.clone().unwrap_or_default(),
            methods: r.methods.clone().unwrap_or_default().join(", "),
            paths: r
                .paths
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| vec![String::new()]),
            hosts: r.hosts.clone().unwrap_or_default().join(", "),
            protocols: r.protocols.join(", "),
            strip_path: r.strip_path,
            preserve_host: r.preserve_host,
            regex_priority: r.regex_priority.to_string(),
            https_redirect_status_code: r.https_redirect_status_code.to_string(),
            path_handling: r.path_handling.clone(),
            request_buffering: r.request_buffering,
            response_buffering: r.response_buffering,
            tags: r.tags.clone().unwrap_or_default().join(", "),
        }
    }

    pub fn to_input(&self) -> (Map<String, Value>, FieldErrors) {
        let mut errors = FieldErrors::new();
        let mut m = Map::new();
        if self.name.is_empty() {
            errors.add("name", "Name is required");
        } else {
            m.insert("name".into(), json!(self.name));
        }
        let methods: Vec<String> = split_list(&self.methods)
            .into_iter()
            .map(|s| s.to_ascii_uppercase())
            .collect();
        if !methods.is_empty() {
            m.insert("methods".into(), json!(methods));
        }
        let paths: Vec<&String> = self.paths.iter().filter(|p| !p.is_empty()).collect();
        if !paths.is_empty() {
            m.insert("paths".into(), json!(paths));
        }
        let hosts = split_list(&self.hosts);
        if !hosts.is_empty() {
            m.insert("hosts".into(), json!(hosts));
        }
        let protocols = split_list(&self.protocols);
        if !protocols.is_empty() {
            m.insert("protocols".into(), json!(protocols));
        }
        m.insert("strip_path".into(), json!(self.strip_path));
        m.insert("preserve_host".into(), json!(self.preserve_host));
        m.insert("request_buffering".into(), json!(self.request_buffering));
        m.insert("response_buffering".into(), json!(self.response_buffering));
        put_num(&mut m, "regex_priority", &self.regex_priority);
        put_num(
            &mut m,
            "https_redirect_status_code",
            &self.https_redirect_status_code,
        );
        if !self.path_handling.trim().is_empty() {
            m.insert("path_handling".into(), json!(self.path_handling.trim()));
        }
        let tags = split_list(&self.tags);
        if !tags.is_empty() {
            m.insert("tags".into(), json!(tags));
        }
        (m, errors)
    }

    /// Kong's entity-wide rule reads better beside the Path(s) field.
    pub fn place_errors(errors: FieldErrors) -> FieldErrors {
        let mut out = FieldErrors::new();
        for (k, v) in errors.0 {
            if k == "@entity" {
                out.add(
                    "paths",
                    "Add at least one path, method or host so the route can match requests",
                );
            } else {
                out.add(k, v);
            }
        }
        out
    }
}
