//! The store contract against DynamoDB (moto on 127.0.0.1), a table per case.

use crate::common;

scim_store::store_contract_tests!(common::store().await.0);
