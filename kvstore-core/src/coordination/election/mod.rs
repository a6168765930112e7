//! Contest: leader election among contenders identified by name.
//!
//! Every contender stands in the election's queue (see the module docs of
//! [`coordination`](super)); the oldest live entry leads. All contenders watch the election's
//! prefix, so each learns who leads as soon as the store does: a resignation elects the next
//! contender at once, a dead leader's entry expires with its lease (within one TTL), and the
//! leader itself declares its lease lost — and stops leading — before the server can expire it.
//!
//! An entry holds its contender's id. A contender that starts with the id of a live entry takes
//! that entry over (renewing its lease) instead of queueing anew: a leader process restarted
//! within its TTL leads on with no change visible to the others. Ids must therefore be unique
//! among live contenders of one election.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::instrument;

use super::campaign::{self, Campaign, Command};
use super::queue::{check_ttl, Entry};
use crate::backend::{Backend, Compare, CompareOp, CompareTarget};
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::keep_alive::LeaseState;
use crate::key::validate_key;
use crate::store::Store;

/// What a contender learns about its election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContestEvent {
    /// This contender leads now. Guard writes with [`Contest::fence`]; the token increases with
    /// every election.
    Elected {
        /// The leader entry's create revision.
        fencing_token: u64,
    },
    /// This contender no longer leads: it resigned, its lease was lost or its entry deleted.
    /// Stop acting as leader. It stays in the contest (at the back of the queue) unless stopped.
    Lost {
        /// Why.
        reason: String,
    },
    /// Another contender leads now.
    Changed {
        /// The leader's id.
        leader: String,
    },
}

/// What the campaign shares with the handle.
#[derive(Debug, Clone, Default)]
pub(super) struct Status {
    /// The id of the contender that leads, as last seen.
    pub(super) leader: Option<String>,
    /// Set while this contender leads.
    pub(super) leading: Option<Leading>,
}

/// This contender's leadership.
#[derive(Debug, Clone)]
pub(super) struct Leading {
    pub(super) key: String,
    pub(super) token: u64,
    pub(super) lease: watch::Receiver<LeaseState>,
}

/// A contender in an election: a [`Stream`] of [`ContestEvent`]s (and errors, after which it
/// goes on trying), with the current state at hand. Dropping it leaves the election (revoking
/// its entry in the background); [`Contest::stop`] leaves and waits.
pub struct Contest {
    name: String,
    id: String,
    status: watch::Receiver<Status>,
    events: mpsc::UnboundedReceiver<Result<ContestEvent>>,
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Contest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contest")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("leader", &self.leader())
            .field("is_leader", &self.is_leader())
            .finish()
    }
}

impl<C: Codec> Store<C> {
    /// Joins the election `name` as contender `id`, with entries on leases of `ttl`. Returns
    /// once the contender stands in the queue; watch the returned [`Contest`] for events.
    /// A `ttl` below [`MIN_TTL`](super::MIN_TTL) or an empty id is an
    /// [`Error::InvalidArgument`].
    #[instrument(level = "debug", skip(self))]
    pub async fn contest(&self, name: &str, id: &str, ttl: Duration) -> Result<Contest> {
        validate_key(name)?;
        check_ttl("election", ttl)?;
        if id.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "election {name}: a contender id must not be empty"
            )));
        }
        let backend = Arc::clone(self.backend());
        let entry = join(&backend, name, id, ttl).await?;
        let (status_tx, status) = watch::channel(Status::default());
        let (events_tx, events) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let campaign = Campaign {
            backend,
            name: name.to_owned(),
            id: id.to_owned(),
            ttl,
            status: status_tx,
            events: events_tx,
            commands: commands_rx,
            announced: None,
        };
        tokio::spawn(campaign.run(entry));
        Ok(Contest {
            name: name.to_owned(),
            id: id.to_owned(),
            status,
            events,
            commands,
        })
    }
}

/// Stands in the queue of election `name`: takes over a live entry holding `id`, or writes a
/// new one.
pub(super) async fn join(
    backend: &Arc<dyn Backend>,
    name: &str,
    id: &str,
    ttl: Duration,
) -> Result<Entry> {
    let (members, _) = Entry::members(backend, name).await?;
    for kv in members.iter().filter(|kv| kv.value == id.as_bytes()) {
        if let Some(entry) = Entry::adopt(backend, kv).await? {
            tracing::debug!(election = name, id, key = %kv.key, "took over a live entry");
            return Ok(entry);
        }
    }
    Entry::enqueue(backend, name, ttl, Bytes::copy_from_slice(id.as_bytes())).await
}

impl Contest {
    /// The election's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This contender's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id of the contender leading, as last seen (this one's id while it leads).
    pub fn leader(&self) -> Option<String> {
        self.status.borrow().leader.clone()
    }

    /// Whether this contender leads: elected, and its lease still believed alive.
    pub fn is_leader(&self) -> bool {
        self.leading().is_some()
    }

    /// The fencing token of this contender's leadership, while it leads.
    pub fn fencing_token(&self) -> Option<u64> {
        self.leading().map(|leading| leading.token)
    }

    /// The compare that holds only while this contender's leadership lasts on the store, while
    /// it leads: add it to a transaction so a deposed leader's write fails.
    pub fn fence(&self) -> Option<Compare> {
        self.leading().map(|leading| Compare {
            key: leading.key,
            op: CompareOp::Equal,
            target: CompareTarget::CreateRevision(leading.token),
        })
    }

    fn leading(&self) -> Option<Leading> {
        let status = self.status.borrow();
        let leading = status.leading.as_ref()?;
        let alive = *leading.lease.borrow() == LeaseState::Alive;
        alive.then(|| leading.clone())
    }

    /// Steps down: the next contender is elected at once, and this one queues again at the
    /// back. An error if it does not lead.
    pub async fn resign(&self) -> Result<()> {
        self.ask(Command::Resign).await
    }

    /// Leaves the election, revoking this contender's entry (the next contender is elected at
    /// once if it led).
    pub async fn stop(self) -> Result<()> {
        self.ask(Command::Stop).await
    }

    async fn ask(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<()>>) -> Command,
    ) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .map_err(|_| campaign::ended(&self.name))?;
        answer.await.map_err(|_| campaign::ended(&self.name))?
    }
}

impl Stream for Contest {
    type Item = Result<ContestEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}
