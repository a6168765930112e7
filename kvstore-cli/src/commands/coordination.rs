//! `leases`, `locks` and `elections`: who holds what, until when.

use std::io::Write;
use std::time::Duration;

use kvstore::coordination::{contenders, Contender};
use kvstore::{LeaseId, Store};
use serde::Serialize;

use crate::args::{Output, Queue};
use crate::codec::CliCodec;
use crate::error::{CliError, CliResult};
use crate::output::Printer;
use crate::target::{collection, Session};

/// A lease as shown.
#[derive(Serialize)]
struct LeaseRow {
    lease: String,
    ttl_seconds: Option<u64>,
    remaining_seconds: Option<u64>,
    keys: Vec<String>,
}

impl LeaseRow {
    /// The lease `lease` as the store tells it now; without times when it is gone.
    async fn read(store: &Store<CliCodec>, lease: LeaseId) -> CliResult<LeaseRow> {
        let info = store.lease_info(lease).await?;
        Ok(LeaseRow {
            lease: format!("{:016x}", lease.0),
            ttl_seconds: info.as_ref().map(|info| info.ttl.as_secs()),
            remaining_seconds: info.as_ref().map(|info| info.remaining.as_secs()),
            keys: info.map(|info| info.keys).unwrap_or_default(),
        })
    }

    fn left(&self) -> String {
        self.remaining_seconds
            .map_or_else(|| "gone".to_owned(), |s| seconds(Duration::from_secs(s)))
    }
}

fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs())
}

/// `kvstore leases`.
pub(crate) async fn leases(session: &Session, format: Output, out: &mut dyn Write) -> CliResult {
    let store = session.store().await?;
    let mut rows = Vec::new();
    for lease in store.leases().await? {
        rows.push(LeaseRow::read(&store, lease).await?);
    }
    let mut printer = Printer::new(out, format);
    match format {
        Output::Json | Output::Yaml => printer.document(&rows),
        Output::Wide | Output::Name => {
            let cells = rows
                .iter()
                .map(|row| {
                    vec![
                        row.lease.clone(),
                        row.ttl_seconds
                            .map_or_else(|| "-".to_owned(), |s| format!("{s}s")),
                        row.left(),
                        row.keys.join(","),
                    ]
                })
                .collect::<Vec<_>>();
            printer.table(&["LEASE", "TTL", "LEFT", "KEYS"], &cells)
        }
    }
}

/// Which queue a lock or election command means: `PREFIX`, or `KIND NAME` and the entry
/// `leaf` (`lock`, `election`) under the object's coordination key.
fn queue_prefix(store: &Store<CliCodec>, target: &Queue, leaf: &str) -> CliResult<String> {
    let Some(name) = &target.name else {
        if !target.prefix_or_kind.starts_with('/') {
            return Err(CliError::Input(format!(
                "{:?} is no prefix (it starts with `/`); a kind needs the object's name",
                target.prefix_or_kind
            )));
        }
        return Ok(target.prefix_or_kind.clone());
    };
    let objects = collection(
        store,
        &target.prefix_or_kind,
        target.prefix.as_deref(),
        target.namespace.as_deref(),
    )?;
    Ok(format!("{}/{leaf}", objects.coordination_key(name)?))
}

/// An entry of a queue as shown.
#[derive(Serialize)]
struct QueueRow {
    role: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    id: String,
    fencing_token: u64,
    #[serde(flatten)]
    lease: LeaseRow,
    key: String,
}

async fn rows(
    store: &Store<CliCodec>,
    queue: Vec<Contender>,
    first: &str,
    others: &str,
) -> CliResult<Vec<QueueRow>> {
    let mut rows = Vec::new();
    for (place, contender) in queue.into_iter().enumerate() {
        let lease = match contender.lease {
            Some(lease) => LeaseRow::read(store, lease).await?,
            None => LeaseRow {
                lease: "-".to_owned(),
                ttl_seconds: None,
                remaining_seconds: None,
                keys: Vec::new(),
            },
        };
        rows.push(QueueRow {
            role: match place {
                0 => first.to_owned(),
                n => format!("{others} {n}"),
            },
            id: contender.id,
            fencing_token: contender.fencing_token,
            lease,
            key: contender.key,
        });
    }
    Ok(rows)
}

/// `kvstore locks` and `kvstore elections`: the queue, first the holder or leader.
pub(crate) async fn queue(
    session: &Session,
    target: &Queue,
    election: bool,
    format: Output,
    out: &mut dyn Write,
) -> CliResult {
    let leaf = if election { "election" } else { "lock" };
    let store = session.store().await?;
    let prefix = queue_prefix(&store, target, leaf)?;
    let queue = contenders(&store, &prefix).await?;
    let (first, others) = if election {
        ("leader", "candidate")
    } else {
        ("holder", "waiting")
    };
    let rows = rows(&store, queue, first, others).await?;
    let mut printer = Printer::new(out, format);
    match format {
        Output::Json | Output::Yaml => printer.document(&rows),
        Output::Wide | Output::Name => {
            let mut header = vec!["ROLE"];
            if election {
                header.push("ID");
            }
            header.extend(["TOKEN", "LEASE", "LEFT", "KEY"]);
            let cells = rows
                .iter()
                .map(|row| {
                    let mut cells = vec![row.role.clone()];
                    if election {
                        cells.push(row.id.clone());
                    }
                    cells.extend([
                        row.fencing_token.to_string(),
                        row.lease.lease.clone(),
                        row.lease.left(),
                        row.key.clone(),
                    ]);
                    cells
                })
                .collect::<Vec<_>>();
            printer.table(&header, &cells)
        }
    }
}
