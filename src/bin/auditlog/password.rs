//! `auditlog hash-password`: an argon2id PHC string for the server's users
//! file.

use std::io::{self, BufRead, IsTerminal, Write};

use crate::common::{out_err, CliError, Global};

/// `hash-password` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Reads ONE line from standard input: the password, without its line end
(only the trailing newline is removed; spaces are kept). Prints the argon2id
PHC string to put in the users file as password_hash.

Examples:
  auditlog hash-password                    # type the password, then Enter
  printf '%s\\n' 'correct horse' | auditlog hash-password")]
pub struct Args {}

pub fn run(_g: &Global, _a: Args) -> Result<(), CliError> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        err!("password (shown as you type): ");
        let _ = io::stderr().flush();
    }
    let mut raw = Vec::new();
    let n = stdin
        .lock()
        .read_until(b'\n', &mut raw)
        .map_err(|e| CliError::runtime(format!("cannot read standard input: {e}")))?;
    if n == 0 {
        return Err(CliError::usage(
            "no password on standard input (give it as one line)",
        ));
    }
    if raw.last() == Some(&b'\n') {
        raw.pop();
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
    }
    let password =
        String::from_utf8(raw).map_err(|_| CliError::usage("the password is not valid UTF-8"))?;
    if password.is_empty() {
        return Err(CliError::usage("the password is empty"));
    }
    let phc = auditlog::password::hash_password(&password)?;
    let mut out = io::stdout().lock();
    writeln!(out, "{phc}")
        .and_then(|()| out.flush())
        .map_err(|e| out_err(e, "stdout"))
}
