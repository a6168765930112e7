//! # kvstore-cli
//!
//! The `kvstore` command line: what a service stores through kvstore, read and written by an
//! operator as JSON or YAML, on every store kvstore connects to.
//!
//! ```text
//! kvstore --store sqlite:///var/lib/app/state.db get User alice -o yaml
//! kvstore list User -l team=blue --field-selector spec.owner=bob
//! kvstore apply -f users.yaml
//! kvstore edit User alice
//! etcdctl get /user/alice --print-value-only | kvstore decode
//! ```
//!
//! `--store URL` (or `KVSTORE_URL`) names the store, with the URLs of
//! [`kvstore::connect`]. `KIND NAME` is the key `<prefix>/<namespace>/<name>`, where the
//! prefix is the kind's [`default_prefix`](kvstore::default_prefix) (`User` → `/user`, what a
//! service's [`Store::default_collection`](kvstore::Store::default_collection) uses) unless
//! `--prefix` gives another.
//!
//! The command line knows no Rust type: it reads objects as
//! [`UntypedObject`](kvstore_codec::untyped::UntypedObject)s. A value stored as JSON shows whole
//! and can be written back; a binary value (protobuf, postcard, bincode) shows its kind and a
//! note, and cannot be edited. Values encrypted at rest are read with `--encryption-key
//! NAME=BASE64` (or `KVSTORE_ENCRYPTION_KEYS`); without the key, the error names the key
//! needed. Secrets given in the environment are never shown by `--help`.
//!
//! Exit codes: 0 done, 1 failed (bad input, a corrupt value, a refused configuration), 2 a
//! usage error, 3 not found, 4 a conflict (exists already, or changed meanwhile), 5
//! credentials refused, 6 the store cannot be reached ([`CliError::exit_code`]).

mod args;
mod codec;
mod commands;
mod error;
mod input;
mod kinds;
mod output;
mod target;

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

pub use args::{Cli, Command, Kind, Named, Output, Queue};
pub use error::{CliError, CliResult};
pub use kinds::Kinds;

use commands::{admin, bytes, coordination, edit, migrate, read, write};
use target::Session;

/// The streams a command reads and writes: stdin, stdout and stderr for the binary.
pub struct Terminal<'a> {
    /// Input: `-f -` files, answers to questions.
    pub input: &'a mut dyn BufRead,
    /// What the command shows.
    pub output: &'a mut dyn Write,
    /// Notes, questions and progress.
    pub notes: &'a mut dyn Write,
}

/// Runs `cli` on the terminal's streams, knowing no kind by its type.
pub async fn run(cli: Cli, terminal: Terminal<'_>) -> CliResult {
    run_with(cli, terminal, Kinds::new()).await
}

/// Runs `cli` on the terminal's streams, knowing `kinds` by their types.
pub async fn run_with(cli: Cli, terminal: Terminal<'_>, kinds: Kinds) -> CliResult {
    let session = Session::new(cli.store, codec::key_ring(&cli.encryption_keys)?, kinds);
    let Terminal {
        input,
        output: out,
        notes: err,
    } = terminal;
    match &cli.command {
        Command::Get { target, output } => read::get(&session, target, *output, out, err).await,
        Command::List {
            target,
            all_namespaces: _, // the default: no namespace given
            selector,
            field_selector,
            limit,
            continue_token,
            output,
        } => {
            let request = read::ListRequest {
                target,
                labels: selector.as_deref(),
                fields: field_selector.as_deref(),
                limit: *limit,
                continue_token: continue_token.as_deref(),
                format: *output,
            };
            read::list(&session, request, out, err).await
        }
        Command::Watch {
            target,
            from,
            count,
            output,
        } => read::watch(&session, target, from.as_deref(), *count, *output, out).await,
        Command::Apply { file, prefix } => {
            write::apply(&session, file, prefix.as_deref(), input, out).await
        }
        Command::Edit { target } => edit::edit(&session, target, input, out, err).await,
        Command::Delete {
            target,
            resource_version,
        } => write::delete(&session, target, resource_version.as_deref(), out).await,
        Command::Decode { file, key, output } => {
            let request = bytes::DecodeRequest {
                file,
                key: key.as_deref(),
                format: *output,
            };
            bytes::decode(&session, &request, input, out, err)
        }
        Command::Encode { file, key } => bytes::encode(&session, file, key.as_deref(), input, out),
        Command::Reencrypt {
            prefix,
            plaintext,
            page_size,
        } => admin::reencrypt(&session, prefix, *plaintext, *page_size, out).await,
        Command::Migrate {
            target,
            page_size,
            batch,
            resume_from,
        } => {
            let options = kvstore::MigrateOptions {
                page_size: *page_size,
                batch: *batch,
                resume_from: resume_from.clone(),
            };
            migrate::migrate(&session, target, &options, out).await
        }
        Command::Leases { output } => coordination::leases(&session, *output, out).await,
        Command::Locks { target, output } => {
            coordination::queue(&session, target, false, *output, out).await
        }
        Command::Elections { target, output } => {
            coordination::queue(&session, target, true, *output, out).await
        }
        Command::Compact { resource_version } => {
            admin::compact(&session, resource_version, out).await
        }
        Command::Health => admin::health(&session, out).await,
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "kvstore", out);
            Ok(())
        }
    }
}

/// The `kvstore` binary: parses the process's arguments, runs the command on stdin, stdout
/// and stderr, prints an error as `error: …`, and returns its exit code.
pub fn main() -> ExitCode {
    main_with(Kinds::new())
}

/// A service's own command line: [`main`], knowing `kinds` by their types.
pub fn main_with(kinds: Kinds) -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return report(&CliError::io("starting the runtime")(error)),
    };
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let (mut input, mut output, mut notes) = (stdin.lock(), stdout.lock(), stderr.lock());
    let terminal = Terminal {
        input: &mut input,
        output: &mut output,
        notes: &mut notes,
    };
    let result = runtime.block_on(run_with(cli, terminal, kinds));
    let _ = output.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
}

fn report(error: &CliError) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {error}");
    error.exit_code()
}
