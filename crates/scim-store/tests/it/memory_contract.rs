//! The store contract against the embedded [`MemoryStore`].

use scim_proto::SchemaRegistry;
use scim_store::MemoryStore;
use std::sync::Arc;

scim_store::store_contract_tests!(MemoryStore::new(Arc::new(SchemaRegistry::standard())));
