//! Oracle for stored-message decoding (`decode_stored_messages_limited`, the consumer's
//! PULL_MESSAGE body layout): no panic, the inflate caps hold (per body, in total, and for every
//! allocation), and every decoded message re-encodes (v1 and v2 layouts, compressed bodies as
//! zlib stored blocks) and decodes to the same message.

use super::alloc::with_caps;
use super::inflate::zlib_stored;
use rocketmq_bridge::message::{
    decode_stored_messages_limited, MessageError, MessageExt, MESSAGE_MAGIC_CODE_V1,
    MESSAGE_MAGIC_CODE_V2, SYSFLAG_BORNHOST_V6, SYSFLAG_COMPRESSED, SYSFLAG_STOREHOST_V6,
};
use std::net::{IpAddr, SocketAddr};

/// Per-body inflate cap the oracle decodes with (1 MiB).
pub(crate) const ORACLE_MAX_BODY: usize = 1 << 20;
/// Cap on all inflated bodies of one call (2 MiB).
pub(crate) const ORACLE_MAX_TOTAL: usize = 2 << 20;
/// Smallest stored record (v1, IPv4, empty fields): bounds the number of messages per input.
const MIN_RECORD: usize = 91;

/// Checks every property above for one input.
///
/// # Panics
/// When a property is violated (an allocation past the caps aborts instead).
pub(crate) fn check_stored_messages(data: &[u8]) {
    // Besides the inflated bodies: copies of the input (bodies, topics, properties), the message
    // vector, and inflate's per-call state.
    let live =
        ORACLE_MAX_TOTAL + 4 * data.len() + (data.len() / MIN_RECORD + 1) * 512 + (256 << 10);
    let (got, _) = with_caps(
        "decode_stored_messages",
        ORACLE_MAX_TOTAL.max(64 << 10) + 2 * data.len(),
        live,
        || decode_stored_messages_limited(data, ORACLE_MAX_BODY, ORACLE_MAX_TOTAL),
    );
    let msgs = match got {
        Ok(m) => m,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if let MessageError::Inflate(inner) = &e {
                assert!(!inner.to_string().is_empty());
            }
            return;
        }
    };
    assert!(msgs.len() <= data.len() / MIN_RECORD);
    let mut inflated = 0;
    for m in &msgs {
        if m.sys_flag & SYSFLAG_COMPRESSED != 0 {
            assert!(
                m.body.len() <= ORACLE_MAX_BODY,
                "body past the per-body cap"
            );
            inflated += m.body.len();
        }
        assert_eq!(m.born_host.is_ipv6(), m.sys_flag & SYSFLAG_BORNHOST_V6 != 0);
        assert_eq!(
            m.store_host.is_ipv6(),
            m.sys_flag & SYSFLAG_STOREHOST_V6 != 0
        );
    }
    assert!(
        inflated <= ORACLE_MAX_TOTAL,
        "inflated bodies past the total cap"
    );
    if !data.is_empty() {
        assert!(
            decode_stored_messages_limited(
                &data[..data.len() - 1],
                ORACLE_MAX_BODY,
                ORACLE_MAX_TOTAL
            )
            .is_err(),
            "a body cut short by one byte decoded"
        );
    }
    // Round trip of every message whose properties can be written again (a value holding 0x01
    // reads back but is refused by the encoder, as in Java).
    for v2 in [false, true] {
        let kept: Vec<&MessageExt> = msgs
            .iter()
            .filter(|m| m.properties.to_encoded().is_ok() && (v2 || m.topic.len() <= 255))
            .collect();
        let mut buf = Vec::new();
        for m in &kept {
            encode_stored(m, v2, &mut buf);
        }
        let again = decode_stored_messages_limited(&buf, ORACLE_MAX_BODY, ORACLE_MAX_TOTAL)
            .unwrap_or_else(|e| panic!("re-encoded messages (v2={v2}) do not decode: {e}"));
        assert_eq!(again.len(), kept.len());
        for (a, b) in again.iter().zip(&kept) {
            assert!(
                a == *b,
                "stored message round trip (v2={v2}) changed {b:?} into {a:?}"
            );
        }
    }
}

/// Writes `m` as one stored record (§13.2); a compressed body is written as a zlib stream of
/// stored blocks.
pub(crate) fn encode_stored(m: &MessageExt, v2: bool, out: &mut Vec<u8>) {
    let start = out.len();
    let host = |out: &mut Vec<u8>, a: SocketAddr| {
        match a.ip() {
            IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
        }
        out.extend_from_slice(&i32::from(a.port()).to_be_bytes());
    };
    out.extend_from_slice(&0i32.to_be_bytes()); // TOTALSIZE, patched below
    let magic = if v2 {
        MESSAGE_MAGIC_CODE_V2
    } else {
        MESSAGE_MAGIC_CODE_V1
    };
    out.extend_from_slice(&magic.to_be_bytes());
    out.extend_from_slice(&m.body_crc.to_be_bytes());
    out.extend_from_slice(&m.queue_id.to_be_bytes());
    out.extend_from_slice(&m.flag.to_be_bytes());
    out.extend_from_slice(&m.queue_offset.to_be_bytes());
    out.extend_from_slice(&m.commit_log_offset.to_be_bytes());
    out.extend_from_slice(&m.sys_flag.to_be_bytes());
    out.extend_from_slice(&m.born_timestamp.to_be_bytes());
    host(out, m.born_host);
    out.extend_from_slice(&m.store_timestamp.to_be_bytes());
    host(out, m.store_host);
    out.extend_from_slice(&m.reconsume_times.to_be_bytes());
    out.extend_from_slice(&m.prepared_transaction_offset.to_be_bytes());
    let body = if m.sys_flag & SYSFLAG_COMPRESSED != 0 {
        zlib_stored(&m.body)
    } else {
        m.body.to_vec()
    };
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(&body);
    if v2 {
        out.extend_from_slice(&(m.topic.len() as u16).to_be_bytes());
    } else {
        out.push(m.topic.len() as u8);
    }
    out.extend_from_slice(m.topic.as_bytes());
    let props = m.properties.to_encoded().expect("checked by the caller");
    out.extend_from_slice(&(props.len() as i16).to_be_bytes());
    out.extend_from_slice(props.as_bytes());
    let total = (out.len() - start) as i32;
    out[start..start + 4].copy_from_slice(&total.to_be_bytes());
}
