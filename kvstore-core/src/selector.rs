//! Label selectors: `team=a,tier!=db,canary,!legacy`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// One requirement of a [`LabelSelector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` (or `key==value`): the label is set to the value.
    Equals(String, String),
    /// `key!=value`: the label is absent or set to another value.
    NotEquals(String, String),
    /// `key`: the label is set.
    Exists(String),
    /// `!key`: the label is not set.
    NotExists(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Equals(k, v) => write!(f, "{k}={v}"),
            Requirement::NotEquals(k, v) => write!(f, "{k}!={v}"),
            Requirement::Exists(k) => write!(f, "{k}"),
            Requirement::NotExists(k) => write!(f, "!{k}"),
        }
    }
}

/// Selects objects by their labels; every requirement must hold. The empty selector matches all.
///
/// ```
/// use std::collections::BTreeMap;
/// use kvstore_core::LabelSelector;
///
/// let selector: LabelSelector = "team=a,!legacy".parse().unwrap();
/// let labels = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
/// assert!(selector.matches(&labels));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// The selector matching everything.
    pub fn everything() -> Self {
        Self::default()
    }
    /// Adds a requirement, builder style.
    pub fn and(mut self, requirement: Requirement) -> Self {
        self.requirements.push(requirement);
        self
    }
    /// Shorthand for a selector with one `key=value` requirement.
    pub fn eq(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self::default().and(Requirement::Equals(key.into(), value.into()))
    }
    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
    /// The requirements.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

fn label_name(text: &str, whole: &str) -> Result<String, Error> {
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(Error::InvalidArgument(format!(
            "label selector {whole:?}: {text:?} is not a label name"
        )))
    }
}

/// `text` if it is a label value a selector can name: at most 63 of `[A-Za-z0-9._-]`, as in
/// Kubernetes (an operator character in a value would print ambiguously: `a==` for `a` equal
/// to `=`, found by fuzzing).
fn label_value(text: &str, whole: &str) -> Result<String, Error> {
    let valid = text.len() <= 63
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(Error::InvalidArgument(format!(
            "label selector {whole:?}: {text:?} is not a label value"
        )))
    }
}

impl FromStr for LabelSelector {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let mut selector = LabelSelector::default();
        if text.trim().is_empty() {
            return Ok(selector);
        }
        for part in text.split(',').map(str::trim) {
            let requirement = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(label_name(k.trim(), text)?, label_value(v.trim(), text)?)
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(label_name(k.trim(), text)?, label_value(v.trim(), text)?)
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(label_name(k.trim(), text)?)
            } else {
                Requirement::Exists(label_name(part, text)?)
            };
            selector.requirements.push(requirement);
        }
        Ok(selector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_operator() {
        let s: LabelSelector = "a=1, b==2,c!=3,d,!e".parse().unwrap();
        assert_eq!(s.to_string(), "a=1,b=2,c!=3,d,!e");
        assert!(s.matches(&labels(&[("a", "1"), ("b", "2"), ("d", "")])));
        assert!(!s.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "")])));
        assert!(!s.matches(&labels(&[("a", "1"), ("b", "2"), ("d", ""), ("e", "x")])));
    }

    #[test]
    fn rejects_garbage() {
        for text in ["=x", "a b=c", ",", "!", "2===", "a!=!", "a=b=c", "a=x y"] {
            assert!(
                text.parse::<LabelSelector>()
                    .unwrap_err()
                    .is_invalid_argument(),
                "{text}"
            );
        }
    }

    #[test]
    fn empty_matches_everything() {
        let s: LabelSelector = "".parse().unwrap();
        assert!(s.matches(&labels(&[("x", "y")])));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,64}") {
            let _ = text.parse::<LabelSelector>();
        }

        #[test]
        fn printed_selectors_parse_back(pairs in proptest::collection::vec(("[a-z]{1,6}", "[a-z0-9]{0,6}", 0..4u8), 0..5)) {
            let selector = pairs.into_iter().fold(LabelSelector::everything(), |s, (k, v, op)| {
                s.and(match op {
                    0 => Requirement::Equals(k, v),
                    1 => Requirement::NotEquals(k, v),
                    2 => Requirement::Exists(k),
                    _ => Requirement::NotExists(k),
                })
            });
            proptest::prop_assert_eq!(selector.to_string().parse::<LabelSelector>().unwrap(), selector);
        }
    }
}
