//! The integration tests of scim-proto, in one test binary: the vectors of `tests/vectors` and
//! property tests (their saved failure cases in `tests/proptest-regressions`, where proptest
//! looks for them next to the directory of this `main.rs`).

mod common;
mod discovery;
mod extensions;
mod filter_props;
mod filter_vectors;
mod list;
mod patch_engine;
mod patch_vectors;
mod project;
mod resource;
