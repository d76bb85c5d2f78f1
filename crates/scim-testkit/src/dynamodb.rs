//! A DynamoDB client on this test binary's moto (feature `dynamodb`).

use aws_sdk_dynamodb::config::{BehaviorVersion, Builder, Credentials, Region};
use aws_sdk_dynamodb::Client;

/// The configuration of a client for [`crate::moto`]: its endpoint, a region and test
/// credentials. Add interceptors (call counters, fault injection) before building it.
pub fn config() -> Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(scim_aws::https_client())
        .endpoint_url(&crate::moto().endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
}

/// A client for [`crate::moto`].
pub fn client() -> Client {
    Client::from_conf(config().build())
}
