//! The integration tests of scim-lambda, in one test binary: the built `scim-lambda` run as a
//! process.

mod console_oidc;
mod first_start;
mod rotated_secrets;
mod schema_extensions;
mod watch;
