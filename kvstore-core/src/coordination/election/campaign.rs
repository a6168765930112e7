//! The background task of an [`Election`](super::Election): follows the election's queue,
//! tells the contender when it leads or who does, and queues again after losing its entry.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use bytes::Bytes;

use super::state::{ElectionEvent, Leading, LossReason, Status};
use crate::backoff::Backoff;
use crate::coordination::leased_key::{LeasedKey, Leases};
use crate::coordination::queue::{self, Change, Follower, Queue};
use crate::coordination::session::LeaseLoss;
use crate::error::{Error, Result};

/// Stands in the queue of election `name`: takes over a live entry holding `id`, or writes a
/// new one.
pub(super) async fn join(leases: &Leases, name: &str, id: &str) -> Result<LeasedKey> {
    let (members, _) = queue::members(leases.backend(), name).await?;
    for kv in members.iter().filter(|kv| kv.value == id.as_bytes()) {
        if let Some(entry) = queue::adopt(leases, kv).await? {
            tracing::debug!(election = name, id, key = %kv.key, "took over a live entry");
            return Ok(entry);
        }
    }
    queue::enqueue(leases, name, Bytes::copy_from_slice(id.as_bytes())).await
}

/// A request from the handle.
pub(super) enum Command {
    /// Step down (only the leader may).
    Resign(oneshot::Sender<Result<()>>),
    /// Leave the election.
    Stop(oneshot::Sender<Result<()>>),
}

/// First pause after a failed store call; it doubles up to a TTL.
const RETRY: Duration = Duration::from_millis(200);

/// Why following the queue stopped.
enum End {
    /// Leave the election (`None`: the handle was dropped).
    Stop(Option<oneshot::Sender<Result<()>>>),
    /// The leader steps down and queues again.
    Resign(oneshot::Sender<Result<()>>),
    /// The entry is gone or its lease lost.
    Lost(LossReason),
}

pub(super) struct Campaign {
    pub(super) leases: Leases,
    pub(super) name: String,
    pub(super) id: String,
    pub(super) status: watch::Sender<Status>,
    pub(super) events: mpsc::UnboundedSender<Result<ElectionEvent>>,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    /// The leader last announced to the contender.
    pub(super) announced: Option<String>,
}

impl Campaign {
    /// Runs until the handle stops the campaign or is dropped.
    pub(super) async fn run(mut self, mut entry: LeasedKey) {
        loop {
            match self.follow(&entry).await {
                End::Stop(reply) => {
                    self.step_down(LossReason::Stopped);
                    let released = entry.release().await;
                    if let Some(reply) = reply {
                        let _ = reply.send(released);
                    }
                    return;
                }
                End::Resign(reply) => {
                    // Step down before the entry goes, so the next leader is never elected
                    // while this one still believes it leads.
                    self.step_down(LossReason::Resigned);
                    let _ = reply.send(entry.release().await);
                }
                End::Lost(reason) => self.step_down(reason),
            }
            drop(entry);
            entry = match self.rejoin().await {
                Some(entry) => entry,
                None => return,
            };
        }
    }

    /// Queues again, retrying with backoff; `None` if stopped meanwhile.
    async fn rejoin(&mut self) -> Option<LeasedKey> {
        let mut backoff = Backoff::new(RETRY, self.leases.ttl());
        loop {
            match join(&self.leases, &self.name, &self.id).await {
                Ok(entry) => return Some(entry),
                Err(err) => {
                    // Not leading now, so the only command that ends the wait is a stop.
                    let pause = backoff.next_pause();
                    if let Some(End::Stop(reply)) = self.wait_after(err, pause, None).await {
                        if let Some(reply) = reply {
                            let _ = reply.send(Ok(()));
                        }
                        return None;
                    }
                }
            }
        }
    }

    /// Follows the queue while `entry` stands in it.
    async fn follow(&mut self, entry: &LeasedKey) -> End {
        let mut backoff = Backoff::new(RETRY, self.leases.ttl());
        loop {
            let mut follower = match Follower::start(self.leases.backend(), &self.name).await {
                Ok(follower) => follower,
                Err(err) => {
                    let pause = backoff.next_pause();
                    if let Some(end) = self.wait_after(err, pause, Some(entry)).await {
                        return end;
                    }
                    continue;
                }
            };
            if !follower.contains(&entry.key) {
                return End::Lost(LossReason::EntryDeleted);
            }
            self.announce(follower.queue(), entry);
            backoff.reset();
            loop {
                tokio::select! {
                    command = self.commands.recv() => {
                        if let Some(end) = self.on_command(command) {
                            return end;
                        }
                    }
                    loss = entry.lost() => return End::Lost(LossReason::Lease(loss)),
                    change = follower.next() => match change {
                        Some(Ok(Change::Deleted(key))) if key == entry.key => {
                            return End::Lost(LossReason::EntryDeleted);
                        }
                        Some(Ok(_)) => self.announce(follower.queue(), entry),
                        Some(Err(err)) => {
                            let pause = backoff.next_pause();
                            if let Some(end) = self.wait_after(err, pause, Some(entry)).await {
                                return end;
                            }
                            break;
                        }
                        None => break,
                    },
                }
            }
        }
    }

    /// Reports `err`, then waits `pause` unless a command or the loss of `entry` (when standing
    /// in the queue) ends the wait.
    async fn wait_after(
        &mut self,
        err: Error,
        pause: Duration,
        entry: Option<&LeasedKey>,
    ) -> Option<End> {
        if err.is_closed() {
            // The store was closed: the campaign ends, and the handle's stream with it.
            return Some(End::Stop(None));
        }
        tracing::debug!(%err, election = %self.name, "election store call failed, retrying");
        let _ = self.events.send(Err(err));
        let wait = tokio::time::sleep(pause);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => return None,
                loss = lost(entry) => return Some(End::Lost(LossReason::Lease(loss))),
                command = self.commands.recv() => {
                    if let Some(end) = self.on_command(command) {
                        return Some(end);
                    }
                }
            }
        }
    }

    /// What a command means while following (or waiting to queue again, when it never leads).
    fn on_command(&mut self, command: Option<Command>) -> Option<End> {
        match command {
            Some(Command::Resign(reply)) if self.status.borrow().leading.is_some() => {
                Some(End::Resign(reply))
            }
            other => self.not_leading(other),
        }
    }

    /// What a command means when this contender does not lead.
    fn not_leading(&mut self, command: Option<Command>) -> Option<End> {
        match command {
            None => Some(End::Stop(None)),
            Some(Command::Stop(reply)) => Some(End::Stop(Some(reply))),
            Some(Command::Resign(reply)) => {
                let _ = reply.send(Err(Error::NotLeader {
                    election: self.name.clone(),
                    id: self.id.clone(),
                }));
                None
            }
        }
    }

    /// Tells the contender about the head of the queue, if it changed.
    fn announce(&mut self, queue: &Queue, entry: &LeasedKey) {
        let Some((&token, (key, id))) = queue.first_key_value() else {
            return;
        };
        if *key == entry.key {
            if self.status.borrow().leading.is_none() {
                self.status.send_modify(|status| {
                    status.leader = Some(self.id.clone());
                    status.leading = Some(Leading {
                        key: key.clone(),
                        token,
                        lease: entry.lease_state(),
                    });
                });
                self.announced = Some(self.id.clone());
                let _ = self.events.send(Ok(ElectionEvent::Elected {
                    fencing_token: token,
                }));
            }
        } else if self.announced.as_ref() != Some(id) {
            self.status
                .send_modify(|status| status.leader = Some(id.clone()));
            self.announced = Some(id.clone());
            let _ = self
                .events
                .send(Ok(ElectionEvent::Changed { leader: id.clone() }));
        }
    }

    /// Stops leading, if it did, and says why.
    fn step_down(&mut self, reason: LossReason) {
        let was_leading = self.status.borrow().leading.is_some();
        if was_leading {
            self.status.send_modify(|status| {
                status.leading = None;
                status.leader = None;
            });
            self.announced = None;
            let _ = self.events.send(Ok(ElectionEvent::Lost { reason }));
        }
    }
}

/// Resolves when `entry`'s lease is lost; never without an entry.
async fn lost(entry: Option<&LeasedKey>) -> LeaseLoss {
    match entry {
        Some(entry) => entry.lost().await,
        None => std::future::pending().await,
    }
}
