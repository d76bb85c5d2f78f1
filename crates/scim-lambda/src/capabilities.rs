//! What `/ServiceProviderConfig` advertises (RFC 7643 §5), derived from the settings: its own
//! module so that handlers need nothing from the crate root that routes to them.

use crate::config::Config;
use scim_proto::discovery::{BulkLimits, Capabilities, PaginationCaps, PaginationMethod};

/// What `/ServiceProviderConfig` advertises: exactly what this service does, no more, since IdPs
/// change their behaviour by it (docs/idp-compatibility.md, "Discovery endpoints").
pub fn capabilities(config: &Config) -> Capabilities {
    Capabilities {
        patch: true,
        // RFC 7644 §3.7: POST /Bulk, within these limits (413 beyond, §3.7.4).
        bulk: Some(BulkLimits {
            max_operations: config.bulk.max_operations as u64,
            max_payload_size: config.bulk.max_payload_bytes as u64,
        }),
        filter_max_results: config.max_page_size,
        change_password: true,
        sort: true,
        etag: true,
        documentation_uri: None,
        max_payload_bytes: Some(config.max_body_bytes as u64),
        pagination: Some(PaginationCaps {
            cursor: true,
            index: true,
            default_method: PaginationMethod::Index,
            default_page_size: config.default_page_size,
            max_page_size: config.max_page_size,
            cursor_timeout: None,
        }),
    }
}
