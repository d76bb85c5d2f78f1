//! SCIM bearer tokens, and nothing else: the token format, the registry document that holds
//! token hashes (in a local file or one AWS Secrets Manager secret), the operations operators
//! perform on it, and the cache the service verifies presented tokens against.
//!
//! The plaintext of a token exists only in [`TokenSecret`], which is shown once at creation and
//! never stored, logged or printed by `Debug`.

mod backend;
mod cache;
mod document;
mod error;
mod expiry;
mod file;
mod generation;
mod registry;
mod secrets_manager;
mod token;

pub use backend::{update, Loaded, TokenRegistry, MAX_ATTEMPTS};
pub use cache::{CacheSettings, CacheStats, FailureHook, StaticToken, TokenCache, Verdict};
pub use document::{
    IssuedToken, NewToken, RegistryDocument, Rotation, TokenRecord, TokenState, DOCUMENT_VERSION,
    MAX_NAME_CHARS,
};
pub use error::{DocumentError, RegistryError};
pub use expiry::{parse_expiry, parse_grace};
pub use file::FileRegistry;
pub use generation::{GenerationMarker, MarkedRegistry};
pub use registry::{RegistryLocation, LOCAL_REGISTRY_PATH};
pub use secrets_manager::{SecretsManagerRegistry, PENDING_STAGE};
pub use token::{sha256_hex, TokenSecret, TOKEN_PREFIX};
