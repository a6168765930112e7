//! Key rules and prefix ("directory") ranges.
//!
//! A key is a path: it starts with `/`, has at least one segment, and no segment is empty,
//! `.` or `..`. It contains no NUL byte and is at most [`MAX_KEY_LEN`] bytes long. The same
//! rules apply to prefixes: listing or watching `/users` covers `/users/...`, never `/users2`.

use crate::error::{Error, Result};

/// The longest accepted key, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Checks `key` against the key rules, returning [`Error::InvalidKey`] when it breaks one.
///
/// ```
/// use kvstore_core::key::validate_key;
/// assert!(validate_key("/users/alice").is_ok());
/// assert!(validate_key("/users//alice").unwrap_err().is_invalid_key());
/// ```
pub fn validate_key(key: &str) -> Result<()> {
    let reason = if key.is_empty() {
        Some("key is empty")
    } else if key.len() > MAX_KEY_LEN {
        Some("key is longer than 1024 bytes")
    } else if !key.starts_with('/') {
        Some("key must start with '/'")
    } else if key.contains('\0') {
        Some("key contains a NUL byte")
    } else if key == "/" {
        Some("key has no segment")
    } else {
        key[1..].split('/').find_map(|segment| match segment {
            "" => Some("key has an empty segment"),
            "." | ".." => Some("key has a '.' or '..' segment"),
            _ => None,
        })
    };
    match reason {
        Some(reason) => Err(Error::InvalidKey {
            key: key.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Checks that `segment` can be one segment of a key (an object name or namespace).
pub fn validate_segment(segment: &str) -> Result<()> {
    if segment.contains('/') {
        return Err(Error::InvalidKey {
            key: segment.to_owned(),
            reason: "a name must not contain '/'",
        });
    }
    validate_key(&format!("/{segment}"))
}

/// The byte range `[start, end)` holding every key below the directory `prefix`.
///
/// `prefix` must be a valid key; the range covers `prefix/...` only.
///
/// ```
/// use kvstore_core::key::directory_range;
/// assert_eq!(directory_range("/users"), ("/users/".to_owned(), "/users0".to_owned()));
/// ```
pub fn directory_range(prefix: &str) -> (String, String) {
    // '/' + 1 == '0': every key starting with "prefix/" sorts before "prefix0".
    (format!("{prefix}/"), format!("{prefix}0"))
}

/// Joins a validated prefix and a name into a key.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    format!("{prefix}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_paths() {
        for key in ["/a", "/users/alice", "/a/b.c/d..e", "/ü/名前"] {
            validate_key(key).unwrap();
        }
    }

    #[test]
    fn rejects_malformed_keys() {
        let long = format!("/{}", "x".repeat(MAX_KEY_LEN));
        for key in [
            "",
            "/",
            "a",
            "/a//b",
            "/a/../b",
            "/a/./b",
            "/a/",
            "/a\0b",
            long.as_str(),
        ] {
            let err = validate_key(key).unwrap_err();
            assert!(err.is_invalid_key(), "{key:?} gave {err}");
        }
    }

    #[test]
    fn segments_have_no_slash() {
        assert!(validate_segment("alice").is_ok());
        assert!(validate_segment("a/b").unwrap_err().is_invalid_key());
        assert!(validate_segment("..").unwrap_err().is_invalid_key());
        assert!(validate_segment("").unwrap_err().is_invalid_key());
    }

    #[test]
    fn directory_range_excludes_siblings() {
        let (start, end) = directory_range("/users");
        assert!("/users/alice".as_bytes() >= start.as_bytes());
        assert!("/users/alice".as_bytes() < end.as_bytes());
        assert!("/users2/x".as_bytes() >= end.as_bytes());
        assert!("/users".as_bytes() < start.as_bytes());
    }
}
