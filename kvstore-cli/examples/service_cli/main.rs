//! A service's own command line: the `kvstore` command with the service's kinds compiled in,
//! so postcard values show whole, `apply` and `edit` store postcard, and `migrate server`
//! rewrites v1 objects in v2.
//!
//! ```sh
//! cargo run -p kvstore-cli --example service_cli -- --store sqlite:///tmp/servers.db list Server
//! ```

mod kinds;

fn main() -> std::process::ExitCode {
    kvstore_cli::main_with(kinds::kinds())
}
