//! `migrate`: a kind's objects rewritten in its storage version, with a progress line.

use std::io::Write;

use kvstore::{MigrateOptions, MigrationProgress};

use crate::args::Kind;
use crate::error::{CliError, CliResult};
use crate::output::spinner;
use crate::target::Session;

/// `kvstore migrate KIND`: only for kinds whose versions the command line was built with.
pub(crate) async fn migrate(
    session: &Session,
    target: &Kind,
    options: &MigrateOptions,
    out: &mut dyn Write,
) -> CliResult {
    let Some(migration) = session.kinds().migration_of(&target.kind) else {
        return Err(CliError::Input(format!(
            "migrate needs the versions of {} compiled in: run it from the service's own \
             command line (kvstore_cli::Kinds::migration)",
            target.kind
        )));
    };
    let prefix = target
        .prefix
        .clone()
        .unwrap_or_else(|| kvstore::default_prefix(&target.kind));
    let progress = spinner(&prefix);
    let report = |page: &MigrationProgress| progress.set_message(describe(page));
    let done = migration
        .migrate(
            session.url()?,
            &prefix,
            target.namespace.as_deref(),
            options,
            &report,
        )
        .await;
    match done {
        Ok(done) => {
            progress.finish_and_clear();
            writeln!(out, "{prefix}: {}", describe(&done))
                .map_err(CliError::io("writing the output"))
        }
        Err(error) => {
            progress.abandon();
            Err(error.into())
        }
    }
}

fn describe(progress: &MigrationProgress) -> String {
    let mut text = format!(
        "{} objects seen, {} rewritten in the storage version",
        progress.seen, progress.migrated
    );
    if let Some(token) = &progress.continue_token {
        text.push_str(&format!(" (resume with --resume-from {token})"));
    }
    text
}
