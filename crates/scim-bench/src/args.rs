//! Command-line parsing by hand: a handful of flags do not justify a parser dependency.

use std::path::PathBuf;

/// Printed by `--help` and after a usage error.
pub const USAGE: &str = "\
Usage: scim-bench --server PATH [--users N] [--requests N] [--seconds S] [--concurrency C]
                  [--dynamodb-users N] [--dynamodb-requests N] [--dynamodb-seconds S] [--no-dynamodb]

Starts the scim-lambda binary at PATH on 127.0.0.1 with the embedded store, seeds N users,
then measures five request scenarios and the server's resident memory. Then does the same with
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
                           member PATCH's group of min(N, 1000) members about 4 more)
  --dynamodb-requests N    requests per scenario in the DynamoDB section (default 300)
  --dynamodb-seconds S     time cap per scenario in the DynamoDB section (default 10)
  --no-dynamodb            skip the DynamoDB section
  --help                   this text";

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

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Args),
    Help,
}

/// Parses the arguments after the program name. Accepts `--flag value` and `--flag=value`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
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
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
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
        let value = match inline {
            Some(value) => value,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
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
