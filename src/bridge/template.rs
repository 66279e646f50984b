//! Rule templates: the `"topic"`, `"tag"` and `"key"` of a hook rule may name the event's fields
//! as `${...}` placeholders, parsed once when the config is loaded and rendered per message.
//!
//! | placeholder   | value                                                        | events |
//! |---------------|--------------------------------------------------------------|--------|
//! | `${client_id}`| the client id                                                | all |
//! | `${username}` | the username                                                 | all |
//! | `${topic}`    | the MQTT topic (the subscription filter for session events)  | session.*, message.* |
//! | `${topic.N}`  | segment `N` of the MQTT topic, counted from 0 (split at `/`) | session.*, message.* |
//! | `${qos}`      | `0`, `1` or `2`                                              | session.*, message.* |
//! | `${event}`    | the hook name, e.g. `message.publish`                        | all |
//! | `${node}`     | `bridge.rocket.node`                                         | all |
//!
//! A value the event does not carry (no username, fewer topic segments than `N`) renders as
//! nothing. Text outside placeholders is copied; a `$` not followed by `{` is plain text.
//! Rendering appends to one caller-owned `String` and allocates nothing per field.
//!
//! Parse errors ([`TemplateError`]): an empty template, `${` without `}`, `${}`, an unknown name
//! (the seed's `${clientid}` is named with its spelling here), `${topic.N}` with `N` not a
//! number below 65536, and a placeholder the rule's event never has (`${topic}` or `${qos}` on a
//! client.* rule). What a rendered value may contain is the rule's concern ([`super::rule`]).

use super::event::{Event, EventKind};
use std::fmt;

/// One `${...}` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// `${client_id}`.
    ClientId,
    /// `${username}`.
    Username,
    /// `${topic}`.
    Topic,
    /// `${topic.N}`: the segment at this index.
    TopicSegment(u16),
    /// `${qos}`.
    Qos,
    /// `${event}`.
    Event,
    /// `${node}`.
    Node,
}

impl Field {
    fn parse(name: &str) -> Result<Field, TemplateError> {
        Ok(match name {
            "client_id" => Field::ClientId,
            "username" => Field::Username,
            "topic" => Field::Topic,
            "qos" => Field::Qos,
            "event" => Field::Event,
            "node" => Field::Node,
            "" => return Err(TemplateError::EmptyPlaceholder),
            _ => match name.strip_prefix("topic.") {
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    Field::TopicSegment(
                        n.parse()
                            .map_err(|_| TemplateError::BadSegment(name.to_owned()))?,
                    )
                }
                Some(_) => return Err(TemplateError::BadSegment(name.to_owned())),
                None => return Err(TemplateError::UnknownPlaceholder(name.to_owned())),
            },
        })
    }

    /// Whether an event of `kind` can carry this field.
    fn available_for(self, kind: EventKind) -> bool {
        match self {
            Field::Topic | Field::TopicSegment(_) | Field::Qos => !kind.is_client_event(),
            _ => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Box<str>),
    Field(Field),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text` for a rule of `event`.
    ///
    /// # Errors
    /// [`TemplateError`]; see the [module docs](self).
    pub fn parse(text: &str, event: EventKind) -> Result<Template, TemplateError> {
        if text.is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        let mut lit = String::new();
        while let Some(at) = rest.find("${") {
            lit.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let Some(end) = after.find('}') else {
                return Err(TemplateError::Unclosed {
                    at: text.len() - rest.len() + at,
                });
            };
            let name = &after[..end];
            if name.contains("${") {
                return Err(TemplateError::Unclosed {
                    at: text.len() - rest.len() + at,
                });
            }
            let field = Field::parse(name)?;
            if !field.available_for(event) {
                return Err(TemplateError::NotForEvent {
                    name: name.to_owned(),
                    event,
                });
            }
            if !lit.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut lit).into_boxed_str()));
            }
            pieces.push(Piece::Field(field));
            rest = &after[end + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit.into_boxed_str()));
        }
        Ok(Template {
            source: text.to_owned(),
            pieces,
        })
    }

    /// The text as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the template has no placeholder (it renders as written).
    pub fn is_literal(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Text(_)))
    }

    /// The fixed text between placeholders.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Text(t) => Some(&**t),
            Piece::Field(_) => None,
        })
    }

    /// The placeholders, in order.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Field(f) => Some(*f),
            Piece::Text(_) => None,
        })
    }

    /// Appends the template rendered for `ev` to `out`; each field's value goes through
    /// `value` (which may map characters), the fixed text as is.
    pub fn render_with(
        &self,
        ev: &Event,
        node: &str,
        out: &mut String,
        mut value: impl FnMut(&mut String, &str),
    ) {
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => {
                    let v: &str = match f {
                        Field::ClientId => ev.client_id.as_deref().unwrap_or(""),
                        Field::Username => ev.username.as_deref().unwrap_or(""),
                        Field::Topic => ev.topic.as_deref().unwrap_or(""),
                        Field::TopicSegment(n) => ev
                            .topic
                            .as_deref()
                            .and_then(|t| t.split('/').nth(usize::from(*n)))
                            .unwrap_or(""),
                        Field::Qos => match ev.qos {
                            Some(0) => "0",
                            Some(1) => "1",
                            Some(2) => "2",
                            // Hosts give 0 to 2; anything else is not a QoS to write.
                            _ => "",
                        },
                        Field::Event => ev.kind.hook_name(),
                        Field::Node => node,
                    };
                    value(out, v);
                }
            }
        }
    }

    /// Appends the template rendered for `ev` to `out`, values as they are.
    pub fn render(&self, ev: &Event, node: &str, out: &mut String) {
        self.render_with(ev, node, out, |o, v| o.push_str(v));
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Appends `v` to `out` with every space and control character replaced by `_`: a message key
/// (RocketMQ separates keys with a space).
pub fn push_key_safe(out: &mut String, v: &str) {
    for c in v.chars() {
        out.push(if c == ' ' || c.is_control() { '_' } else { c });
    }
}

/// Why a template was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template is the empty string.
    Empty,
    /// `${` with no `}` after it (or another `${` before it); at this byte offset.
    Unclosed {
        /// Byte offset of the `${`.
        at: usize,
    },
    /// `${}`.
    EmptyPlaceholder,
    /// A name that is not a placeholder.
    UnknownPlaceholder(String),
    /// `${topic.N}` with `N` not a number from 0 to 65535.
    BadSegment(String),
    /// Fixed text the rendered value may never contain (checked per key by the rule).
    InvalidText {
        /// The fixed text.
        text: String,
        /// Why.
        why: &'static str,
    },
    /// A placeholder the rule's event never has.
    NotForEvent {
        /// The placeholder's name.
        name: String,
        /// The rule's event.
        event: EventKind,
    },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Empty => write!(f, "template is empty"),
            TemplateError::Unclosed { at } => {
                write!(f, "\"${{\" at byte {at} is not closed by \"}}\"")
            }
            TemplateError::EmptyPlaceholder => write!(f, "empty placeholder \"${{}}\""),
            TemplateError::UnknownPlaceholder(n) => {
                write!(f, "unknown placeholder \"${{{n}}}\"")?;
                if n == "clientid" {
                    write!(f, " (this bridge spells it ${{client_id}})")?;
                }
                write!(
                    f,
                    "; expected client_id, username, topic, topic.N, qos, event or node"
                )
            }
            TemplateError::BadSegment(n) => write!(
                f,
                "placeholder \"${{{n}}}\": the segment must be a number from 0 to 65535"
            ),
            TemplateError::InvalidText { text, why } => write!(f, "fixed text {text:?} {why}"),
            TemplateError::NotForEvent { name, event } => {
                write!(f, "{event} events have no {name:?} for \"${{{name}}}\"")
            }
        }
    }
}

impl std::error::Error for TemplateError {}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn ev() -> Event {
        let mut e = Event::message_publish("c 1", "site/a/temp", Bytes::from_static(b"x"), 1);
        e.username = Some("u\u{1}".into());
        e
    }

    fn render(t: &str) -> String {
        let t = Template::parse(t, EventKind::MessagePublish).unwrap();
        let mut s = String::new();
        t.render(&ev(), "n1", &mut s);
        s
    }

    #[test]
    fn every_placeholder_renders_its_field() {
        assert_eq!(render("${client_id}"), "c 1");
        assert_eq!(render("${username}"), "u\u{1}");
        assert_eq!(render("${topic}"), "site/a/temp");
        assert_eq!(render("T_${topic.0}_${topic.2}"), "T_site_temp");
        assert_eq!(render("${topic.3}"), "", "a missing segment is empty");
        assert_eq!(render("${qos}-${event}-${node}"), "1-message.publish-n1");
        assert_eq!(render("a$b${node}$"), "a$bn1$");
    }

    #[test]
    fn literal_templates_are_known_as_such() {
        let t = Template::parse("Plain", EventKind::ClientConnected).unwrap();
        assert!(t.is_literal());
        assert_eq!(t.literals().collect::<Vec<_>>(), vec!["Plain"]);
        let t = Template::parse("a${node}b", EventKind::ClientConnected).unwrap();
        assert!(!t.is_literal());
        assert_eq!(t.literals().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(t.fields().collect::<Vec<_>>(), vec![Field::Node]);
    }

    #[test]
    fn key_safe_values_replace_spaces_and_control_characters() {
        let t = Template::parse("${client_id}/${username}", EventKind::MessagePublish).unwrap();
        let mut s = String::new();
        t.render_with(&ev(), "n1", &mut s, push_key_safe);
        assert_eq!(s, "c_1/u_");
    }

    #[test]
    fn bad_templates_are_refused() {
        let p = |t: &str, k| Template::parse(t, k).unwrap_err();
        let m = EventKind::MessagePublish;
        assert_eq!(p("", m), TemplateError::Empty);
        assert_eq!(p("a${topic", m), TemplateError::Unclosed { at: 1 });
        assert_eq!(p("${a${topic}", m), TemplateError::Unclosed { at: 0 });
        assert_eq!(p("${}", m), TemplateError::EmptyPlaceholder);
        assert_eq!(
            p("${clientid}", m),
            TemplateError::UnknownPlaceholder("clientid".into())
        );
        assert_eq!(
            p("${topic.x}", m),
            TemplateError::BadSegment("topic.x".into())
        );
        assert_eq!(
            p("${topic.70000}", m),
            TemplateError::BadSegment("topic.70000".into())
        );
        assert_eq!(
            p("${qos}", EventKind::ClientDisconnected),
            TemplateError::NotForEvent {
                name: "qos".into(),
                event: EventKind::ClientDisconnected
            }
        );
    }
}
