//! Old name servers (and any Java name server asked with version < 401) write route maps with bare
//! integer keys (`{0:"127.0.0.1:10911"}`), which is not JSON. This string-aware pass quotes them.

use std::borrow::Cow;

/// Returns `src` with every bare integer object key quoted (`{0:` → `{"0":`). Strings are skipped
/// whole (addresses contain `:`), so nothing inside them changes. Input that needs no change is
/// returned borrowed.
pub fn quote_bare_integer_keys(src: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    let mut copied = 0;
    // True right after '{' or ',' inside an object: the next token is a key.
    let mut stack: Vec<u8> = Vec::new();
    let mut expect_key = false;
    while i < src.len() {
        let b = src[i];
        match b {
            b'"' => {
                i += 1;
                while i < src.len() {
                    match src[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
                expect_key = false;
                continue;
            }
            b'{' => {
                stack.push(b'{');
                expect_key = true;
            }
            b'[' => {
                stack.push(b'[');
                expect_key = false;
            }
            b'}' | b']' => {
                stack.pop();
                expect_key = false;
            }
            b',' => expect_key = stack.last() == Some(&b'{'),
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'-' | b'0'..=b'9' if expect_key => {
                let start = i;
                i += 1;
                while i < src.len() && src[i].is_ascii_digit() {
                    i += 1;
                }
                let o = out.get_or_insert_with(|| Vec::with_capacity(src.len() + 16));
                o.extend_from_slice(&src[copied..start]);
                o.push(b'"');
                o.extend_from_slice(&src[start..i]);
                o.push(b'"');
                copied = i;
                expect_key = false;
                continue;
            }
            _ => expect_key = false,
        }
        i += 1;
    }
    match out {
        None => Cow::Borrowed(src),
        Some(mut o) => {
            o.extend_from_slice(&src[copied.min(src.len())..]);
            Cow::Owned(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_bare_keys_but_not_strings() {
        let legacy = br#"{"brokerAddrs":{0:"192.168.0.10:10911", 1:"x:1,2:3"},"n":[1,2]}"#;
        let fixed = quote_bare_integer_keys(legacy);
        assert_eq!(
            std::str::from_utf8(&fixed).unwrap(),
            r#"{"brokerAddrs":{"0":"192.168.0.10:10911", "1":"x:1,2:3"},"n":[1,2]}"#
        );
        let std_json = br#"{"a":{"0":"b"},"c":[{"d":1}]}"#;
        assert!(matches!(
            quote_bare_integer_keys(std_json),
            Cow::Borrowed(_)
        ));
    }
}
