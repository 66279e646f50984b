//! [`Chain`]: an error with its causes, for the errors whose `Display` carries the whole story.
//!
//! The lower layers (remoting, name server, producer, spool) leave an error's cause to `source()`.
//! The bridge's own errors are what hosts print (`{e}` in a log line or on stderr), so they take
//! the other form the house style allows: their `Display` writes the cause chain of what they
//! wrap, and `source()` is `None`. Either way each cause is printed once.

use std::error::Error;
use std::fmt;

/// Displays an error and each of its `source()`s, separated by `": "`.
///
/// Generic over the outer error, so wrapping a concrete error makes no `dyn Error` of it (its
/// vtable would link its `Debug` into the binary); only the causes are reached through `source()`.
pub(crate) struct Chain<'a, E: ?Sized>(pub(crate) &'a E);

impl<E: Error + ?Sized> fmt::Display for Chain<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "cannot connect")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_written_once_in_order() {
        let e = Outer(std::io::Error::other("refused"));
        assert_eq!(Chain(&e).to_string(), "cannot connect: refused");
        let plain = std::io::Error::other("plain");
        assert_eq!(Chain(&plain).to_string(), "plain");
    }
}
