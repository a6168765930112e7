//! The opaque continue token of paginated lists: the snapshot revision and the next key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{Error, Result};

/// Where the next page of a list starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContinueToken {
    /// The revision every page is read at.
    pub revision: u64,
    /// The first key of the next page.
    pub start: String,
}

impl ContinueToken {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.revision, self.start))
    }

    /// Parses a token, checking that it continues a list of `[range_start, range_end)`.
    pub fn decode(token: &str, range_start: &str, range_end: &str) -> Result<Self> {
        let invalid = || Error::InvalidArgument(format!("invalid continue token {token:?}"));
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (revision, start) = text.split_once(':').ok_or_else(invalid)?;
        let revision: u64 = revision.parse().map_err(|_| invalid())?;
        if revision == 0 || start < range_start || start >= range_end {
            return Err(invalid());
        }
        Ok(ContinueToken {
            revision,
            start: start.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let token = ContinueToken {
            revision: 42,
            start: "/users/bob\0".to_owned(),
        };
        let text = token.encode();
        assert_eq!(
            ContinueToken::decode(&text, "/users/", "/users0").unwrap(),
            token
        );
    }

    #[test]
    fn rejects_garbage_and_foreign_ranges() {
        let foreign = ContinueToken {
            revision: 3,
            start: "/groups/a".to_owned(),
        }
        .encode();
        let zero = URL_SAFE_NO_PAD.encode("0:/users/a");
        for token in ["", "!!", "bm90LWEtdG9rZW4", foreign.as_str(), zero.as_str()] {
            let err = ContinueToken::decode(token, "/users/", "/users0").unwrap_err();
            assert!(err.is_invalid_argument(), "{token}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_tokens_never_panic(token in ".{0,64}") {
            let _ = ContinueToken::decode(&token, "/users/", "/users0");
        }

        #[test]
        fn tokens_inside_the_range_round_trip(revision in 1u64.., suffix in "[a-z0-9/]{0,20}") {
            let token = ContinueToken { revision, start: format!("/users/{suffix}") };
            let back = ContinueToken::decode(&token.encode(), "/users/", "/users0").unwrap();
            proptest::prop_assert_eq!(back, token);
        }
    }
}
