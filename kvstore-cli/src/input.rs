//! Reading what a command is given: objects from JSON or YAML, bytes from a file or stdin.

use std::io::Read;
use std::path::Path;

use kvstore_codec::untyped::UntypedObject;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{CliError, CliResult};

/// The bytes of `path`, or of stdin for `-`.
pub(crate) fn read_bytes(path: &Path, stdin: &mut dyn Read) -> CliResult<Vec<u8>> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        stdin
            .read_to_end(&mut bytes)
            .map_err(CliError::io("reading stdin"))?;
    } else {
        bytes = std::fs::read(path).map_err(CliError::io(format!("reading {}", path.display())))?;
    }
    Ok(bytes)
}

/// The objects of a JSON or YAML text: one document or several (`---`), each an object or a
/// `List` of objects (what `kvstore list -o yaml` prints).
pub(crate) fn objects(text: &str, source: &str) -> CliResult<Vec<UntypedObject>> {
    let mut objects = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document)
            .map_err(|e| CliError::Input(format!("{source}: not JSON or YAML: {e}")))?;
        if value.is_null() {
            continue; // an empty document
        }
        let items = match value.get("kind").and_then(Value::as_str) {
            Some("List") => match value.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => return Err(CliError::Input(format!("{source}: a List needs `items`"))),
            },
            _ => vec![value],
        };
        for item in items {
            objects.push(
                UntypedObject::from_json(item)
                    .map_err(|e| CliError::Input(format!("{source}: {e}")))?,
            );
        }
    }
    Ok(objects)
}
