//! The registry in one AWS Secrets Manager secret whose `SecretString` is the registry JSON.
//!
//! Secrets Manager has no conditional `PutSecretValue`, so a compare-and-swap is two calls:
//! 1. `PutSecretValue` with a fresh `ClientRequestToken` (the new version id, which also makes a
//!    retried call idempotent) and only the staging label [`PENDING_STAGE`], so the new version is
//!    stored but not yet current;
//! 2. `UpdateSecretVersionStage` moving `AWSCURRENT` to the new version *from the version that was
//!    loaded* (`RemoveFromVersionId`). Secrets Manager refuses the move when `AWSCURRENT` is no
//!    longer on that version, that is, when another writer got in first: that is the conflict, and
//!    the loser's pending version simply never becomes current. The move also puts `AWSPREVIOUS`
//!    on the replaced version, so the previous registry stays one call away.
//!
//! The very first write creates the secret (`CreateSecret`), or, for a secret that exists without
//! a value, relies on Secrets Manager making a secret's first version `AWSCURRENT`.

use crate::backend::{Loaded, TokenRegistry};
use crate::document::RegistryDocument;
use crate::error::RegistryError;
use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;

/// The staging label of a written version that is not (yet) current.
pub const PENDING_STAGE: &str = "SCIM_PENDING";
const CURRENT_STAGE: &str = "AWSCURRENT";

/// The registry document in one secret.
#[derive(Debug, Clone)]
pub struct SecretsManagerRegistry {
    client: Client,
    secret_id: String,
}

impl SecretsManagerRegistry {
    pub fn new(client: Client, secret_id: impl Into<String>) -> SecretsManagerRegistry {
        SecretsManagerRegistry {
            client,
            secret_id: secret_id.into(),
        }
    }

    fn aws_error<E, R>(&self, call: &str, e: &SdkError<E, R>) -> RegistryError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        RegistryError::Aws(format!(
            "{call} on '{}': {}",
            self.secret_id,
            DisplayErrorContext(e)
        ))
    }

    async fn create(&self, text: String) -> Result<(), RegistryError> {
        let created = self
            .client
            .create_secret()
            .name(&self.secret_id)
            .description("SCIM bearer token registry: token hashes, never tokens (managed by scimctl)")
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .secret_string(text)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) =>
            {
                Err(RegistryError::Conflict)
            }
            Err(e) => Err(self.aws_error("CreateSecret", &e)),
        }
    }
}

/// Whether a service error carries this code.
fn has_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>, code: &str) -> bool {
    e.as_service_error().and_then(ProvideErrorMetadata::code) == Some(code)
}

#[async_trait]
impl TokenRegistry for SecretsManagerRegistry {
    async fn load(&self) -> Result<Loaded, RegistryError> {
        // The stage is named although it is the default: it is the label the compare-and-swap moves,
        // and moto (the test emulator) only follows moved labels when asked for one by name.
        let read = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(CURRENT_STAGE)
            .send()
            .await;
        let output = match read {
            Ok(output) => output,
            // No secret, or a secret without a current value: nothing stored yet.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(Loaded {
                    document: RegistryDocument::default(),
                    revision: None,
                })
            }
            Err(e) => return Err(self.aws_error("GetSecretValue", &e)),
        };
        let text = output.secret_string().ok_or_else(|| {
            RegistryError::Corrupt(format!("secret '{}' holds binary data, not JSON", self.secret_id))
        })?;
        let document = RegistryDocument::parse(text)
            .map_err(|e| RegistryError::Corrupt(format!("secret '{}': {e}", self.secret_id)))?;
        Ok(Loaded {
            document,
            revision: output.version_id().map(str::to_string),
        })
    }

    async fn compare_and_swap(
        &self,
        expected: Option<&str>,
        document: &RegistryDocument,
    ) -> Result<(), RegistryError> {
        let text = document.to_json()?;
        let put = self
            .client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .secret_string(&text)
            .version_stages(PENDING_STAGE)
            .send()
            .await;
        let put = match put {
            Ok(put) => put,
            Err(e) if expected.is_none() && has_code(&e, "ResourceNotFoundException") => {
                return self.create(text).await
            }
            Err(e) => return Err(self.aws_error("PutSecretValue", &e)),
        };
        let Some(expected) = expected else {
            // Loaded as empty: this write wins only if it became the secret's first version.
            return if put.version_stages().iter().any(|s| s == CURRENT_STAGE) {
                Ok(())
            } else {
                Err(RegistryError::Conflict)
            };
        };
        let new_version = put
            .version_id()
            .ok_or_else(|| RegistryError::Aws("PutSecretValue returned no VersionId".into()))?;
        let moved = self
            .client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage(CURRENT_STAGE)
            .move_to_version_id(new_version)
            .remove_from_version_id(expected)
            .send()
            .await;
        match moved {
            Ok(_) => Ok(()),
            // AWSCURRENT is no longer on the version this write was computed from.
            Err(e)
                if has_code(&e, "InvalidParameterException") || has_code(&e, "InvalidRequestException") =>
            {
                Err(RegistryError::Conflict)
            }
            Err(e) => Err(self.aws_error("UpdateSecretVersionStage", &e)),
        }
    }
}
