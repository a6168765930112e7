//! The `kvstore` command.

fn main() -> std::process::ExitCode {
    kvstore_cli::main()
}
