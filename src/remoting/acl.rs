//! ACL 1.0 request signing (`AclClientRPCHook.java`, `AclUtils.java`, `AclSigner.java`).
//!
//! Procedure (protocol reference §10), run on every request after the header fields are set:
//! 1. add `AccessKey` (and `SecurityToken` if configured) to the ext fields;
//! 2. take all ext fields except `Signature`, sorted by key, and concatenate their **values**
//!    (UTF-8, no separators). A repeated key counts once, with its last value — the map the
//!    server rebuilds. Keys are sorted by bytes; Java sorts by UTF-16 code units, which is the
//!    same order for every ASCII key the protocol uses;
//! 3. append the raw body;
//! 4. `Signature` = Base64 (standard, padded) of HMAC-SHA1(secret key, 2 ‖ 3).

use super::command::RemotingCommand;
use crate::util::hmac_sha1;
use base64::Engine as _;
use parking_lot::RwLock;
use std::fmt;
use std::sync::Arc;

/// Ext-field key carrying the access key.
pub const ACCESS_KEY: &str = "AccessKey";
/// Ext-field key carrying the optional security token.
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Ext-field key carrying the signature.
pub const SIGNATURE: &str = "Signature";

/// Credentials for brokers and name servers with ACL enabled.
///
/// `Debug` shows the access key but never the secret key or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AclCredentials {
    /// Access key, sent in clear as `AccessKey`.
    pub access_key: String,
    /// Secret key, used only as the HMAC key; never sent or logged.
    pub secret_key: String,
    /// Optional STS token, sent (and signed) as `SecurityToken`.
    pub security_token: Option<String>,
}

impl fmt::Debug for AclCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AclCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl AclCredentials {
    /// Credentials without a security token.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        AclCredentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            security_token: None,
        }
    }

    /// The same credentials with a security token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(token.into());
        self
    }

    /// Adds `AccessKey` (and `SecurityToken`) to `cmd` and sets its `Signature`.
    ///
    /// Call it last, after every other ext field and the body are final: any later change
    /// invalidates the signature. Signing twice gives the same result (an old `Signature` is
    /// not signed).
    pub fn sign(&self, cmd: &mut RemotingCommand) {
        cmd.ext_fields.insert(ACCESS_KEY, &self.access_key);
        if let Some(token) = &self.security_token {
            cmd.ext_fields.insert(SECURITY_TOKEN, token);
        }
        let signature = self.signature_of(cmd);
        cmd.ext_fields.insert(SIGNATURE, &signature);
    }

    /// The signature `sign` would set for `cmd` as it is now (ext fields and body unchanged).
    pub fn signature_of(&self, cmd: &RemotingCommand) -> String {
        let map = cmd.ext_fields.to_sorted_map();
        let values_len: usize = map.values().map(String::len).sum();
        let mut content = Vec::with_capacity(values_len + cmd.body.len());
        for (k, v) in &map {
            if k != SIGNATURE {
                content.extend_from_slice(v.as_bytes());
            }
        }
        content.extend_from_slice(&cmd.body);
        let mac = hmac_sha1(self.secret_key.as_bytes(), &content);
        base64::engine::general_purpose::STANDARD.encode(mac)
    }
}

/// Credentials that a config reload can replace: the producer, its name-server client and the
/// bridge's lookup consumer share one `SharedAcl` (clones share one slot), and every request is
/// signed with the credentials current when it is signed. `None`: requests are not signed.
///
/// `Debug` shows only whether credentials are set and their access key.
#[derive(Clone, Default)]
pub struct SharedAcl {
    slot: Arc<RwLock<Option<Arc<AclCredentials>>>>,
}

impl fmt::Debug for SharedAcl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedAcl").field(&self.get()).finish()
    }
}

impl SharedAcl {
    /// A new slot holding `acl`.
    pub fn new(acl: Option<AclCredentials>) -> SharedAcl {
        SharedAcl::from_arc(acl.map(Arc::new))
    }

    /// A new slot holding `acl` (already shared).
    pub fn from_arc(acl: Option<Arc<AclCredentials>>) -> SharedAcl {
        SharedAcl {
            slot: Arc::new(RwLock::new(acl)),
        }
    }

    /// The credentials requests are signed with now.
    pub fn get(&self) -> Option<Arc<AclCredentials>> {
        self.slot.read().clone()
    }

    /// Replaces the credentials for every clone: requests signed from now on use `acl` (`None`:
    /// they are no longer signed). Returns the credentials replaced.
    pub fn set(&self, acl: Option<AclCredentials>) -> Option<Arc<AclCredentials>> {
        self.set_arc(acl.map(Arc::new))
    }

    /// As [`SharedAcl::set`], with credentials already shared (to put back those `set` returned).
    pub fn set_arc(&self, acl: Option<Arc<AclCredentials>>) -> Option<Arc<AclCredentials>> {
        std::mem::replace(&mut *self.slot.write(), acl)
    }

    /// Whether credentials are set.
    pub fn is_set(&self) -> bool {
        self.slot.read().is_some()
    }

    /// Signs `cmd` with the current credentials ([`AclCredentials::sign`]); does nothing without
    /// credentials. The lock is held only to take a reference, not while signing.
    pub fn sign(&self, cmd: &mut RemotingCommand) {
        if let Some(acl) = self.get() {
            acl.sign(cmd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The send command of protocol reference §14.1 (ext fields in wire order a..m).
    fn send_14_1() -> RemotingCommand {
        let props = "UNIQ_KEY\u{1}7F0000011234000000000A3B1C2D0001\u{2}WAIT\u{1}true\u{2}";
        RemotingCommand::request(310)
            .with_ext("a", "test_producer_group")
            .with_ext("b", "MessagePublish")
            .with_ext("c", "TBW102")
            .with_ext("d", "4")
            .with_ext("e", "0")
            .with_ext("f", "0")
            .with_ext("g", "1700000000000")
            .with_ext("h", "0")
            .with_ext("i", props)
            .with_ext("j", "0")
            .with_ext("k", "false")
            .with_ext("m", "false")
            .with_body(&b"hello"[..])
    }

    #[test]
    fn route_request_signature_matches_reference_14_7() {
        let mut cmd = RemotingCommand::request(105).with_ext("topic", "MessagePublish");
        AclCredentials::new("rocketmq2", "12345678").sign(&mut cmd);
        assert_eq!(cmd.ext(ACCESS_KEY), Some("rocketmq2"));
        assert_eq!(cmd.ext(SIGNATURE), Some("DliIcy4ndn0gQCMkT2AjOgQ5b/w="));
        assert_eq!(cmd.ext(SECURITY_TOKEN), None);
        assert_eq!(cmd.ext_fields.len(), 3);
    }

    #[test]
    fn send_request_signature_matches_reference_14_7() {
        let mut cmd = send_14_1();
        AclCredentials::new("rocketmq2", "12345678").sign(&mut cmd);
        assert_eq!(cmd.ext(SIGNATURE), Some("ObMzXiref5jkWnSOuL+3Wmv4IIY="));
        assert_eq!(cmd.ext_fields.len(), 14);
    }

    #[test]
    fn signing_twice_gives_the_same_signature() {
        let creds = AclCredentials::new("rocketmq2", "12345678");
        let mut cmd = send_14_1();
        creds.sign(&mut cmd);
        creds.sign(&mut cmd);
        assert_eq!(cmd.ext(SIGNATURE), Some("ObMzXiref5jkWnSOuL+3Wmv4IIY="));
        assert_eq!(cmd.ext_fields.len(), 14);
    }

    #[test]
    fn token_is_added_and_signed_between_access_key_and_lowercase_keys() {
        let creds = AclCredentials::new("rocketmq2", "12345678").with_token("tok-1");
        let mut cmd = RemotingCommand::request(105).with_ext("topic", "MessagePublish");
        creds.sign(&mut cmd);
        assert_eq!(cmd.ext(SECURITY_TOKEN), Some("tok-1"));
        // Sorted keys: AccessKey, SecurityToken, topic.
        let expected = base64::engine::general_purpose::STANDARD
            .encode(hmac_sha1(b"12345678", b"rocketmq2tok-1MessagePublish"));
        assert_eq!(cmd.ext(SIGNATURE), Some(expected.as_str()));
        // Independently computed (python3 hmac/base64) for the same content:
        assert_eq!(expected, "RTiMgR54QW1xwRHHU0hhOQzAo2E=");
    }

    #[test]
    fn shared_acl_swap_changes_the_signature_of_every_clone() {
        let shared = SharedAcl::new(Some(AclCredentials::new("rocketmq2", "12345678")));
        let clone = shared.clone();
        let mut cmd = RemotingCommand::request(105).with_ext("topic", "MessagePublish");
        clone.sign(&mut cmd);
        assert_eq!(cmd.ext(SIGNATURE), Some("DliIcy4ndn0gQCMkT2AjOgQ5b/w="));
        let old = shared.set(Some(AclCredentials::new("rocketmq3", "other-secret")));
        assert_eq!(old.unwrap().access_key, "rocketmq2");
        let mut cmd = RemotingCommand::request(105).with_ext("topic", "MessagePublish");
        clone.sign(&mut cmd);
        assert_eq!(cmd.ext(ACCESS_KEY), Some("rocketmq3"));
        let expected = base64::engine::general_purpose::STANDARD
            .encode(hmac_sha1(b"other-secret", b"rocketmq3MessagePublish"));
        assert_eq!(cmd.ext(SIGNATURE), Some(expected.as_str()));
        // Unset: not signed at all.
        shared.set(None);
        let mut cmd = RemotingCommand::request(105).with_ext("topic", "MessagePublish");
        clone.sign(&mut cmd);
        assert_eq!(cmd.ext(SIGNATURE), None);
        assert!(!clone.is_set());
        assert!(!format!("{clone:?}").contains("other-secret"));
    }

    #[test]
    fn debug_hides_secret_and_token() {
        let creds = AclCredentials::new("ak", "s3cr3t-value").with_token("t0ken-value");
        let s = format!("{creds:?}");
        assert!(s.contains("ak"));
        assert!(!s.contains("s3cr3t-value"), "{s}");
        assert!(!s.contains("t0ken-value"), "{s}");
    }
}
