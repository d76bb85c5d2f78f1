//! moto, the local DynamoDB emulator, as a child process on a free loopback port, started the
//! way scim-testkit starts it (its `serial_moto.py` launcher) and stopped whatever way the bench
//! ends.

use crate::server::free_port;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long moto may take to listen: it imports a large Python package first.
const LISTEN_WITHIN: Duration = Duration::from_secs(30);
/// How long dropping the guard waits for the watchdog to stop moto and exit.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// A running moto. Dropping it stops moto: it closes the watchdog's stdin, and the watchdog
/// kills moto on end of input. Because the pipe also closes when the bench is killed or aborts
/// (no destructor runs then), moto never outlives the bench.
#[derive(Debug)]
pub struct MotoProcess {
    /// `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL` should be.
    pub endpoint: String,
    watchdog: Child,
    stdin: Option<ChildStdin>,
}

/// The repository root, from this crate's manifest directory: the bench is a tool run from a
/// checkout, and this finds the tool venv whatever the current directory is.
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl MotoProcess {
    /// Starts moto with requests serialized: moto's TransactWriteItems is not isolated from
    /// concurrent requests (DynamoDB's is), and the measured scenarios write concurrently.
    pub fn start() -> Result<Self, String> {
        let root = repo_root();
        let moto_server = root.join(".venv/bin/moto_server");
        let python = root.join(".venv/bin/python");
        let launcher = root.join("crates/scim-testkit/src/serial_moto.py");
        for needed in [&moto_server, &python] {
            if !needed.exists() {
                return Err(format!(
                    "{} does not exist: run `make tools` to install moto (or pass --no-dynamodb)",
                    needed.display()
                ));
            }
        }
        if !launcher.exists() {
            return Err(format!("{} does not exist", launcher.display()));
        }
        let port = free_port()?;
        // The watchdog shell starts moto, then blocks reading its stdin (a pipe from the bench)
        // and kills moto when that read returns. It ignores SIGINT so that Ctrl-C, which reaches
        // the whole foreground group, still leaves it alive to do the kill.
        let script = format!(
            "trap '' INT; {} {} 127.0.0.1 {port} >/dev/null 2>&1 & pid=$!; echo started; read _; kill $pid",
            quote(&python),
            quote(&launcher)
        );
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run sh to start moto: {e}"))?;
        let stdin = watchdog.stdin.take();
        let stdout = watchdog.stdout.take();
        // From here on the guard owns the watchdog, so every error below still stops moto.
        let mut moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            watchdog,
            stdin,
        };
        let stdout = stdout.ok_or("moto's watchdog has no stdout pipe")?;
        let mut line = String::new();
        BufReader::new(stdout.take(64))
            .read_line(&mut line)
            .map_err(|e| format!("moto's watchdog: {e}"))?;
        let deadline = Instant::now() + LISTEN_WITHIN;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.watchdog.try_wait() {
                return Err(format!("moto's watchdog exited early ({status})"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto ({}) did not listen on 127.0.0.1:{port} within {LISTEN_WITHIN:?}",
                    launcher.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }
}

impl Drop for MotoProcess {
    fn drop(&mut self) {
        // End of input: the watchdog kills moto and exits.
        drop(self.stdin.take());
        let deadline = Instant::now() + STOP_WITHIN;
        while Instant::now() < deadline {
            match self.watchdog.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                // Exited, or cannot be checked: nothing more to wait for.
                Ok(Some(_)) | Err(_) => return,
            }
        }
        // A stuck watchdog: kill it (moto may then survive, but the bench does not hang).
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

/// `path` as one single-quoted shell word.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_paths_for_sh() {
        assert_eq!(quote(Path::new("/a b/c")), "'/a b/c'");
        assert_eq!(quote(Path::new("/it's")), r"'/it'\''s'");
    }
}
