//! A whole run: clients, watches and a watch cache on one store while faults are injected;
//! then every check, and on failure the history written to a file with the command that
//! checks it again and the smallest failing window.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use kvstore_core::codec::CodecFor;
use kvstore_core::conformance::Widget;
use kvstore_core::{Cache, ListOptions, ObjectMeta, Store};

use super::checker::{check, Timed, Verdict};
use super::model::StoreModel;
use super::operation::{Call, Operation, Outcome};
use super::patch::settle;
use super::watches::{check_resumed, check_watch, follow, WatchLog, END};
use super::workload::{rev_of, run_clients, Clock, Workload};

/// How long the linearizability search may take before it says it does not know.
const SEARCH_LIMIT: Duration = Duration::from_secs(60);
/// How often the watches are asked for a bookmark during a run.
const BOOKMARKS_EVERY: Duration = Duration::from_millis(100);
/// How long the watches may take to deliver the end of the run once it is written.
const CATCH_UP: Duration = Duration::from_secs(60);

/// A recorded run, as written to a file when a check fails.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct History {
    /// The scenario's name.
    pub scenario: String,
    /// The seed of the clients' choices.
    pub seed: u64,
    /// Every call, in the order they began.
    pub operations: Vec<Operation>,
    /// What each watch delivered.
    pub watches: Vec<WatchLog>,
    /// What watches resumed from delivered revisions delivered.
    pub resumed: Vec<WatchLog>,
    /// Violations found outside the history (the cache against a fresh list...).
    pub found: Vec<String>,
    /// Whether history was compacted during the run (a watch may then answer `Gone`).
    pub compacted: bool,
}

/// What the checks of a run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The run.
    pub history: History,
    /// The linearizability checker's verdict.
    pub verdict: Verdict,
    /// Every broken guarantee, described.
    pub violations: Vec<String>,
}

/// Runs `workload` on `stores` under a fresh prefix while `faults` runs, with two watches
/// and a watch cache; then checks everything. Every store must reach the same data.
pub async fn run<C, F>(scenario: &str, stores: &[Store<C>], workload: Workload, faults: F) -> Report
where
    C: CodecFor<Widget> + Send + Sync + 'static,
    F: Future<Output = ()>,
{
    say(&format!(
        "{scenario}: seed {} (KVSTORE_HISTORY_SEED={0} repeats the clients' choices)",
        workload.seed
    ));
    let prefix = format!("/histories/{scenario}-{:x}", crate::random_u64());
    let main = stores[0].clone();
    // The run starts after a write of its own beside the prefix, so that its start revision
    // is never 0 (a watch from 0 would begin with the current objects).
    let begin = Widget {
        metadata: ObjectMeta::named("begin"),
        color: "begin".to_owned(),
        count: 0,
    };
    let begin_key = format!("{prefix}-begin");
    let start = rev_of(&create_or_read(&main, &begin_key, &begin).await);
    let (stop, stopped) = watch::channel(false);
    let watchers: Vec<_> = (0..2)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(follow(store, prefix.clone(), start, stopped.clone()))
        })
        .collect();
    let cache = workload
        .cached_reads
        .then(|| Cache::<Widget>::new(&main, &prefix).map(Arc::new))
        .transpose()
        .expect("a cache of the run's prefix");
    // Bookmarks asked for all along, so that the watches' progress is checked too.
    let bookmarks = {
        let (store, mut stopped) = (main.clone(), stopped.clone());
        tokio::spawn(async move {
            loop {
                let _ = store.request_bookmarks().await;
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(BOOKMARKS_EVERY) => {}
                }
            }
        })
    };
    let clock = Clock::new();
    let operations = run_clients(stores, &prefix, &workload, cache.clone(), clock, faults).await;
    bookmarks.abort();

    let mut found = Vec::new();
    if workload.lease_expiry.is_some() {
        found.extend(expiry_unseen(&operations, workload.clients));
    }
    // The end of the run, which every watch must deliver.
    let end = Widget {
        metadata: ObjectMeta::named(END),
        color: END.to_owned(),
        count: 0,
    };
    let end_key = format!("{prefix}/{END}");
    let end_rev = rev_of(&create_or_read(&main, &end_key, &end).await);
    let mut watches = Vec::new();
    for watcher in watchers {
        match tokio::time::timeout(CATCH_UP, watcher).await {
            Ok(log) => watches.push(log.expect("a watch task")),
            Err(_) => {
                stop.send_replace(true);
                found.push(format!(
                    "a watch did not deliver the run's end (at {end_rev}) within {CATCH_UP:?}"
                ));
            }
        }
    }
    let resumed = resume_from_delivered(&main, &prefix, &watches, workload.seed).await;
    if let Some(cache) = cache {
        found.extend(compare_cache(&main, &prefix, &cache, end_rev).await);
    }
    stop.send_replace(true);
    let report = check_history(History {
        scenario: scenario.to_owned(),
        seed: workload.seed,
        operations,
        watches,
        resumed,
        found,
        compacted: workload.compacts,
    });
    say(&report.to_string());
    report
}

/// Tells the test runner (which shows it with a failure, or with `--nocapture`) what a run
/// is and what it found: the test kit speaking to the runner, not a library log.
#[allow(clippy::print_stderr)]
fn say(line: &str) {
    eprintln!("{line}");
}

/// Whether the lease holder (client `holder`) saw each of its names gone: the lease expired.
fn expiry_unseen(operations: &[Operation], holder: usize) -> Option<String> {
    let mut last: std::collections::BTreeMap<&str, &Outcome> = Default::default();
    for op in operations.iter().filter(|op| op.client == holder) {
        if let Call::Get { key, .. } = &op.call {
            last.insert(key, &op.outcome);
        }
    }
    let kept: Vec<&str> = last
        .iter()
        .filter(|(_, outcome)| **outcome != &Outcome::Absent)
        .map(|(key, _)| *key)
        .collect();
    (last.is_empty() || !kept.is_empty()).then(|| {
        format!("the lease was not renewed, yet its names {kept:?} were still there after three times its TTL")
    })
}

/// Creates a marker object, through unavailability; a create whose answer was lost may have
/// landed, and then the marker is there to read.
async fn create_or_read<C: CodecFor<Widget>>(
    store: &Store<C>,
    key: &str,
    marker: &Widget,
) -> Widget {
    crate::until_answered(|| async {
        match store.create(key, marker).await {
            Err(e) if e.is_already_exists() => store.get(key).await,
            answer => answer,
        }
    })
    .await
}

/// Opens watches from up to three revisions the first watch delivered (chosen by the seed),
/// each followed to the run's end.
async fn resume_from_delivered<C: CodecFor<Widget>>(
    store: &Store<C>,
    prefix: &str,
    watches: &[WatchLog],
    seed: u64,
) -> Vec<WatchLog> {
    let Some(first) = watches.first() else {
        return Vec::new();
    };
    // Revisions of changes before the run's end (0 would mean "the current objects first",
    // not a resume point; after the end there is nothing left to deliver).
    let mut revisions: Vec<u64> = first
        .events
        .iter()
        .filter(|e| e.kind != "Bookmark" && e.rev > 0 && e.key != END)
        .map(|e| e.rev)
        .collect();
    revisions.dedup();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut resumed = Vec::new();
    for _ in 0..3.min(revisions.len()) {
        let from = revisions[rng.usize(..revisions.len())];
        let (_stop, never) = watch::channel(false);
        let follow = follow(store.clone(), prefix.to_owned(), from, never);
        resumed.push(match tokio::time::timeout(CATCH_UP, follow).await {
            Ok(log) => log,
            Err(_) => WatchLog {
                from,
                ended: Some(format!("the run's end not delivered within {CATCH_UP:?}")),
                ..WatchLog::default()
            },
        });
    }
    resumed
}

/// The cache, once it reached `end_rev`, against a fresh list.
async fn compare_cache<C: CodecFor<Widget>>(
    store: &Store<C>,
    prefix: &str,
    cache: &Cache<Widget>,
    end_rev: u64,
) -> Vec<String> {
    let reached = match kvstore_core::ResourceVersion::new(end_rev) {
        Ok(rv) => tokio::time::timeout(CATCH_UP, cache.wait_for(rv)).await,
        Err(e) => return vec![e.to_string()],
    };
    if !matches!(reached, Ok(Ok(()))) {
        return vec![format!(
            "the cache did not reach the run's end ({end_rev}): {reached:?}"
        )];
    }
    let everything = ListOptions::default();
    let list = crate::until_answered(|| store.list::<Widget>(prefix, &everything)).await;
    let fresh: Vec<_> = list
        .items
        .iter()
        .map(|w| (w.metadata.name.clone(), w.color.clone(), rev_of(w)))
        .collect();
    let cached: Vec<_> = cache
        .list()
        .iter()
        .map(|w| (w.metadata.name.clone(), w.color.clone(), rev_of(w)))
        .collect();
    if fresh == cached {
        Vec::new()
    } else {
        vec![format!(
            "after the run the cache holds {cached:?}, a fresh list {fresh:?}"
        )]
    }
}

fn timed(operations: &[Operation]) -> Vec<Timed<Operation>> {
    operations
        .iter()
        .filter(|op| op.outcome != Outcome::Failed)
        .map(|op| Timed {
            invoke: op.invoke,
            ret: op.ret,
            op: op.clone(),
        })
        .collect()
}

/// Checks a recorded history again: linearizability, every watch, every resumed watch.
pub fn check_history(history: History) -> Report {
    let settled = settle(&history.operations, history.watches.first());
    let verdict = check(&StoreModel, &timed(&settled), SEARCH_LIMIT);
    let mut violations = history.found.clone();
    match &verdict {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable { .. } => {
            violations.push(format!(
                "not linearizable; the smallest failing window:\n{}",
                failing_window(&settled)
            ));
        }
        Verdict::Unknown => violations.push(format!(
            "the linearizability search did not finish within {SEARCH_LIMIT:?}"
        )),
    }
    // Failed writes must never show: their values are in no model state, so the checker
    // already refuses a history where one does.
    for (i, log) in history.watches.iter().enumerate() {
        for v in check_watch(log, &history.operations) {
            violations.push(format!("watch {i}: {v}"));
        }
    }
    for (i, log) in history.watches.iter().chain(&history.resumed).enumerate() {
        match &log.ended {
            Some(_) if log.gone && history.compacted => {}
            Some(ended) => violations.push(format!("watch {i} ended early: {ended}")),
            None => {}
        }
    }
    if let Some(first) = history.watches.first() {
        for resumed in history.resumed.iter().filter(|r| r.ended.is_none()) {
            violations.extend(check_resumed(first, resumed));
        }
    }
    Report {
        history,
        verdict,
        violations,
    }
}

/// The shortest prefix of the history (in time) that is not linearizable, and the calls of
/// it on the names the last one touched.
pub fn failing_window(operations: &[Operation]) -> String {
    let mut ends: Vec<u64> = operations.iter().filter_map(|op| op.ret).collect();
    ends.sort_unstable();
    let fails = |time: u64| {
        let cut: Vec<Operation> = operations.iter().filter_map(|op| op.cut_at(time)).collect();
        matches!(
            check(&StoreModel, &timed(&cut), SEARCH_LIMIT),
            Verdict::NotLinearizable { .. }
        )
    };
    // The first end time at which the prefix fails (prefixes of a linearizable prefix are).
    let (mut low, mut high) = (0, ends.len());
    while low < high {
        let mid = (low + high) / 2;
        if fails(ends[mid]) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    let Some(&time) = ends.get(low) else {
        return "(every prefix is linearizable; the whole history is not)".to_owned();
    };
    let cut: Vec<Operation> = operations.iter().filter_map(|op| op.cut_at(time)).collect();
    let Some(culprit) = cut.iter().find(|op| op.ret == Some(time)) else {
        return String::new();
    };
    let names = culprit.call.keys();
    let touches = |op: &Operation| match (&names, op.call.keys()) {
        (None, _) | (_, None) => true,
        (Some(names), Some(keys)) => keys.iter().any(|k| names.contains(k)),
    };
    let window: Vec<&Operation> = cut.iter().filter(|op| touches(op)).collect();
    let shown = &window[window.len().saturating_sub(16)..];
    let mut text = format!(
        "the history up to {time} ns fails; its last {} calls on {}:\n",
        shown.len(),
        names.map_or("every name".to_owned(), |n| n.join(", "))
    );
    for op in shown {
        text.push_str(&format!("  {}\n", Line(op)));
    }
    text
}

/// An operation on one line.
struct Line<'a>(&'a Operation);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.0;
        let ret = op.ret.map_or("…".to_owned(), |r| r.to_string());
        write!(
            f,
            "client {} [{}, {ret}] {:?} → {:?}",
            op.client, op.invoke, op.call, op.outcome
        )
    }
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Panics with every violation when a check failed, after writing the history to a file
    /// (in `KVSTORE_HISTORY_DIR`, else the temporary directory) and naming the command that
    /// checks it again.
    pub fn assert_passed(&self) {
        if self.passed() {
            return;
        }
        let dir = std::env::var_os("KVSTORE_HISTORY_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("kvstore-histories"));
        let path = dir.join(format!(
            "{}-{}.json",
            self.history.scenario, self.history.seed
        ));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| serde_json::to_vec(&self.history).map_err(std::io::Error::other))
            .and_then(|bytes| std::fs::write(&path, bytes));
        let saved = match written {
            Ok(()) => format!(
                "history written to {0}; check it again with\n  cargo run -p kvstore-testkit \
                 --features history --bin check-history -- {0}",
                path.display()
            ),
            Err(e) => format!(
                "the history could not be written to {}: {e}",
                path.display()
            ),
        };
        panic!(
            "{self}\n{} violation(s):\n{}\n{saved}",
            self.violations.len(),
            self.violations.join("\n")
        );
    }

    /// How many calls ended each way: (definite, ambiguous, failed).
    fn counts(&self) -> (usize, usize, usize) {
        let ops = &self.history.operations;
        let ambiguous = ops
            .iter()
            .filter(|o| o.outcome == Outcome::Ambiguous)
            .count();
        let failed = ops.iter().filter(|o| o.outcome == Outcome::Failed).count();
        (ops.len() - ambiguous - failed, ambiguous, failed)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (definite, ambiguous, failed) = self.counts();
        let writes = self
            .history
            .operations
            .iter()
            .filter(|o| o.call.is_write())
            .count();
        let events: usize = self.history.watches.iter().map(|w| w.events.len()).sum();
        let bookmarks: usize = self
            .history
            .watches
            .iter()
            .map(|w| w.events.iter().filter(|e| e.kind == "Bookmark").count())
            .sum();
        let resumes: usize = self.history.watches.iter().map(|w| w.resumes).sum();
        let ended = self
            .history
            .watches
            .iter()
            .chain(&self.history.resumed)
            .filter(|w| w.ended.is_some())
            .count();
        write!(
            f,
            "{} (seed {}): {} calls ({writes} writes; {definite} answered, {ambiguous} \
             ambiguous, {failed} failed), {} watches ({events} events, {bookmarks} bookmarks, \
             {resumes} resumes), {} resumed watches, {ended} ended by compaction: {}",
            self.history.scenario,
            self.history.seed,
            self.history.operations.len(),
            self.history.watches.len(),
            self.history.resumed.len(),
            match (&self.verdict, self.violations.len()) {
                (Verdict::Linearizable, 0) => "linearizable, every watch check passed".to_owned(),
                (_, n) => format!("{n} violation(s)"),
            }
        )
    }
}
