//! MQTT topic filters (MQTT 3.1.1 §4.7, MQTT 5 §4.7), validated once at load and matched without
//! allocating.
//!
//! Rules:
//! - a filter is at least one character and at most 65,535 bytes (an MQTT UTF-8 string), with no NUL;
//! - `+` matches exactly one level and must occupy a whole level (`a/+/c`, never `a+`);
//! - `#` matches the parent level and any number of child levels, and must be the last level, alone
//!   (`a/#`, never `a/#/b` or `a#`);
//! - a topic whose first character is `$` (for example `$SYS/broker/load`) is not matched by a filter
//!   whose first level is `+` or `#` (MQTT 3.1.1 §4.7.2); `$SYS/#` does match it;
//! - an empty level is a level: `+/+` matches `/finance`, `+` does not.

use std::fmt;

/// The longest filter accepted, in bytes: the MQTT UTF-8 string limit.
pub const MAX_FILTER_LEN: usize = 65_535;

/// One level of a parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    /// Matches this exact text.
    Literal(String),
    /// `+`: any one level.
    Plus,
    /// `#`: this level and everything below (always the last level).
    Hash,
}

/// A validated MQTT topic filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    text: String,
    levels: Vec<Level>,
}

/// Why a string is not a valid topic filter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterError {
    /// The filter is the empty string.
    Empty,
    /// The filter is longer than [`MAX_FILTER_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The filter contains a NUL character.
    Nul {
        /// Byte offset of the NUL.
        at: usize,
    },
    /// `+` shares its level with other characters.
    PlusNotWholeLevel {
        /// The offending level, counting from 1.
        level: usize,
    },
    /// `#` shares its level with other characters, or is not the last level.
    HashNotLast {
        /// The offending level, counting from 1.
        level: usize,
    },
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterError::Empty => write!(f, "topic filter is empty"),
            FilterError::TooLong { len } => {
                write!(
                    f,
                    "topic filter is {len} bytes, more than the MQTT limit of {MAX_FILTER_LEN}"
                )
            }
            FilterError::Nul { at } => write!(f, "topic filter contains NUL at byte {at}"),
            FilterError::PlusNotWholeLevel { level } => {
                write!(f, "'+' must occupy a whole level (level {level})")
            }
            FilterError::HashNotLast { level } => {
                write!(f, "'#' must be alone in the last level (level {level})")
            }
        }
    }
}

impl std::error::Error for FilterError {}

impl TopicFilter {
    /// Validates `filter` and prepares it for matching.
    ///
    /// # Errors
    /// A [`FilterError`] naming the rule broken (empty, too long, NUL, misplaced `+` or `#`).
    pub fn parse(filter: &str) -> Result<TopicFilter, FilterError> {
        if filter.is_empty() {
            return Err(FilterError::Empty);
        }
        if filter.len() > MAX_FILTER_LEN {
            return Err(FilterError::TooLong { len: filter.len() });
        }
        if let Some(at) = filter.bytes().position(|b| b == 0) {
            return Err(FilterError::Nul { at });
        }
        let count = filter.split('/').count();
        let mut levels = Vec::with_capacity(count);
        for (i, part) in filter.split('/').enumerate() {
            let level = i + 1;
            let lvl = match part {
                "+" => Level::Plus,
                "#" if level == count => Level::Hash,
                "#" => return Err(FilterError::HashNotLast { level }),
                p if p.contains('#') => return Err(FilterError::HashNotLast { level }),
                p if p.contains('+') => return Err(FilterError::PlusNotWholeLevel { level }),
                p => Level::Literal(p.to_owned()),
            };
            levels.push(lvl);
        }
        Ok(TopicFilter {
            text: filter.to_owned(),
            levels,
        })
    }

    /// The filter as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the filter contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.levels.iter().any(|l| !matches!(l, Level::Literal(_)))
    }

    /// Whether `topic` is matched by this filter.
    ///
    /// `topic` is compared level by level; wildcard characters inside `topic` have no special
    /// meaning (so a subscription filter reported by a `session.subscribed` event can be matched
    /// like a topic name: filter `a/#` matches the subscription `a/+`). An empty `topic` matches
    /// nothing.
    pub fn matches(&self, topic: &str) -> bool {
        if topic.is_empty() {
            return false;
        }
        if topic.starts_with('$') && matches!(self.levels.first(), Some(Level::Plus | Level::Hash))
        {
            return false;
        }
        // Walks the topic's bytes level by level (a `split('/')` iterator cost about 300
        // instructions per event in issue #22's profile). `pos` is where the next level starts;
        // `ended` is set once the last level was taken.
        let t = topic.as_bytes();
        let (mut pos, mut ended) = (0, false);
        for level in &self.levels {
            if ended {
                // No level left for this one ('#' also matches the parent level).
                return matches!(level, Level::Hash);
            }
            let rest = &t[pos..];
            let len = match level {
                Level::Hash => return true,
                Level::Plus => match rest.iter().position(|&b| b == b'/') {
                    Some(n) => n,
                    None => rest.len(),
                },
                Level::Literal(lit) => {
                    if !rest.starts_with(lit.as_bytes()) {
                        return false;
                    }
                    lit.len()
                }
            };
            match rest.get(len) {
                None => ended = true,
                Some(b'/') => pos += len + 1,
                Some(_) => return false,
            }
        }
        ended
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_parent_level() {
        let f = TopicFilter::parse("sport/tennis/player1/#").unwrap();
        assert!(f.matches("sport/tennis/player1"));
        assert!(f.matches("sport/tennis/player1/ranking"));
        assert!(f.matches("sport/tennis/player1/score/wimbledon"));
        assert!(!f.matches("sport/tennis/player2"));
    }

    #[test]
    fn filter_is_kept_as_written() {
        let f = TopicFilter::parse("a/+/c").unwrap();
        assert_eq!(f.as_str(), "a/+/c");
        assert_eq!(f.to_string(), "a/+/c");
        assert!(f.has_wildcards());
        assert!(!TopicFilter::parse("a/b").unwrap().has_wildcards());
    }

    /// The level-by-level split the byte walk replaced: the oracle.
    fn matches_by_split(f: &TopicFilter, topic: &str) -> bool {
        if topic.is_empty() {
            return false;
        }
        if topic.starts_with('$') && matches!(f.levels.first(), Some(Level::Plus | Level::Hash)) {
            return false;
        }
        let mut parts = topic.split('/');
        for level in &f.levels {
            match level {
                Level::Hash => return true,
                Level::Plus => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Level::Literal(lit) => match parts.next() {
                    Some(p) if p == lit => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }

    /// Every sequence of 1 to `max_levels` of `parts` joined with '/' is taken as a topic and, when
    /// valid, as a filter; each filter is matched against each topic by the byte walk and by the
    /// split oracle, which must agree. Returns the filters and the matches counted.
    fn agree_with_the_split_oracle(parts: &[&str], max_levels: u32) -> (usize, usize) {
        let mut texts: Vec<String> = Vec::new();
        for levels in 1..=max_levels {
            for mut n in 0..parts.len().pow(levels) {
                let mut t = Vec::new();
                for _ in 0..levels {
                    t.push(parts[n % parts.len()]);
                    n /= parts.len();
                }
                texts.push(t.join("/"));
            }
        }
        let filters: Vec<TopicFilter> = texts
            .iter()
            .filter_map(|t| TopicFilter::parse(t).ok())
            .collect();
        let mut matched = 0;
        for f in &filters {
            for t in &texts {
                let want = matches_by_split(f, t);
                assert_eq!(f.matches(t), want, "filter {f} topic {t:?}");
                matched += usize::from(want);
            }
        }
        (filters.len(), matched)
    }

    /// Every filter and topic of up to four levels over a small alphabet (empty levels, prefixes
    /// of one another, '$', wildcards as plain text in topics) agrees with the split oracle.
    #[test]
    fn byte_walk_matches_the_split_oracle() {
        let (filters, matched) =
            agree_with_the_split_oracle(&["", "a", "ab", "b", "$s", "+", "#"], 4);
        assert!(filters > 500, "{filters} filters");
        assert!(matched > 1000, "{matched} matches");
    }

    /// Multi-byte levels that share leading bytes ("é" and "ê" are C3 A9 and C3 AA), a level that
    /// is another's prefix, '$' before non-ASCII, trailing and doubled '/': the split oracle's
    /// answers for every filter and topic of up to three levels.
    #[test]
    fn byte_walk_matches_the_split_oracle_on_multi_byte_levels() {
        agree_with_the_split_oracle(&["", "é", "ê", "éa", "a", "$é", "+", "#"], 3);
    }
}
