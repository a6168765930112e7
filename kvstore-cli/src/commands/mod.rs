//! The subcommands, by what they touch: objects read, objects written, the editor, bytes
//! outside a store, leases, locks and elections, migrations, and the store itself.

pub(crate) mod admin;
pub(crate) mod bytes;
pub(crate) mod coordination;
pub(crate) mod edit;
pub(crate) mod migrate;
pub(crate) mod read;
pub(crate) mod write;
