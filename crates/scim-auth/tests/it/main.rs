//! The integration tests of scim-auth, in one test binary.

mod secrets_manager;
