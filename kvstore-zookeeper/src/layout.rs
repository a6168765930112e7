//! Where everything lives in ZooKeeper: the paths of the backend's znodes under its root, and
//! how keys become znode names.
//!
//! ```text
//! <root>/head                  the store's revision (decimal text), set by every write
//! <root>/compacted             the compaction point (decimal text)
//! <root>/clock                 touched to read the ZooKeeper leader's clock (lease expiry)
//! <root>/log/<revision>        one write transaction: its events (JSON), 20 digits
//! <root>/valued/<revision>     marks a log entry that refers to values in znodes of their own
//! <root>/layout                the layout of these znodes (`2`)
//! <root>/keys/d<escaped dir>   the live keys whose parent directory is dir (`d` alone: `/`)
//! <root>/keys/d<dir>/<escaped name>   one live key: revisions, lease, where its value is (JSON)
//! <root>/values/<id>[~<n>]     a value's bytes, in chunks of at most CHUNK bytes
//! <root>/leases/<id>           one lease: its ttl (JSON); its mtime is its last renewal
//! <root>/leases/<id>/<escaped key>   a key attached to the lease
//! ```

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Bytes of a value per znode: well under ZooKeeper's default 1 MiB `jute.maxbuffer`, which
/// bounds a node's data and a whole request.
pub(crate) const CHUNK: usize = 512 * 1024;

/// Everything but letters, digits and `-_.` is escaped: ZooKeeper forbids `/` in a name, and
/// control characters and some other code points anywhere in a path.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// The paths of one store, under `root` (no trailing slash; `""` is ZooKeeper's root).
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: String,
}

impl Layout {
    pub fn new(root: &str) -> Layout {
        Layout {
            root: root.trim_end_matches('/').to_owned(),
        }
    }

    pub fn root(&self) -> &str {
        if self.root.is_empty() {
            "/"
        } else {
            &self.root
        }
    }

    /// The directories every store needs, parents first.
    pub fn directories(&self) -> Vec<String> {
        let mut dirs = Vec::new();
        let mut path = String::new();
        for part in self.root.split('/').filter(|p| !p.is_empty()) {
            path.push('/');
            path.push_str(part);
            dirs.push(path.clone());
        }
        for dir in ["log", "valued", "keys", "values", "leases"] {
            dirs.push(format!("{}/{dir}", self.root));
        }
        dirs
    }

    pub fn head(&self) -> String {
        format!("{}/head", self.root)
    }
    pub fn compacted(&self) -> String {
        format!("{}/compacted", self.root)
    }
    pub fn clock(&self) -> String {
        format!("{}/clock", self.root)
    }
    pub fn log_dir(&self) -> String {
        format!("{}/log", self.root)
    }
    pub fn log(&self, revision: u64) -> String {
        format!("{}/log/{}", self.root, log_name(revision))
    }
    /// The markers of the log entries that refer to values in znodes of their own.
    pub fn valued_dir(&self) -> String {
        format!("{}/valued", self.root)
    }
    pub fn valued(&self, revision: u64) -> String {
        format!("{}/valued/{}", self.root, log_name(revision))
    }
    pub fn keys_dir(&self) -> String {
        format!("{}/keys", self.root)
    }
    /// A live key's znode: in the directory znode of its parent (see [`dir_name`]), so a
    /// range read lists only the directories that can hold keys of the range.
    pub fn key(&self, key: &str) -> String {
        let (dir, name) = split_key(key);
        format!("{}/keys/{}/{}", self.root, dir_name(dir), escape(name))
    }
    /// The directory znode of the keys whose parent is `dir`.
    pub fn key_dir(&self, dir: &str) -> String {
        format!("{}/keys/{}", self.root, dir_name(dir))
    }
    /// The znode saying which layout the store has.
    pub fn layout_version(&self) -> String {
        format!("{}/layout", self.root)
    }
    pub fn values_dir(&self) -> String {
        format!("{}/values", self.root)
    }
    pub fn value_chunk(&self, id: &str, chunk: u32) -> String {
        match chunk {
            0 => format!("{}/values/{id}", self.root),
            n => format!("{}/values/{id}~{n}", self.root),
        }
    }
    pub fn leases_dir(&self) -> String {
        format!("{}/leases", self.root)
    }
    pub fn lease(&self, id: i64) -> String {
        format!("{}/leases/{id}", self.root)
    }
    pub fn lease_key(&self, id: i64, key: &str) -> String {
        format!("{}/leases/{id}/{}", self.root, escape(key))
    }
}

/// The layout this crate writes: keys in directory znodes of their parents, log entries whose
/// puts leave small values to the keys' records (`3`). Layout `2` (the same, with every value
/// repeated in the log) is read as it is and marked `3` when opened, so that a program that
/// reads only `2` refuses the store instead of misreading its log; the first layout (every key
/// in one znode, `keys/<escaped key>`) is refused.
pub(crate) const LAYOUT_VERSION: &str = "3";

/// The layout before [`LAYOUT_VERSION`], which this crate reads as it is.
pub(crate) const PREVIOUS_LAYOUT: &str = "2";

/// A key's parent directory and its last segment: `("/a/b", "c")` for `/a/b/c`, `("", "a")`
/// for `/a`.
pub(crate) fn split_key(key: &str) -> (&str, &str) {
    key.rsplit_once('/').unwrap_or(("", key))
}

/// The znode name of the directory `dir`: `d` and the percent-encoded path (`d` alone for the
/// top level), never empty, `.` or `..`.
pub(crate) fn dir_name(dir: &str) -> String {
    format!("d{}", utf8_percent_encode(dir, ESCAPED))
}

/// The directory a `keys/` child stands for; `None` for a name [`dir_name`] does not make.
pub(crate) fn parse_dir_name(name: &str) -> Option<String> {
    let encoded = name.strip_prefix('d')?;
    percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|dir| dir.into_owned())
}

/// Whether the directory `dir` may hold keys in `[start, end)`: its keys are `dir/<name>`,
/// all in `[dir + "/", dir + "0")`. Conservative: a directory's ancestors overlap its range
/// (their own children are listed and filtered out), nothing else does.
pub(crate) fn dir_overlaps(dir: &str, start: &str, end: &str) -> bool {
    let first = format!("{dir}/");
    let past = format!("{dir}0");
    first.as_str() < end && start < past.as_str()
}

/// The name of a log entry: the revision in 20 digits, so names sort as revisions do.
pub(crate) fn log_name(revision: u64) -> String {
    format!("{revision:020}")
}

/// The revision a log entry's name gives.
pub(crate) fn parse_log_name(name: &str) -> Option<u64> {
    if name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

/// A key as a znode name: percent-encoded, and never `.` or `..`.
pub(crate) fn escape(key: &str) -> String {
    let escaped = utf8_percent_encode(key, ESCAPED).to_string();
    match escaped.as_str() {
        "." => "%2E".to_owned(),
        ".." => "%2E%2E".to_owned(),
        "" => "%".to_owned(),
        _ => escaped,
    }
}

/// The key a znode name stands for; `None` for a name [`escape`] does not make.
pub(crate) fn unescape(name: &str) -> Option<String> {
    if name == "%" {
        return Some(String::new());
    }
    percent_decode_str(name)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_escaping() {
        for key in [
            "/registry/widgets/ns/name",
            ".",
            "..",
            "",
            "/a b/%41/ü/\u{1}/zookeeper",
            "a~1",
        ] {
            let name = escape(key);
            assert!(!name.contains('/') && name != "." && name != ".." && !name.is_empty());
            assert!(name.bytes().all(|b| b.is_ascii_graphic()), "{name}");
            assert_eq!(unescape(&name).as_deref(), Some(key), "{name}");
        }
    }

    #[test]
    fn keys_live_in_the_directories_of_their_parents() {
        for key in ["/a", "/a/b", "/a/b/c", "/a.b/..", "/%2F/x"] {
            let (dir, name) = split_key(key);
            assert_eq!(format!("{dir}/{name}"), key);
            let encoded = dir_name(dir);
            assert!(
                !encoded.contains('/') && encoded.starts_with('d'),
                "{encoded}"
            );
            assert_eq!(parse_dir_name(&encoded).as_deref(), Some(dir));
        }
        // The directory /a holds /a/x, never /ab or /a/b/c (that is /a/b's).
        assert!(dir_overlaps("/a", "/a/", "/a0"));
        assert!(dir_overlaps("/a/b", "/a/", "/a0"));
        assert!(!dir_overlaps("/ab", "/a/", "/a0"));
        // Conservative: /a's range spans /a/b's (its keys never fall in it; they are filtered).
        assert!(dir_overlaps("/a", "/a/b/", "/a/b0"));
        assert!(!dir_overlaps("/a/c", "/a/b/", "/a/b0"));
        assert!(dir_overlaps("", "/", "/0"));
        assert!(
            dir_overlaps("/a", "/a/m", "/a0"),
            "a page that starts inside it"
        );
    }

    #[test]
    fn log_names_sort_as_revisions() {
        let names: Vec<_> = [9u64, 10, 11, u64::MAX]
            .iter()
            .map(|r| log_name(*r))
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(parse_log_name(&log_name(42)), Some(42));
        assert_eq!(parse_log_name("42"), None);
    }

    #[test]
    fn a_store_under_a_nested_root_creates_its_parents() {
        let layout = Layout::new("/a/b/");
        assert_eq!(layout.directories()[..2], ["/a", "/a/b"]);
        assert_eq!(layout.key("/x/y"), "/a/b/keys/d%2Fx/y");
        assert_eq!(layout.key("/x"), "/a/b/keys/d/x");
        assert_eq!(Layout::new("").head(), "/head");
    }
}
