//! `get`, `list` and `watch`.

use std::io::Write;

use futures::StreamExt;
use kvstore::{ListOptions, ResourceVersion, Selection, WatchFrom, WatchOptions};

use crate::args::{Kind, Named, Output};
use crate::error::{CliError, CliResult};
use crate::output::{opaque_note, Printer};
use crate::target::Session;

/// `kvstore get KIND NAME`.
pub(crate) async fn get(
    session: &Session,
    target: &Named,
    format: Output,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CliResult {
    let objects = session.objects(&target.kind).await?;
    let mut object = objects.get(&target.name).await?;
    if object.metadata.name.is_empty() {
        // A binary value: its name is the key's.
        object.metadata.name.clone_from(&target.name);
    }
    if let Some(note) = opaque_note(&object) {
        writeln!(err, "{note}").map_err(CliError::io("writing the output"))?;
    }
    Printer::new(out, format).object(&object)
}

/// The selection of `-l` and `--field-selector`.
fn selection(labels: Option<&str>, fields: Option<&str>) -> CliResult<Selection> {
    let mut selection = Selection::default();
    if let Some(labels) = labels {
        selection.labels = Some(labels.parse()?);
    }
    if let Some(fields) = fields {
        selection.fields = Some(fields.parse()?);
    }
    Ok(selection)
}

/// What `kvstore list KIND` is asked.
pub(crate) struct ListRequest<'a> {
    pub(crate) target: &'a Kind,
    pub(crate) labels: Option<&'a str>,
    pub(crate) fields: Option<&'a str>,
    pub(crate) limit: Option<usize>,
    pub(crate) continue_token: Option<&'a str>,
    pub(crate) format: Output,
}

/// `kvstore list KIND`.
pub(crate) async fn list(
    session: &Session,
    request: ListRequest<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CliResult {
    let objects = session.objects(request.target).await?;
    let options = ListOptions {
        limit: request.limit,
        continue_token: request.continue_token.map(str::to_owned),
        selection: selection(request.labels, request.fields)?,
    };
    let list = objects.list(&options).await?;
    if let Some(note) = list.items.iter().find_map(opaque_note) {
        writeln!(err, "{note}").map_err(CliError::io("writing the output"))?;
    }
    Printer::new(out, request.format).list(&list)?;
    if let (Some(token), Output::Wide | Output::Name) = (list.continue_token(), request.format) {
        writeln!(err, "more: --continue {token}").map_err(CliError::io("writing the output"))?;
    }
    Ok(())
}

/// `kvstore watch KIND`: prints changes until `count` of them were printed (forever without).
pub(crate) async fn watch(
    session: &Session,
    target: &Kind,
    from: Option<&str>,
    count: Option<usize>,
    format: Output,
    out: &mut dyn Write,
) -> CliResult {
    let objects = session.objects(target).await?;
    let from = match from {
        None | Some("now") => WatchFrom::Now,
        Some(version) => WatchFrom::Version(
            version
                .parse::<ResourceVersion>()
                .map_err(|e| CliError::Input(format!("--from {version:?}: {e}")))?,
        ),
    };
    let mut events = objects.watch(&WatchOptions::starting(from)).await?;
    let mut printer = Printer::new(out, format);
    let mut printed = 0;
    while count.is_none_or(|count| printed < count) {
        let Some(event) = events.next().await else {
            break;
        };
        let event = event?;
        if event.object().is_some() {
            printed += 1;
        }
        printer.event(&event)?;
    }
    Ok(())
}
