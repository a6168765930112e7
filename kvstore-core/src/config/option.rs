//! [`BackendOption`]: one of a URL's backend-specific options, read with a clear error.

use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// A backend-specific option of a [`StoreConfig`](super::StoreConfig) (`?name=value`), with
/// readers that refuse a malformed value with [`Error::InvalidConfig`] naming the option.
///
/// ```
/// use kvstore_core::StoreConfig;
/// let config = StoreConfig::from_url("sqlite://a.db?busy_timeout=250ms&retain=all")?;
/// for option in config.backend_options() {
///     match option.name {
///         "busy_timeout" => assert_eq!(option.duration()?.as_millis(), 250),
///         "retain" => assert_eq!(option.retain()?, None),
///         _ => return Err(option.unknown("sqlite")),
///     }
/// }
/// # Ok::<(), kvstore_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendOption<'a> {
    /// The option's name.
    pub name: &'a str,
    /// Its value, as given.
    pub value: &'a str,
}

impl BackendOption<'_> {
    /// [`Error::InvalidConfig`] saying what the option takes.
    pub fn invalid(&self, takes: &str) -> Error {
        Error::InvalidConfig {
            message: format!("{}={}: {takes}", self.name, self.value),
        }
    }

    /// [`Error::InvalidConfig`]: `backend` has no such option.
    pub fn unknown(&self, backend: &str) -> Error {
        Error::InvalidConfig {
            message: format!("the {backend} backend has no option {:?}", self.name),
        }
    }

    /// A duration: `250ms`, `5s`, `2m`.
    pub fn duration(&self) -> Result<Duration, Error> {
        humantime::parse_duration(self.value).map_err(|e| self.invalid(&e.to_string()))
    }

    /// A number.
    pub fn number<T: FromStr>(&self) -> Result<T, Error> {
        self.value.parse().map_err(|_| self.invalid("not a number"))
    }

    /// Revisions of history to keep: a number, or `all` (`None`: keep everything).
    pub fn retain(&self) -> Result<Option<u64>, Error> {
        match self.value {
            "all" => Ok(None),
            number => number
                .parse()
                .map(Some)
                .map_err(|_| self.invalid("a number of revisions, or all")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option<'a>(name: &'a str, value: &'a str) -> BackendOption<'a> {
        BackendOption { name, value }
    }

    #[test]
    fn malformed_values_name_the_option() {
        assert_eq!(option("n", "3").number::<usize>().unwrap(), 3);
        assert_eq!(option("r", "10").retain().unwrap(), Some(10));
        for err in [
            option("n", "three").number::<usize>().unwrap_err(),
            option("r", "many").retain().unwrap_err(),
            option("t", "soon").duration().unwrap_err(),
            option("x", "1").unknown("sqlite"),
        ] {
            assert!(err.is_invalid_config(), "{err}");
        }
        let err = option("retain", "many").retain().unwrap_err();
        assert!(err.to_string().contains("retain=many"), "{err}");
    }
}
