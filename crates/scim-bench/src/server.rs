//! The server under test as a child process: started on a free loopback port with a fresh
//! token, and always killed, whether the bench finishes, fails or panics.

use crate::rng::os_seed;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `scim-lambda` child. Dropping it kills and reaps the process, so an early `?` or a
/// panic unwinding through `main` cannot leave a server holding the port. (Ctrl-C reaches the
/// child too: it shares the terminal's foreground process group and stops on SIGINT.)
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>/scim/v2`
    pub base: String,
    pub token: String,
}

/// Resident memory of the child, from `/proc/<pid>/status`, in kB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmHWM`: the peak resident set size since the process started.
    pub peak_kb: u64,
    /// `VmRSS`: the resident set size now.
    pub current_kb: u64,
}

impl ServerProcess {
    /// Starts the binary at `path` with its own listener address and bootstrap token, plus
    /// `store_env` (empty: the embedded store). Inherited `SCIM_*` variables are removed so the
    /// environment cannot change what is measured (for example `SCIM_PASSWORD=drop` would skip
    /// the argon2 hashing POST is meant to include), and inherited `AWS_*` ones so that nothing
    /// (an `AWS_ENDPOINT_URL_DYNAMODB`, a profile) can send the server's calls off loopback.
    pub fn spawn(path: &Path, store_env: &[(&str, String)]) -> Result<Self, String> {
        let port = free_port()?;
        let token = format!("SCIM_bench-{:016x}{:016x}", os_seed()?, os_seed()?);
        let mut command = Command::new(path);
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with("SCIM_") || name_text.starts_with("AWS_") {
                command.env_remove(name);
            }
        }
        command.envs(store_env.iter().map(|(name, value)| (name, value)));
        let child = command
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env("SCIM_LISTEN", format!("127.0.0.1:{port}"))
            .env("SCIM_BOOTSTRAP_TOKEN", &token)
            // One tenant sends the whole load: measure the server, not the per-tenant limits.
            .env("SCIM_TENANT_RATE_PER_SECOND", "1000000")
            .env("SCIM_TENANT_BURST", "1000000")
            .env("SCIM_TENANT_READS_PER_SECOND", "1000000000")
            .env("SCIM_TENANT_READ_BURST", "1000000000")
            // The server logs one info line per request; at warn only problems reach the terminal.
            .env("RUST_LOG", "warn")
            // It prints its URL and token hint on stdout, which would interleave with the table.
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the server '{}': {e}", path.display()))?;
        Ok(Self {
            child,
            base: format!("http://127.0.0.1:{port}/scim/v2"),
            token,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error if the child has already exited, so a crash is reported as a crash and not as a
    /// timeout or as a run of connection errors.
    pub fn ensure_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("the server exited early ({status})")),
            Err(e) => Err(format!("cannot check on the server process: {e}")),
        }
    }

    /// The child's peak and current resident memory.
    pub fn memory(&self) -> Result<Memory, String> {
        memory_of(self.pid())
    }
}

/// The peak and current resident memory of process `pid`, from `/proc/<pid>/status`.
pub fn memory_of(pid: u32) -> Result<Memory, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let field = |name: &str| status_field_kb(&status, name).ok_or(format!("{path} has no {name} line"));
    Ok(Memory {
        peak_kb: field("VmHWM")?,
        current_kb: field("VmRSS")?,
    })
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Either may fail only if the child is already gone, which is the goal anyway.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port the OS reports free on 127.0.0.1. The listener is closed before the server binds, so
/// another process could take the port in between; the readiness check would then fail clearly.
pub fn free_port() -> Result<u16, String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    Ok(addr.port())
}

/// The number in a `/proc/<pid>/status` line such as `VmHWM:     12345 kB`.
fn status_field_kb(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (key, rest) = line.split_once(':')?;
        if key != name {
            return None;
        }
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_fields() {
        let status = "Name:\tscim-lambda\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_field_kb(status, "VmHWM"), Some(20480));
        assert_eq!(status_field_kb(status, "VmRSS"), Some(10240));
        assert_eq!(status_field_kb(status, "VmSwap"), None);
    }

    #[test]
    fn memory_of_this_process() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(status_field_kb(&status, "VmHWM").unwrap() > 0);
    }
}
