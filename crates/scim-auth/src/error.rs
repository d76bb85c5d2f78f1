//! What can go wrong with tokens: a refused operation on the registry document, or a failure to
//! read or write the registry.

use std::fmt;

/// An operation the registry document refuses; the operator can fix the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentError {
    /// The name is empty, too long or has control characters.
    InvalidName(String),
    /// The tenant is not a valid tenant name.
    InvalidTenant(String),
    /// The expiry is not after the present.
    ExpiryNotInFuture,
    /// No token has this id.
    UnknownToken(String),
    /// A revoked token cannot be rotated: create a new one instead.
    RotateRevoked(String),
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentError::InvalidName(why) => write!(f, "invalid token name: {why}"),
            DocumentError::InvalidTenant(why) => write!(f, "invalid tenant: {why}"),
            DocumentError::ExpiryNotInFuture => f.write_str("the expiry must be in the future"),
            DocumentError::UnknownToken(id) => write!(f, "no token has the id '{id}'"),
            DocumentError::RotateRevoked(id) => {
                write!(
                    f,
                    "token '{id}' is revoked; create a new token instead of rotating it"
                )
            }
        }
    }
}

impl std::error::Error for DocumentError {}

/// A failure to read, write or change the registry.
#[derive(Debug)]
pub enum RegistryError {
    /// The change itself was refused.
    Document(DocumentError),
    /// The OS random source failed.
    Random(String),
    /// A local file could not be read or written.
    Io(String),
    /// A Secrets Manager call failed.
    Aws(String),
    /// The stored registry is not a version 1 registry document.
    Corrupt(String),
    /// The registry changed since it was loaded: the write did not happen (compare-and-swap).
    Conflict,
    /// Writes kept losing races with other writers; nothing was written.
    Contended { attempts: u32 },
    /// The registry's generation marker could not be read.
    Marker(String),
    /// The change is stored, but the generation marker could not be moved on, so service
    /// instances notice it only when their cache expires.
    MarkerNotBumped(String),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Document(e) => e.fmt(f),
            RegistryError::Random(e) => write!(f, "cannot read the OS random source: {e}"),
            RegistryError::Io(e) => f.write_str(e),
            RegistryError::Aws(e) => write!(f, "Secrets Manager: {e}"),
            RegistryError::Corrupt(e) => write!(f, "the token registry is not readable: {e}"),
            RegistryError::Conflict => f.write_str("the token registry changed during the write"),
            RegistryError::Contended { attempts } => write!(
                f,
                "the token registry changed under each of {attempts} attempts to write it; nothing was written"
            ),
            RegistryError::Marker(e) => write!(f, "the token registry's generation marker: {e}"),
            RegistryError::MarkerNotBumped(e) => write!(
                f,
                "the change is stored, but the generation marker could not be updated ({e}); \
                 running services notice the change within their cache time (SCIM_TOKEN_CACHE_SECONDS)"
            ),
        }
    }
}

impl std::error::Error for RegistryError {}

impl From<DocumentError> for RegistryError {
    fn from(e: DocumentError) -> Self {
        RegistryError::Document(e)
    }
}
