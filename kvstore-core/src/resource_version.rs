//! [`ResourceVersion`]: a position in the store's history, as every API takes and returns it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A store revision: the version of an object's last write, the point a list was read at,
/// where a watch starts or has got to.
///
/// Every write transaction makes a new, larger one, shared by the objects it writes; they are
/// comparable, so "at least as new as" is `>=`. Revisions are signed 64-bit numbers on etcd,
/// and every backend shares that range, so one resource version means the same everywhere.
///
/// Objects carry theirs as a string in [`ObjectMeta::resource_version`](crate::ObjectMeta)
/// (the wire form, as in Kubernetes); [`ObjectMeta::version`](crate::ObjectMeta::version)
/// reads it back as this type. `0` is "before any write": a watch from version 0 starts with
/// the current objects ([`WatchFrom::Version`](crate::WatchFrom::Version)).
///
/// ```
/// use kvstore_core::ResourceVersion;
/// let rv: ResourceVersion = "42".parse()?;
/// assert_eq!(rv.revision(), 42);
/// assert_eq!(rv.to_string(), "42");
/// assert!("-1".parse::<ResourceVersion>().is_err());
/// # Ok::<(), kvstore_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceVersion(u64);

impl ResourceVersion {
    /// The largest revision any backend gives (`i64::MAX`, etcd's range).
    pub const MAX: ResourceVersion = ResourceVersion(i64::MAX as u64);

    /// "Before any write".
    pub const ZERO: ResourceVersion = ResourceVersion(0);

    /// The resource version of store revision `revision`; an error past
    /// [`ResourceVersion::MAX`].
    pub fn new(revision: u64) -> Result<Self, InvalidResourceVersion> {
        match revision <= Self::MAX.0 {
            true => Ok(ResourceVersion(revision)),
            false => Err(InvalidResourceVersion(revision.to_string())),
        }
    }

    /// A revision a backend returned (backends never exceed the range).
    pub(crate) fn of(revision: u64) -> Self {
        ResourceVersion(revision.min(Self::MAX.0))
    }

    /// The store revision.
    pub fn revision(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ResourceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Text (or a number) that is no resource version; converts into
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidResourceVersion(String);

impl fmt::Display for InvalidResourceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a resource version (a decimal store revision, 0 to {})",
            self.0,
            ResourceVersion::MAX
        )
    }
}

impl std::error::Error for InvalidResourceVersion {}

/// Parses the decimal form.
impl FromStr for ResourceVersion {
    type Err = InvalidResourceVersion;

    fn from_str(text: &str) -> Result<Self, InvalidResourceVersion> {
        let not_one = || InvalidResourceVersion(text.to_owned());
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_one());
        }
        let revision = text.parse::<u64>().map_err(|_| not_one())?;
        ResourceVersion::new(revision).map_err(|_| not_one())
    }
}

impl TryFrom<&str> for ResourceVersion {
    type Error = InvalidResourceVersion;
    fn try_from(text: &str) -> Result<Self, InvalidResourceVersion> {
        text.parse()
    }
}

impl TryFrom<u64> for ResourceVersion {
    type Error = InvalidResourceVersion;
    fn try_from(revision: u64) -> Result<Self, InvalidResourceVersion> {
        ResourceVersion::new(revision)
    }
}

/// Serialized as its string form, as on the wire.
impl Serialize for ResourceVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::ResourceVersion;

    proptest::proptest! {
        #[test]
        fn only_decimal_revisions_in_range_parse(text in ".{0,24}") {
            match text.parse::<ResourceVersion>() {
                Ok(rv) => {
                    proptest::prop_assert!(rv <= ResourceVersion::MAX);
                    proptest::prop_assert_eq!(text.parse::<u64>().ok(), Some(rv.revision()));
                    proptest::prop_assert!(!text.starts_with('+'));
                }
                Err(err) => proptest::prop_assert!(
                    crate::Error::from(err).is_invalid_argument()
                ),
            }
        }

        #[test]
        fn the_string_form_round_trips(revision in 0..=i64::MAX as u64) {
            let rv = ResourceVersion::new(revision).unwrap();
            proptest::prop_assert_eq!(rv.to_string().parse::<ResourceVersion>().unwrap(), rv);
            let json = serde_json::to_string(&rv).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<ResourceVersion>(&json).unwrap(), rv);
        }
    }

    #[test]
    fn beyond_the_store_range_is_refused() {
        assert!(ResourceVersion::new(i64::MAX as u64 + 1).is_err());
        assert!("9223372036854775808".parse::<ResourceVersion>().is_err());
    }
}
