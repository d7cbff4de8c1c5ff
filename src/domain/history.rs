//! Configuration history as the domain sees it: who made a change and how (a console page, an
//! Admin API call, an import, a restore), a recorded version's metadata, and how long versions
//! are kept. Plain values; recording them is the store's job, choosing them the edges'.

use serde::Serialize;
use uuid::Uuid;

use super::config_diff::{summary_text, KindCount};

/// Who changed the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// The user's or token's id; none for the system.
    pub id: Option<Uuid>,
    /// A user's email, a token's name, or what the system was doing.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Token,
    System,
}

impl Actor {
    pub fn user(id: Uuid, email: &str) -> Actor {
        Actor {
            kind: ActorKind::User,
            id: Some(id),
            name: email.to_string(),
        }
    }

    pub fn token(id: Uuid, name: &str) -> Actor {
        Actor {
            kind: ActorKind::Token,
            id: Some(id),
            name: name.to_string(),
        }
    }

    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
            name: "system".into(),
        }
    }
}

/// Through what a change came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Console,
    AdminApi,
    Import,
    Restore,
    System,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Console => "console",
            Channel::AdminApi => "admin_api",
            Channel::Import => "import",
            Channel::Restore => "restore",
            Channel::System => "system",
        }
    }

    /// Reads a stored value back; unknown ones (from a newer release) read as `System`.
    pub fn parse(s: &str) -> Channel {
        match s {
            "console" => Channel::Console,
            "admin_api" => Channel::AdminApi,
            "import" => Channel::Import,
            "restore" => Channel::Restore,
            _ => Channel::System,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Channel::Console => "Console",
            Channel::AdminApi => "Admin API",
            Channel::Import => "Import",
            Channel::Restore => "Restore",
            Channel::System => "System",
        }
    }
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> ActorKind {
        match s {
            "user" => ActorKind::User,
            "token" => ActorKind::Token,
            _ => ActorKind::System,
        }
    }
}

/// Who and how, for one committed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeSource {
    pub actor: Actor,
    pub channel: Channel,
    /// The page or endpoint (`PATCH /routes/r1`), the restored version, the imported file.
    pub detail: String,
}

impl ChangeSource {
    pub fn system(detail: &str) -> ChangeSource {
        ChangeSource {
            actor: Actor::system(),
            channel: Channel::System,
            detail: detail.to_string(),
        }
    }

    /// "Admin API · PATCH /routes/r1".
    pub fn how(&self) -> String {
        if self.detail.is_empty() {
            self.channel.label().to_string()
        } else {
            format!("{} · {}", self.channel.label(), self.detail)
        }
    }
}

/// A recorded configuration version without its configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigVersion {
    pub runtime_group_id: Uuid,
    /// The store-wide configuration revision the change committed as: numbers grow across all
    /// groups, so one group's versions are increasing but not consecutive.
    pub version: u64,
    pub created_at: i64,
    pub source: ChangeSource,
    /// The hash of the group's whole configuration after the change, as the proxy and nodes
    /// report it.
    pub hash: String,
    /// Per kind, what the change added, removed and changed against the version before it.
    pub summary: Vec<KindCount>,
}

impl ConfigVersion {
    /// "+2 routes, ~1 plugin".
    pub fn summary_text(&self) -> String {
        summary_text(&self.summary)
    }
}

/// How long versions are kept: at most `max_versions` per group and none older than
/// `max_age_secs`, except that a group's newest version (what it runs) always stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryRetention {
    pub max_versions: u64,
    pub max_age_secs: i64,
}

impl Default for HistoryRetention {
    fn default() -> Self {
        HistoryRetention {
            max_versions: 500,
            max_age_secs: 90 * 86_400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_read_back() {
        for c in [
            Channel::Console,
            Channel::AdminApi,
            Channel::Import,
            Channel::Restore,
            Channel::System,
        ] {
            assert_eq!(Channel::parse(c.as_str()), c);
        }
        for k in [ActorKind::User, ActorKind::Token, ActorKind::System] {
            assert_eq!(ActorKind::parse(k.as_str()), k);
        }
        let s = ChangeSource {
            actor: Actor::system(),
            channel: Channel::AdminApi,
            detail: "POST /routes".into(),
        };
        assert_eq!(s.how(), "Admin API · POST /routes");
    }
}
