//! Model-based test: random sequences of creates, CAS updates, puts, deletes, range deletes,
//! lists (current and historical) and compactions against the memory backend and a plain
//! ordered map with a revision counter. Every answer, revisions included, must agree.

use std::collections::BTreeMap;

use bytes::Bytes;
use kvstore_core::backend::{
    Backend, Compare, KeyValue, PutLease, RangeRequest, Txn, TxnOp, TxnOpResult,
};
use kvstore_memory::MemoryBackend;
use proptest::prelude::*;

const KEYS: [&str; 5] = ["/a/1", "/a/2", "/a/3", "/ab/1", "/b/1"];

#[derive(Debug, Clone)]
enum Op {
    Create(usize, u8),
    /// CAS against the key's current mod revision, or a stale one.
    Cas {
        key: usize,
        value: u8,
        stale: bool,
    },
    Put(usize, u8),
    Delete(usize),
    DeleteDir,
    List {
        limit: usize,
        back: u64,
    },
    Compact {
        back: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        (key.clone(), any::<u8>()).prop_map(|(k, v)| Op::Create(k, v)),
        (key.clone(), any::<u8>(), any::<bool>()).prop_map(|(key, value, stale)| Op::Cas {
            key,
            value,
            stale
        }),
        (key.clone(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        key.prop_map(Op::Delete),
        Just(Op::DeleteDir),
        (0..4usize, 0..6u64).prop_map(|(limit, back)| Op::List { limit, back }),
        (0..6u64).prop_map(|back| Op::Compact { back }),
    ]
}

/// The model: every version ever written, so reads at past revisions can be answered.
#[derive(Default)]
struct Model {
    revision: u64,
    compacted: u64,
    /// (key, revision) -> live value after that revision, None when deleted.
    history: BTreeMap<String, Vec<(u64, Option<KeyValue>)>>,
}

impl Model {
    fn at(&self, key: &str, revision: u64) -> Option<KeyValue> {
        self.history
            .get(key)?
            .iter()
            .rev()
            .find(|(r, _)| *r <= revision)
            .and_then(|(_, kv)| kv.clone())
    }
    fn current(&self, key: &str) -> Option<KeyValue> {
        self.at(key, self.revision)
    }
    fn write(&mut self, key: &str, value: Option<u8>) {
        self.revision += 1;
        let kv = value.map(|v| KeyValue {
            key: key.to_owned(),
            value: Bytes::from(vec![v]),
            create_revision: self
                .current(key)
                .map_or(self.revision, |kv| kv.create_revision),
            mod_revision: self.revision,
            lease: None,
        });
        self.history
            .entry(key.to_owned())
            .or_default()
            .push((self.revision, kv));
    }
    fn range(&self, start: &str, end: &str, revision: u64) -> Vec<KeyValue> {
        self.history
            .keys()
            .filter(|k| k.as_str() >= start && k.as_str() < end)
            .filter_map(|k| self.at(k, revision))
            .collect()
    }
}

fn put(key: &str, value: u8) -> TxnOp {
    TxnOp::Put {
        key: key.to_owned(),
        value: Bytes::from(vec![value]),
        lease: PutLease::Detach,
    }
}

async fn check(ops: Vec<Op>) {
    let backend = MemoryBackend::new();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Create(k, v) => {
                let key = KEYS[k];
                let txn = Txn {
                    compare: vec![Compare::absent(key)],
                    success: vec![put(key, v)],
                    failure: vec![],
                    ..Txn::default()
                };
                let response = backend.txn(txn).await.unwrap();
                let expected = model.current(key).is_none();
                assert_eq!(response.succeeded, expected, "create {key}");
                if expected {
                    model.write(key, Some(v));
                }
                assert_eq!(response.revision, model.revision);
            }
            Op::Cas {
                key: k,
                value,
                stale,
            } => {
                let key = KEYS[k];
                let current = model.current(key).map_or(0, |kv| kv.mod_revision);
                let expected_rev = if stale {
                    current.saturating_sub(1)
                } else {
                    current
                };
                let txn = Txn {
                    compare: vec![Compare::mod_revision(key, expected_rev)],
                    success: vec![put(key, value)],
                    failure: vec![TxnOp::Get {
                        key: key.to_owned(),
                    }],
                    ..Txn::default()
                };
                let response = backend.txn(txn).await.unwrap();
                let succeeds = expected_rev == current;
                assert_eq!(response.succeeded, succeeds, "cas {key}");
                if succeeds {
                    model.write(key, Some(value));
                } else {
                    assert_eq!(response.results, vec![TxnOpResult::Get(model.current(key))]);
                }
            }
            Op::Put(k, v) => {
                let key = KEYS[k];
                backend
                    .txn(Txn {
                        compare: vec![],
                        success: vec![put(key, v)],
                        failure: vec![],
                        ..Txn::default()
                    })
                    .await
                    .unwrap();
                model.write(key, Some(v));
            }
            Op::Delete(k) => {
                let key = KEYS[k];
                let txn = Txn {
                    compare: vec![],
                    success: vec![TxnOp::Delete {
                        key: key.to_owned(),
                    }],
                    failure: vec![],
                    ..Txn::default()
                };
                let response = backend.txn(txn).await.unwrap();
                let previous = model.current(key);
                assert_eq!(
                    response.results,
                    vec![TxnOpResult::Delete(previous.clone().into_iter().collect())]
                );
                if previous.is_some() {
                    model.write(key, None);
                }
                assert_eq!(response.revision, model.revision);
            }
            Op::DeleteDir => {
                let txn = Txn {
                    compare: vec![],
                    success: vec![TxnOp::DeleteRange {
                        key: "/a/".into(),
                        range_end: "/a0".into(),
                    }],
                    failure: vec![],
                    ..Txn::default()
                };
                let response = backend.txn(txn).await.unwrap();
                let live = model.range("/a/", "/a0", model.revision);
                assert_eq!(response.results, vec![TxnOpResult::Delete(live.clone())]);
                if !live.is_empty() {
                    // One revision for the whole transaction.
                    model.revision += 1;
                    for kv in &live {
                        model
                            .history
                            .entry(kv.key.clone())
                            .or_default()
                            .push((model.revision, None));
                    }
                }
            }
            Op::List { limit, back } => {
                let revision = model.revision.saturating_sub(back);
                let request = RangeRequest {
                    key: "/".into(),
                    range_end: Some("0".into()),
                    limit,
                    revision,
                };
                let result = backend.range(request).await;
                if revision == 0 {
                    // revision 0 means "latest"
                    let all = model.range("/", "0", model.revision);
                    let page = result.unwrap();
                    assert_eq!(
                        page.kvs,
                        all.iter()
                            .take(if limit == 0 { usize::MAX } else { limit })
                            .cloned()
                            .collect::<Vec<_>>()
                    );
                } else if revision < model.compacted {
                    assert!(result.unwrap_err().is_gone());
                } else {
                    let page = result.unwrap();
                    let all = model.range("/", "0", revision);
                    let take = if limit == 0 {
                        all.len()
                    } else {
                        limit.min(all.len())
                    };
                    assert_eq!(page.kvs, all[..take].to_vec(), "list at {revision}");
                    assert_eq!(page.more, take < all.len());
                    assert_eq!(page.revision, model.revision);
                }
            }
            Op::Compact { back } => {
                let revision = model.revision.saturating_sub(back);
                let result = backend.compact(revision).await;
                if revision > model.compacted {
                    result.unwrap();
                    model.compacted = revision;
                } else {
                    assert!(result.is_err());
                }
            }
        }
        assert_eq!(backend.current_revision().await.unwrap(), model.revision);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn memory_backend_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(check(ops));
    }
}
