//! Test support shared by the crates whose tests talk to AWS services: a moto server
//! (DynamoDB and its streams, Secrets Manager, EventBridge, SQS) on 127.0.0.1, started once per
//! test binary.
//!
//! moto comes from the project's tool venv (`make tools`, which `make test` runs). A test that
//! needs it and cannot start it fails with a message saying what to do; it never skips.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

#[cfg(feature = "dynamodb")]
pub mod dynamodb;

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL` should be.
    pub endpoint: String,
    /// The watchdog shell; moto stops when this process (and so this pipe) goes away.
    _watchdog: Mutex<(Child, ChildStdin)>,
}

/// The repository root, from this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The moto server of this test binary, started on first use.
///
/// # Panics
/// When moto is not installed or does not start: the tests that need it must fail, not skip.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| match Moto::start() {
        Ok(m) => m,
        Err(e) => {
            panic!("cannot start moto on 127.0.0.1: {e}. Run `make tools` (make test does) to install it.")
        }
    })
}

impl Moto {
    fn start() -> Result<Moto, String> {
        let server = repo_root().join(".venv/bin/moto_server");
        if !server.exists() {
            return Err(format!("{} does not exist", server.display()));
        }
        // moto's own server, with requests serialized (see serial_moto.py: moto's transactions
        // are not isolated from concurrent requests, DynamoDB's are).
        let python = repo_root().join(".venv/bin/python");
        let launcher = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/serial_moto.py");
        let port = free_port()?;
        // A shell watchdog: it starts moto, then blocks reading its stdin, which is a pipe from
        // this test process. When the test process exits, however it exits, the pipe closes,
        // `read` returns and moto is killed, so no server outlives the test run.
        let script = format!(
            "'{}' '{}' 127.0.0.1 {port} >/dev/null 2>&1 & pid=$!; echo started; read _; kill $pid",
            python.display(),
            launcher.display()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin pipe")?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let mut line = String::new();
        BufReader::new(stdout.take(64))
            .read_line(&mut line)
            .map_err(|e| format!("watchdog: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!("moto did not listen on port {port} within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _watchdog: Mutex::new((child, stdin)),
        })
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

/// A name no other test of this run uses (tables, secrets, tenants).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moto_answers_on_loopback() {
        let m = moto();
        assert!(m.endpoint.starts_with("http://127.0.0.1:"));
        let addr = m.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("moto listens");
        std::io::Write::write_all(&mut stream, b"GET /moto-api/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .expect("send");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("read");
        assert!(reply.starts_with("HTTP/1."), "{reply}");
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("t"), unique_name("t"));
    }
}
