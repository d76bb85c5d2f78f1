//! The black-box tests, in one test binary: the service over a real listener on 127.0.0.1 (or
//! through the Lambda adapter), on the embedded store, on DynamoDB (moto, scim-testkit), or on
//! both (`scim_blackbox::on_both_stores!`: `protocol::discovery_endpoints_answer::memory` and
//! `::dynamodb`).

mod auth;
mod bulk;
mod conflicts;
mod console;
mod console_log;
mod console_review;
mod console_settings;
mod delete_modes;
mod dynamodb_concurrency;
mod dynamodb_events;
mod effective_roles;
mod error_hints;
mod events;
mod failures;
mod idp_lifecycles;
mod idp_quirks;
mod input_limits;
mod lambda_events;
mod lambda_flush;
mod lambda_log;
mod limits;
mod makefile;
mod protocol;
mod provisioning_log;
mod ready_at_init;
mod revocation;
mod schema_extensions;
mod secrets_in_logs;
mod sorting;
