//! `auditlog customers set|import|list`: the customer tree (customer ->
//! parent) that query scopes (`all`, `recursive`) resolve against.

use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use crate::common::{out_err, CliError, Global};

/// `customers` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Set (or clear) one customer's parent
    Set(SetArgs),
    /// Set many parents from a CSV file of `id,parent` lines, all or nothing
    Import(ImportArgs),
    /// Print the tree as CSV (`id,parent`), the form `import` reads
    List(ListArgs),
}

/// `customers set` flags.
#[derive(clap::Args, Debug)]
#[command(
    group(clap::ArgGroup::new("what").required(true).args(["parent", "no_parent"])),
    after_help = "Examples:\n  auditlog customers set 42 --parent 3\n  auditlog customers set 42 --no-parent"
)]
pub struct SetArgs {
    /// The customer.
    id: u64,

    /// Its parent.
    #[arg(long, value_name = "P")]
    parent: Option<u64>,

    /// Make it a top-level customer (no parent).
    #[arg(long)]
    no_parent: bool,
}

/// `customers import` flags.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
The file has one `id,parent` pair per line (an empty parent clears it), with
an optional header line `id,parent`; blank lines are skipped. Every line is
checked (numbers, no customer twice, no cycle) before anything is applied;
the whole file is then applied as one durable change.

Examples:
  auditlog customers import tree.csv
  printf 'id,parent\\n42,3\\n43,3\\n' | auditlog customers import -")]
pub struct ImportArgs {
    /// The CSV file (`-`: standard input).
    file: PathBuf,
}

/// `customers list` flags.
#[derive(clap::Args, Debug)]
pub struct ListArgs {}

pub fn run(g: &Global, c: Command) -> Result<(), CliError> {
    match c {
        Command::Set(a) => {
            let parent = if a.no_parent { None } else { a.parent };
            let log = g.open_rw()?;
            log.set_parent(a.id, parent)?;
            match parent {
                Some(p) => outln!("customer {} now has parent {p}", a.id),
                None => outln!("customer {} now has no parent", a.id),
            }
            Ok(())
        }
        Command::Import(a) => {
            let name = a.file.display().to_string();
            let mut text = Vec::new();
            let read = if a.file.as_os_str() == "-" {
                io::stdin().read_to_end(&mut text)
            } else {
                std::fs::File::open(&a.file).and_then(|mut f| f.read_to_end(&mut text))
            };
            read.map_err(|e| CliError::usage(format!("cannot read {name}: {e}")))?;
            let changes = parse_pairs(&text).map_err(|e| e.context(&name))?;
            let log = g.open_rw()?;
            log.set_parents(&changes)?;
            let with_parent = log.customer_tree().len();
            outln!(
                "imported {} line{} from {name}; {with_parent} customer{} {} a parent",
                changes.len(),
                if changes.len() == 1 { "" } else { "s" },
                if with_parent == 1 { "" } else { "s" },
                if with_parent == 1 { "has" } else { "have" },
            );
            Ok(())
        }
        Command::List(_) => {
            let log = g.open_existing()?;
            let mut w = BufWriter::new(io::stdout().lock());
            let err = |e| out_err(e, "stdout");
            writeln!(w, "id,parent").map_err(err)?;
            for (c, p) in log.customer_tree().pairs() {
                writeln!(w, "{c},{p}").map_err(err)?;
            }
            w.flush().map_err(err)
        }
    }
}

/// Parses `id,parent` lines; the error names the line.
fn parse_pairs(text: &[u8]) -> Result<Vec<(u64, Option<u64>)>, CliError> {
    let text = std::str::from_utf8(text)
        .map_err(|e| CliError::usage(format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1)))?;
    let mut out = Vec::new();
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let mut first = true;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() {
            continue;
        }
        let was_first = std::mem::replace(&mut first, false);
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if was_first
            && cols.len() == 2
            && cols[0].eq_ignore_ascii_case("id")
            && cols[1].eq_ignore_ascii_case("parent")
        {
            continue;
        }
        let bad = |why: &str| CliError::usage(format!("line {n}: {why}: {line:?}"));
        let [id, parent] = cols[..] else {
            return Err(bad("expected two columns id,parent"));
        };
        let id: u64 = id
            .parse()
            .map_err(|_| bad("the customer id is not a non-negative integer"))?;
        let parent: Option<u64> = if parent.is_empty() {
            None
        } else {
            Some(
                parent
                    .parse()
                    .map_err(|_| bad("the parent id is not a non-negative integer"))?,
            )
        };
        if parent == Some(id) {
            return Err(bad("a customer cannot be its own parent"));
        }
        if let Some(prev) = seen.insert(id, n) {
            return Err(bad(&format!(
                "customer {id} already appears on line {prev}"
            )));
        }
        out.push((id, parent));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_pairs;

    #[test]
    fn parses_with_and_without_header() {
        let v = parse_pairs(b"id,parent\n2,1\n\n3, 1\n4,\n").unwrap();
        assert_eq!(v, vec![(2, Some(1)), (3, Some(1)), (4, None)]);
        assert_eq!(parse_pairs(b"2,1").unwrap(), vec![(2, Some(1))]);
        let e = parse_pairs(b"id,parent\n2,1\nx,1\n").unwrap_err();
        assert!(e.msg.starts_with("line 3:"), "{}", e.msg);
        assert!(parse_pairs(b"2,1\n2,3\n")
            .unwrap_err()
            .msg
            .contains("line 1"));
        assert!(parse_pairs(b"2,1,3\n").is_err());
        assert!(parse_pairs(b"2,2\n").is_err());
    }
}
