//! Command-line parsing by hand: five flags do not justify a parser dependency.

use std::path::PathBuf;

/// Printed by `--help` and after a usage error.
pub const USAGE: &str = "\
Usage: scim-bench --server PATH [--users N] [--requests N] [--seconds S] [--concurrency C]

Starts the scim-lambda binary at PATH on 127.0.0.1, seeds N users, then measures five
request scenarios and the server's resident memory.

Options:
  --server PATH      the scim-lambda binary to start (required)
  --users N          users seeded before measuring (default 10000)
  --requests N       requests per scenario (default 2000)
  --seconds S        time cap per scenario, in seconds (default 10)
  --concurrency C    requests in flight per scenario (default 8)
  --help             this text";

/// The settings of one run.
#[derive(Debug, Clone)]
pub struct Args {
    pub server: PathBuf,
    pub users: usize,
    pub requests: usize,
    pub seconds: u64,
    pub concurrency: usize,
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
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
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
