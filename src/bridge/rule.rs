//! Hook rules: `bridge.rocket.hook.<event>.<n> = {"filter": "...", "topic": "..."}`.
//!
//! The rule's JSON object takes these keys (any other key is an error):
//!
//! | key                | required                        | meaning                                            |
//! |--------------------|---------------------------------|----------------------------------------------------|
//! | `topic`            | yes                             | RocketMQ topic: 1–127 characters of `A-Z a-z 0-9 _ - % \|` |
//! | `filter`           | for session.* and message.* hooks; not allowed for client.* | MQTT topic filter matched against the event's MQTT topic |
//! | `tag`              | no (no tag)                     | RocketMQ message tag (extension): 1–255 characters, no control characters, no `\|\|`, not `*`, no surrounding spaces |
//! | `payload_encoding` | no (`bridge.rocket.encode_payload_type`) | `base64` or `plain` for this rule (extension) |
//! | `body`             | no (`json`)                     | `json`: the seed's JSON; `payload`: the MQTT payload's bytes as they are (message.* hooks only) |
//! | `key`              | no (none)                       | a key template added to the message's `KEYS` after the bridge's own key |
//!
//! Several rules may exist per event (`.1`, `.2`, …); an event is sent once to every rule it matches.
//!
//! # Templates
//!
//! `topic`, `tag` and `key` may hold `${...}` placeholders ([`super::template`]): `${client_id}`,
//! `${username}`, `${topic}`, `${topic.N}`, `${qos}`, `${event}`, `${node}`. They are parsed
//! when the config is loaded, and their fixed text is checked there too: a topic's fixed text may
//! only hold topic characters, a tag's no control character and no `||`, a key's no space and no
//! control character. Per message, after rendering:
//!
//! - a topic that is not a RocketMQ topic name (empty, over 127 characters, a character outside
//!   `A-Z a-z 0-9 _ - % |`) drops the message as `bad_topic`; a topic is looked up at the name
//!   servers on its first use by the rule: one found missing drops as `no_topic` (looked up again
//!   after 5 s), and a rule sends to at most `bridge.rocket.template.max_topics` distinct topics
//!   (100): a new one beyond drops as `topic_cap`;
//! - a tag that renders empty is left out; one that is not a valid tag (see the table) drops the
//!   message as `bad_tag`;
//! - a key has each space and control character of the fields' values replaced by `_`, is cut
//!   to its first 1024 bytes (on a character boundary), and is left out when it renders empty. The bridge's own key (`<bridge_id>-<run>-<seq>`) stays the
//!   first of `KEYS`, so deduplication by key keeps working.

use super::event::{Event, EventKind};
use super::format::PayloadEncoding;
use super::template::{Template, TemplateError};
use super::topic_filter::{FilterError, TopicFilter};
use serde_json::Value;
use std::fmt;

/// The longest RocketMQ topic name, in characters (`TopicValidator.TOPIC_MAX_LENGTH`).
pub const MAX_TOPIC_LEN: usize = 127;
/// The longest message tag accepted, in bytes.
pub const MAX_TAG_LEN: usize = 255;

/// Identifies a rule: its event and its number (`message.publish.2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId {
    /// The hook.
    pub event: EventKind,
    /// The `<n>` in the key.
    pub index: u32,
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.event.hook_name(), self.index)
    }
}

/// One hook rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookRule {
    /// The hook it applies to.
    pub event: EventKind,
    /// The `<n>` in `bridge.rocket.hook.<event>.<n>`.
    pub index: u32,
    /// The MQTT topic filter (`None` for client events).
    pub filter: Option<TopicFilter>,
    /// The RocketMQ topic the event goes to (shared: each message of the rule holds a count, not a
    /// copy).
    pub topic: crate::message::Topic,
    /// The RocketMQ message tag, if any.
    pub tag: Option<String>,
    /// How the payload is written for this rule.
    pub payload_encoding: PayloadEncoding,
    /// The body: the seed's JSON or the payload itself.
    pub body: BodyFormat,
    /// `topic` when it has placeholders (rendered per message; `topic` is then its text).
    pub topic_template: Option<Template>,
    /// `tag` when it has placeholders (rendered per message; `tag` is then its text).
    pub tag_template: Option<Template>,
    /// The key template, added to `KEYS` after the bridge's key.
    pub key: Option<Template>,
}

/// What a rule's message body is (`"body"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BodyFormat {
    /// The seed's JSON ([`super::format`]).
    #[default]
    Json,
    /// The MQTT payload, byte for byte.
    Payload,
}

impl HookRule {
    /// Parses the JSON value of a rule key. `default_encoding` is used when the rule has no
    /// `payload_encoding`.
    ///
    /// # Errors
    /// A [`RuleError`] naming the JSON key at fault.
    pub fn parse(
        event: EventKind,
        index: u32,
        json: &str,
        default_encoding: PayloadEncoding,
    ) -> Result<HookRule, RuleError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| RuleError::InvalidJson(e.to_string()))?;
        let Value::Object(obj) = value else {
            return Err(RuleError::NotAnObject);
        };
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "filter" | "topic" | "tag" | "payload_encoding" | "body" | "key"
            ) {
                return Err(RuleError::UnknownKey(key.clone()));
            }
        }
        let get = |key: &'static str| -> Result<Option<&str>, RuleError> {
            match obj.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(RuleError::NotAString(key)),
            }
        };
        let topic = get("topic")?.ok_or(RuleError::MissingKey("topic"))?;
        let topic_template =
            parse_template("topic", topic, event, |t| validate_resource_chars(t).err())?;
        if topic_template.is_none() {
            validate_resource_name(topic, MAX_TOPIC_LEN).map_err(|why| {
                RuleError::InvalidTopic {
                    topic: topic.to_owned(),
                    why,
                }
            })?;
        }
        let filter = match (get("filter")?, event.is_client_event()) {
            (Some(_), true) => return Err(RuleError::FilterNotAllowed(event)),
            (None, true) => None,
            (None, false) => return Err(RuleError::MissingKey("filter")),
            (Some(f), false) => Some(TopicFilter::parse(f).map_err(RuleError::InvalidFilter)?),
        };
        let mut tag_template = None;
        let tag = match get("tag")? {
            None => None,
            Some(t) => {
                tag_template = parse_template("tag", t, event, |l| {
                    if l.chars().any(char::is_control) {
                        Some("contains a control character")
                    } else if l.contains("||") {
                        Some("contains \"||\", the subscription separator")
                    } else {
                        None
                    }
                })?;
                if tag_template.is_none() {
                    validate_tag(t).map_err(|why| RuleError::InvalidTag {
                        tag: t.to_owned(),
                        why,
                    })?;
                }
                Some(t.to_owned())
            }
        };
        let key = match get("key")? {
            None => None,
            Some(k) => {
                let t = Template::parse(k, event).map_err(|error| RuleError::Template {
                    key: "key",
                    template: k.into(),
                    error: Box::new(error),
                })?;
                if let Some((l, why)) = t.literals().find_map(|l| {
                    if l.contains(' ') {
                        Some((l, "contains a space, which separates keys"))
                    } else if l.chars().any(char::is_control) {
                        Some((l, "contains a control character"))
                    } else {
                        None
                    }
                }) {
                    return Err(bad_text("key", k, l, why));
                }
                Some(t)
            }
        };
        let body = match get("body")? {
            None | Some("json") => BodyFormat::Json,
            Some("payload") if event.is_message_event() => BodyFormat::Payload,
            Some("payload") => return Err(RuleError::NoPayload(event)),
            Some(b) => return Err(RuleError::InvalidBody(b.to_owned())),
        };
        let payload_encoding = match get("payload_encoding")? {
            None => default_encoding,
            Some(e) => {
                PayloadEncoding::parse(e).ok_or_else(|| RuleError::InvalidEncoding(e.to_owned()))?
            }
        };
        Ok(HookRule {
            event,
            index,
            filter,
            topic: topic.into(),
            tag,
            payload_encoding,
            body,
            topic_template,
            tag_template,
            key,
        })
    }

    /// The rule's identity, e.g. `message.publish.1`.
    pub fn id(&self) -> RuleId {
        RuleId {
            event: self.event,
            index: self.index,
        }
    }

    /// Whether `ev` is for this rule: same hook and, for session/message events, an MQTT topic
    /// the filter matches (an event without a topic matches no filter).
    pub fn matches(&self, ev: &Event) -> bool {
        if ev.kind != self.event {
            return false;
        }
        match &self.filter {
            None => true,
            Some(f) => ev.topic.as_deref().is_some_and(|t| f.matches(t)),
        }
    }
}

/// Parses `text` as the template of rule key `key`: `None` when it has no placeholder (the
/// caller checks it as a fixed value), else the template, each fixed part checked by `bad_fixed`.
fn parse_template(
    key: &'static str,
    text: &str,
    event: EventKind,
    bad_fixed: impl Fn(&str) -> Option<&'static str>,
) -> Result<Option<Template>, RuleError> {
    if !text.contains("${") {
        return Ok(None);
    }
    let t = Template::parse(text, event).map_err(|error| RuleError::Template {
        key,
        template: text.into(),
        error: Box::new(error),
    })?;
    if let Some((l, why)) = t.literals().find_map(|l| bad_fixed(l).map(|why| (l, why))) {
        return Err(bad_text(key, text, l, why));
    }
    if key == "topic" && t.literals().map(str::len).sum::<usize>() > MAX_TOPIC_LEN {
        let fixed: String = t.literals().collect();
        return Err(bad_text(key, text, &fixed, "is longer than 127 characters"));
    }
    Ok(Some(t))
}

fn bad_text(key: &'static str, text: &str, fixed: &str, why: &'static str) -> RuleError {
    RuleError::Template {
        key,
        template: text.into(),
        error: Box::new(TemplateError::InvalidText {
            text: fixed.to_owned(),
            why,
        }),
    }
}

/// Only the characters of a RocketMQ resource name (`A-Z a-z 0-9 _ - % |`).
pub(crate) fn validate_resource_chars(name: &str) -> Result<(), &'static str> {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'%' | b'|'))
    {
        Ok(())
    } else {
        Err("may only contain A-Z a-z 0-9 _ - % |")
    }
}

/// Checks a RocketMQ resource name (topic, group, namespace): 1..=`max` characters from
/// `A-Z a-z 0-9 _ - % |`, as the Java `TopicValidator` allows.
pub(crate) fn validate_resource_name(name: &str, max: usize) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > max {
        return Err("is too long");
    }
    validate_resource_chars(name)
}

pub(crate) fn validate_tag(tag: &str) -> Result<(), &'static str> {
    if tag.is_empty() {
        return Err("is empty");
    }
    if tag.len() > MAX_TAG_LEN {
        return Err("is longer than 255 bytes");
    }
    if tag.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    if tag.contains("||") {
        return Err("contains \"||\", the subscription separator");
    }
    if tag == "*" {
        return Err("is \"*\", the subscription wildcard");
    }
    if tag.trim() != tag {
        return Err("has leading or trailing spaces");
    }
    Ok(())
}

/// Why a rule's JSON was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// The value is not JSON; carries serde_json's description.
    InvalidJson(String),
    /// The JSON is not an object.
    NotAnObject,
    /// A key other than `filter`, `topic`, `tag`, `payload_encoding`.
    UnknownKey(String),
    /// A required key is absent.
    MissingKey(&'static str),
    /// A key's value is not a JSON string.
    NotAString(&'static str),
    /// `filter` on a client.* hook, which has no MQTT topic.
    FilterNotAllowed(EventKind),
    /// `filter` is not a valid MQTT topic filter.
    InvalidFilter(FilterError),
    /// `topic` is not a valid RocketMQ topic.
    InvalidTopic {
        /// The value.
        topic: String,
        /// Why.
        why: &'static str,
    },
    /// `tag` is not acceptable.
    InvalidTag {
        /// The value.
        tag: String,
        /// Why.
        why: &'static str,
    },
    /// `payload_encoding` is neither `base64` nor `plain`.
    InvalidEncoding(String),
    /// `body` is neither `json` nor `payload`.
    InvalidBody(String),
    /// `"body": "payload"` on a hook whose events have no payload.
    NoPayload(EventKind),
    /// A `topic`, `tag` or `key` template is not acceptable.
    Template {
        /// The rule key: `topic`, `tag` or `key`.
        key: &'static str,
        /// The template as written.
        template: Box<str>,
        /// Why (boxed: the config error stays small).
        error: Box<TemplateError>,
    },
}

impl RuleError {
    /// The JSON key at fault, if any.
    pub fn json_key(&self) -> Option<&str> {
        match self {
            RuleError::InvalidJson(_) | RuleError::NotAnObject => None,
            RuleError::UnknownKey(k) => Some(k),
            RuleError::MissingKey(k) | RuleError::NotAString(k) => Some(k),
            RuleError::FilterNotAllowed(_) | RuleError::InvalidFilter(_) => Some("filter"),
            RuleError::InvalidTopic { .. } => Some("topic"),
            RuleError::InvalidTag { .. } => Some("tag"),
            RuleError::InvalidEncoding(_) => Some("payload_encoding"),
            RuleError::InvalidBody(_) | RuleError::NoPayload(_) => Some("body"),
            RuleError::Template { key, .. } => Some(key),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::InvalidJson(e) => write!(f, "rule is not valid JSON: {e}"),
            RuleError::NotAnObject => write!(
                f,
                "rule must be a JSON object like {{\"filter\": \"#\", \"topic\": \"T\"}}"
            ),
            RuleError::UnknownKey(k) => {
                write!(
                    f,
                    "unknown rule key {k:?}; expected filter, topic, tag, payload_encoding, body or key"
                )
            }
            RuleError::MissingKey(k) => write!(f, "rule has no {k:?}"),
            RuleError::NotAString(k) => write!(f, "rule key {k:?} must be a string"),
            RuleError::FilterNotAllowed(ev) => {
                write!(
                    f,
                    "{ev} events have no MQTT topic, so the rule cannot have a \"filter\""
                )
            }
            RuleError::InvalidFilter(e) => write!(f, "invalid \"filter\": {e}"),
            RuleError::InvalidTopic { topic, why } => write!(f, "RocketMQ topic {topic:?} {why}"),
            RuleError::InvalidTag { tag, why } => write!(f, "tag {tag:?} {why}"),
            RuleError::InvalidEncoding(e) => {
                write!(f, "payload_encoding {e:?} is not one of base64, plain")
            }
            RuleError::InvalidBody(b) => write!(f, "body {b:?} is not one of json, payload"),
            RuleError::NoPayload(ev) => write!(
                f,
                "\"body\": \"payload\" needs a payload, and {ev} events have none"
            ),
            RuleError::Template {
                key,
                template,
                error,
            } => write!(f, "{key:?} template {template:?}: {error}"),
        }
    }
}

impl std::error::Error for RuleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        None
    }
}

/// All hook rules, grouped by event and ordered by number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    by_kind: [Vec<HookRule>; 7],
}

impl RuleSet {
    /// Builds a set from rules in any order.
    pub fn new(rules: impl IntoIterator<Item = HookRule>) -> RuleSet {
        let mut set = RuleSet::default();
        for r in rules {
            set.by_kind[r.event.index()].push(r);
        }
        for v in &mut set.by_kind {
            v.sort_by_key(|r| r.index);
        }
        set
    }

    /// The rules `ev` matches, by rule number.
    pub fn matching<'a>(&'a self, ev: &'a Event) -> impl Iterator<Item = &'a HookRule> + 'a {
        self.by_kind[ev.kind.index()]
            .iter()
            .filter(move |r| r.matches(ev))
    }

    /// Every rule, by event then number.
    pub fn iter(&self) -> impl Iterator<Item = &HookRule> {
        self.by_kind.iter().flatten()
    }

    /// The rules of one event.
    pub fn for_event(&self, kind: EventKind) -> &[HookRule] {
        &self.by_kind[kind.index()]
    }

    /// The rule with this id.
    pub fn get(&self, id: RuleId) -> Option<&HookRule> {
        self.for_event(id.event)
            .iter()
            .find(|r| r.index == id.index)
    }

    /// The distinct fixed RocketMQ topics the rules send to, sorted (topic templates are left
    /// out: their topics are looked up on first use).
    pub fn topics(&self) -> Vec<&str> {
        let mut t: Vec<&str> = self
            .iter()
            .filter(|r| r.topic_template.is_none())
            .map(|r| r.topic.as_str())
            .collect();
        t.sort_unstable();
        t.dedup();
        t
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.by_kind.iter().map(Vec::len).sum()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_follow_topic_validator() {
        assert!(validate_resource_name("MessagePublish", 127).is_ok());
        assert!(validate_resource_name("a-b_c%d|e", 127).is_ok());
        assert!(validate_resource_name(&"a".repeat(127), 127).is_ok());
        assert_eq!(
            validate_resource_name(&"a".repeat(128), 127),
            Err("is too long")
        );
        assert_eq!(validate_resource_name("", 127), Err("is empty"));
        assert!(validate_resource_name("a/b", 127).is_err());
        assert!(validate_resource_name("a b", 127).is_err());
    }

    #[test]
    fn tags_are_checked() {
        assert!(validate_tag("v1").is_ok());
        assert!(validate_tag("").is_err());
        assert!(validate_tag("a||b").is_err());
        assert!(validate_tag("*").is_err());
        assert!(validate_tag(" a").is_err());
        assert!(validate_tag("a\u{1}").is_err());
    }
}
