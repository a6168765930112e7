//! `edit`: the object in `$EDITOR`, written back with compare-and-swap.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Command;

use kvstore_codec::untyped::{Body, UntypedObject};
use similar::TextDiff;

use crate::args::Named;
use crate::commands::write::keep_identity;
use crate::error::{CliError, CliResult};
use crate::input;
use crate::target::Session;

const HEADER: &str = "# Save and quit to write the object back (compare-and-swap on its \
                      resourceVersion). An empty file cancels.\n";

/// `kvstore edit KIND NAME`. On a conflict (the object changed since it was read) it shows what
/// changed and offers to edit again with the changes kept; whatever fails after the editor
/// closed, the edited text is saved to a file named in the error.
pub(crate) async fn edit(
    session: &Session,
    target: &Named,
    answers: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CliResult {
    let objects = session.objects(&target.kind).await?;
    let mut read = objects.get(&target.name).await?;
    if let Body::Opaque { format, .. } = read.body {
        return Err(CliError::Input(format!(
            "{} is stored in {format}: only a program with its type can edit it",
            read.type_meta
        )));
    }
    let mut text = format!("{HEADER}{}", yaml(&read)?);
    // After a conflict the text is the user's own edit: saving it unchanged writes it.
    let mut retrying = false;
    loop {
        let edited = run_editor(&text)?;
        if edited.trim().is_empty() || (!retrying && edited == text) {
            writeln!(out, "edit cancelled: nothing changed").map_err(output)?;
            return Ok(());
        }
        let mut object = match parse(&edited, &read) {
            Ok(object) => object,
            Err(error) => return Err(kept(&edited, error)),
        };
        match objects.update(&object).await {
            Ok(_) => {
                writeln!(
                    out,
                    "{}/{} edited",
                    read.type_meta.kind.to_lowercase(),
                    read.metadata.name
                )
                .map_err(output)?;
                return Ok(());
            }
            Err(error) if error.is_conflict() => {
                let current = match objects.get(&target.name).await {
                    Ok(current) => current,
                    Err(error) => return Err(kept(&edited, error.into())),
                };
                let diff = TextDiff::from_lines(&yaml(&read)?, &yaml(&current)?)
                    .unified_diff()
                    .header("as you read it", "as it is now")
                    .to_string();
                write!(
                    err,
                    "{} changed while you edited it:\n{diff}Edit again on the current version, \
                     with your changes? [y/N] ",
                    read.metadata.name
                )
                .map_err(output)?;
                err.flush().map_err(output)?;
                let mut answer = String::new();
                answers
                    .read_line(&mut answer)
                    .map_err(CliError::io("reading the answer"))?;
                if !answer.trim().eq_ignore_ascii_case("y") {
                    return Err(kept(&edited, error.into()));
                }
                object
                    .metadata
                    .resource_version
                    .clone_from(&current.metadata.resource_version);
                text = format!("{HEADER}{}", yaml(&object)?);
                read = current;
                retrying = true;
            }
            Err(error) => return Err(kept(&edited, error.into())),
        }
    }
}

fn output(source: std::io::Error) -> CliError {
    CliError::io("writing the output")(source)
}

/// The object as YAML.
fn yaml(object: &UntypedObject) -> CliResult<String> {
    serde_yaml_ng::to_string(object).map_err(|e| CliError::Input(format!("cannot write YAML: {e}")))
}

/// The edited object: one, of the kind, name and namespace read, keeping its identity.
fn parse(edited: &str, read: &UntypedObject) -> CliResult<UntypedObject> {
    let mut objects = input::objects(edited, "the edited object")?;
    let (Some(mut object), true) = (objects.pop(), objects.is_empty()) else {
        return Err(CliError::Input(
            "the edited text must hold exactly one object".to_owned(),
        ));
    };
    let same = object.type_meta.kind == read.type_meta.kind
        && object.metadata.name == read.metadata.name
        && object.metadata.namespace == read.metadata.namespace;
    if !same {
        return Err(CliError::Input(
            "the kind, name and namespace of an object cannot be edited".to_owned(),
        ));
    }
    keep_identity(&mut object, read)?;
    Ok(object)
}

/// Runs `$VISUAL`, `$EDITOR` or `vi` on `text` in a temporary file; what was saved.
fn run_editor(text: &str) -> CliResult<String> {
    let file = tempfile::Builder::new()
        .prefix("kvstore-edit-")
        .suffix(".yaml")
        .tempfile()
        .map_err(CliError::io("creating a file to edit"))?;
    std::fs::write(file.path(), text).map_err(CliError::io("writing the file to edit"))?;
    let editor = ["VISUAL", "EDITOR"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned());
    // Through the shell, as git runs it: `$EDITOR` may carry arguments.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("kvstore-edit")
        .arg(file.path())
        .status()
        .map_err(CliError::io(format!("running the editor {editor:?}")))?;
    if !status.success() {
        return Err(CliError::Input(format!(
            "the editor {editor:?} failed ({status}): nothing was written"
        )));
    }
    read_text(file.path())
}

fn read_text(path: &Path) -> CliResult<String> {
    std::fs::read_to_string(path).map_err(CliError::io("reading the edited file"))
}

/// `error`, with the edited text saved to a file the message names.
fn kept(edited: &str, error: CliError) -> CliError {
    let saved = tempfile::Builder::new()
        .prefix("kvstore-edit-")
        .suffix(".yaml")
        .tempfile()
        .and_then(|file| {
            std::fs::write(file.path(), edited)?;
            file.keep().map_err(|e| e.error)
        });
    match saved {
        Ok((_, path)) => CliError::EditSaved {
            error: Box::new(error),
            path,
        },
        Err(_) => error,
    }
}
