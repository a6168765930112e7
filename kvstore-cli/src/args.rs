//! The command line's arguments ([`Cli`]), parsed by clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The kvstore command line: typed objects in etcd, ZooKeeper, SQLite, PostgreSQL or memory,
/// read and written as JSON or YAML.
#[derive(Parser)]
#[command(name = "kvstore", version, about, long_about = None)]
pub struct Cli {
    /// The store: `sqlite:///path.db`, `etcd://host:2379`, `zk://host:2181/root`,
    /// `postgres://user:password@host/db`, `memory://`.
    #[arg(
        long = "store",
        env = "KVSTORE_URL",
        hide_env_values = true,
        global = true
    )]
    pub store: Option<String>,

    /// An encryption key as NAME=BASE64 (32 bytes); the first given encrypts, every one
    /// decrypts. Several in the environment are separated by commas.
    #[arg(
        long = "encryption-key",
        env = "KVSTORE_ENCRYPTION_KEYS",
        hide_env_values = true,
        value_delimiter = ',',
        global = true
    )]
    pub encryption_keys: Vec<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A subcommand.
#[derive(Subcommand)]
pub enum Command {
    /// Shows one object.
    Get {
        /// Which object.
        #[command(flatten)]
        target: Named,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Yaml)]
        output: Output,
    },
    /// Lists the objects of a kind.
    List {
        /// Which objects.
        #[command(flatten)]
        target: Kind,
        /// Every namespace (what a list without `-n` covers; kubectl's flag).
        #[arg(short = 'A', long, conflicts_with = "namespace")]
        all_namespaces: bool,
        /// Only objects whose labels match, e.g. `app=web,tier!=db`.
        #[arg(short = 'l', long = "selector")]
        selector: Option<String>,
        /// Only objects whose fields match, e.g. `metadata.name=a,spec.owner!=bob`.
        #[arg(long = "field-selector")]
        field_selector: Option<String>,
        /// At most this many objects; the next page's token is printed to stderr.
        #[arg(long)]
        limit: Option<usize>,
        /// Goes on from a previous page's token.
        #[arg(long = "continue")]
        continue_token: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Wide)]
        output: Output,
    },
    /// Prints the changes to the objects of a kind as they happen.
    Watch {
        /// Which objects.
        #[command(flatten)]
        target: Kind,
        /// Start after this resource version (0: the current objects first); now by default.
        #[arg(long = "from")]
        from: Option<String>,
        /// Stops after this many changes.
        #[arg(long = "count")]
        count: Option<usize>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Wide)]
        output: Output,
    },
    /// Creates the objects of a file, or updates them (compare-and-swap on the resource version
    /// the file holds, if it holds one).
    Apply {
        /// A JSON or YAML file of one object or several (YAML documents separated by `---`);
        /// `-` reads stdin.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// The directory of the objects' kind, instead of its default.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Opens an object in `$EDITOR` and writes back what was saved (compare-and-swap).
    Edit {
        /// Which object.
        #[command(flatten)]
        target: Named,
    },
    /// Deletes an object.
    Delete {
        /// Which object.
        #[command(flatten)]
        target: Named,
        /// Delete only if the object is still at this resource version.
        #[arg(long = "resource-version")]
        resource_version: Option<String>,
    },
    /// Shows what stored bytes hold (from a file, stdin, or `etcdctl get --print-value-only`).
    Decode {
        /// The bytes; `-` (the default) reads stdin.
        #[arg(default_value = "-")]
        file: PathBuf,
        /// The key the value is stored at, as the store names it (without the namespace of an
        /// `etcd://…?namespace=` URL): an encrypted value is bound to it.
        #[arg(long)]
        key: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Yaml)]
        output: Output,
    },
    /// Turns a JSON or YAML object into the bytes kvstore stores (encrypted with the first
    /// `--encryption-key` for the `--key` it will be stored at).
    Encode {
        /// The object; `-` (the default) reads stdin.
        #[arg(default_value = "-")]
        file: PathBuf,
        /// The key the value will be stored at (needed to encrypt).
        #[arg(long)]
        key: Option<String>,
    },
    /// Rewrites with the first `--encryption-key` every value under a directory stored with
    /// another key (or in plaintext, with `--plaintext`).
    Reencrypt {
        /// The directory, e.g. `/user`.
        prefix: String,
        /// Also encrypts values stored in plaintext.
        #[arg(long)]
        plaintext: bool,
        /// Values read per request.
        #[arg(long, default_value_t = 500)]
        page_size: usize,
    },
    /// Rewrites the objects of a kind stored in another version than the kind's storage version
    /// (a command line built with the kind's versions: `kvstore_cli::Kinds::migration`).
    Migrate {
        /// Which objects.
        #[command(flatten)]
        target: Kind,
        /// Objects read per page.
        #[arg(long, default_value_t = 500)]
        page_size: usize,
        /// Objects rewritten per transaction.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Goes on from where a stopped migration was (the token it printed).
        #[arg(long = "resume-from")]
        resume_from: Option<String>,
    },
    /// Lists the live leases: time to live, time left, keys.
    Leases {
        /// Output format (`wide`, `json` or `yaml`).
        #[arg(short, long, value_enum, default_value_t = Output::Wide)]
        output: Output,
    },
    /// Shows who holds a lock and who waits: `locks PREFIX` (where the lock's queue is) or
    /// `locks KIND NAME` (the lock of an object, where `Lock::for_collection` puts it).
    Locks {
        /// Which lock.
        #[command(flatten)]
        target: Queue,
        /// Output format (`wide`, `json` or `yaml`).
        #[arg(short, long, value_enum, default_value_t = Output::Wide)]
        output: Output,
    },
    /// Shows who leads an election and who stands: `elections NAME` (the election's prefix) or
    /// `elections KIND NAME` (the election about an object, where `Election::for_collection`
    /// puts it).
    Elections {
        /// Which election.
        #[command(flatten)]
        target: Queue,
        /// Output format (`wide`, `json` or `yaml`).
        #[arg(short, long, value_enum, default_value_t = Output::Wide)]
        output: Output,
    },
    /// Forgets the history before a resource version (watches from before it are gone).
    Compact {
        /// The resource version to keep history from.
        resource_version: String,
    },
    /// Checks that the store answers; prints its current resource version.
    Health,
    /// Prints a shell's completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The objects of one kind: where they are.
#[derive(Args, Clone)]
pub struct Kind {
    /// The kind, e.g. `User` (its objects are under `/user` unless `--prefix` says otherwise).
    pub kind: String,
    /// Only this namespace.
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// The directory of the kind's objects, instead of its default.
    #[arg(long)]
    pub prefix: Option<String>,
}

/// A lock's or an election's queue: by its prefix, or as the object's of a kind.
#[derive(Args, Clone)]
pub struct Queue {
    /// The queue's prefix (starting with `/`), or a kind.
    pub prefix_or_kind: String,
    /// With a kind: the object's name.
    pub name: Option<String>,
    /// With a kind: the object's namespace.
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// With a kind: the directory of its objects, instead of its default.
    #[arg(long)]
    pub prefix: Option<String>,
}

/// One object: its kind and name.
#[derive(Args, Clone)]
pub struct Named {
    /// Where its kind is.
    #[command(flatten)]
    pub kind: Kind,
    /// The object's name.
    pub name: String,
}

/// How objects are printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// One JSON document per object (a list as a `List` object).
    Json,
    /// YAML (a list as a `List` object).
    Yaml,
    /// A table: namespace, name, resource version, age, labels.
    #[value(alias = "wide-table")]
    Wide,
    /// `kind/name`, one per line.
    Name,
}
