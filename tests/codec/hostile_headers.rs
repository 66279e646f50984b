//! Header decoders against hostile inputs (issue #18 case 2): work per input byte stays below the
//! oracle's constant for many `null` keys, many float keys, repeated keys, deep nesting and many
//! `extFields` members, and headers past the ext-field cap are refused with the typed error. Work
//! units are counted by the decoders; nothing here measures time.

use rocketmq_bridge::remoting::codec::header_binary::decode_binary_header_counting;
use rocketmq_bridge::remoting::codec::header_json::{
    decode_json_header, decode_json_header_counting, decode_json_header_via_value,
};
use rocketmq_bridge::remoting::codec::oracle::{
    check_header_work, check_json_header, MAX_WORK_PER_BYTE, WORK_SLACK,
};
use rocketmq_bridge::remoting::codec::{DecodeError, MAX_EXT_FIELDS};

fn header(members: impl Iterator<Item = String>) -> Vec<u8> {
    let mut h = br#"{"code":0,"opaque":1,"extFields":{"#.to_vec();
    for (i, m) in members.enumerate() {
        if i > 0 {
            h.push(b',');
        }
        h.extend_from_slice(m.as_bytes());
    }
    h.extend_from_slice(b"}}");
    h
}

fn work_per_byte(h: &[u8]) -> f64 {
    let (_, work) = decode_json_header_counting(h);
    work as f64 / h.len() as f64
}

/// Hostile shapes, `n` members each.
fn shapes(n: usize) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "null keys",
            header((0..n).map(|i| format!(r#""k{i}":null"#))),
        ),
        (
            "value then null",
            header((0..n).map(|i| format!(r#""k{}":{}"#, i / 2, ["\"v\"", "null"][i % 2]))),
        ),
        (
            "values then nulls",
            header((0..n).map(|i| {
                let k = i % (n / 2);
                [format!(r#""k{k}":"v""#), format!(r#""k{k}":null"#)][2 * i / n].clone()
            })),
        ),
        (
            "float keys",
            header((0..n).map(|i| format!(r#""k{i}":1.5"#))),
        ),
        (
            "floats fixed by repeats",
            header((0..n).map(|i| format!(r#""k{}":{}"#, i / 2, ["1.5", "\"v\""][i % 2]))),
        ),
        (
            "one key repeated",
            header((0..n).map(|_| r#""k":"v""#.to_string())),
        ),
        (
            "descending keys",
            header((0..n).rev().map(|i| format!(r#""k{i:08}":"v""#))),
        ),
        (
            "composite values",
            header((0..n).map(|i| format!(r#""k{i}":[[{{"a":[1]}}]]"#))),
        ),
    ]
}

#[test]
fn work_per_byte_is_bounded_below_and_past_the_ext_field_cap() {
    // Just under the cap (decoded in full) and far past it (refused).
    for n in [MAX_EXT_FIELDS, 200_000] {
        for (name, h) in shapes(n) {
            check_header_work(&h);
            let wpb = work_per_byte(&h);
            assert!(
                wpb <= MAX_WORK_PER_BYTE as f64,
                "{name} n={n}: {wpb:.2} work units per byte"
            );
            let r = decode_json_header(&h);
            if n > MAX_EXT_FIELDS {
                assert_eq!(
                    r,
                    Err(DecodeError::TooManyExtFields {
                        max: MAX_EXT_FIELDS
                    }),
                    "{name} n={n}"
                );
            } else {
                // Under the cap the scanner still agrees with serde_json and round-trips.
                check_json_header(&h);
            }
        }
    }
}

#[test]
fn nulls_and_repeats_under_the_cap_resolve_last_wins() {
    let h = header((0..MAX_EXT_FIELDS).map(|i| {
        let k = i / 4;
        match i % 4 {
            0 => format!(r#""k{k}":"a""#),
            1 => format!(r#""k{k}":null"#),
            2 => format!(r#""k{k}":1.5"#),
            _ => format!(r#""k{k}":{k}"#),
        }
    }));
    let c = decode_json_header(&h).unwrap();
    assert_eq!(c.ext_fields.len(), MAX_EXT_FIELDS / 4);
    assert_eq!(c.ext("k7"), Some("7"));
    assert_eq!(Ok(c), decode_json_header_via_value(&h));
    // The last of a key is a float (i = 98): refused whatever came before.
    let bad = header((0..99).map(|i| format!(r#""k":{}"#, ["\"v\"", "null", "1.5"][i % 3])));
    assert!(matches!(
        decode_json_header(&bad),
        Err(DecodeError::InvalidField {
            field: "extFields",
            ..
        })
    ));
}

#[test]
fn repeated_ext_field_objects_count_toward_one_cap() {
    let mut h = br#"{"code":0,"opaque":1"#.to_vec();
    for _ in 0..=MAX_EXT_FIELDS {
        h.extend_from_slice(br#","extFields":{"a":"b"}"#);
    }
    h.push(b'}');
    assert_eq!(
        decode_json_header(&h),
        Err(DecodeError::TooManyExtFields {
            max: MAX_EXT_FIELDS
        })
    );
    check_header_work(&h);
}

#[test]
fn deep_nesting_and_long_numbers_stay_linear() {
    for h in [
        format!(
            r#"{{"code":0,"opaque":1,"x":{}{}}}"#,
            "[".repeat(99),
            "]".repeat(99)
        ),
        format!(r#"{{"code":0,"opaque":1,"x":{}}}"#, "[".repeat(200_000)),
        format!(r#"{{"code":0,"opaque":1,"x":1{}}}"#, "0".repeat(300)),
        format!(r#"{{"code":0,"opaque":1,"x":0.{}1}}"#, "0".repeat(200_000)),
        format!(
            r#"{{"code":0,"opaque":1,"remark":"{}"}}"#,
            "\\u00e9".repeat(50_000)
        ),
    ] {
        check_header_work(h.as_bytes());
        assert!(work_per_byte(h.as_bytes()) <= MAX_WORK_PER_BYTE as f64);
    }
}

/// A binary header with `n` ext entries `k<i>` = `v`.
fn binary(n: usize) -> Vec<u8> {
    let mut block = Vec::new();
    for i in 0..n {
        let k = format!("k{i}");
        block.extend_from_slice(&(k.len() as i16).to_be_bytes());
        block.extend_from_slice(k.as_bytes());
        block.extend_from_slice(&1i32.to_be_bytes());
        block.push(b'v');
    }
    let mut h = vec![0, 0, 12, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    h.extend_from_slice(&(block.len() as i32).to_be_bytes());
    h.extend_from_slice(&block);
    h
}

#[test]
fn binary_header_ext_entries_are_capped_and_linear() {
    let (ok, work) = decode_binary_header_counting(&binary(MAX_EXT_FIELDS));
    assert_eq!(ok.unwrap().ext_fields.len(), MAX_EXT_FIELDS);
    let h = binary(MAX_EXT_FIELDS);
    assert!(work <= MAX_WORK_PER_BYTE * h.len() as u64 + WORK_SLACK);
    let big = binary(300_000);
    let (r, work) = decode_binary_header_counting(&big);
    assert_eq!(
        r.unwrap_err(),
        DecodeError::TooManyExtFields {
            max: MAX_EXT_FIELDS
        }
    );
    assert!(work <= MAX_WORK_PER_BYTE * big.len() as u64);
    check_header_work(&big);
}
