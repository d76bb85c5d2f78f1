//! The schema and message URNs the tests write into bodies and read back, spelled out here
//! rather than taken from `scim_proto`: a black-box test must notice if the service's own
//! constants change.

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The service's access extension of User: effective groups and roles.
pub const ACCESS: &str = "urn:scim-lambda:params:scim:schemas:extension:access:2.0:User";
pub const SPC: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// The extra group schema URN Entra puts in group bodies.
pub const MS_GROUP: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
