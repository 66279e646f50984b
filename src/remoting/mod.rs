//! The RocketMQ remoting protocol: commands, the sans-IO frame codec, and a blocking multiplexed
//! connection.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `total_len` (BE) = 4 + header_len + body_len |
//! | 4 | 1 | serialize type: 0 JSON, 1 ROCKETMQ binary |
//! | 5 | 3 | `header_len` (BE u24) |
//! | 8 | header_len | header |
//! | 8 + header_len | rest | body |
//!
//! Sources: `RemotingCommand.java`, `RocketMQSerializable.java`, `NettyDecoder.java` in
//! apache/rocketmq; the project's protocol reference in `docs/`.

pub mod acl;
pub mod codec;
pub mod codes;
pub mod command;
pub mod connection;
pub mod direct;
mod error;
pub mod pending;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tls")]
mod tls_key;
mod write_two;

pub use acl::{AclCredentials, SharedAcl};
pub use codec::{decode_frame, encode_frame, DecodeError, EncodeError, FrameLimits, MAX_FRAME_LEN};
pub use codes::{LanguageCode, SerializeType};
pub use command::{ExtFields, RemotingCommand, FLAG_ONEWAY, FLAG_RESPONSE};
pub use connection::{Connection, ConnectionConfig};
pub use direct::DirectConnection;
pub use error::Error;
#[cfg(feature = "tls")]
pub use tls::{TlsConnector, TlsError, TlsOptions, TlsSetupError};
