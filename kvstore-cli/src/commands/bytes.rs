//! `decode` and `encode`: stored bytes to JSON or YAML and back, outside any store.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::Path;

use kvstore::encryption::Encrypted;
use kvstore::{Codec, CodecFor};
use kvstore_codec::untyped::{inspect, Untyped, ValueHeader};

use crate::args::Output;
use crate::codec::CliCodec;
use crate::error::{CliError, CliResult};
use crate::input;
use crate::output::{opaque_note, Printer};
use crate::target::Session;

/// What `kvstore decode` is asked.
pub(crate) struct DecodeRequest<'a> {
    pub(crate) file: &'a Path,
    pub(crate) key: Option<&'a str>,
    pub(crate) format: Output,
}

/// `kvstore decode`: the object stored bytes hold. The newline `etcdctl get` prints after a
/// value is not part of it.
pub(crate) fn decode(
    session: &Session,
    request: &DecodeRequest<'_>,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CliResult {
    let bytes = input::read_bytes(request.file, stdin)?;
    let plain: Cow<'_, [u8]> = match inspect(&bytes)? {
        ValueHeader::Encrypted { key_name } => {
            Cow::Owned(decrypt(session, &bytes, &key_name, request.key)?)
        }
        ValueHeader::Binary { .. } => Cow::Borrowed(bytes.strip_suffix(b"\n").unwrap_or(&bytes)),
        _ => Cow::Borrowed(&bytes),
    };
    let codec = CliCodec::new(Untyped::any(), None, session.kinds());
    let object = codec.decode(&plain)?;
    if let Some(note) = opaque_note(&object) {
        writeln!(err, "{note}").map_err(CliError::io("writing the output"))?;
    }
    Printer::new(out, request.format).object(&object)
}

/// The encoded bytes inside an encrypted value stored at `key`.
fn decrypt(
    session: &Session,
    bytes: &[u8],
    key_name: &str,
    key: Option<&str>,
) -> CliResult<Vec<u8>> {
    let Some(ring) = session.ring() else {
        return Err(CliError::Input(format!(
            "the value is encrypted with key {key_name:?}: give that key \
             (--encryption-key {key_name}=BASE64 or KVSTORE_ENCRYPTION_KEYS)"
        )));
    };
    let Some(key) = key else {
        return Err(needs_key());
    };
    let codec = Encrypted::new(Untyped::any(), ring.clone());
    match codec.open(key, bytes) {
        Ok(plain) => Ok(plain.into_owned()),
        Err(first) => match bytes.strip_suffix(b"\n") {
            Some(value) => Ok(codec
                .open(key, value)
                .map_err(|_| CliError::Codec(first))?
                .into_owned()),
            None => Err(first.into()),
        },
    }
}

fn needs_key() -> CliError {
    CliError::Input(
        "an encrypted value is bound to the key it is stored at: give it with --key".to_owned(),
    )
}

/// `kvstore encode`: the bytes kvstore stores for an object (encrypted with the first
/// `--encryption-key`, for the key `key`, when keys were given). The object is written as it
/// is: no uid or creation time is added.
pub(crate) fn encode(
    session: &Session,
    file: &Path,
    key: Option<&str>,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> CliResult {
    let text = String::from_utf8(input::read_bytes(file, stdin)?)
        .map_err(|_| CliError::Input(format!("{}: not UTF-8 text", file.display())))?;
    let mut objects = input::objects(&text, &file.display().to_string())?;
    let (Some(object), true) = (objects.pop(), objects.is_empty()) else {
        return Err(CliError::Input(format!(
            "{}: encode takes exactly one object",
            file.display()
        )));
    };
    let codec = session.codec(None);
    let encoded = codec.encode(&object)?;
    let stored = match (session.ring(), key) {
        (Some(_), None) => return Err(needs_key()),
        (_, key) => codec.seal(key.unwrap_or_default(), encoded)?,
    };
    out.write_all(&stored)
        .map_err(CliError::io("writing the output"))
}
