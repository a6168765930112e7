//! [`Election`]: leader election among contenders identified by name.

mod campaign;
mod observe;
mod state;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::instrument;

use self::campaign::{join, Campaign, Command};
pub use self::observe::Observer;
pub use self::state::{ElectionEvent, LossReason};
use self::state::{Leading, Status};
use super::leased_key::Leases;
use super::session::{LeaseState, Session};
use crate::backend::Compare;
use crate::codec::{Codec, CodecFor};
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::object::Object;
use crate::store::{Collection, Store};

/// A contender in an election (pensando's `Contest`): a [`Stream`] of [`ElectionEvent`]s (and
/// errors, after which it goes on trying), with the current state at hand.
///
/// Every contender stands in the election's queue (see [`coordination`](super)); the oldest
/// live entry leads. All contenders watch the election's prefix, so each learns who leads as
/// soon as the store does: a resignation elects the next contender at once, a dead leader's
/// entry expires with its lease (within one TTL), and the leader itself declares its lease lost
/// — and stops leading — before the server can expire it.
///
/// Dropping the handle leaves the election (revoking its entry in the background);
/// [`Election::stop`] leaves and waits.
pub struct Election {
    name: String,
    id: String,
    status: watch::Receiver<Status>,
    events: mpsc::UnboundedReceiver<Result<ElectionEvent>>,
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Election {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Election")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("leader", &self.leader())
            .field("is_leader", &self.is_leader())
            .finish()
    }
}

impl<C: Codec> Store<C> {
    /// Joins the election `name` as contender `id`: [`Election::join`], under the name the Go
    /// libraries gave it.
    pub async fn contest(&self, name: &str, id: &str, ttl: Duration) -> Result<Election> {
        Election::join(self, name, id, ttl).await
    }
}

impl Election {
    /// Joins the election `name` of `store` as contender `id`, with entries on leases of `ttl`.
    /// Returns once the contender stands in the queue; watch the returned [`Election`] for
    /// events. A contender whose id matches a live entry takes it over (see
    /// [`coordination`](super)). A `ttl` below [`MIN_TTL`](super::MIN_TTL) or an empty id is an
    /// [`Error::InvalidArgument`].
    #[instrument(level = "debug", skip(store))]
    pub async fn join<C: Codec>(
        store: &Store<C>,
        name: &str,
        id: &str,
        ttl: Duration,
    ) -> Result<Election> {
        let leases = Leases::fresh("election", store.backend(), store.on_close(), ttl)?;
        Self::campaign(leases, name, id).await
    }

    /// Joins the election about the object named `name` of `collection` (in the handle's
    /// namespace) as contender `id`: [`Election::join`] at `election` under the collection's
    /// [`coordination_key`](Collection::coordination_key) for the name.
    pub async fn for_collection<K: Object, C: CodecFor<K>>(
        collection: &Collection<K, C>,
        name: &str,
        id: &str,
        ttl: Duration,
    ) -> Result<Election> {
        let election = format!("{}/election", collection.coordination_key(name)?);
        Self::join(collection.store(), &election, id, ttl).await
    }

    /// Joins the election `name` as contender `id`, its entry on `session`'s lease (etcd's
    /// `NewElection(session, pfx)`): one lease and one keep-alive for every lock and election
    /// on the session; leaving deletes this contender's entry only, and it stops leading when
    /// the session is lost. A live entry of this session holding `id` is taken over. A session
    /// whose TTL is below [`MIN_TTL`](super::MIN_TTL) or an empty id is
    /// [`Error::InvalidArgument`].
    #[instrument(level = "debug", skip(session))]
    pub async fn join_with_session(session: &Session, name: &str, id: &str) -> Result<Election> {
        Self::campaign(Leases::shared("election", session)?, name, id).await
    }

    async fn campaign(leases: Leases, name: &str, id: &str) -> Result<Election> {
        validate_key(name)?;
        if id.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "election {name}: a contender id must not be empty"
            )));
        }
        let entry = join(&leases, name, id).await?;
        let (status_tx, status) = watch::channel(Status::default());
        let (events_tx, events) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let campaign = Campaign {
            leases,
            name: name.to_owned(),
            id: id.to_owned(),
            status: status_tx,
            events: events_tx,
            commands: commands_rx,
            announced: None,
        };
        tokio::spawn(campaign.run(entry));
        Ok(Election {
            name: name.to_owned(),
            id: id.to_owned(),
            status,
            events,
            commands,
        })
    }

    /// Follows who leads the election `name` of `store` without standing in it (etcd's
    /// `Observe`): the returned [`Observer`] tells the current leader, then each change.
    pub fn observe<C: Codec>(store: &Store<C>, name: &str) -> Result<Observer> {
        validate_key(name)?;
        Ok(Observer::start(Arc::clone(store.backend()), name))
    }

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
        self.leading()
            .map(|leading| Compare::create_revision(leading.key, leading.token))
    }

    fn leading(&self) -> Option<Leading> {
        let status = self.status.borrow();
        let leading = status.leading.as_ref()?;
        let alive = *leading.lease.borrow() == LeaseState::Alive;
        alive.then(|| leading.clone())
    }

    /// Steps down: the next contender is elected at once, and this one queues again at the
    /// back. [`Error::NotLeader`] if it does not lead.
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
        let ended = || Error::Closed {
            what: format!("the campaign in election {}", self.name),
        };
        let (reply, answer) = oneshot::channel();
        self.commands.send(command(reply)).map_err(|_| ended())?;
        answer.await.map_err(|_| ended())?
    }
}

impl Stream for Election {
    type Item = Result<ElectionEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}
