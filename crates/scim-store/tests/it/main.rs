//! The integration tests of scim-store, in one test binary.

mod memory_contract;
