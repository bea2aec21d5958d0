//! `auditlog serve`: argument parsing and start-up of the HTTP server
//! ([`auditlog::server::http`]). Owns the flags, the demo users file and
//! the log set-up; it holds no server logic of its own.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use auditlog::server::http::{self, ServeConfig};
use auditlog::server::Limits;
use auditlog::{Error, Options, Result};
use clap::{Args, ValueEnum};

/// Serve the Enswitch and Voximplant audit APIs and NDJSON ingestion over
/// HTTP (SPEC section 5.3; decisions in docs/server.md).
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the address is
    /// printed once listening).
    #[arg(long, default_value = http::DEFAULT_LISTEN, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The users file (TOML). Defaults to DATA/users.toml.
    #[arg(long, env = "AUDITLOG_USERS", value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// If the users file does not exist, write one with a user "demo"
    /// (customer 1, every role) and a generated password, printed once.
    #[arg(long)]
    pub demo: bool,
    /// Most rows one Enswitch audit/list answer may hold (more: 400 with
    /// key "end").
    #[arg(long, default_value_t = 1_000_000, value_name = "ROWS")]
    pub row_cap: u64,
    /// Largest ingestion body (bytes; K, M, G suffixes are powers of 1024).
    #[arg(long, default_value = "32M", value_parser = parse_size, value_name = "SIZE")]
    pub max_body: usize,
    /// Largest parameter body of the Enswitch and Voximplant methods.
    #[arg(long, default_value = "1M", value_parser = parse_size, value_name = "SIZE")]
    pub max_form: usize,
    /// Most parameters in one request.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_params: usize,
    /// Longest parameter value (bytes; K, M suffixes).
    #[arg(long, default_value = "64K", value_parser = parse_size, value_name = "SIZE")]
    pub max_param_bytes: usize,
    /// Time a request may take until its answer starts (`60`, `60s`,
    /// `2m`, `500ms`).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,
    /// After SIGTERM/SIGINT, time in-flight requests get to finish.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_grace: Duration,
    /// How long a verified password is remembered (0 verifies every
    /// request with argon2).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub auth_cache_ttl: Duration,
    /// Async worker threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Log format on stderr (filter with AUDITLOG_LOG, e.g. `debug`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How request logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Opens the log in `data` and serves it until SIGTERM/SIGINT.
pub fn run(data: &Path, opts: Options, args: ServeArgs) -> Result<()> {
    init_tracing(args.log_format);
    let users = args
        .users
        .clone()
        .unwrap_or_else(|| data.join("users.toml"));
    if !users.exists() {
        if !args.demo {
            return Err(Error::invalid(
                "users file",
                format!(
                    "{} does not exist: write one (docs/server.md), or pass --demo to create a demo user",
                    users.display()
                ),
            ));
        }
        if let Some(dir) = users.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
        }
        let password = write_demo_users(&users)?;
        println!(
            "auditlog: wrote demo users file {} (user \"demo\", customer 1, roles audit, archive, owner, writer)",
            users.display()
        );
        println!("auditlog: demo password (shown once): {password}");
    }
    let log = opts.open()?;
    for w in log.warnings() {
        tracing::warn!("{w}");
    }
    let cfg = ServeConfig::new(users)
        .listen(args.listen)
        .row_cap(args.row_cap)
        .max_body_bytes(args.max_body)
        .max_form_bytes(args.max_form)
        .limits(Limits {
            max_params: args.max_params,
            max_value_bytes: args.max_param_bytes,
            ..Limits::default()
        })
        .request_timeout(args.request_timeout)
        .shutdown_grace(args.shutdown_grace)
        .auth_cache_ttl(args.auth_cache_ttl);
    let cfg = match args.workers {
        Some(n) => cfg.worker_threads(n),
        None => cfg,
    };
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        if let Ok(addr) = rx.recv() {
            println!("auditlog: listening on http://{addr}");
            let _ = std::io::stdout().flush();
        }
    });
    http::serve(log, cfg, Some(tx))
}

fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AUDITLOG_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Writes a users file with one user `demo` (customer 1, every role) and
/// a fresh random password, which it returns. Never overwrites a file.
fn write_demo_users(path: &Path) -> Result<String> {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut raw = [0u8; 20];
    OsRng.fill_bytes(&mut raw);
    let password: String = raw
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    let hash = auditlog::password::hash_password(&password)?;
    let text = format!(
        "# Written by `auditlog serve --demo`. Add users as in docs/server.md;\n\
         # `kill -HUP <pid>` reloads this file.\n\
         [[user]]\n\
         username = \"demo\"\n\
         password_hash = \"{hash}\"\n\
         customer = 1\n\
         roles = [\"audit\", \"archive\", \"owner\", \"writer\"]\n"
    );
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| Error::io("create users file", path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("write users file", path, e))?;
    Ok(password)
}

/// `4096`, `64K`, `32M`, `1G` (powers of 1024; `KiB`/`MiB`/`GiB`, `KB`
/// and lower case accepted).
pub fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (like 4096, 64K, 32M)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown size unit (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// `60` (seconds), `60s`, `500ms`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (like 60, 60s, 500ms, 2m)"))?;
    Ok(match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("{s:?}: unknown duration unit (use ms, s, m or h)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2 days").is_err());
    }

    #[test]
    fn demo_users_file_loads_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let pw = write_demo_users(&path).unwrap();
        assert_eq!(pw.len(), 20);
        let users = auditlog::server::Users::load(&path).unwrap();
        let u = auditlog::server::auth::verify_password(&users, "demo", &pw).unwrap();
        assert_eq!(u.customer, 1);
        assert!(write_demo_users(&path).is_err());
    }
}
