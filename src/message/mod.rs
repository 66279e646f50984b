//! Messages and their wire forms, shared by the producer and the consumer.
//!
//! * [`Properties`] ([`properties`]): the `name 0x01 value 0x02` string (`MessageDecoder.java`
//!   `messageProperties2String` / `string2messageProperties`; protocol reference §6.1).
//! * [`Message`] (here): what a producer sends; [`encode_batch_body`] ([`batch`]) lays out a
//!   SEND_BATCH_MESSAGE body (§7).
//! * [`MessageExt`] ([`stored`]): a message as the broker stores it; [`decode_stored_messages`]
//!   reads a pull or VIEW_MESSAGE_BY_ID body (§13.2), bounds-checking every length against the
//!   bytes present.
//! * [`UniqIdGenerator`] ([`msgid`]): client-side `UNIQ_KEY` ids (§6.2);
//!   [`MessageExt::offset_msg_id`] and [`decode_offset_msg_id`]: the broker's offset message id
//!   (§6.3).
//! * [`MessageError`] ([`error`]): what every encoder and decoder here returns.
//!
//! Every item is re-exported here, so `crate::message::X` paths do not depend on the file layout.

pub mod batch;
pub mod error;
pub mod msgid;
pub mod properties;
pub mod stored;

pub use batch::{batch_record_len, encode_batch_body};
pub use error::MessageError;
/// This layer's error under the module-scoped name the other layers use (`remoting::Error`,
/// `nameserver::Error`, `consumer::Error`); the same type as [`MessageError`].
pub use error::MessageError as Error;
pub use msgid::{create_offset_msg_id, decode_offset_msg_id, UniqIdGenerator, UniqIds};
pub use properties::*;
pub use stored::*;

use bytes::Bytes;
use properties::split_keys;
use std::sync::Arc;

/// A message's topic: shared text, so the messages of one topic share one allocation (the bridge
/// sends every message of a rule with a count increment instead of a copy of the name, and the
/// producer's thread, which drops sent messages, frees nothing for it). Reads as a `&str`
/// through `Deref`; made from a `&str`, a `String` or an `Arc<str>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

impl Topic {
    /// The topic's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Topic {
    fn default() -> Topic {
        Topic(Arc::from(""))
    }
}

impl std::ops::Deref for Topic {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Topic {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Topic {
    fn from(s: &str) -> Topic {
        Topic(Arc::from(s))
    }
}

impl From<String> for Topic {
    fn from(s: String) -> Topic {
        Topic(Arc::from(s))
    }
}

impl From<&String> for Topic {
    fn from(s: &String) -> Topic {
        Topic(Arc::from(s.as_str()))
    }
}

impl From<Arc<str>> for Topic {
    fn from(s: Arc<str>) -> Topic {
        Topic(s)
    }
}

impl From<&Topic> for Topic {
    fn from(t: &Topic) -> Topic {
        t.clone()
    }
}

impl From<Topic> for String {
    fn from(t: Topic) -> String {
        t.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for Topic {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Topic {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Topic {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

/// A message to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Destination topic.
    pub topic: Topic,
    /// Payload.
    pub body: Bytes,
    /// User flag, stored as is.
    pub flag: i32,
    /// Properties (tags, keys, ...).
    pub properties: Properties,
}

impl Message {
    /// A message with flag 0 and no properties.
    pub fn new(topic: impl Into<Topic>, body: impl Into<Bytes>) -> Message {
        Message {
            topic: topic.into(),
            body: body.into(),
            flag: 0,
            properties: Properties::new(),
        }
    }

    /// Sets the `TAGS` property.
    pub fn with_tags(mut self, tags: &str) -> Self {
        self.properties.set(PROPERTY_TAGS, tags);
        self
    }

    /// Sets the `KEYS` property to `keys` joined by one space.
    pub fn with_keys(mut self, keys: &[&str]) -> Self {
        self.properties.set(PROPERTY_KEYS, keys.join(" "));
        self
    }

    /// Sets any property.
    pub fn with_property(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.properties.set(name, value);
        self
    }

    /// The `TAGS` property.
    pub fn tags(&self) -> Option<&str> {
        self.properties.get(PROPERTY_TAGS)
    }

    /// The `KEYS` property split on spaces (empty pieces dropped).
    pub fn keys(&self) -> Vec<&str> {
        split_keys(self.properties.get(PROPERTY_KEYS))
    }

    /// The `UNIQ_KEY` property.
    pub fn unique_key(&self) -> Option<&str> {
        self.properties.unique_key()
    }
}

// Debug never prints bodies (they are MQTT payloads): their length only.
impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("topic", &self.topic)
            .field("body_len", &self.body.len())
            .field("flag", &self.flag)
            .field("properties", &self.properties)
            .finish()
    }
}
