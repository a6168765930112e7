//! Checks a recorded history again: `check-history FILE` (a file a failed run wrote).
//! Prints what the checks found; exits 1 when a check fails, 2 when the file cannot be read.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command line speaks on its streams

use std::process::ExitCode;

use kvstore_testkit::history::{check_history, History};

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: check-history FILE");
        return ExitCode::from(2);
    };
    let history: History = match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(history) => history,
        Err(e) => {
            eprintln!("{}: {e}", std::path::Path::new(&path).display());
            return ExitCode::from(2);
        }
    };
    let report = check_history(history);
    println!("{report}");
    for violation in &report.violations {
        println!("{violation}");
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
