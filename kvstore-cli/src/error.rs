//! [`CliError`]: what went wrong, and the exit code that says it.

use std::process::ExitCode;

/// Why a command failed. Its `Display` is the message printed; [`CliError::exit_code`] tells a
/// script what kind of failure it was.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The store answered with an error.
    #[error("{0}")]
    Store(#[from] kvstore::Error),
    /// A stored value or an input does not decode.
    #[error("{0}")]
    Codec(#[from] kvstore::CodecError),
    /// The command's input (a file, an argument, the edited text) is not usable.
    #[error("{0}")]
    Input(String),
    /// A command failed after the user's edit; the edit is kept in a file.
    #[error("{error}\nyour edit is saved in {} (kvstore apply -f it once resolved)", path.display())]
    EditSaved {
        /// Why the edit was not written.
        error: Box<CliError>,
        /// Where it is.
        path: std::path::PathBuf,
    },
    /// Reading or writing a local file, or running the editor, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    /// The process's exit code: 3 the object is not there, 4 a conflict (it exists already, or
    /// changed meanwhile), 5 the credentials were refused, 6 the store cannot be reached,
    /// 1 anything else (bad input, a corrupt value, a refused configuration). Clap's usage
    /// errors exit with 2.
    pub fn exit_code(&self) -> ExitCode {
        if let CliError::EditSaved { error, .. } = self {
            return error.exit_code();
        }
        ExitCode::from(match self {
            CliError::Store(err) if err.is_not_found() => 3,
            CliError::Store(err) if err.is_conflict() || err.is_already_exists() => 4,
            CliError::Store(err) if err.is_permission_denied() || err.is_unauthenticated() => 5,
            CliError::Store(err) if err.is_unavailable() => 6,
            _ => 1,
        })
    }

    /// An error of reading or writing `what`.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let what = what.into();
        move |source| CliError::Io { what, source }
    }
}

/// The result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
