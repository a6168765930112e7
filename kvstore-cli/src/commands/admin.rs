//! `health`, `compact` and `reencrypt`.

use std::io::Write;

use kvstore::encryption::{reencrypt as reencrypt_page, Encrypted};
use kvstore::ResourceVersion;
use kvstore_codec::untyped::Untyped;

use crate::error::{CliError, CliResult};
use crate::output::spinner;
use crate::target::Session;

/// `kvstore health`: the store answers; its current resource version.
pub(crate) async fn health(session: &Session, out: &mut dyn Write) -> CliResult {
    let store = session.store().await?;
    store.health().await?;
    let version = store.current_resource_version().await?;
    writeln!(out, "ok: resource version {version}").map_err(CliError::io("writing the output"))
}

/// `kvstore compact RV`.
pub(crate) async fn compact(session: &Session, version: &str, out: &mut dyn Write) -> CliResult {
    let version: ResourceVersion = version
        .parse()
        .map_err(|e| CliError::Input(format!("resource version {version:?}: {e}")))?;
    let store = session.store().await?;
    store.compact(version).await?;
    writeln!(out, "compacted: the history before {version} is gone")
        .map_err(CliError::io("writing the output"))
}

/// `kvstore reencrypt PREFIX`: a page at a time, with a progress line on a terminal.
pub(crate) async fn reencrypt(
    session: &Session,
    prefix: &str,
    plaintext: bool,
    page_size: usize,
    out: &mut dyn Write,
) -> CliResult {
    let Some(ring) = session.ring() else {
        return Err(CliError::Input(
            "reencrypt needs the keys: the new one first (--encryption-key NAME=BASE64, once \
             per key)"
                .to_owned(),
        ));
    };
    let codec = Encrypted::new(Untyped::any(), ring.clone().accept_plaintext(plaintext));
    let store = session.connect(codec).await?;
    let progress = spinner(prefix);
    let (mut rewritten, mut current, mut raced) = (0, 0, 0);
    let mut after: Option<String> = None;
    loop {
        let page = reencrypt_page(&store, prefix, after.as_deref(), page_size).await;
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                progress.abandon();
                return Err(error.into());
            }
        };
        rewritten += page.rewritten;
        current += page.current;
        raced += page.raced;
        progress.set_message(format!(
            "{rewritten} rewritten, {current} already current, {raced} written meanwhile"
        ));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    progress.finish_and_clear();
    writeln!(
        out,
        "{prefix}: {rewritten} rewritten with key {:?}, {current} already current, {raced} \
         written meanwhile by others",
        ring.primary().name()
    )
    .map_err(CliError::io("writing the output"))
}
