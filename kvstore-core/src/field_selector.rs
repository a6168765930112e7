//! [`FieldSelector`]: select objects by field values (Kubernetes' field selectors).

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::meta::ObjectMeta;
use crate::object::Object;

/// One requirement on a field: `field=value` or `field!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field: `metadata.name`, `metadata.namespace`, or a field the kind declares
    /// selectable (`#[object(selectable)]`, [`Object::field`]).
    pub field: String,
    /// The value compared with.
    pub value: String,
    /// `true` for `!=`.
    pub negated: bool,
}

/// Requirements on field values, all of which must hold: `metadata.name=alice`,
/// `metadata.namespace!=test,color=red`. Fields are `metadata.name`, `metadata.namespace`
/// (empty when the object has none), and the fields a kind declares selectable; an object
/// without the field does not match an `=` requirement and matches a `!=` one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Shorthand for a selector with one `field=value` requirement.
    pub fn eq(field: impl Into<String>, value: impl Into<String>) -> Self {
        FieldSelector {
            requirements: vec![FieldRequirement {
                field: field.into(),
                value: value.into(),
                negated: false,
            }],
        }
    }

    /// The requirements.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether `object` satisfies every requirement.
    pub fn matches<K: Object>(&self, object: &K) -> bool {
        self.matches_parts(object.metadata(), |name| object.field(name))
    }

    /// Whether an object with `meta` and selectable fields `field` satisfies every requirement.
    pub(crate) fn matches_parts(
        &self,
        meta: &ObjectMeta,
        field: impl Fn(&str) -> Option<String>,
    ) -> bool {
        self.requirements.iter().all(|r| {
            let actual = match r.field.as_str() {
                "metadata.name" => Some(meta.name.clone()),
                "metadata.namespace" => Some(meta.namespace.clone().unwrap_or_default()),
                other => field(other),
            };
            (actual.as_deref() == Some(r.value.as_str())) != r.negated
        })
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            let op = if r.negated { "!=" } else { "=" };
            write!(
                f,
                "{}{}{op}{}",
                if i > 0 { "," } else { "" },
                r.field,
                r.value
            )?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let mut selector = FieldSelector::default();
        if text.trim().is_empty() {
            return Ok(selector);
        }
        for part in text.split(',').map(str::trim) {
            let (field, value, negated) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, v, false)
            } else {
                return Err(Error::InvalidArgument(format!(
                    "field selector {text:?}: {part:?} is not field=value or field!=value"
                )));
            };
            let field = field.trim();
            let valid = !field.is_empty()
                && field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid {
                return Err(Error::InvalidArgument(format!(
                    "field selector {text:?}: {field:?} is not a field name"
                )));
            }
            let value = value.trim();
            // An operator character in a value would print ambiguously ("a==" for `a` equal
            // to "="; found by fuzzing).
            if value.contains(['=', '!']) {
                return Err(Error::InvalidArgument(format!(
                    "field selector {text:?}: the value {value:?} holds '=' or '!'"
                )));
            }
            selector.requirements.push(FieldRequirement {
                field: field.to_owned(),
                value: value.to_owned(),
                negated,
            });
        }
        Ok(selector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_kind::pod;

    #[test]
    fn selects_on_metadata_and_declared_fields() {
        let mut pod = pod("web", "n1");
        pod.metadata.namespace = Some("prod".to_owned());
        let yes = |s: &str| s.parse::<FieldSelector>().unwrap().matches(&pod);
        assert!(yes("metadata.name=web"));
        assert!(yes("metadata.namespace=prod,node=n1"));
        assert!(yes("node!=n2"));
        assert!(yes(""));
        assert!(!yes("metadata.name=db"));
        assert!(!yes("node==n2"));
        assert!(!yes("undeclared=x"), "an absent field matches no `=`");
        assert!(yes("undeclared!=x"));
        let printed = "metadata.name=web,node!=n2"
            .parse::<FieldSelector>()
            .unwrap();
        assert_eq!(printed.to_string(), "metadata.name=web,node!=n2");
        for bad in ["name", "=x", "a b=c", ",", "x=1,y", "a===", "a!=!", "a=b=c"] {
            assert!(bad.parse::<FieldSelector>().is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics_and_what_parses_prints_back(text in ".{0,48}") {
            if let Ok(selector) = text.parse::<FieldSelector>() {
                let printed = selector.to_string();
                proptest::prop_assert_eq!(printed.parse::<FieldSelector>().unwrap(), selector);
            }
        }
    }
}
