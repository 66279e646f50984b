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
pub use msgid::{create_offset_msg_id, decode_offset_msg_id, UniqIdGenerator};
pub use properties::*;
pub use stored::*;

use bytes::Bytes;
use properties::split_keys;

/// A message to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Destination topic.
    pub topic: String,
    /// Payload.
    pub body: Bytes,
    /// User flag, stored as is.
    pub flag: i32,
    /// Properties (tags, keys, ...).
    pub properties: Properties,
}

impl Message {
    /// A message with flag 0 and no properties.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Message {
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
        self.properties.get(PROPERTY_UNIQ_KEY)
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
