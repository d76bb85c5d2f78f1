//! Where the registry document lives (`SCIM_TOKEN_REGISTRY`), and opening the storage a location
//! names. Nothing below this module imports it: the storages implement
//! [`TokenRegistry`](crate::backend::TokenRegistry) from `backend`.

use crate::backend::TokenRegistry;
use crate::file::FileRegistry;
use crate::secrets_manager::SecretsManagerRegistry;
use scim_aws::Aws;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// The registry of local runs (the server outside Lambda, and `scimctl`) when `SCIM_TOKEN_REGISTRY`
/// is not set: a file under the git-ignored `.local/`, relative to the working directory.
pub const LOCAL_REGISTRY_PATH: &str = ".local/tokens.json";

/// `SCIM_TOKEN_REGISTRY` (and `scimctl --registry`): `file:<path>` or
/// `secretsmanager:<secret id or ARN>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryLocation {
    File(PathBuf),
    SecretsManager(String),
}

impl FromStr for RegistryLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let location = match text.split_once(':') {
            Some(("file", path)) if !path.is_empty() => RegistryLocation::File(PathBuf::from(path)),
            Some(("secretsmanager", id)) if !id.is_empty() => RegistryLocation::SecretsManager(id.into()),
            _ => {
                return Err(format!(
                    "'{text}' is neither file:<path> nor secretsmanager:<secret id or ARN>"
                ))
            }
        };
        Ok(location)
    }
}

impl fmt::Display for RegistryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryLocation::File(path) => write!(f, "file:{}", path.display()),
            RegistryLocation::SecretsManager(id) => write!(f, "secretsmanager:{id}"),
        }
    }
}

impl RegistryLocation {
    /// The registry at this location. Secrets Manager is reached through the process's shared
    /// AWS configuration (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL`, ...), loaded only then.
    pub async fn open(&self, aws: &Aws) -> Arc<dyn TokenRegistry> {
        match self {
            RegistryLocation::File(path) => Arc::new(FileRegistry::new(path.clone())),
            RegistryLocation::SecretsManager(id) => Arc::new(SecretsManagerRegistry::new(
                aws_sdk_secretsmanager::Client::new(aws.config().await),
                id,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_print() {
        let cases = [
            (
                "file:.local/tokens.json",
                RegistryLocation::File(".local/tokens.json".into()),
            ),
            ("file:/a:b", RegistryLocation::File("/a:b".into())),
            (
                "secretsmanager:scim/tokens",
                RegistryLocation::SecretsManager("scim/tokens".into()),
            ),
            (
                "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:scim-AbCdEf",
                RegistryLocation::SecretsManager(
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:scim-AbCdEf".into(),
                ),
            ),
        ];
        for (text, want) in cases {
            let parsed: RegistryLocation = text.parse().unwrap();
            assert_eq!(parsed, want);
            assert_eq!(parsed.to_string(), text);
        }
        for bad in [
            "",
            "file:",
            "secretsmanager:",
            "tokens.json",
            "s3:bucket/key",
            "FILE:x",
        ] {
            assert!(bad.parse::<RegistryLocation>().is_err(), "{bad}");
        }
    }
}
