//! The soak's token registry: a file in a temporary directory with one token per client tenant,
//! plus an expired and a revoked token for the refusals. Written with scim-auth's own document
//! operations, so the file is what `scimctl token` would write.

use scim_auth::{NewToken, RegistryDocument};
use std::path::PathBuf;
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};

/// The tenant every refused token names.
const REFUSED_TENANT: &str = "soak-refused";

/// The registry file and the tokens in it. Dropping it removes the directory.
#[derive(Debug)]
pub struct SoakTokens {
    _dir: TempDir,
    pub path: PathBuf,
    /// `(tenant, token)` per client, in client order.
    pub clients: Vec<(String, String)>,
    /// Tokens the registry knows but refuses.
    pub expired: String,
    pub revoked: String,
}

impl SoakTokens {
    pub fn write(tenants: &[String]) -> Result<Self, String> {
        let now = OffsetDateTime::now_utc();
        let day = now + Duration::days(1);
        let request = |name: &str, tenant: &str| NewToken {
            name: name.to_string(),
            tenant: tenant.to_string(),
            expires: day,
        };
        let mut doc = RegistryDocument::default();
        let issue_error = |e: scim_auth::RegistryError| format!("issuing a soak token: {e}");
        let mut clients = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let issued = doc.create(&request(tenant, tenant), now).map_err(issue_error)?;
            clients.push((tenant.clone(), issued.secret.expose().to_string()));
        }
        // Rotating with no grace period expires the old token at once.
        let expired = doc
            .create(&request("expired", REFUSED_TENANT), now)
            .map_err(issue_error)?;
        doc.rotate(&expired.record.id, Duration::ZERO, now)
            .map_err(issue_error)?;
        let revoked = doc
            .create(&request("revoked", REFUSED_TENANT), now)
            .map_err(issue_error)?;
        doc.revoke(&revoked.record.id, now)
            .map_err(|e| format!("revoking a soak token: {e}"))?;

        let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let path = dir.path().join("tokens.json");
        let text = doc.to_json().map_err(|e| format!("the soak registry: {e}"))?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Self {
            _dir: dir,
            path,
            clients,
            expired: expired.secret.expose().to_string(),
            revoked: revoked.secret.expose().to_string(),
        })
    }
}
