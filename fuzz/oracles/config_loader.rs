//! Oracle for the bridge config loader (`BridgeConfig::parse`): arbitrary text gives a config or
//! a typed error that names a real line of the text and, when it names a key, the key written on
//! that line; secrets are never echoed; indentation, CRLF line ends and comment lines change
//! nothing but line numbers. There is no config writer, so the round trip is metamorphic: the
//! rewritten text must give the same config, or the same error on the mapped line.

use super::alloc::with_caps;
use rocketmq_bridge::bridge::{BridgeConfig, ConfigError, ConfigErrorKind};

/// Keys whose values must never appear in an error.
const SECRETS: [&str; 2] = [
    "bridge.rocket.acl.secret_key",
    "bridge.rocket.acl.security_token",
];

/// Checks every property above for one input (lossy UTF-8: the loader's own `NotUtf8` check
/// happens before parsing and is covered by its tests).
///
/// # Panics
/// When a property is violated (an allocation past the caps aborts instead).
pub(crate) fn check_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // A config is small: nothing it holds may cost more than a few copies of the text.
    let cap = 64 * text.len() + (1 << 20);
    let (got, _) = with_caps("BridgeConfig::parse", cap, cap, || {
        BridgeConfig::parse(&text, "fuzz.conf")
    });
    let lines: Vec<&str> = text.lines().collect();
    if let Err(e) = &got {
        check_error(e, &lines);
    }
    // The same text, every line indented, ended with CRLF and preceded by a comment line: line n
    // becomes line 2n.
    let mut moved = String::with_capacity(text.len() * 2 + 8 * lines.len());
    for l in &lines {
        moved.push_str("# moved\r\n \t");
        moved.push_str(l);
        moved.push_str(" \r\n");
    }
    let again = BridgeConfig::parse(&moved, "fuzz.conf");
    match (&got, &again) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "indentation/CRLF/comments changed the config"),
        (Err(a), Err(b)) => {
            assert_eq!(b.line, a.line.map(|n| 2 * n), "line not mapped: {a} / {b}");
            assert_eq!(a.key, b.key, "{a} / {b}");
            assert_eq!(
                std::mem::discriminant(&a.kind),
                std::mem::discriminant(&b.kind),
                "{a} / {b}"
            );
        }
        (a, b) => panic!("indentation/CRLF/comments changed the verdict: {a:?} / {b:?}"),
    }
}

fn check_error(e: &ConfigError, lines: &[&str]) {
    let shown = e.to_string();
    let line = e
        .line
        .unwrap_or_else(|| panic!("a parse error without a line: {shown}"));
    assert!(
        line >= 1 && line <= lines.len(),
        "line {line} of {}: {shown}",
        lines.len()
    );
    assert!(shown.contains(&format!(":{line}")), "{shown}");
    let written = lines[line - 1].trim();
    if let Some(key) = &e.key {
        assert!(shown.contains(key.as_str()), "{shown}");
        let (k, _) = written
            .split_once('=')
            .unwrap_or_else(|| panic!("error names key {key} on line {line} without '=': {shown}"));
        assert_eq!(
            k.trim(),
            key,
            "the error names a key its line does not hold: {shown}"
        );
        if SECRETS.contains(&key.as_str()) {
            if let ConfigErrorKind::InvalidValue { value, .. } = &e.kind {
                assert_eq!(value, "<redacted>", "a secret was echoed: {shown}");
            }
        }
    }
    if let ConfigErrorKind::Duplicate { first_line } = e.kind {
        assert!(first_line < line);
        let first = lines[first_line - 1]
            .trim()
            .split_once('=')
            .map(|(k, _)| k.trim());
        assert_eq!(first, e.key.as_deref(), "{shown}");
    }
}
