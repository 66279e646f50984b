//! [`Secret`]: a string that is never shown by `Debug` (a key passphrase).

use std::fmt;

/// A secret string (a key passphrase): `Debug` prints `<redacted>`, there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_hides_the_secret() {
        let s = super::Secret::new("pass-phrase-1");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "pass-phrase-1");
    }
}
