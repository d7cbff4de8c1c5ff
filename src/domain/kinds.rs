//! The kind registry: every Kong entity kind the gateway serves, named once. The list below
//! makes [`GatewayConfig`] (a runtime group's whole configuration as one value, serialized and
//! hashed whole) and tells the store which stored rows belong to which field. Adding a kind is
//! its own file implementing [`Entity`] plus one line here.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    Acl, BasicAuthCredential, CaCertificate, Certificate, Consumer, Entity, GatewayService,
    JwtSecret, KeyAuthCredential, Plugin, Route, Sni, Target, Upstream,
};

macro_rules! registry {
    ($($field:ident: $ty:ty),* $(,)?) => {
        /// Everything a runtime group's gateway serves, in creation order per kind.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct GatewayConfig {
            $(#[serde(default)] pub $field: Vec<$ty>,)*
            /// (gateway service id, catalog service version id): which version a service
            /// implements, so requests are counted per version.
            #[serde(default)]
            pub version_links: Vec<(Uuid, Uuid)>,
        }

        /// Every registered kind's collection name, as Kong names it.
        pub const KINDS: &[&str] = &[$(<$ty as Entity>::KIND),*];

        impl GatewayConfig {
            /// Adds one stored entity (its kind and JSON body); rows of kinds the gateway does
            /// not serve are skipped.
            pub fn push_stored(&mut self, kind: &str, body: &str) -> Result<(), serde_json::Error> {
                $(
                    if kind == <$ty as Entity>::KIND {
                        self.$field.push(serde_json::from_str(body)?);
                        return Ok(());
                    }
                )*
                Ok(())
            }

            /// How many entities of each kind, for logs and the console.
            pub fn counts(&self) -> Vec<(&'static str, usize)> {
                vec![$((<$ty as Entity>::KIND, self.$field.len())),*]
            }

            /// Hands every kind's entities to `v`, in the registry's order.
            pub fn visit(&self, v: &mut impl KindVisitor) {
                $(v.visit(&self.$field);)*
            }

            /// Hands every kind's entities here and in `after` to `v`, in the registry's order.
            pub fn visit_pair(&self, after: &Self, v: &mut impl PairVisitor) {
                $(v.visit(&self.$field, &after.$field);)*
            }
        }
    };
}

/// Something done to every kind's entities with their types known (writing a whole
/// configuration back to the store). Kinds come in the registry's order, which puts owners
/// (and a route's service) before the entities that need them.
pub trait KindVisitor {
    fn visit<T: Entity>(&mut self, items: &[T]);
}

/// Something done to every kind's entities on two sides at once (comparing configurations).
pub trait PairVisitor {
    fn visit<T: Entity>(&mut self, before: &[T], after: &[T]);
}

registry! {
    services: GatewayService,
    routes: Route,
    upstreams: Upstream,
    targets: Target,
    certificates: Certificate,
    snis: Sni,
    ca_certificates: CaCertificate,
    consumers: Consumer,
    keyauth_credentials: KeyAuthCredential,
    basicauth_credentials: BasicAuthCredential,
    acls: Acl,
    jwt_secrets: JwtSecret,
    plugins: Plugin,
}

impl GatewayConfig {
    /// The content hash of the whole value (first 16 bytes of SHA-256 over its JSON, links in a
    /// fixed order): two configurations with the same entities hash alike, and no kind can be
    /// left out of the hash.
    pub fn hash(&self) -> String {
        hash_json(&self.canonical_json())
    }

    /// The JSON the hash is taken over (links in a fixed order); a caller that also keeps the
    /// JSON hashes it with [`hash_json`] instead of serializing twice.
    pub fn canonical_json(&self) -> Vec<u8> {
        // Links loaded from the store come sorted; copying a whole configuration (10,000
        // routes) only to sort them was a good part of a write's hashing.
        if self.version_links.is_sorted() {
            serde_json::to_vec(self)
        } else {
            let mut canonical = self.clone();
            canonical.version_links.sort();
            serde_json::to_vec(&canonical)
        }
        .unwrap_or_default()
    }
}

/// [`GatewayConfig::hash`] of the configuration whose [`GatewayConfig::canonical_json`] this is.
pub fn hash_json(json: &[u8]) -> String {
    hex::encode(&Sha256::digest(json)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_in_the_hash() {
        let base = GatewayConfig::default();
        let mut with_sni = base.clone();
        with_sni
            .push_stored(
                "snis",
                r#"{"id":"6a1d4c4e-5f87-4b33-9c0e-5e7f1a2b3c4d","name":"a.example","certificate":{"id":"6a1d4c4e-5f87-4b33-9c0e-5e7f1a2b3c4e"},"created_at":1,"updated_at":1,"tags":null}"#,
            )
            .expect("an SNI row");
        assert_eq!(with_sni.snis.len(), 1);
        assert_ne!(base.hash(), with_sni.hash());
        assert_eq!(KINDS.len(), base.counts().len());
        assert!(KINDS.contains(&"services") && KINDS.contains(&"routes"));
    }

    #[test]
    fn link_order_does_not_change_the_hash() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let one = GatewayConfig {
            version_links: vec![(a, b), (b, a)],
            ..GatewayConfig::default()
        };
        let two = GatewayConfig {
            version_links: vec![(b, a), (a, b)],
            ..GatewayConfig::default()
        };
        assert_eq!(one.hash(), two.hash());
    }
}
