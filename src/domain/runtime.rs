//! Runtime Manager: runtime groups, the credentials that let a data-plane node join one, and the
//! nodes (runtime instances) themselves, with the rules for their sync status.

use std::collections::BTreeMap;

use serde::Serialize;
use uuid::Uuid;

pub use super::labels::{check_labels, format_labels, parse_labels};
use super::{names, FieldErrors};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RuntimeGroup {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub labels: BTreeMap<String, String>,
    pub is_default: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Validated input for creating or editing a runtime group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeGroupInput {
    pub name: String,
    pub description: String,
    pub labels: BTreeMap<String, String>,
}

impl RuntimeGroupInput {
    /// `labels` is the console's text form: `key:value` pairs separated by commas or new lines.
    pub fn parse(name: &str, description: &str, labels: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let labels = match parse_labels(labels) {
            Ok(l) => l,
            Err(msg) => {
                errors.add("labels", msg);
                BTreeMap::new()
            }
        };
        Self::build(name, description, labels, errors)
    }

    pub fn from_parts(
        name: &str,
        description: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        if let Err(msg) = check_labels(&labels) {
            errors.add("labels", msg);
        }
        Self::build(name, description, labels, errors)
    }

    fn build(
        name: &str,
        description: &str,
        labels: BTreeMap<String, String>,
        mut errors: FieldErrors,
    ) -> Result<Self, FieldErrors> {
        let name = name.trim();
        if name.is_empty() {
            errors.add("name", "Name is required");
        } else if let Err(msg) = names::check_display_name(name) {
            errors.add("name", msg.replace("Display name", "Name"));
        }
        if description.len() > 250 {
            errors.add("description", "Description must be at most 250 characters");
        }
        errors.into_result(Self {
            name: name.to_string(),
            description: description.trim().to_string(),
            labels,
        })
    }
}

/// A credential a data-plane node presents to join a runtime group. Only its hash is stored; the
/// token itself is shown once, when it is issued.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DpCredential {
    pub id: Uuid,
    pub runtime_group_id: Uuid,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// Why a credential cannot be used, in words a node's log and the instances table can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialRefusal {
    #[error("unknown node credential")]
    Unknown,
    #[error("node credential revoked")]
    Revoked,
    #[error("node credential expired")]
    Expired,
}

impl DpCredential {
    pub fn check(&self, now: i64) -> Result<(), CredentialRefusal> {
        if self.revoked_at.is_some() {
            Err(CredentialRefusal::Revoked)
        } else if self.expires_at <= now {
            Err(CredentialRefusal::Expired)
        } else {
            Ok(())
        }
    }

    pub fn status(&self, now: i64) -> &'static str {
        match self.check(now) {
            Ok(()) => "Active",
            Err(CredentialRefusal::Revoked) => "Revoked",
            Err(_) => "Expired",
        }
    }
}

/// Default lifetime of a node credential: one year (Konnect's started at 30 days and grew to ten
/// years; a year keeps renewal a yearly habit rather than a forgotten event).
pub const CREDENTIAL_DAYS_DEFAULT: i64 = 365;
pub const CREDENTIAL_DAYS_MAX: i64 = 3650;

pub fn parse_credential_days(text: &str) -> Result<i64, FieldErrors> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(CREDENTIAL_DAYS_DEFAULT);
    }
    match text.parse::<i64>() {
        Ok(d) if (1..=CREDENTIAL_DAYS_MAX).contains(&d) => Ok(d),
        _ => Err(FieldErrors::single(
            "days",
            format!("Validity must be a whole number of days from 1 to {CREDENTIAL_DAYS_MAX}"),
        )),
    }
}

pub fn parse_credential_name(text: &str) -> Result<String, FieldErrors> {
    let name = text.trim();
    if name.len() > 100 {
        return Err(FieldErrors::single(
            "name",
            "Name must be at most 100 characters",
        ));
    }
    Ok(if name.is_empty() {
        "node credential".to_string()
    } else {
        name.to_string()
    })
}

/// A node serving a runtime group, as the control plane last heard from it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RuntimeInstance {
    pub id: Uuid,
    pub runtime_group_id: Uuid,
    pub hostname: String,
    pub ip: String,
    pub version: String,
    pub config_hash: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub connected: bool,
    pub embedded: bool,
    /// The last refusal or error the control plane recorded for this node (empty when none).
    pub problem: String,
}

/// A node that has not been heard from for this long is shown disconnected even if its
/// connection was never closed cleanly (three missed heartbeats).
pub const HEARTBEAT_SECS: i64 = 10;
pub const STALE_AFTER_SECS: i64 = 3 * HEARTBEAT_SECS + 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SyncStatus {
    InSync,
    OutOfSync(String),
    IncompatibleVersion(String),
}

impl SyncStatus {
    pub fn label(&self) -> &'static str {
        match self {
            SyncStatus::InSync => "In sync",
            SyncStatus::OutOfSync(_) => "Out of sync",
            SyncStatus::IncompatibleVersion(_) => "Incompatible version",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            SyncStatus::InSync => "",
            SyncStatus::OutOfSync(r) | SyncStatus::IncompatibleVersion(r) => r,
        }
    }
}

impl RuntimeInstance {
    pub fn is_connected(&self, now: i64) -> bool {
        self.connected && now - self.last_seen <= STALE_AFTER_SECS
    }

    /// Compares what the node runs with what the control plane would send it now.
    pub fn sync_status(&self, now: i64, cp_version: &str, latest_hash: &str) -> SyncStatus {
        if !compatible(&self.version, cp_version) {
            return SyncStatus::IncompatibleVersion(format!(
                "node runs {}, the control plane {cp_version}: same major and minor version required",
                self.version
            ));
        }
        if !self.problem.is_empty() {
            return SyncStatus::OutOfSync(self.problem.clone());
        }
        if !self.is_connected(now) {
            return SyncStatus::OutOfSync("not connected to the control plane".into());
        }
        if self.config_hash != latest_hash {
            return SyncStatus::OutOfSync(format!(
                "runs configuration {}, the latest is {}",
                short(&self.config_hash),
                short(latest_hash)
            ));
        }
        SyncStatus::InSync
    }
}

fn short(hash: &str) -> &str {
    if hash.is_empty() {
        "(none)"
    } else {
        &hash[..hash.len().min(12)]
    }
}

/// Nodes and the control plane must agree on major and minor version: the snapshot format may
/// change between minor versions, never within one.
pub fn compatible(node: &str, cp: &str) -> bool {
    let mm = |v: &str| {
        let mut it = v.split('.');
        (it.next().map(str::to_owned), it.next().map(str::to_owned))
    };
    mm(node) == mm(cp)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_konnects_rules() {
        assert!(parse_labels("env:prod, team:payments").is_ok());
        assert!(parse_labels("a:1,b:2,c:3,d:4,e:5").is_ok());
        let six = parse_labels("a:1,b:2,c:3,d:4,e:5,f:6").unwrap_err();
        assert!(six.contains("At most 5"), "{six}");
        for reserved in [
            "kong-team:x",
            "Konnect:x",
            "insomnia:x",
            "mesh1:x",
            "kic:x",
            "_x:y",
        ] {
            let e = parse_labels(reserved).unwrap_err();
            assert!(e.contains("cannot start with"), "{reserved}: {e}");
        }
        for bad in [
            "-env:prod",
            "env-:prod",
            "env:",
            "env:prod-",
            "env:a b",
            "novalue",
        ] {
            assert!(parse_labels(bad).is_err(), "{bad}");
        }
        assert!(parse_labels("app.tier:web_1").is_ok());
    }

    fn instance(version: &str, hash: &str, last_seen: i64) -> RuntimeInstance {
        RuntimeInstance {
            id: Uuid::nil(),
            runtime_group_id: Uuid::nil(),
            hostname: "n1".into(),
            ip: "10.0.0.1".into(),
            version: version.into(),
            config_hash: hash.into(),
            first_seen: 0,
            last_seen,
            connected: true,
            embedded: false,
            problem: String::new(),
        }
    }

    #[test]
    fn sync_status_rules() {
        let now = 1000;
        assert_eq!(
            instance("0.1.3", "abc", now).sync_status(now, "0.1.0", "abc"),
            SyncStatus::InSync
        );
        assert!(matches!(
            instance("0.1.0", "abc", now).sync_status(now, "0.1.0", "def"),
            SyncStatus::OutOfSync(r) if r.contains("abc") && r.contains("def")
        ));
        assert!(matches!(
            instance("0.2.0", "abc", now).sync_status(now, "0.1.0", "abc"),
            SyncStatus::IncompatibleVersion(_)
        ));
        let stale = instance("0.1.0", "abc", now - STALE_AFTER_SECS - 1);
        assert!(!stale.is_connected(now));
        assert!(matches!(
            stale.sync_status(now, "0.1.0", "abc"),
            SyncStatus::OutOfSync(r) if r.contains("not connected")
        ));
        let mut refused = instance("0.1.0", "abc", now);
        refused.problem = "node credential revoked".into();
        assert_eq!(
            refused.sync_status(now, "0.1.0", "abc").label(),
            "Out of sync"
        );
    }

    #[test]
    fn labels_round_trip_and_reject_bad_pairs() {
        let l = parse_labels("env:prod, team:payments\nregion:eu-1").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(format_labels(&l), "env:prod, region:eu-1, team:payments");
        assert!(parse_labels("env").is_err());
        assert!(parse_labels("env:pr od").is_err());
        assert!(parse_labels("").unwrap().is_empty());
    }

    #[test]
    fn group_input_validation() {
        assert!(RuntimeGroupInput::parse("staging", "", "").is_ok());
        let e = RuntimeGroupInput::parse("  ", "", "x").unwrap_err();
        assert!(e.get("name").is_some() && e.get("labels").is_some());
        assert!(RuntimeGroupInput::parse("a/b", "", "").is_err());
    }

    #[test]
    fn credential_checks() {
        let mut c = DpCredential {
            id: Uuid::nil(),
            runtime_group_id: Uuid::nil(),
            name: "x".into(),
            created_at: 0,
            updated_at: 0,
            expires_at: 100,
            revoked_at: None,
        };
        assert_eq!(c.check(50), Ok(()));
        assert_eq!(c.check(100), Err(CredentialRefusal::Expired));
        c.revoked_at = Some(60);
        assert_eq!(c.check(50), Err(CredentialRefusal::Revoked));
        assert_eq!(parse_credential_days("").unwrap(), CREDENTIAL_DAYS_DEFAULT);
        assert!(parse_credential_days("0").is_err());
    }
}
