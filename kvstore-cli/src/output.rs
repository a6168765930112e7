//! How objects are printed: JSON, YAML, a table, or names.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use kvstore::{ObjectList, WatchEvent};
use kvstore_codec::untyped::{Body, UntypedObject};
use serde::Serialize;
use serde_json::json;

use crate::args::Output;
use crate::error::{CliError, CliResult};

/// Where a command writes what it shows, and in which format.
pub(crate) struct Printer<'w> {
    out: &'w mut dyn Write,
    format: Output,
}

const TABLE_HEADER: [&str; 5] = ["NAMESPACE", "NAME", "VERSION", "CREATED", "LABELS"];

impl<'w> Printer<'w> {
    pub(crate) fn new(out: &'w mut dyn Write, format: Output) -> Self {
        Printer { out, format }
    }

    fn write(&mut self, text: &str) -> CliResult {
        self.out
            .write_all(text.as_bytes())
            .map_err(CliError::io("writing the output"))
    }

    /// Prints one object.
    pub(crate) fn object(&mut self, object: &UntypedObject) -> CliResult {
        match self.format {
            Output::Json | Output::Yaml => self.document(object),
            Output::Wide => {
                let rows = [row(object)];
                self.table(&TABLE_HEADER, &rows)
            }
            Output::Name => self.write(&format!("{}\n", name_of(object))),
        }
    }

    /// Prints a page of objects.
    pub(crate) fn list(&mut self, list: &ObjectList<UntypedObject>) -> CliResult {
        match self.format {
            Output::Json | Output::Yaml => {
                /// A page as a document: what `apply -f` reads back.
                #[derive(Serialize)]
                struct List<'a> {
                    #[serde(rename = "apiVersion")]
                    api_version: &'a str,
                    kind: &'a str,
                    metadata: serde_json::Value,
                    items: &'a [UntypedObject],
                }
                let mut metadata = json!({"resourceVersion": list.metadata.resource_version});
                if let Some(token) = list.continue_token() {
                    metadata["continue"] = token.into();
                }
                self.document(&List {
                    api_version: "v1",
                    kind: "List",
                    metadata,
                    items: &list.items,
                })
            }
            Output::Wide => {
                let rows: Vec<_> = list.items.iter().map(row).collect();
                self.table(&TABLE_HEADER, &rows)
            }
            Output::Name => {
                for object in &list.items {
                    self.write(&format!("{}\n", name_of(object)))?;
                }
                Ok(())
            }
        }
    }

    /// Prints one change of a watch (nothing for bookmarks and markers but in JSON and YAML).
    pub(crate) fn event(&mut self, event: &WatchEvent<UntypedObject>) -> CliResult {
        let (kind, object) = match event {
            WatchEvent::Added(object) => ("ADDED", object),
            WatchEvent::Modified(object) => ("MODIFIED", object),
            WatchEvent::Deleted(object) => ("DELETED", object),
            WatchEvent::InitialStateDone(_) | WatchEvent::Bookmark(_) => return Ok(()),
        };
        match self.format {
            Output::Json => {
                let line = serde_json::to_string(&Change { kind, object })
                    .map_err(|e| CliError::Input(format!("cannot write JSON: {e}")))?;
                self.write(&format!("{line}\n"))
            }
            Output::Yaml => self.document(&Change { kind, object }),
            Output::Wide => {
                let mut cells = vec![kind.to_owned()];
                cells.extend(row(object));
                self.write(&format!("{}\n", cells.join("  ")))
            }
            Output::Name => self.write(&format!("{kind} {}\n", name_of(object))),
        }
        .and_then(|()| self.out.flush().map_err(CliError::io("writing the output")))
    }

    /// Prints a value as JSON (pretty) or YAML (a document).
    pub(crate) fn document(&mut self, value: &impl Serialize) -> CliResult {
        let text = match self.format {
            Output::Yaml => format!(
                "---\n{}",
                serde_yaml_ng::to_string(value)
                    .map_err(|e| CliError::Input(format!("cannot write YAML: {e}")))?
            ),
            _ => format!(
                "{}\n",
                serde_json::to_string_pretty(value)
                    .map_err(|e| CliError::Input(format!("cannot write JSON: {e}")))?
            ),
        };
        self.write(&text)
    }

    /// Prints rows under a header, each column as wide as its widest cell.
    pub(crate) fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> CliResult {
        let mut widths: Vec<usize> = header.iter().map(|cell| cell.len()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut text = line(header.to_vec());
        for row in rows {
            text.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        self.write(&text)
    }
}

/// One change of a watch, as kubectl prints it: `{"type":"ADDED","object":{…}}`.
#[derive(Serialize)]
struct Change<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a UntypedObject,
}

/// `kind/name` in lower case, as kubectl prints names.
fn name_of(object: &UntypedObject) -> String {
    format!(
        "{}/{}",
        object.type_meta.kind.to_lowercase(),
        object.metadata.name
    )
}

/// The table cells of an object.
fn row(object: &UntypedObject) -> Vec<String> {
    let meta = &object.metadata;
    let labels: Vec<String> = meta
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    // A binary value's name is in its body: known only when it was read by its key.
    let name = match &object.body {
        Body::Opaque { format, size } if meta.name.is_empty() => {
            format!("({format} value, {size} bytes)")
        }
        _ => meta.name.clone(),
    };
    vec![
        meta.namespace.clone().unwrap_or_else(|| "-".to_owned()),
        name,
        meta.resource_version.clone().unwrap_or_default(),
        meta.creation_timestamp
            .map(|at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "-".to_owned()),
        if labels.is_empty() {
            "-".to_owned()
        } else {
            labels.join(",")
        },
    ]
}

/// The note for an object whose body the command line cannot read.
pub(crate) fn opaque_note(object: &UntypedObject) -> Option<String> {
    match &object.body {
        Body::Opaque { format, size } => Some(format!(
            "note: {} is stored in {format} ({size} bytes): its metadata and fields are readable \
             only with the kind's type; shown is what its header says",
            object.type_meta
        )),
        _ => None,
    }
}

/// A progress line on stderr (hidden when stderr is not a terminal).
pub(crate) fn spinner(prefix: &str) -> ProgressBar {
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.set_prefix(prefix.to_owned());
    progress.enable_steady_tick(Duration::from_millis(200));
    progress
}
