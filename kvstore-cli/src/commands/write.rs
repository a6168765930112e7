//! `apply` and `delete`.

use std::io::{Read, Write};
use std::path::Path;

use kvstore::{Preconditions, ResourceVersion};
use kvstore_codec::untyped::UntypedObject;

use crate::args::Named;
use crate::error::{CliError, CliResult};
use crate::input;
use crate::target::{collection, Objects, Session};

/// `kvstore apply -f FILE`: creates each object, or updates it.
pub(crate) async fn apply(
    session: &Session,
    file: &Path,
    prefix: Option<&str>,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> CliResult {
    let bytes = input::read_bytes(file, stdin)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::Input(format!("{}: not UTF-8 text", file.display())))?;
    let objects = input::objects(&text, &file.display().to_string())?;
    if objects.is_empty() {
        return Err(CliError::Input(format!("{}: no object", file.display())));
    }
    let store = session.store().await?;
    for object in objects {
        let kind = object.type_meta.kind.to_lowercase();
        let name = object.metadata.name.clone();
        let collection = collection(&store, &object.type_meta.kind, prefix, None)?;
        let done = apply_one(&collection, object).await?;
        writeln!(out, "{kind}/{name} {done}").map_err(CliError::io("writing the output"))?;
    }
    Ok(())
}

/// Creates `object`, or updates it: on the resource version it carries, else on the version
/// read now. An update keeps the stored object's uid and creation time.
async fn apply_one(objects: &Objects, mut object: UntypedObject) -> CliResult<&'static str> {
    let objects = match &object.metadata.namespace {
        Some(namespace) => objects.namespaced(namespace)?,
        None => objects.clone(),
    };
    let current = match objects.get(&object.metadata.name).await {
        Ok(current) => current,
        Err(err) if err.is_not_found() && object.metadata.resource_version.is_none() => {
            objects.create(&object).await?;
            return Ok("created");
        }
        Err(err) => return Err(err.into()),
    };
    if !current
        .type_meta
        .kind
        .eq_ignore_ascii_case(&object.type_meta.kind)
    {
        return Err(CliError::Input(format!(
            "{}: the stored object is a {}, not a {}",
            objects.key_of(&object.metadata.name)?,
            current.type_meta,
            object.type_meta
        )));
    }
    keep_identity(&mut object, &current)?;
    if object.metadata.resource_version.is_none() {
        object
            .metadata
            .resource_version
            .clone_from(&current.metadata.resource_version);
    }
    if object == current {
        return Ok("unchanged");
    }
    objects.update(&object).await?;
    Ok("updated")
}

/// Gives `object` the uid and creation time of the stored `current`; an error if it names
/// another uid (the object was deleted and created again since it was read).
pub(crate) fn keep_identity(object: &mut UntypedObject, current: &UntypedObject) -> CliResult {
    let (mine, theirs) = (&mut object.metadata, &current.metadata);
    match (mine.uid, theirs.uid) {
        (Some(mine), Some(theirs)) if mine != theirs => {
            return Err(CliError::Input(format!(
                "{}: the stored object has uid {theirs}, not {mine}: it was deleted and created \
                 again (remove the uid to overwrite it)",
                current.metadata.name
            )))
        }
        _ => {}
    }
    mine.uid = mine.uid.or(theirs.uid);
    mine.creation_timestamp = mine.creation_timestamp.or(theirs.creation_timestamp);
    Ok(())
}

/// `kvstore delete KIND NAME`: deletes the object read (its uid), or only at
/// `resource_version`.
pub(crate) async fn delete(
    session: &Session,
    target: &Named,
    resource_version: Option<&str>,
    out: &mut dyn Write,
) -> CliResult {
    let objects = session.objects(&target.kind).await?;
    // Read first: the kind is checked, and the delete is of this object, not a newer one of
    // the same name.
    let current = objects.get(&target.name).await?;
    let preconditions = Preconditions {
        resource_version: resource_version
            .map(|version| {
                version
                    .parse::<ResourceVersion>()
                    .map_err(|e| CliError::Input(format!("--resource-version {version:?}: {e}")))
            })
            .transpose()?,
        uid: current.metadata.uid,
    };
    objects.delete(&target.name, &preconditions).await?;
    writeln!(
        out,
        "{}/{} deleted",
        target.kind.kind.to_lowercase(),
        target.name
    )
    .map_err(CliError::io("writing the output"))
}
