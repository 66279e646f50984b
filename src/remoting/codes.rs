//! Request and response codes, language codes and serialize types (`RequestCode.java`,
//! `ResponseCode.java`, `LanguageCode.java`, `SerializeType.java`).
#![allow(missing_docs)]

// Request codes.
pub const SEND_MESSAGE: i32 = 10;
pub const PULL_MESSAGE: i32 = 11;
pub const QUERY_MESSAGE: i32 = 12;
pub const QUERY_CONSUMER_OFFSET: i32 = 14;
pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
pub const GET_MAX_OFFSET: i32 = 30;
pub const GET_MIN_OFFSET: i32 = 31;
pub const HEART_BEAT: i32 = 34;
pub const UNREGISTER_CLIENT: i32 = 35;
pub const END_TRANSACTION: i32 = 37;
pub const CHECK_TRANSACTION_STATE: i32 = 39;
pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
pub const RESET_CONSUMER_CLIENT_OFFSET: i32 = 220;
pub const GET_CONSUMER_STATUS_FROM_CLIENT: i32 = 221;
pub const GET_CONSUMER_RUNNING_INFO: i32 = 307;
pub const CONSUME_MESSAGE_DIRECTLY: i32 = 309;
pub const SEND_MESSAGE_V2: i32 = 310;
pub const SEND_BATCH_MESSAGE: i32 = 320;
pub const PUSH_REPLY_MESSAGE_TO_CLIENT: i32 = 326;

// Response codes.
pub const SUCCESS: i32 = 0;
pub const SYSTEM_ERROR: i32 = 1;
pub const SYSTEM_BUSY: i32 = 2;
pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
pub const FLUSH_DISK_TIMEOUT: i32 = 10;
pub const SLAVE_NOT_AVAILABLE: i32 = 11;
pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
pub const MESSAGE_ILLEGAL: i32 = 13;
pub const SERVICE_NOT_AVAILABLE: i32 = 14;
pub const VERSION_NOT_SUPPORTED: i32 = 15;
pub const NO_PERMISSION: i32 = 16;
pub const TOPIC_NOT_EXIST: i32 = 17;
pub const PULL_NOT_FOUND: i32 = 19;
pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
pub const PULL_OFFSET_MOVED: i32 = 21;
pub const QUERY_NOT_FOUND: i32 = 22;
pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
pub const INVALID_PARAMETER: i32 = 29;
pub const NO_BUYER_ID: i32 = 204;
pub const NOT_IN_CURRENT_UNIT: i32 = 205;
pub const FLOW_CONTROL: i32 = 215;
pub const GO_AWAY: i32 = 1500;

/// Version ordinal we send: V4_9_4 (401), which makes name servers answer route queries in standard JSON.
pub const DEFAULT_VERSION: i32 = 401;

/// `LanguageCode`: JSON headers carry the name, binary headers the byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LanguageCode {
    Java,
    Cpp,
    Dotnet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
    NodeJs,
    /// A code this table does not know (binary header byte or JSON number), or an unknown JSON name (255).
    Unknown(u8),
}

const LANGS: [(LanguageCode, &str); 14] = [
    (LanguageCode::Java, "JAVA"),
    (LanguageCode::Cpp, "CPP"),
    (LanguageCode::Dotnet, "DOTNET"),
    (LanguageCode::Python, "PYTHON"),
    (LanguageCode::Delphi, "DELPHI"),
    (LanguageCode::Erlang, "ERLANG"),
    (LanguageCode::Ruby, "RUBY"),
    (LanguageCode::Other, "OTHER"),
    (LanguageCode::Http, "HTTP"),
    (LanguageCode::Go, "GO"),
    (LanguageCode::Php, "PHP"),
    (LanguageCode::Oms, "OMS"),
    (LanguageCode::Rust, "RUST"),
    (LanguageCode::NodeJs, "NODE_JS"),
];

impl LanguageCode {
    /// The byte used in binary headers.
    pub fn code(self) -> u8 {
        match self {
            LanguageCode::Unknown(c) => c,
            known => LANGS.iter().position(|(l, _)| *l == known).unwrap_or(7) as u8,
        }
    }

    /// From the binary header byte (or a JSON number).
    pub fn from_code(c: u8) -> LanguageCode {
        LANGS
            .get(c as usize)
            .map(|(l, _)| *l)
            .unwrap_or(LanguageCode::Unknown(c))
    }

    /// The Java enum name, `None` for [`LanguageCode::Unknown`].
    pub fn name(self) -> Option<&'static str> {
        match self {
            LanguageCode::Unknown(_) => None,
            known => LANGS.iter().find(|(l, _)| *l == known).map(|(_, n)| *n),
        }
    }

    /// From a Java enum name; an unknown name gives `Unknown(255)`.
    pub fn from_name(name: &str) -> LanguageCode {
        LanguageCode::from_name_bytes(name.as_bytes())
    }

    /// [`LanguageCode::from_name`] of a name's bytes (a decoder's, before any UTF-8 check).
    pub(crate) fn from_name_bytes(name: &[u8]) -> LanguageCode {
        LANGS
            .iter()
            .find(|(_, n)| n.as_bytes() == name)
            .map(|(l, _)| *l)
            .unwrap_or(LanguageCode::Unknown(255))
    }
}

/// How a frame's header is serialized (the type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// 0: the header is a JSON object.
    #[default]
    Json,
    /// 1: the ROCKETMQ binary header.
    RocketMq,
}

impl SerializeType {
    /// The type byte.
    pub fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }
}

/// A short name for a response code, for logs and error messages.
pub fn response_name(code: i32) -> &'static str {
    match code {
        SUCCESS => "SUCCESS",
        SYSTEM_ERROR => "SYSTEM_ERROR",
        SYSTEM_BUSY => "SYSTEM_BUSY",
        REQUEST_CODE_NOT_SUPPORTED => "REQUEST_CODE_NOT_SUPPORTED",
        FLUSH_DISK_TIMEOUT => "FLUSH_DISK_TIMEOUT",
        SLAVE_NOT_AVAILABLE => "SLAVE_NOT_AVAILABLE",
        FLUSH_SLAVE_TIMEOUT => "FLUSH_SLAVE_TIMEOUT",
        MESSAGE_ILLEGAL => "MESSAGE_ILLEGAL",
        SERVICE_NOT_AVAILABLE => "SERVICE_NOT_AVAILABLE",
        VERSION_NOT_SUPPORTED => "VERSION_NOT_SUPPORTED",
        NO_PERMISSION => "NO_PERMISSION",
        TOPIC_NOT_EXIST => "TOPIC_NOT_EXIST",
        PULL_NOT_FOUND => "PULL_NOT_FOUND",
        PULL_RETRY_IMMEDIATELY => "PULL_RETRY_IMMEDIATELY",
        PULL_OFFSET_MOVED => "PULL_OFFSET_MOVED",
        QUERY_NOT_FOUND => "QUERY_NOT_FOUND",
        SUBSCRIPTION_NOT_EXIST => "SUBSCRIPTION_NOT_EXIST",
        INVALID_PARAMETER => "INVALID_PARAMETER",
        NO_BUYER_ID => "NO_BUYER_ID",
        NOT_IN_CURRENT_UNIT => "NOT_IN_CURRENT_UNIT",
        FLOW_CONTROL => "FLOW_CONTROL",
        GO_AWAY => "GO_AWAY",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_round_trip() {
        for c in 0..=255u8 {
            assert_eq!(LanguageCode::from_code(c).code(), c);
        }
        assert_eq!(LanguageCode::from_name("RUST"), LanguageCode::Rust);
        assert_eq!(LanguageCode::Rust.code(), 12);
        assert_eq!(LanguageCode::NodeJs.code(), 13);
        assert_eq!(LanguageCode::from_name("COBOL"), LanguageCode::Unknown(255));
    }
}
