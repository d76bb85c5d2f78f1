//! Command-line parsing by hand: a handful of flags do not justify a parser dependency.

use std::path::PathBuf;

/// Printed by `--help` and after a usage error.
pub const USAGE: &str = "\
Usage: scim-bench --server PATH [--users N] [--requests N] [--seconds S] [--concurrency C]
                  [--dynamodb-users N] [--dynamodb-requests N] [--dynamodb-seconds S] [--no-dynamodb]
       scim-bench soak --server PATH [--seconds S] [--requests N] [--clients C] [--rate R]
                  [--rss-tolerance-pct P]

Starts the scim-lambda binary at PATH on 127.0.0.1 with the embedded store, seeds N users
(and the empty groups the member PATCHes add them to), then measures eleven request scenarios
(user and group reads, user and group creates, user PATCH and PUT, group member add and remove,
delete of the users the create made)
and the server's resident memory. Then does the same with
the DynamoDB store against moto (the local emulator, from `make tools`) on 127.0.0.1, on a
smaller tenant, and prints the DynamoDB calls each store operation makes.

Options:
  --server PATH            the scim-lambda binary to start (required)
  --users N                users seeded before measuring (default 10000)
  --requests N             requests per scenario (default 2000)
  --seconds S              time cap per scenario, in seconds (default 10)
  --concurrency C          requests in flight per scenario (default 8)
  --dynamodb-users N       users seeded in the DynamoDB section (default 300; moto slows down
                           as its table grows: 1000 take about 3 minutes to seed, and the
                           calls rows' group of min(N, 1000) members about 4 more)
  --dynamodb-requests N    requests per scenario in the DynamoDB section (default 300)
  --dynamodb-seconds S     time cap per scenario in the DynamoDB section (default 10)
  --no-dynamodb            skip the DynamoDB section
  --help                   this text

soak: starts the same binary on the embedded store and runs C clients at once, each an IdP
(Okta, Entra ID, SailPoint in turn) in a tenant of its own, mixed with requests that must be
refused (bad tokens, oversized bodies, malformed JSON, bad filters). At the end it reads every
resource back and compares it with what the clients wrote. It fails on any 5xx, any transport
error on a well-formed request, any lost write, or resident memory growing after warm-up.
  --seconds S              how long the clients run (default 180)
  --requests N             at most N actions in all, one request each but for Okta's
                           lookup before a create and 429 retries (default 100000)
  --clients C              concurrent clients (default 6)
  --rate R                 at most R requests/s per client (default 50; the server keeps
                           every deleted user for its retention period, so a much higher rate
                           grows memory by design)
  --rss-tolerance-pct P    allowed growth of the server's resident memory from the first window
                           after warm-up to the last, in percent (default 10)";

/// The settings of one run.
#[derive(Debug, Clone)]
pub struct Args {
    pub server: PathBuf,
    pub users: usize,
    pub requests: usize,
    pub seconds: u64,
    pub concurrency: usize,
    /// `None` with `--no-dynamodb`.
    pub dynamodb: Option<DynamoArgs>,
}

/// The DynamoDB section's own sizes: moto answers far slower than the embedded store, and each of
/// its transactions copies the whole table, so seeding time grows with the square of the users
/// (measured on 2 cores: 100 in 2.4 s, 1,000 in 180 s). The default keeps `make bench` within
/// about four minutes; the calls per operation do not depend on the size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoArgs {
    pub users: usize,
    pub requests: usize,
    pub seconds: u64,
}

/// The settings of a soak run (`scim-bench soak`).
#[derive(Debug, Clone, PartialEq)]
pub struct SoakArgs {
    pub server: PathBuf,
    pub seconds: u64,
    pub requests: usize,
    pub clients: usize,
    pub rate: u32,
    pub rss_tolerance_pct: f64,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Args),
    Soak(SoakArgs),
    Help,
}

/// Parses the arguments after the program name. Accepts `--flag value` and `--flag=value`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    if args.peek().map(String::as_str) == Some("soak") {
        args.next();
        return parse_soak(args);
    }
    let mut server = None;
    let mut users = 10_000;
    let mut requests = 2_000;
    let mut seconds = 10;
    let mut concurrency = 8;
    let mut dynamodb = true;
    let mut dynamo = DynamoArgs {
        users: 300,
        requests: 300,
        seconds: 10,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = split_flag(arg);
        // The flags without a value.
        match (flag.as_str(), &inline) {
            ("--help" | "-h", _) => return Ok(Command::Help),
            ("--no-dynamodb", None) => {
                dynamodb = false;
                continue;
            }
            ("--no-dynamodb", Some(_)) => return Err("--no-dynamodb takes no value".into()),
            _ => {}
        }
        let value = flag_value(&flag, inline, &mut args)?;
        match flag.as_str() {
            "--server" => server = Some(PathBuf::from(value)),
            "--users" => users = positive(&flag, &value)?,
            "--requests" => requests = positive(&flag, &value)?,
            "--seconds" => seconds = positive(&flag, &value)?,
            "--concurrency" => concurrency = positive(&flag, &value)?,
            "--dynamodb-users" => dynamo.users = positive(&flag, &value)?,
            "--dynamodb-requests" => dynamo.requests = positive(&flag, &value)?,
            "--dynamodb-seconds" => dynamo.seconds = positive(&flag, &value)?,
            _ => return Err(format!("unknown option '{flag}'")),
        }
    }
    let server = server.ok_or("--server PATH is required")?;
    Ok(Command::Run(Args {
        server,
        users,
        requests,
        seconds,
        concurrency,
        dynamodb: dynamodb.then_some(dynamo),
    }))
}

/// The arguments after `soak`.
fn parse_soak(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut server = None;
    let mut soak = SoakArgs {
        server: PathBuf::new(),
        seconds: 180,
        requests: 100_000,
        clients: 6,
        rate: 50,
        rss_tolerance_pct: 10.0,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = split_flag(arg);
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        let value = flag_value(&flag, inline, &mut args)?;
        match flag.as_str() {
            "--server" => server = Some(PathBuf::from(value)),
            "--seconds" => soak.seconds = positive(&flag, &value)?,
            "--requests" => soak.requests = positive(&flag, &value)?,
            "--clients" => soak.clients = positive(&flag, &value)?,
            "--rate" => soak.rate = positive(&flag, &value)?,
            "--rss-tolerance-pct" => soak.rss_tolerance_pct = positive(&flag, &value)?,
            _ => return Err(format!("soak: unknown option '{flag}'")),
        }
    }
    soak.server = server.ok_or("--server PATH is required")?;
    Ok(Command::Soak(soak))
}

/// `--flag=value` as the flag and the value; `--flag` alone as the flag and no value.
fn split_flag(arg: String) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
        None => (arg, None),
    }
}

/// The value given inline, or else the next argument.
fn flag_value(
    flag: &str,
    inline: Option<String>,
    args: &mut impl Iterator<Item = String>,
) -> Result<String, String> {
    match inline {
        Some(value) => Ok(value),
        None => args.next().ok_or_else(|| format!("{flag} needs a value")),
    }
}

/// A whole number above zero: zero users, requests, seconds or workers would measure nothing.
fn positive<T: std::str::FromStr + PartialOrd + Default>(flag: &str, value: &str) -> Result<T, String> {
    match value.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!("{flag}: '{value}' is not a whole number above zero")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_overrides() {
        let Command::Run(a) = parse_strs(&["--server", "x", "--users=5", "--concurrency", "3"]).unwrap()
        else {
            panic!("expected a run");
        };
        assert_eq!(a.server, PathBuf::from("x"));
        assert_eq!((a.users, a.requests, a.seconds, a.concurrency), (5, 2000, 10, 3));
        assert_eq!(
            a.dynamodb,
            Some(DynamoArgs {
                users: 300,
                requests: 300,
                seconds: 10
            })
        );
    }

    #[test]
    fn dynamodb_flags() {
        let Command::Run(a) = parse_strs(&["--no-dynamodb", "--server", "x"]).unwrap() else {
            panic!("expected a run");
        };
        assert_eq!(a.dynamodb, None);
        let Command::Run(a) =
            parse_strs(&["--server", "x", "--dynamodb-users=50", "--dynamodb-requests", "7"]).unwrap()
        else {
            panic!("expected a run");
        };
        assert_eq!(
            a.dynamodb,
            Some(DynamoArgs {
                users: 50,
                requests: 7,
                seconds: 10
            })
        );
        assert!(parse_strs(&["--server", "x", "--no-dynamodb=1"]).is_err());
        assert!(parse_strs(&["--server", "x", "--dynamodb-users", "0"]).is_err());
    }

    #[test]
    fn soak_defaults_and_overrides() {
        let Command::Soak(s) = parse_strs(&["soak", "--server", "x"]).unwrap() else {
            panic!("expected a soak");
        };
        assert_eq!((s.seconds, s.requests, s.clients, s.rate), (180, 100_000, 6, 50));
        let Command::Soak(s) =
            parse_strs(&["soak", "--server=x", "--seconds", "60", "--rss-tolerance-pct=2.5"]).unwrap()
        else {
            panic!("expected a soak");
        };
        assert_eq!((s.seconds, s.rss_tolerance_pct), (60, 2.5));
        assert!(parse_strs(&["soak", "--server", "x", "--users", "3"]).is_err());
        assert!(parse_strs(&["soak", "--server", "x", "--clients", "0"]).is_err());
        assert!(parse_strs(&["soak"]).unwrap_err().contains("--server"));
    }

    #[test]
    fn errors_and_help() {
        assert!(matches!(parse_strs(&["--help"]), Ok(Command::Help)));
        assert!(parse_strs(&[]).unwrap_err().contains("--server"));
        assert!(parse_strs(&["--server", "x", "--users", "0"]).is_err());
        assert!(parse_strs(&["--server", "x", "--users", "-1"]).is_err());
        assert!(parse_strs(&["--server"]).unwrap_err().contains("needs a value"));
        assert!(parse_strs(&["--server", "x", "--bogus", "1"])
            .unwrap_err()
            .contains("unknown"));
    }
}
