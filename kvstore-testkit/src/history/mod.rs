//! Histories of concurrent clients, checked: the proof that a store keeps kvstore's semantics
//! under faults.
//!
//! [`run`] starts clients (each a [`Workload`] of creates, gets from the store and consistent
//! reads from a watch cache, lists, compare-and-swap updates, guaranteed updates, deletes and
//! transactions on a few names), two watches and a watch cache on one store, while a fault
//! scenario runs beside them; every call is recorded with the times it began and ended and
//! its answer, an ambiguous one included. Then:
//!
//! - [`checker::check`] decides whether the calls are linearizable against [`StoreModel`],
//!   the store's semantics as a sequential model;
//! - [`check_watch`] checks each watch: ordered, unique, atomic, bookmarks never ahead of
//!   changes, no gap against the recorded writes; [`check_resumed`] that a watch resumed from a
//!   delivered revision continues exactly after it; and the cache must equal a fresh list.
//!
//! A failed check writes the [`History`] to a file and names the command that checks it again
//! (`check-history`), with the smallest failing window ([`failing_window`]).

pub mod checker;
pub mod faults;
mod model;
mod operation;
mod patch;
mod run;
mod watches;
mod workload;

pub use model::{StoreModel, StoreState};
pub use operation::{Call, Item, Operation, Outcome, TxnWrite};
pub use run::{check_history, failing_window, run, History, Report};
pub use watches::{check_resumed, check_watch, Seen, WatchLog};
pub use workload::Workload;
