//! The registry in a local file, for `make run`, tests and single-host installs.
//!
//! A write takes an exclusive lock on `<file>.lock` (an OS advisory lock, released by the OS if the
//! process dies), checks that the file still has the content hash it was loaded with, writes a
//! temporary file beside it and renames it over the old one. Readers never lock: a rename is
//! atomic, so they see the old document or the new one, never half of one.

use crate::backend::{Loaded, TokenRegistry};
use crate::document::RegistryDocument;
use crate::error::RegistryError;
use crate::token::{random_bytes, sha256_hex};
use async_trait::async_trait;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The registry document in one JSON file.
#[derive(Debug, Clone)]
pub struct FileRegistry {
    path: PathBuf,
}

impl FileRegistry {
    pub fn new(path: impl Into<PathBuf>) -> FileRegistry {
        FileRegistry { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl TokenRegistry for FileRegistry {
    async fn load(&self) -> Result<Loaded, RegistryError> {
        let path = self.path.clone();
        blocking(move || {
            let Some(text) = read_if_present(&path)? else {
                return Ok(Loaded {
                    document: RegistryDocument::default(),
                    revision: None,
                });
            };
            let document = RegistryDocument::parse(&text)
                .map_err(|e| RegistryError::Corrupt(format!("{}: {e}", path.display())))?;
            Ok(Loaded {
                document,
                revision: Some(sha256_hex(&text)),
            })
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        expected: Option<&str>,
        document: &RegistryDocument,
    ) -> Result<(), RegistryError> {
        let path = self.path.clone();
        let expected = expected.map(str::to_string);
        let text = document.to_json()?;
        blocking(move || {
            let _lock = lock(&path)?;
            let current = read_if_present(&path)?.map(|t| sha256_hex(&t));
            if current != expected {
                return Err(RegistryError::Conflict);
            }
            replace(&path, &text)
        })
        .await
    }

    /// The file's metadata: every write renames a new file over the old one, so the inode changes
    /// even when the size and the modification time (coarse on some file systems) do not.
    async fn generation(&self) -> Result<Option<String>, RegistryError> {
        let path = self.path.clone();
        blocking(move || match fs::metadata(&path) {
            Ok(meta) => Ok(Some(metadata_generation(&meta))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path, "read the metadata of", e)),
        })
        .await
    }

    fn has_generation(&self) -> bool {
        true
    }
}

fn metadata_generation(meta: &fs::Metadata) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    format!("{modified}:{}:{inode}", meta.len())
}

/// Runs file work off the async executor.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| RegistryError::Io(format!("file registry task failed: {e}")))?
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> RegistryError {
    RegistryError::Io(format!("cannot {what} {}: {e}", path.display()))
}

fn read_if_present(path: &Path) -> Result<Option<String>, RegistryError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, "read", e)),
    }
}

/// Owner-only permissions: the file holds hashes, not tokens, but lists every tenant and token name.
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// The exclusive lock on `<path>.lock`, held until the returned file is dropped. The lock file
/// itself is never removed, so two writers can never end up locking two different files.
fn lock(path: &Path) -> Result<File, RegistryError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| io_error(dir, "create the directory", e))?;
    }
    let lock_path = sibling(path, ".lock");
    let file = private_options()
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| io_error(&lock_path, "open", e))?;
    file.lock().map_err(|e| io_error(&lock_path, "lock", e))?;
    Ok(file)
}

/// Writes `text` to a fresh temporary file beside `path`, flushes it to disk and renames it over
/// `path`, so a crash leaves either the old document or the new one.
fn replace(path: &Path, text: &str) -> Result<(), RegistryError> {
    let suffix: [u8; 6] = random_bytes()?;
    let temp = sibling(
        path,
        &format!(
            ".tmp-{}",
            suffix.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    );
    let written = private_options()
        .create_new(true)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(io_error(path, "write", e));
    }
    // Make the rename itself durable; not every platform can open a directory, so this is best effort.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::update;
    use crate::document::NewToken;
    use std::sync::Arc;
    use time::{Duration, OffsetDateTime};

    fn request(name: &str) -> NewToken {
        NewToken {
            name: name.into(),
            tenant: "default".into(),
            expires: OffsetDateTime::now_utc() + Duration::days(30),
        }
    }

    #[tokio::test]
    async fn a_missing_file_is_an_empty_registry_and_writes_create_it_privately() {
        let dir = tempfile::tempdir().unwrap();
        let registry = FileRegistry::new(dir.path().join("nested/tokens.json"));
        let loaded = registry.load().await.unwrap();
        assert!(loaded.document.tokens.is_empty());
        assert_eq!(loaded.revision, None);
        let issued = update(&registry, |doc| {
            doc.create(&request("first"), OffsetDateTime::now_utc())
        })
        .await
        .unwrap();
        let text = fs::read_to_string(registry.path()).unwrap();
        assert!(text.contains(&issued.record.sha256));
        assert!(!text.contains(issued.secret.expose()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(registry.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = registry.load().await.unwrap();
        assert_eq!(loaded.document.tokens, vec![issued.record]);
        assert_eq!(loaded.revision, Some(sha256_hex(&text)));
    }

    #[tokio::test]
    async fn a_stale_revision_is_a_conflict_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let registry = FileRegistry::new(dir.path().join("tokens.json"));
        let before = registry.load().await.unwrap();
        update(&registry, |doc| {
            doc.create(&request("a"), OffsetDateTime::now_utc())
        })
        .await
        .unwrap();
        let written = fs::read_to_string(registry.path()).unwrap();
        let stale = registry
            .compare_and_swap(before.revision.as_deref(), &RegistryDocument::default())
            .await;
        assert!(matches!(stale, Err(RegistryError::Conflict)));
        assert_eq!(fs::read_to_string(registry.path()).unwrap(), written);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn a_corrupt_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        fs::write(&path, "{not json").unwrap();
        let err = FileRegistry::new(&path).load().await.unwrap_err().to_string();
        assert!(err.contains("tokens.json"), "{err}");
    }

    /// Writers on their own threads and their own registry handles, as separate `scimctl` runs
    /// would be: every token survives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_creates_all_survive() {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join("tokens.json"));
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let path = path.clone();
                tokio::spawn(async move {
                    let registry = FileRegistry::new(path.as_path());
                    update(&registry, |doc| {
                        doc.create(&request(&format!("w{i}")), OffsetDateTime::now_utc())
                    })
                    .await
                    .unwrap()
                    .record
                    .id
                })
            })
            .collect();
        let mut ids = Vec::new();
        for w in writers {
            ids.push(w.await.unwrap());
        }
        let stored = FileRegistry::new(path.as_path()).load().await.unwrap().document;
        assert_eq!(stored.tokens.len(), 16);
        for id in ids {
            assert!(stored.find(&id).is_some(), "{id} was lost");
        }
    }
}
